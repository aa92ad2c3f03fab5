-- floor, update path: the same rows in one writable-CTE statement with no
-- checks at all (no version predicate, no conflict handling).
\set n :n + 1
\set g :client_id + :nclients * (:n - 1)
\set rid 2000000000 + :g % 240
\set v :g / 240 + 1
\set sid :v + 1
\set seq0 3 * :v - 3
WITH k AS (
  SELECT bench.ku(:g) AS v
), s AS (
  UPDATE verist_state AS s
  SET version = s.version + 1, computed = s.computed || :output::jsonb, updated_at = now(),
      chain_seq = :seq0 + 3, chain_hash = split_part(k.v, ' ', 5)
  FROM k
  WHERE s.workflow_id = 'bench-wf' AND s.run_id = :rid
  RETURNING s.*
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
