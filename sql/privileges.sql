--
-- privileges: the least-privilege recipe of README ("Roles"), proved.  Five
-- roles get EXECUTE on the functions of their job and nothing else (the
-- auditor gets SELECT on the tables, the operator on the views); each can do
-- its job through the functions, and none can write a verist table directly
-- or alter or delete events.
--
\set ECHO none
\i test/regress/helpers.sql
\set ECHO all

-- The recipe, as README gives it.
CREATE ROLE regress_verist_runner NOLOGIN;
CREATE ROLE regress_verist_dispatcher NOLOGIN;
CREATE ROLE regress_verist_reviewer NOLOGIN;
CREATE ROLE regress_verist_auditor NOLOGIN;
CREATE ROLE regress_verist_operator NOLOGIN;
CREATE ROLE regress_verist_nobody NOLOGIN;

GRANT EXECUTE ON FUNCTION
    verist_commit(text, text, text, integer, jsonb, jsonb, jsonb),
    verist_load(text, text), verist_effective_state(text, text),
    verist_get_block(text, text)
  TO regress_verist_runner;
GRANT EXECUTE ON FUNCTION
    verist_lease_outbox(text, integer, interval),
    verist_mark_dispatched(bigint, text), verist_mark_failed(bigint, text, text),
    verist_mark_dispatched_batch(bigint[], text)
  TO regress_verist_dispatcher;
GRANT EXECUTE ON FUNCTION
    verist_load(text, text), verist_effective_state(text, text),
    verist_get_block(text, text), verist_resolve_block(text, text, jsonb),
    verist_set_overlay(text, text, jsonb)
  TO regress_verist_reviewer;
GRANT SELECT ON verist_state, verist_events, verist_outbox, verist_blocks
  TO regress_verist_auditor;
GRANT EXECUTE ON FUNCTION
    verist_verify_run(text, text), verist_verify_all(), verist_run_digest(text, text),
    verist_read_events(bigint, integer)
  TO regress_verist_auditor;
GRANT EXECUTE ON FUNCTION
    verist_mark_retry(bigint, text, text, integer, interval, interval)
  TO regress_verist_dispatcher;
GRANT EXECUTE ON FUNCTION verist_requeue(bigint), verist_purge_outbox(interval, integer)
  TO regress_verist_operator;
GRANT EXECUTE ON PROCEDURE verist_purge_outbox_all(interval, integer, bigint) TO regress_verist_operator;
GRANT SELECT ON verist_outbox_stats, verist_active_blocks, verist_run_summary TO regress_verist_operator;
GRANT EXECUTE ON FUNCTION                                    -- 0.4.0
    verist_state_at(text, text, integer), verist_step_input(text, text, integer),
    verist_state_as_of(text, text, timestamptz), verist_run_history(text, text)
  TO regress_verist_runner, regress_verist_reviewer, regress_verist_auditor;
GRANT EXECUTE ON FUNCTION verist_export_run(text, text) TO regress_verist_auditor, regress_verist_operator;
GRANT EXECUTE ON FUNCTION verist_retire_run(text, text) TO regress_verist_operator;
GRANT SELECT ON verist_ledger, verist_retired TO regress_verist_auditor;
GRANT EXECUTE ON FUNCTION                                    -- 0.5.0
    verist_lease_outbox(text, integer, interval, text)
  TO regress_verist_dispatcher;
GRANT SELECT, INSERT, UPDATE, DELETE ON verist_workflow_limits TO regress_verist_operator;
GRANT SELECT ON verist_counters TO regress_verist_operator;
GRANT EXECUTE ON FUNCTION verist_stat_counters(), verist_reset_counters(),
    verist_dispatch_latency(interval), verist_metrics(interval)
  TO regress_verist_operator;

-- Each role can do its job through the functions.
SET ROLE regress_verist_runner;
SELECT version FROM verist_commit('p-wf', 'run-1', 'extract', 0, '{"a": 1}',
    '[{"type": "extracted"}]',
    '[{"type": "emit", "topic": "t"}, {"type": "review", "reason": "check"}]');
