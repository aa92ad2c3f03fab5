-- tenants/fill.sql: the outbox emptied and given :runs runs of 5 commands
-- each, all pending, spread over 10 workflows (run r belongs to workflow
-- 'wf-' || r % 10, so every workflow holds the same share).  Commit order
-- (id order) is step-major within blocks of 1,000 runs: the first step of
-- runs 0..999, then their second step, ... then runs 1000..1999, as when
-- many runs advance side by side.  So every mode finds leasable rows near
-- the head of the queue, and per_run's "an earlier command of this run is
-- still pending" check has real work to do.  The command JSON is :'cmd'
-- (queue.sh's, from lib/gen_data.py).
SET client_min_messages = warning;
TRUNCATE verist_outbox;
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status)
SELECT 'wf-' || (r % 10), 'run-' || r, 'step-' || k, :'cmd'::jsonb,
       md5('p' || r || '/' || k) || md5('P' || r || '/' || k), 'pending'
FROM generate_series(0, :runs - 1) AS r, generate_series(1, 5) AS k
ORDER BY r / 1000, k, r;
VACUUM ANALYZE verist_outbox;
CHECKPOINT;
