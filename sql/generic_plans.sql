--
-- The statements a dispatcher runs in a loop (every lease mode, the
-- finalising calls, retries and re-queueing) are planned once, for any
-- arguments, and that plan must read the outbox through its indexes; a
-- purge is planned for its arguments whatever the session says.
-- plan_cache_mode = force_generic_plan hands every statement its generic
-- plan, so an operator who sets it gets these plans too: 0.6.0's lease then
-- joined the claimed rows to a scan of the whole outbox.  Seen here as the
-- transaction's scans of verist_outbox: index scans only, no sequential one.
--
-- 20,000 commands, half queued and half dispatched a day ago, analyzed, so
-- that the planner weighs a real table.
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key,
                           status, dispatched_at)
SELECT 'gp-wf-' || (i % 4), 'gp-run-' || (i / 3), 'step', '{"type":"noop"}',
       md5('gp' || i) || md5('GP' || i),
       CASE WHEN i % 2 = 0 THEN 'dispatched' ELSE 'pending' END,
       CASE WHEN i % 2 = 0 THEN now() - interval '1 day' END
FROM generate_series(1, 20000) AS i;
ANALYZE verist_outbox;

BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
-- every lease mode, then finalising what was leased, retries, a purge
SELECT count(*) AS oldest FROM verist_lease_outbox('gp', 10);
SELECT count(*) AS per_run FROM verist_lease_outbox('gp', 10, '30 seconds', 'per_run');
SELECT count(*) AS fair FROM verist_lease_outbox('gp', 10, '30 seconds', 'fair');
SELECT count(*) AS fair_per_run FROM verist_lease_outbox('gp', 10, '30 seconds', 'fair_per_run');
WITH l AS (SELECT id FROM verist_lease_outbox('gp', 10))
SELECT count(*) AS finalised FROM verist_mark_dispatched_batch(ARRAY(SELECT id FROM l), 'gp');
SELECT id AS one FROM verist_lease_outbox('gp', 1) \gset
SELECT verist_mark_dispatched(:one, 'gp');
SELECT id AS one FROM verist_lease_outbox('gp', 1) \gset
SELECT verist_mark_failed(:one, 'gp', 'broken');
SELECT (verist_requeue(:one)).status AS requeued;
SELECT id AS one FROM verist_lease_outbox('gp', 1) \gset
SELECT (verist_mark_retry(:one, 'gp', 'later', 5)).status AS retried;
-- a purge's plan depends on its batch size: planned for each call, even here
SELECT verist_purge_outbox('0 seconds', 5) AS purged;
SELECT seq_scan AS outbox_seq_scans, idx_scan > 0 AS used_indexes
FROM pg_stat_xact_user_tables WHERE relid = 'verist_outbox'::regclass;
COMMIT;

DELETE FROM verist_outbox WHERE workflow_id LIKE 'gp-wf-%';
ANALYZE verist_outbox;
