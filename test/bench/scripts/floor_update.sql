-- floor, update path: the same rows in one writable-CTE statement with no
-- checks at all (no version predicate, no conflict handling); the ledger
-- entry v + 1 with its precomputed hash, as in floor_create.sql.
\set n :n + 1
\set g :client_id + :nclients * (:n - 1)
\set rid 2000000000 + :g % 240
\set v :g / 240 + 1
\set sid :v + 1
\set seq0 3 * :v - 3
WITH k AS (
  SELECT bench.ku(:g) AS v, :output::jsonb AS output
), s AS (
  UPDATE verist_state AS s
  SET version = s.version + 1, computed = s.computed || k.output, updated_at = now(),
      chain_seq = :seq0 + 3, chain_hash = split_part(k.v, ' ', 5),
      ledger_seq = :sid, ledger_hash = split_part(k.v, ' ', 6)
  FROM k
  WHERE s.workflow_id = 'bench-wf' AND s.run_id = :rid
  RETURNING s.*
), l AS (
  INSERT INTO verist_ledger (workflow_id, run_id, seq, kind, version, step_id, block, change, input,
                             role, session_role, actor, events_seq, events_hash, created_at, hash)
  SELECT 'bench-wf', :rid, :sid, 'commit', :sid, :sid, NULL, k.output, split_part(k.v, ' ', 7),
         'postgres', 'postgres', NULL, :seq0 + 3, split_part(k.v, ' ', 5), '2025-01-01 00:00:00+00',
         split_part(k.v, ' ', 6)
  FROM k
), e AS (
  INSERT INTO verist_events (workflow_id, run_id, step_id, type, payload, llm_trace, created_at, seq, hash)
  SELECT 'bench-wf', :rid, :sid, x.type, x.payload, x.trace, '2025-01-01 00:00:00+00', :seq0 + x.i,
         split_part(k.v, ' ', x.i + 2)
  FROM k, (VALUES (:e1type, :e1payload::jsonb, NULL::jsonb, 1),
                  (:e2type, :e2payload::jsonb, :e2trace::jsonb, 2),
                  (:e3type, :e3payload::jsonb, NULL::jsonb, 3)) AS x(type, payload, trace, i)
), o AS (
  INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status, created_at)
  SELECT 'bench-wf', :rid, :sid, x.command, split_part(k.v, ' ', x.i), 'pending', now()
  FROM k, (VALUES (:cmd1::jsonb, 1), (:cmd2::jsonb, 2)) AS x(command, i)
)
SELECT s.* FROM s;
