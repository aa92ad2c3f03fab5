--
-- leasing (0.6.0): what a lease and a finalisation write.  A lease changes
-- only columns no index holds (status, owner, lease end), so it is a HOT
-- update: a new row version on the same page, no index entry.  The partial
-- indexes leasing reads name the generated column queued (pending or
-- leased), which any writer keeps right, verist's functions or not.
-- Counts come from this transaction's table statistics.
--
\set ECHO none
\i test/regress/helpers.sql
CALL verist_test_reset();
CREATE OR REPLACE FUNCTION outbox_writes(OUT updated bigint, OUT hot bigint) LANGUAGE sql AS $$
    SELECT pg_stat_get_xact_tuples_updated('verist_outbox'::regclass),
           pg_stat_get_xact_tuples_hot_updated('verist_outbox'::regclass)
$$;
\set ECHO all

SELECT reloptions FROM pg_class WHERE relname = 'verist_outbox';
SELECT version FROM verist_commit('ls-wf', 'run-1', 'plan', 0, '{}', '[]',
    '[{"type": "emit", "topic": "a"}, {"type": "emit", "topic": "b"},
      {"type": "emit", "topic": "c"}, {"type": "emit", "topic": "d"}]');
SELECT version FROM verist_commit('ls-wf', 'run-2', 'plan', 0, '{}', '[]',
    '[{"type": "emit", "topic": "e"}, {"type": "emit", "topic": "f"}]');
SELECT id, status, queued FROM verist_outbox ORDER BY id;

-- Each mode's lease: every row it leases is a HOT update.
BEGIN;
SELECT * FROM outbox_writes() \gset w0_
SELECT count(*) AS leased FROM verist_lease_outbox('d1', 2);
SELECT count(*) AS leased FROM verist_lease_outbox('d1', 1, '30 seconds', 'per_run');
SELECT count(*) AS leased FROM verist_lease_outbox('d1', 1, '30 seconds', 'fair');
SELECT count(*) AS leased FROM verist_lease_outbox('d1', 1, '30 seconds', 'fair_per_run');
SELECT updated - :w0_updated AS updated, hot - :w0_hot AS hot FROM outbox_writes();
COMMIT;
SELECT id, status, lease_owner, queued FROM verist_outbox ORDER BY id;

-- Finalising leaves the ready set: queued turns false, which the partial
-- indexes name, so that update is not HOT (the row leaves them).
BEGIN;
SELECT * FROM outbox_writes() \gset w1_
SELECT count(*) AS dispatched FROM verist_mark_dispatched_batch('{1,2}', 'd1');
SELECT verist_mark_failed(3, 'd1', 'no');
SELECT updated - :w1_updated AS updated, hot - :w1_hot AS hot FROM outbox_writes();
COMMIT;
SELECT id, status, queued FROM verist_outbox WHERE id <= 3 ORDER BY id;

-- A retry keeps the row queued (pending again after its backoff): HOT too.
BEGIN;
SELECT * FROM outbox_writes() \gset w2_
SELECT status, queued FROM verist_mark_retry(5, 'd1', 'later', 5, '1 second', '1 minute');
SELECT updated - :w2_updated AS updated, hot - :w2_hot AS hot FROM outbox_writes();
COMMIT;
-- Re-queueing a dead letter brings it back into the ready set.
SELECT status, queued FROM verist_requeue(3);

-- Deferred rows (held by a review) are not queued until the review passes.
SELECT version FROM verist_commit('ls-wf', 'run-3', 'plan', 0, '{}', '[]',
    '[{"type": "emit", "topic": "held"}, {"type": "review", "reason": "look"}]');
SELECT step_id, status, queued FROM verist_outbox WHERE run_id = 'run-3' ORDER BY id;
SELECT count(*) FROM verist_resolve_block('ls-wf', 'run-3', '{"approved": true}');
SELECT step_id, status, queued FROM verist_outbox WHERE run_id = 'run-3' ORDER BY id;

-- A writer that is not verist (the TypeScript adapter's own statements):
-- queued follows whatever it writes, and verist leases what it inserted.
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key)
VALUES ('ls-wf', 'run-ts', 'ts', '{"type": "emit"}', repeat('a', 64));
SELECT status, queued FROM verist_outbox WHERE run_id = 'run-ts';
SELECT run_id, queued FROM verist_lease_outbox('d2', 10) WHERE run_id = 'run-ts';
UPDATE verist_outbox SET status = 'dispatched', lease_owner = NULL, lease_expires_at = NULL
WHERE run_id = 'run-ts';
SELECT status, queued FROM verist_outbox WHERE run_id = 'run-ts';
-- ... but cannot write queued itself.
SELECT verist_try($$INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, queued)
                   VALUES ('ls-wf', 'run-ts', 'ts', '{}', repeat('b', 64), false)$$);
SELECT verist_try($$UPDATE verist_outbox SET queued = false WHERE id = 1$$);
-- The ready set is exactly the pending and leased rows.
SELECT count(*) FILTER (WHERE queued) = count(*) FILTER (WHERE status IN ('pending', 'leased'))
       AS queued_is_pending_or_leased,
       count(*) FILTER (WHERE queued <> (status IN ('pending', 'leased'))) AS disagreeing
FROM verist_outbox;
