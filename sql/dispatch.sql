--
-- dispatch (0.3.0): retries with exponential backoff and dead letters,
-- re-queueing, retention in batches, operator views.  (Wake-ups are proved
-- by the notify isolation spec, where notifications can be shown.)
--
\set ECHO none
\i test/regress/helpers.sql
CALL verist_test_reset();
\set ECHO all

TRUNCATE verist_outbox RESTART IDENTITY;
SELECT version FROM verist_commit('dp-wf', 'run-1', 'plan', 0, '{}', '[]',
    '[{"type": "invoke", "step": "a"}, {"type": "invoke", "step": "b"},
      {"type": "invoke", "step": "c"}, {"type": "emit", "topic": "d"}]');
SELECT count(*) AS leased FROM verist_lease_outbox('w1', 10);

-- Without a policy a failure is final, as in 0.1.0.
SELECT verist_mark_failed(1, 'w1', 'plain failure');
SELECT status, failures, lease_expires_at FROM verist_outbox WHERE id = 1;

-- With a policy: pending again, not leasable before the backoff ends.  The
-- first retry waits base_delay, each next one twice as long.
BEGIN;
SELECT status, failures, last_error, lease_owner,
       lease_expires_at - clock_timestamp() BETWEEN interval '9 min' AND interval '10 min' AS waits_base
FROM verist_mark_retry(2, 'w1', 'HTTP 503', 5, '10 minutes', '1 day');
COMMIT;
SELECT count(*) AS leasable_during_backoff FROM verist_lease_outbox('w2', 10);
UPDATE verist_outbox SET lease_expires_at = clock_timestamp() - interval '1 ms' WHERE id = 2;
SELECT id, lease_owner, failures FROM verist_lease_outbox('w2', 10);
SELECT status, failures,
       lease_expires_at - clock_timestamp() BETWEEN interval '19 min' AND interval '20 min' AS waits_twice
FROM verist_mark_retry(2, 'w2', 'HTTP 503 again', 5, '10 minutes', '1 day');

-- The delay is capped by max_delay.
UPDATE verist_outbox SET status = 'leased', lease_owner = 'w2', failures = 20 WHERE id = 2;
SELECT status, failures,
       lease_expires_at - clock_timestamp() BETWEEN interval '59 min' AND interval '60 min' AS capped
FROM verist_mark_retry(2, 'w2', 'still down', 50, '10 minutes', '1 hour');
-- A huge failure count cannot overflow the backoff.
UPDATE verist_outbox SET status = 'leased', lease_owner = 'w2', failures = 2000000 WHERE id = 2;
SELECT status, lease_expires_at - clock_timestamp() BETWEEN interval '59 min' AND interval '60 min' AS capped
FROM verist_mark_retry(2, 'w2', 'still down', 2147483647, '1 microsecond', '1 hour');

-- At its max_attempts-th failure the row is a dead letter: failed, no lease.
SELECT status, failures, last_error, lease_owner, lease_expires_at
FROM verist_mark_retry(3, 'w1', 'bad request', 1);
SELECT status, failures, last_error
FROM verist_mark_retry(4, 'w1', 'first', 2, '1 ms', '1 ms');
SELECT pg_sleep(0.01);
SELECT id FROM verist_lease_outbox('w3', 10);
SELECT status, failures, last_error
FROM verist_mark_retry(4, 'w3', 'second', 2, '1 ms', '1 ms');
SELECT count(*) AS dead_letters_leasable FROM verist_lease_outbox('w4', 10) WHERE status = 'failed';

-- Only the lease owner reports a failure; nothing changes otherwise.
SELECT verist_fingerprint() AS before \gset
SELECT verist_try('SELECT verist_mark_retry(2, ''intruder'', ''x'', 3)') AS not_owner,
       verist_try('SELECT verist_mark_retry(3, ''w1'', ''x'', 3)') AS not_leased;
SELECT verist_try('SELECT verist_mark_retry(999, ''w1'', ''x'', 3)') AS unknown_id;
SELECT verist_fingerprint() = :'before' AS nothing_written;

-- An operator re-queues a dead letter: pending, failures reset, error kept.
SELECT id, status, failures, last_error, lease_owner FROM verist_requeue(3);
SELECT id, lease_owner FROM verist_lease_outbox('w5', 10);
SELECT verist_mark_dispatched(3, 'w5');
SELECT verist_fingerprint() AS before \gset
SELECT verist_try('SELECT verist_requeue(3)') AS dispatched_row,
       verist_try('SELECT verist_requeue(2)') AS pending_row;
SELECT verist_try('SELECT verist_requeue(999)') AS unknown_id,
       verist_try('SELECT verist_requeue(NULL)') AS null_id;
SELECT verist_fingerprint() = :'before' AS nothing_written;

