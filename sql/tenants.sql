--
-- tenants (0.5.0): lease modes, per-workflow caps, latency and metrics,
-- each with its bad inputs.  Races between dispatchers are proved by the
-- isolation specs (run-order, workflow-limit, retry-turn); the counters,
-- which need shared_preload_libraries, by the tenants suite.
--
\set ECHO none
\i test/regress/helpers.sql
CALL verist_test_reset();
DELETE FROM verist_workflow_limits;
\set ECHO all

-- Two workflows: wf-a with runs r1 (3 commands, over two steps) and r2 (2),
-- wf-b with r1 (2).
SELECT version FROM verist_commit('wf-a', 'r1', 's1', 0, '{}', '[]',
    '[{"type": "emit", "topic": "a1-1"}, {"type": "emit", "topic": "a1-2"}]');
SELECT version FROM verist_commit('wf-a', 'r2', 's1', 0, '{}', '[]',
    '[{"type": "emit", "topic": "a2-1"}, {"type": "emit", "topic": "a2-2"}]');
SELECT version FROM verist_commit('wf-b', 'r1', 's1', 0, '{}', '[]',
    '[{"type": "emit", "topic": "b1-1"}, {"type": "emit", "topic": "b1-2"}]');
SELECT version FROM verist_commit('wf-a', 'r1', 's2', 1, '{}', '[]',
    '[{"type": "emit", "topic": "a1-3"}]');

-- per_run: only the first unfinished command of each run.
SELECT id, workflow_id, run_id, command->>'topic' AS topic
FROM verist_lease_outbox('d1', 10, '1 minute', 'per_run');
-- ... and nothing more while those are out.
SELECT count(*) FROM verist_lease_outbox('d2', 10, '1 minute', 'per_run');
-- Dispatching a run's head hands out its next command, in commit order.
SELECT verist_mark_dispatched(1, 'd1');
SELECT id, run_id, command->>'topic' AS topic FROM verist_lease_outbox('d2', 10, '1 minute', 'per_run');
-- A command waiting for its retry keeps its run's turn ...
SELECT status, failures FROM verist_mark_retry(2, 'd2', 'down', 5, '1 hour', '1 hour');
SELECT count(*) FROM verist_lease_outbox('d2', 10, '1 minute', 'per_run');
-- ... and a dead letter gives it up: the next command goes.
SELECT verist_mark_failed(3, 'd1', 'gone');
SELECT id, run_id, command->>'topic' AS topic FROM verist_lease_outbox('d2', 10, '1 minute', 'per_run');
-- Re-queueing the dead letter while its successor is out does not put two
-- of the run in flight.
SELECT status FROM verist_requeue(3);
SELECT count(*) FROM verist_lease_outbox('d2', 10, '1 minute', 'per_run');
-- The 3-argument form and mode oldest lease as 0.1.0 did: wf-b's second
-- command too, behind its run's leased first.
SELECT id, workflow_id, run_id FROM verist_lease_outbox('d3', 10, '1 minute', 'oldest');
SELECT count(*) FROM verist_lease_outbox('d3', 10);

-- fair: round-robin over workflows.  Twelve commands in big, three in small.
CALL verist_test_reset();
SELECT count(*) FROM (
    SELECT verist_commit('big', 'r' || g, 's', 0, '{}', '[]',
        '[{"type": "emit", "topic": "x"}, {"type": "emit", "topic": "y"}, {"type": "emit", "topic": "z"}]')
    FROM generate_series(1, 4) g) AS c;
SELECT version FROM verist_commit('small', 'r1', 's', 0, '{}', '[]',
    '[{"type": "emit", "topic": "x"}, {"type": "emit", "topic": "y"}, {"type": "emit", "topic": "z"}]');
-- oldest would give big all four; fair gives each workflow two.
SELECT workflow_id, count(*) FROM verist_lease_outbox('f1', 4, '1 minute', 'fair')
GROUP BY 1 ORDER BY 1;
-- A cap: big may have 3 leased; it has 2, so it gets 1; small gets the rest.
INSERT INTO verist_workflow_limits (workflow_id, max_in_flight) VALUES ('big', 3);
SELECT workflow_id, count(*) FROM verist_lease_outbox('f1', 10, '1 minute', 'fair')
GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM verist_lease_outbox('f1', 10, '1 minute', 'fair');
-- Finishing one frees one slot; a cap of 0 pauses the workflow.
SELECT verist_mark_dispatched(min(id), 'f1') FROM verist_outbox WHERE workflow_id = 'big' AND status = 'leased';
SELECT workflow_id, count(*) FROM verist_lease_outbox('f1', 10, '1 minute', 'fair') GROUP BY 1;
UPDATE verist_workflow_limits SET max_in_flight = 0;
-- Expired leases are leasable again and no longer count against a cap: big
-- is paused, small's expired rows go out again.
UPDATE verist_outbox SET lease_expires_at = now() - interval '1 second' WHERE status = 'leased';
SELECT workflow_id, count(*) FROM verist_lease_outbox('f1', 10, '1 minute', 'fair') GROUP BY 1;
-- With the cap lifted, big's rows (its expired ones too) go out.
DELETE FROM verist_workflow_limits;
SELECT count(*) FROM verist_lease_outbox('f2', 100, '1 minute', 'fair');
-- fair_per_run: one per run, round-robin.
CALL verist_test_reset();
SELECT count(*) FROM (
    SELECT verist_commit('w' || (g % 2), 'r' || g, 's', 0, '{}', '[]',
        '[{"type": "emit", "topic": "x"}, {"type": "emit", "topic": "y"}]')
    FROM generate_series(1, 4) g) AS c;
