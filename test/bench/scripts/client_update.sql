-- client pattern, update path: the version-checked UPDATE ... RETURNING, with
-- the commit's ledger entry in the same statement, then the same events and
-- outbox INSERTs (see client_create.sql for bench.keys and the ledger entry,
-- verist_update.sql for how g picks the run and its version).  The client
-- loaded the run at version v, so it knows the chain and ledger heads it
-- extends (lib/reset.sql writes entry 1; entry v + 1 moves it to v + 1).
\set n :n + 1
\set g :client_id + :nclients * (:n - 1)
\set rid 2000000000 + :g % 240
\set v :g / 240 + 1
\set sid :v + 1
\set seq3 3 * :v
\set seq2 :seq3 - 1
\set seq1 :seq3 - 2
BEGIN;
WITH k AS (
  SELECT bench.ku(:g) AS v, :output::jsonb AS output
), s AS (
  UPDATE verist_state AS s
  SET version = s.version + 1, computed = s.computed || k.output, updated_at = now(),
      chain_seq = :seq3, chain_hash = split_part(k.v, ' ', 5),
      ledger_seq = s.ledger_seq + 1, ledger_hash = split_part(k.v, ' ', 6)
  FROM k
  WHERE s.workflow_id = 'bench-wf' AND s.run_id = :rid AND s.version = :v
  RETURNING s.*
), l AS (
  INSERT INTO verist_ledger (workflow_id, run_id, seq, kind, version, step_id, block, change, input,
                             role, session_role, actor, events_seq, events_hash, created_at, hash)
  SELECT s.workflow_id, s.run_id, s.ledger_seq, 'commit', s.version, :sid, NULL, k.output,
         split_part(k.v, ' ', 7), 'postgres', 'postgres', NULL, s.chain_seq, s.chain_hash,
         '2025-01-01 00:00:00+00', s.ledger_hash
  FROM s, k
)
SELECT s.*, k.v AS kk FROM s, k
\gset st_
INSERT INTO verist_events (workflow_id, run_id, step_id, type, payload, llm_trace, created_at, seq, hash) VALUES
  ('bench-wf', :rid, :sid, :e1type, :e1payload::jsonb, NULL, '2025-01-01 00:00:00+00', :seq1, split_part(:st_kk, ' ', 3)),
  ('bench-wf', :rid, :sid, :e2type, :e2payload::jsonb, :e2trace::jsonb, '2025-01-01 00:00:00+00', :seq2, split_part(:st_kk, ' ', 4)),
  ('bench-wf', :rid, :sid, :e3type, :e3payload::jsonb, NULL, '2025-01-01 00:00:00+00', :seq3, :st_chain_hash);
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status, created_at) VALUES
  ('bench-wf', :rid, :sid, :cmd1::jsonb, split_part(:st_kk, ' ', 1), 'pending', now()),
  ('bench-wf', :rid, :sid, :cmd2::jsonb, split_part(:st_kk, ' ', 2), 'pending', now())
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING dedupe_key;
COMMIT;