-- Bad retry policies are serialization errors.
CREATE TEMP TABLE bad_dispatch(label text, statement text);
INSERT INTO bad_dispatch VALUES
  ('retry: null id',            $$SELECT verist_mark_retry(NULL, 'w', 'e', 3)$$),
  ('retry: null owner',         $$SELECT verist_mark_retry(2, NULL, 'e', 3)$$),
  ('retry: empty owner',        $$SELECT verist_mark_retry(2, '', 'e', 3)$$),
  ('retry: null error',         $$SELECT verist_mark_retry(2, 'w', NULL, 3)$$),
  ('retry: null max_attempts',  $$SELECT verist_mark_retry(2, 'w', 'e', NULL)$$),
  ('retry: zero max_attempts',  $$SELECT verist_mark_retry(2, 'w', 'e', 0)$$),
  ('retry: null base_delay',    $$SELECT verist_mark_retry(2, 'w', 'e', 3, NULL)$$),
  ('retry: zero base_delay',    $$SELECT verist_mark_retry(2, 'w', 'e', 3, '0 s')$$),
  ('retry: negative max_delay', $$SELECT verist_mark_retry(2, 'w', 'e', 3, '1 s', '-1 s')$$),
  ('retry: max below base',     $$SELECT verist_mark_retry(2, 'w', 'e', 3, '1 min', '1 s')$$),
  ('purge: null older_than',    $$SELECT verist_purge_outbox(NULL)$$),
  ('purge: negative older_than', $$SELECT verist_purge_outbox('-1 day')$$),
  ('purge: null max_rows',      $$SELECT verist_purge_outbox('1 day', NULL)$$),
  ('purge: zero max_rows',      $$SELECT verist_purge_outbox('1 day', 0)$$);
SELECT label, verist_try(statement) AS result FROM bad_dispatch ORDER BY label;
SELECT verist_fingerprint() = :'before' AS nothing_written;

--
-- Operator views.
--
SELECT version FROM verist_commit('dp-wf', 'run-2', 'gate', 0, '{}', '[{"type": "gated"}]',
    '[{"type": "emit", "topic": "held"}, {"type": "review", "reason": "look"}]');
SELECT version FROM verist_commit('dp-wf', 'run-3', 'work', 0, '{}', '[]',
    '[{"type": "invoke", "step": "x"}, {"type": "invoke", "step": "y"}]');
SELECT count(*) FROM verist_lease_outbox('w6', 1, '1 ms');
SELECT pg_sleep(0.01);
SELECT pending, retry_waiting, deferred, leased, expired_leases, dispatched, rejected, failed,
       oldest_pending_at = (SELECT min(created_at) FROM verist_outbox WHERE status = 'pending')
           AS oldest_pending_ok,
       oldest_pending_age >= interval '0' AS has_age
FROM verist_outbox_stats;
SELECT workflow_id, run_id, step_id, type, reason, age >= interval '0' AS has_age
FROM verist_active_blocks ORDER BY workflow_id, run_id;
SELECT run_id, version, active_block, pending_commands, deferred_commands,
       last_event_at IS NOT NULL AS has_events
FROM verist_run_summary WHERE workflow_id = 'dp-wf' ORDER BY run_id;

--
-- Retention: dispatched and rejected rows older than the cut-off go, in
-- batches, oldest first; failed, pending, deferred, leased rows and events stay.
--
SELECT count(*) FROM verist_resolve_block('dp-wf', 'run-2', '{"approved": false}');
SELECT count(*) FROM verist_lease_outbox('w7', 100);
SELECT count(*) FROM verist_mark_dispatched_batch(
    ARRAY(SELECT id FROM verist_outbox WHERE lease_owner = 'w7' ORDER BY id LIMIT 2), 'w7');
SELECT version FROM verist_commit('dp-wf', 'run-4', 'old', 0, '{}', '[]',
    '[{"type": "emit", "topic": "o1"}, {"type": "emit", "topic": "o2"}, {"type": "emit", "topic": "o3"}]');
SELECT count(*) FROM verist_mark_dispatched_batch(
    ARRAY(SELECT id FROM verist_lease_outbox('w8', 100) WHERE run_id = 'run-4'), 'w8');
-- Age the finished rows of run-4 and the rejected and failed ones.
UPDATE verist_outbox SET dispatched_at = now() - interval '10 days' WHERE run_id = 'run-4';
UPDATE verist_outbox SET created_at = now() - interval '10 days'
WHERE status IN ('rejected', 'failed') OR run_id = 'run-4';
SELECT status, count(*) FROM verist_outbox GROUP BY status ORDER BY status;
SELECT count(*) AS events_before FROM verist_events \gset
SELECT verist_purge_outbox('7 days', 2) AS first_batch;
SELECT verist_purge_outbox('7 days', 2) AS second_batch;
SELECT verist_purge_outbox('7 days', 2) AS nothing_left;
SELECT status, count(*) FROM verist_outbox GROUP BY status ORDER BY status;
SELECT count(*) = :events_before AS events_untouched FROM verist_events;
-- The recently finished rows stayed; with a cut-off of 0 they go too.
SELECT verist_purge_outbox('0 seconds', 100) AS recent_rows;
SELECT status, count(*) FROM verist_outbox GROUP BY status ORDER BY status;
-- The procedure commits between batches and reports the total.
SELECT version FROM verist_commit('dp-wf', 'run-5', 'old', 0, '{}', '[]',
    '[{"type": "emit", "topic": "p1"}, {"type": "emit", "topic": "p2"},
      {"type": "emit", "topic": "p3"}, {"type": "emit", "topic": "p4"}, {"type": "emit", "topic": "p5"}]');
SELECT count(*) FROM verist_mark_dispatched_batch(
    ARRAY(SELECT id FROM verist_lease_outbox('w9', 100)), 'w9');
UPDATE verist_outbox SET dispatched_at = now() - interval '2 days' WHERE run_id = 'run-5';
CALL verist_purge_outbox_all('1 day', 2);
SELECT count(*) AS run_5_rows FROM verist_outbox WHERE run_id = 'run-5';
SELECT status, count(*) FROM verist_outbox GROUP BY status ORDER BY status;
