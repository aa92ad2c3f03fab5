-- client pattern, create path: what the TypeScript adapter sends, five round
-- trips: BEGIN, state INSERT, one multi-row events INSERT, one multi-row
-- outbox INSERT with client-computed dedupe keys, COMMIT.  A 0.2.0 client
-- also computes the events' chain (seq, hash, with its own timestamp) and the
-- run's chain head; a 0.4.0 client also writes the commit's ledger entry,
-- inside the state statement (a data-modifying WITH, as verist_commit does,
-- so still five round trips), with its input fingerprint and its chained
-- hash, and the run's ledger head.  pgbench cannot compute SHA-256, so the
-- keys and hashes were computed on the generator side (bench.keys,
-- lib/keys.sql): the state statement hands them to the client (\gset), which
-- sends them back as parameters.  The entry's time and roles are the fixed
-- values its precomputed hash covers (lib/keys.sql), as the events' time is.
\set n :n + 1
\set g :client_id + :nclients * (:n - 1)
\set rid 1000000000 + :g
BEGIN;
WITH k AS (
  SELECT bench.kc(:g) AS v, :output::jsonb AS output
), s AS (
  INSERT INTO verist_state AS s (workflow_id, run_id, version, computed, overlay, created_at, updated_at,
                                 chain_seq, chain_hash, ledger_seq, ledger_hash)
  SELECT 'bench-wf', :rid, 1, k.output, '{}'::jsonb, now(), now(),
         3, split_part(k.v, ' ', 5), 1, split_part(k.v, ' ', 6)
  FROM k
  ON CONFLICT (workflow_id, run_id) DO NOTHING
  RETURNING s.*
), l AS (
  INSERT INTO verist_ledger (workflow_id, run_id, seq, kind, version, step_id, block, change, input,
                             role, session_role, actor, events_seq, events_hash, created_at, hash)
  SELECT s.workflow_id, s.run_id, s.ledger_seq, 'commit', s.version, 'extract', NULL, k.output,
         split_part(k.v, ' ', 7), 'postgres', 'postgres', NULL, s.chain_seq, s.chain_hash,
         '2025-01-01 00:00:00+00', s.ledger_hash
  FROM s, k
)
SELECT s.*, k.v AS kk FROM s, k
\gset st_
INSERT INTO verist_events (workflow_id, run_id, step_id, type, payload, llm_trace, created_at, seq, hash) VALUES
  ('bench-wf', :rid, 'extract', :e1type, :e1payload::jsonb, NULL, '2025-01-01 00:00:00+00', 1, split_part(:st_kk, ' ', 3)),
  ('bench-wf', :rid, 'extract', :e2type, :e2payload::jsonb, :e2trace::jsonb, '2025-01-01 00:00:00+00', 2, split_part(:st_kk, ' ', 4)),
  ('bench-wf', :rid, 'extract', :e3type, :e3payload::jsonb, NULL, '2025-01-01 00:00:00+00', 3, :st_chain_hash);
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status, created_at) VALUES
  ('bench-wf', :rid, 'extract', :cmd1::jsonb, split_part(:st_kk, ' ', 1), 'pending', now()),
  ('bench-wf', :rid, 'extract', :cmd2::jsonb, split_part(:st_kk, ' ', 2), 'pending', now())
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING dedupe_key;
COMMIT;