SELECT version, computed FROM verist_load('p-wf', 'run-1');
SELECT type FROM verist_get_block('p-wf', 'run-1');
SELECT version, computed FROM verist_state_at('p-wf', 'run-1', 1);
SELECT version, computed FROM verist_step_input('p-wf', 'run-1', 1);
RESET ROLE;

SET ROLE regress_verist_reviewer;
SELECT overlay FROM verist_set_overlay('p-wf', 'run-1', '{"a": 2}');
SELECT resolution FROM verist_resolve_block('p-wf', 'run-1', '{"approved": true}');
SELECT verist_effective_state('p-wf', 'run-1');
SELECT seq, kind, role FROM verist_run_history('p-wf', 'run-1');
RESET ROLE;

SET ROLE regress_verist_dispatcher;
SELECT array_agg(id) FILTER (WHERE workflow_id = 'p-wf') AS ours,
       bool_and(status = 'leased' AND lease_owner = 'd-1') AS all_leased
FROM verist_lease_outbox('d-1', 100) \gset
SELECT :'all_leased' AS all_leased, cardinality(:'ours'::bigint[]) AS ours;
SELECT verist_mark_dispatched((:'ours'::bigint[])[1], 'd-1');
RESET ROLE;

-- 0.3.0: a dispatcher retries, an operator re-queues the dead letter, reads
-- the views and purges, with no table privileges.
SELECT version FROM verist_commit('p-wf', 'run-3', 's', 0, '{}', '[]', '[{"type": "emit", "topic": "x"}]');
SET ROLE regress_verist_dispatcher;
SELECT array_agg(id) FILTER (WHERE workflow_id = 'p-wf') AS ours FROM verist_lease_outbox('d-1', 100) \gset
SELECT status FROM verist_mark_retry((:'ours'::bigint[])[1], 'd-1', 'gave up', 1);
RESET ROLE;
SET ROLE regress_verist_operator;
SELECT failed > 0 AS has_dead_letter FROM verist_outbox_stats;
SELECT status FROM verist_requeue((:'ours'::bigint[])[1]);
SELECT version, pending_commands FROM verist_run_summary WHERE workflow_id = 'p-wf' AND run_id = 'run-3';
SELECT count(*) AS active_blocks FROM verist_active_blocks WHERE workflow_id = 'p-wf';
SELECT verist_purge_outbox('1000 years') AS purged;
RESET ROLE;
-- 0.4.0: the operator exports and retires a finished run.
SELECT version FROM verist_commit('p-wf', 'run-4', 's', 0, '{"done": true}');
SET ROLE regress_verist_operator;
SELECT verist_export_run('p-wf', 'run-4') = verist_retire_run('p-wf', 'run-4') AS retired;
RESET ROLE;
-- 0.5.0: the operator caps a workflow and reads the figures (the counters
-- raise 55000 when verist is not preloaded: allowed, not denied); the
-- dispatcher leases in a mode within the cap.
SELECT version FROM verist_commit('p-wf', 'run-5', 's', 0, '{}', '[]',
    '[{"type": "emit", "topic": "x"}, {"type": "emit", "topic": "y"}]');
SET ROLE regress_verist_operator;
INSERT INTO verist_workflow_limits (workflow_id, max_in_flight) VALUES ('p-wf', 1);
UPDATE verist_workflow_limits SET max_in_flight = 2 WHERE workflow_id = 'p-wf';
SELECT verist_try('SELECT * FROM verist_counters') ~ '^(ok|55000:)' AS counters_readable,
       verist_try('SELECT verist_reset_counters()') ~ '^(ok|55000:)' AS counters_resettable,
       (SELECT dispatched >= 0 FROM verist_dispatch_latency()) AS latency_readable,
       verist_metrics() ~ 'verist_counters_enabled' AS metrics_readable;
RESET ROLE;
SET ROLE regress_verist_dispatcher;
SELECT count(*) AS leased FROM verist_lease_outbox('d-2', 10, '1 minute', 'fair_per_run');
SELECT count(*) AS leased FROM verist_lease_outbox('d-2', 10, '1 minute', 'per_run');
RESET ROLE;
SET ROLE regress_verist_operator;
DELETE FROM verist_workflow_limits;
RESET ROLE;

