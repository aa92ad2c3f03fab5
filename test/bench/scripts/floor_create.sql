-- floor, create path: the same rows in one writable-CTE statement with no
-- checks at all (no ON CONFLICT, no validation, no locks); the precomputed
-- keys and hashes, the ledger entry's included, come from bench.kc (k), as
-- in the client pattern, and the entry carries the same fixed time and roles
-- (lib/keys.sql).
\set n :n + 1
\set g :client_id + :nclients * (:n - 1)
\set rid 1000000000 + :g
WITH k AS (
  SELECT bench.kc(:g) AS v, :output::jsonb AS output
), s AS (
  INSERT INTO verist_state AS s (workflow_id, run_id, version, computed, overlay, created_at, updated_at,
                                 chain_seq, chain_hash, ledger_seq, ledger_hash)
  SELECT 'bench-wf', :rid, 1, k.output, '{}'::jsonb, now(), now(),
         3, split_part(k.v, ' ', 5), 1, split_part(k.v, ' ', 6) FROM k
  RETURNING s.*
), l AS (
  INSERT INTO verist_ledger (workflow_id, run_id, seq, kind, version, step_id, block, change, input,
                             role, session_role, actor, events_seq, events_hash, created_at, hash)
  SELECT 'bench-wf', :rid, 1, 'commit', 1, 'extract', NULL, k.output, split_part(k.v, ' ', 7),
         'postgres', 'postgres', NULL, 3, split_part(k.v, ' ', 5), '2025-01-01 00:00:00+00',
         split_part(k.v, ' ', 6)
  FROM k
), e AS (
  INSERT INTO verist_events (workflow_id, run_id, step_id, type, payload, llm_trace, created_at, seq, hash)
  SELECT 'bench-wf', :rid, 'extract', x.type, x.payload, x.trace, '2025-01-01 00:00:00+00', x.seq,
         split_part(k.v, ' ', x.seq + 2)
  FROM k, (VALUES (:e1type, :e1payload::jsonb, NULL::jsonb, 1),
                  (:e2type, :e2payload::jsonb, :e2trace::jsonb, 2),
                  (:e3type, :e3payload::jsonb, NULL::jsonb, 3)) AS x(type, payload, trace, seq)
), o AS (
  INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status, created_at)
  SELECT 'bench-wf', :rid, 'extract', x.command, split_part(k.v, ' ', x.i), 'pending', now()
  FROM k, (VALUES (:cmd1::jsonb, 1), (:cmd2::jsonb, 2)) AS x(command, i)
)
SELECT * FROM s;
