-- fill.sql: both queues emptied and given :n visible messages each (the
-- command JSON :'cmd'), optionally over :finished rows already done
-- (verist: dispatched outbox rows; reference: archived messages).
TRUNCATE verist_outbox;
TRUNCATE refq.q, refq.a;
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status,
                           dispatched_at)
SELECT 'bench-wf', 'done-' || (i / 2), 'extract', :'cmd'::jsonb,
       md5('d' || i) || md5('D' || i), 'dispatched', now()
FROM generate_series(1, :finished) AS i;
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status)
SELECT 'bench-wf', 'queue-' || (i / 2), 'extract', :'cmd'::jsonb,
       md5('p' || i) || md5('P' || i), 'pending'
FROM generate_series(1, :n) AS i;
INSERT INTO refq.a (msg_id, read_ct, enqueued_at, vt, message)
SELECT -i, 1, now(), now(), :'cmd'::jsonb FROM generate_series(1, :finished) AS i;
INSERT INTO refq.q (message) SELECT :'cmd'::jsonb FROM generate_series(1, :n);
VACUUM ANALYZE verist_outbox;
VACUUM ANALYZE refq.q;
VACUUM ANALYZE refq.a;
CHECKPOINT;