SET ROLE regress_verist_auditor;
SELECT count(*) AS events, max(type) AS last_type FROM verist_events WHERE workflow_id = 'p-wf';
SELECT status FROM verist_outbox WHERE workflow_id = 'p-wf' ORDER BY status;
SELECT valid, events_checked FROM verist_verify_run('p-wf', 'run-1');
SELECT count(*) AS broken FROM verist_verify_all();
SELECT seq FROM verist_run_digest('p-wf', 'run-1');
SELECT type FROM verist_read_events(0, 1000) WHERE workflow_id = 'p-wf';
SELECT count(*) AS entries FROM verist_ledger WHERE workflow_id = 'p-wf';
SELECT run_id, role FROM verist_retired WHERE workflow_id = 'p-wf';
SELECT jsonb_array_length(verist_export_run('p-wf', 'run-1')->'ledger') AS exported_entries;
SELECT version FROM verist_state_as_of('p-wf', 'run-1', now());
RESET ROLE;

-- None of them can write a verist table directly, alter the event log, or
-- call a function of another job.  Errors are permission denied (42501).
SELECT verist_fingerprint() AS before \gset
CREATE TEMP TABLE attempts(role name, label text, statement text);
GRANT SELECT ON attempts TO PUBLIC;
INSERT INTO attempts
SELECT r.role, s.label, s.statement
FROM (VALUES ('regress_verist_runner'), ('regress_verist_dispatcher'),
             ('regress_verist_reviewer'), ('regress_verist_auditor'),
             ('regress_verist_operator'), ('regress_verist_nobody')) AS r(role),
     (VALUES
        ('insert state',   $$INSERT INTO verist_state (workflow_id, run_id, version) VALUES ('p-wf', 'forged', 1)$$),
        ('bump version',   $$UPDATE verist_state SET version = 99 WHERE workflow_id = 'p-wf'$$),
        ('delete state',   $$DELETE FROM verist_state$$),
        ('insert event',   $$INSERT INTO verist_events (workflow_id, run_id, step_id, type) VALUES ('p-wf', 'run-1', 's', 'forged')$$),
        ('update event',   $$UPDATE verist_events SET type = 'forged'$$),
        ('delete events',  $$DELETE FROM verist_events$$),
        ('truncate events', $$TRUNCATE verist_events$$),
        ('disable guard',  $$ALTER TABLE verist_events DISABLE TRIGGER verist_events_append_only$$),
        ('drop guard',     $$DROP TRIGGER verist_events_append_only ON verist_events$$),
        ('steal lease',    $$UPDATE verist_outbox SET lease_owner = 'me', status = 'leased'$$),
        ('insert command', $$INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key) VALUES ('p-wf', 'run-1', 's', '{}', 'x')$$),
        ('clear block',    $$DELETE FROM verist_blocks$$),
        ('forge entry',    $$INSERT INTO verist_ledger SELECT * FROM verist_ledger LIMIT 1$$),
        ('rewrite actor',  $$UPDATE verist_ledger SET actor = 'mallory'$$),
        ('drop seal',      $$DELETE FROM verist_retired$$),
        ('lift ledger guard', $$ALTER TABLE verist_ledger DISABLE TRIGGER verist_ledger_append_only$$),
        ('drop caps',      $$DROP TABLE verist_workflow_limits$$)
     ) AS s(label, statement);