-- (The largest max_entries is a number, not an overflow: the fuzzer found
-- the first version computing four times it in integer.)
SELECT workflow_id, run_id, command->>'topic' AS topic
FROM verist_lease_outbox('f3', 2147483647, '1 minute', 'fair_per_run') ORDER BY id;

-- Bad inputs: a clear error each, with its own SQLSTATE, nothing written.
SELECT verist_fingerprint() AS before \gset
SELECT verist_try($$SELECT verist_lease_outbox('d', 1, '1 minute', NULL)$$);
SELECT verist_try($$SELECT verist_lease_outbox('d', 1, '1 minute', 'fifo')$$);
SELECT verist_try($$SELECT verist_lease_outbox('d', 1, '1 minute', '')$$);
SELECT verist_try($$SELECT verist_lease_outbox(NULL, 1, '1 minute', 'per_run')$$);
SELECT verist_try($$SELECT verist_lease_outbox('d', 0, '1 minute', 'fair')$$);
SELECT verist_try($$SELECT verist_lease_outbox('d', NULL, '1 minute', 'fair')$$);
SELECT verist_try($$SELECT verist_lease_outbox('d', 1, '0 seconds', 'per_run')$$);
SELECT verist_try($$SELECT verist_lease_outbox('d', 1, '1000000 years', 'fair')$$);
SELECT verist_try($$SELECT verist_lease_outbox('d', 1, NULL, 'fair')$$);
SELECT verist_try($$SELECT verist_lease_outbox(repeat('o', 600), 1, '1 minute', 'fair')$$);
-- Fair leasing refuses a transaction snapshot (it could not see other
-- dispatchers' leases); per_run is safe under one.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT verist_try($$SELECT verist_lease_outbox('d', 1, '1 minute', 'fair_per_run')$$);
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT verist_try($$SELECT verist_lease_outbox('d', 1, '1 minute', 'fair')$$);
ROLLBACK;
SELECT verist_fingerprint() = :'before' AS nothing_written;
-- Caps are checked by the table (SQLSTATE only: the detail shows the time).
SELECT left(verist_try($$INSERT INTO verist_workflow_limits VALUES ('w', -1)$$), 5) AS sqlstate;
SELECT left(verist_try($$INSERT INTO verist_workflow_limits VALUES ('', 1)$$), 5) AS sqlstate;
SELECT left(verist_try($$INSERT INTO verist_workflow_limits VALUES (NULL, 1)$$), 5) AS sqlstate;
SELECT left(verist_try($$INSERT INTO verist_workflow_limits VALUES ('w', NULL)$$), 5) AS sqlstate;
SELECT left(verist_try($$INSERT INTO verist_workflow_limits VALUES (repeat('w', 513), 1)$$), 5) AS sqlstate;
SELECT left(verist_try($$INSERT INTO verist_workflow_limits VALUES ('w', 2147483648)$$), 5) AS sqlstate;
SELECT count(*) FROM verist_workflow_limits;

-- Latency: rows dispatched in the window, quantiles in order.
SELECT count(*) FROM (SELECT verist_mark_dispatched(id, 'f3') FROM verist_outbox WHERE status = 'leased') AS d;
SELECT dispatched, p50 <= p90 AND p90 <= p99 AS ordered, p50 >= interval '0' AS non_negative
FROM verist_dispatch_latency();
SELECT dispatched, p50 IS NULL AS no_quantiles FROM verist_dispatch_latency('0 seconds');
SELECT verist_try($$SELECT verist_dispatch_latency(NULL)$$);
SELECT verist_try($$SELECT verist_dispatch_latency('-1 second')$$);
SELECT dispatched FROM verist_dispatch_latency('1000000 years');
SELECT verist_try($$SELECT verist_metrics(NULL)$$);
SELECT verist_metrics() ~ 'verist_dispatch_latency_rows 4' AS metrics_has_latency,
       verist_metrics() ~ '(?n)^verist_counters_enabled [01]$' AS metrics_says_if_counting;

-- Privileges: a role with default privileges can do none of it.
CREATE ROLE regress_verist_tenant NOLOGIN;
SET ROLE regress_verist_tenant;
SELECT verist_try($$SELECT verist_lease_outbox('d', 1, '1 minute', 'per_run')$$);
SELECT verist_try($$SELECT * FROM verist_workflow_limits$$);
SELECT left(verist_try($$INSERT INTO verist_workflow_limits VALUES ('w', 1)$$), 5) AS sqlstate;
SELECT verist_try($$SELECT * FROM verist_counters$$);
SELECT verist_try($$SELECT verist_reset_counters()$$);
SELECT verist_try($$SELECT verist_dispatch_latency()$$);
SELECT verist_try($$SELECT verist_metrics()$$);
SELECT verist_try($$SET verist.counters = off$$);
RESET ROLE;
DROP ROLE regress_verist_tenant;