-- The outcome of every attempt, as each role.
CREATE FUNCTION try_as(role name, statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', role);
    result := verist_try(statement);
    RESET ROLE;
    RETURN result;
END
$$;
SELECT label, count(*) AS roles,
       count(*) FILTER (WHERE try_as(role, statement) LIKE '42501:%') AS denied
FROM attempts GROUP BY label ORDER BY label;
SELECT role, label, try_as(role, statement) AS result
FROM attempts WHERE try_as(role, statement) NOT LIKE '42501:%';

-- Functions outside a role's job are denied too.
SELECT try_as('regress_verist_runner', $$SELECT verist_lease_outbox('x', 1)$$) AS runner_leases,
       try_as('regress_verist_dispatcher', $$SELECT verist_commit('p-wf', 'run-2', 's', 0, '{}')$$) AS dispatcher_commits;
SELECT try_as('regress_verist_reviewer', $$SELECT verist_commit('p-wf', 'run-2', 's', 0, '{}')$$) AS reviewer_commits,
       try_as('regress_verist_auditor', $$SELECT * FROM verist_load('p-wf', 'run-1')$$) AS auditor_loads,
       try_as('regress_verist_nobody', $$SELECT * FROM verist_get_block('p-wf', 'run-1')$$) AS nobody_reads;
SELECT try_as('regress_verist_runner', $$SELECT * FROM verist_read_events(0, 1)$$) AS runner_tails,
       try_as('regress_verist_nobody', $$SELECT * FROM verist_verify_all()$$) AS nobody_verifies;
SELECT try_as('regress_verist_dispatcher', $$SELECT verist_requeue(1)$$) AS dispatcher_requeues,
       try_as('regress_verist_runner', $$SELECT * FROM verist_outbox_stats$$) AS runner_stats,
       try_as('regress_verist_nobody', $$SELECT verist_purge_outbox('1 day')$$) AS nobody_purges;
SELECT try_as('regress_verist_runner', $$SELECT verist_retire_run('p-wf', 'run-1')$$) AS runner_retires,
       try_as('regress_verist_reviewer', $$SELECT verist_export_run('p-wf', 'run-1')$$) AS reviewer_exports,
       try_as('regress_verist_auditor', $$SELECT verist_retire_run('p-wf', 'run-1')$$) AS auditor_retires,
       try_as('regress_verist_nobody', $$SELECT * FROM verist_run_history('p-wf', 'run-1')$$) AS nobody_history,
       try_as('regress_verist_dispatcher', $$SELECT * FROM verist_state_at('p-wf', 'run-1', 1)$$) AS dispatcher_travels;
SELECT try_as('regress_verist_auditor', $$SELECT verist_commit_advance(NULL, 0, '{}', '{}', NULL, 0, 1, '', '')$$) AS internal_advance,
       try_as('regress_verist_operator', $$SELECT verist_ledger_extend(NULL, 0, 1, NULL, '', '')$$) AS internal_extend;
SELECT try_as('regress_verist_dispatcher', $$INSERT INTO verist_workflow_limits VALUES ('x', 9)$$) AS dispatcher_caps,
       try_as('regress_verist_runner', $$SELECT verist_lease_outbox('x', 1, '1 minute', 'fair')$$) AS runner_leases_fair,
       try_as('regress_verist_dispatcher', $$SELECT verist_reset_counters()$$) AS dispatcher_resets,
       try_as('regress_verist_nobody', $$SELECT verist_metrics()$$) AS nobody_metrics;
-- The pure functions are open to all.
SELECT try_as('regress_verist_nobody', $$SELECT verist_dedupe_key('w', 'r', 's', '{}')$$) AS nobody_keys,
       try_as('regress_verist_nobody', $$SELECT verist_canonical_json('{"b": 1, "a": 2}')$$) AS nobody_canonical,
       try_as('regress_verist_nobody', $$SELECT verist_chain_genesis('w', 'r')$$) AS nobody_genesis,
       try_as('regress_verist_nobody', $$SELECT verist_ledger_genesis('w', 'r')$$) AS nobody_ledger_genesis;

SELECT verist_fingerprint() = :'before' AS nothing_written;

DROP FUNCTION try_as(name, text);
DROP TABLE attempts;
REVOKE ALL ON verist_state, verist_events, verist_outbox, verist_blocks, verist_ledger, verist_retired
  FROM regress_verist_auditor;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public
  FROM regress_verist_runner, regress_verist_dispatcher, regress_verist_reviewer,
       regress_verist_auditor, regress_verist_operator;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA public FROM regress_verist_operator;
REVOKE ALL ON verist_outbox_stats, verist_active_blocks, verist_run_summary, verist_counters,
    verist_workflow_limits FROM regress_verist_operator;
DROP ROLE regress_verist_runner, regress_verist_dispatcher, regress_verist_reviewer,
          regress_verist_auditor, regress_verist_operator, regress_verist_nobody;
