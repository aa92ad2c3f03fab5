--
-- hardening: what broke when 0.3.0 was attacked, one section per defect
-- (0.3.1).  Defect 1 (an invalidation in the middle of a commit) is proven
-- by the attack suite and by this whole suite under debug_discard_caches;
-- defect 3 (gap-free reading on a hot standby) by the standby suite.
--
\set ECHO none
\i test/regress/helpers.sql
\set ECHO all
SELECT current_database() AS home \gset

-- 2. verist_run_digest returns what it read, not memory SPI_finish freed
-- (an assert-enabled server overwrites freed memory: this showed garbage).
SELECT version FROM verist_commit('h-wf', 'digest', 's', 0, '{}',
    '[{"type": "a"}, {"type": "b"}]');
SELECT d.seq = s.ledger_seq AS seq_ok, d.hash = s.ledger_hash AS hash_ok,
       d.hash ~ '^[0-9a-f]{64}$' AS hex
FROM verist_run_digest('h-wf', 'digest') d, verist_state s
WHERE s.workflow_id = 'h-wf' AND s.run_id = 'digest';

-- 5. Delays and leases are bounded ('100 years', compared as PostgreSQL
-- compares intervals: a month is 30 days), so no computation with them
-- can leave the interval or timestamp range (22008 in 0.3.0).
SELECT verist_try($$SELECT verist_lease_outbox('h', 1, '1000000 years')$$) AS huge_lease;
SELECT verist_try($$SELECT verist_lease_outbox('h', 1, '100 years 1 day')$$) AS just_over,
       verist_try($$SELECT verist_lease_outbox('h', 1, '100 years')$$) AS at_bound;
SELECT verist_try($$SELECT verist_mark_retry(1, 'h', 'e', 3, '1 second', '1000000 years')$$) AS huge_max_delay;
SELECT verist_try($$SELECT verist_mark_retry(1, 'h', 'e', 3, '200 years', '300 years')$$) AS huge_base_delay;
-- An age beyond 100 years purges nothing, and is no error.
SELECT verist_purge_outbox('1000000 years', 10) AS purged_ancient;

-- A poison command under the largest policies accepted ends failed at
-- exactly max_attempts, however many failures came before (0.3.0 failed
-- with 22008 from about the 44th).  Time passing is simulated by moving the
-- backoff's end into the past between attempts; the first failures are
-- skipped by starting the row at a high count.
CREATE FUNCTION poison(policy_base interval, policy_max interval, attempts int, start int)
RETURNS TABLE (status text, failures int, calls int) LANGUAGE plpgsql AS $$
DECLARE
    row_id bigint;
    r verist_outbox;
    n int := 0;
    topic text := 'poison-' || attempts || '-' || start || '-' || policy_base;
BEGIN
    PERFORM verist_commit('h-wf', topic, 's', 0, '{}', '[]',
        jsonb_build_array(jsonb_build_object('type', 'emit', 'topic', topic)));
    UPDATE verist_outbox o SET failures = start WHERE o.command->>'topic' = topic;
    LOOP
        SELECT o.id INTO row_id FROM verist_lease_outbox('h-disp', 10, '100 years') o
        WHERE o.command->>'topic' = topic;
        EXIT WHEN row_id IS NULL;
        r := verist_mark_retry(row_id, 'h-disp', 'boom', attempts, policy_base, policy_max);
        n := n + 1;
        EXIT WHEN r.status = 'failed';
        UPDATE verist_outbox o SET lease_expires_at = now() - interval '1 second'
        WHERE o.id = row_id;
    END LOOP;
    RETURN QUERY SELECT r.status, r.failures, n;
END
$$;
SELECT * FROM poison('1 second', '1 minute', 4, 0);
SELECT * FROM poison('1 microsecond', '100 years', 70, 60);
SELECT * FROM poison('100 years', '100 years', 70, 65);
SELECT * FROM poison('1 second', '36000 days', 64, 40);
-- A policy beyond the bound is refused at the first failure it is given to
-- (0.3.0 took it, then failed every call with 22008 from failure 44 on, so
-- the command was never dead-lettered).
SELECT verist_try($$SELECT * FROM poison('1 second', '1000000 years', 70, 40)$$) AS unbounded_policy;
-- The backoff stays capped at max_delay, even after 60 failures.
SELECT verist_commit('h-wf', 'cap', 's', 0, '{}', '[]', '[{"type": "emit", "topic": "cap"}]') IS NOT NULL AS created;
UPDATE verist_outbox SET failures = 60 WHERE command->>'topic' = 'cap';
SELECT id AS cap_id FROM verist_lease_outbox('h-cap', 10) WHERE command->>'topic' = 'cap' \gset
SELECT status, lease_expires_at - now() BETWEEN interval '99 years' AND interval '101 years' AS capped
FROM verist_mark_retry(:cap_id, 'h-cap', 'boom', 100, '1 year', '100 years');
DROP FUNCTION poison(interval, interval, int, int);

-- 6. "__proto__": JavaScript drops it when it rebuilds an object, so the
-- canonical JSON and dedupe keys do too (outputs checked against node:
-- JSON.stringify of the rebuilt value).
SELECT verist_canonical_json('{"__proto__": {"a": 1}, "b": 2}') AS proto_object,
       verist_canonical_json('{"__proto__": 5, "b": 2}') AS proto_number,
       verist_canonical_json('{"x": {"__proto__": null}}') AS proto_nested,
       verist_canonical_json('[{"__proto__": [1]}]') AS proto_in_array,
       verist_canonical_json('{"__proto": 1, "_proto__": 2, "__PROTO__": 3}') AS look_alikes_kept;
SELECT verist_dedupe_key('w', 'r', 's', '{"type": "emit", "topic": "t", "payload": {"__proto__": 1, "k": 2}}') =
       verist_dedupe_key('w', 'r', 's', '{"type": "emit", "topic": "t", "payload": {"k": 2}}') AS same_key;
-- So two commands differing only there are one command, as in the adapter.
SELECT verist_try($$SELECT verist_commit('h-wf', 'proto', 's', 0, '{}', '[]',
    '[{"type": "emit", "topic": "t", "payload": {"__proto__": 1}},
      {"type": "emit", "topic": "t", "payload": {}}]')$$) AS duplicate;
-- The hash chain keeps every member: changing a "__proto__" value is caught.
SELECT version FROM verist_commit('h-wf', 'proto', 's', 0, '{}',
    '[{"type": "t", "payload": {"__proto__": {"secret": 1}}}]');
SELECT valid FROM verist_verify_run('h-wf', 'proto');
ALTER TABLE verist_events DISABLE TRIGGER verist_events_append_only;
UPDATE verist_events SET payload = '{"__proto__": {"secret": 2}}'
WHERE workflow_id = 'h-wf' AND run_id = 'proto';
ALTER TABLE verist_events ENABLE TRIGGER verist_events_append_only;
SELECT valid, first_broken_seq, reason FROM verist_verify_run('h-wf', 'proto');
ALTER TABLE verist_events DISABLE TRIGGER verist_events_append_only;
UPDATE verist_events SET payload = '{"__proto__": {"secret": 1}}'
WHERE workflow_id = 'h-wf' AND run_id = 'proto';
ALTER TABLE verist_events ENABLE TRIGGER verist_events_append_only;
SELECT valid FROM verist_verify_run('h-wf', 'proto') AS restored;

-- 9. Canonical JSON has no depth limit of its own (0.3.0 stopped at about
-- 2,100 levels with 54001): any depth jsonb stores is printed, hashed and
-- chained.  12,000 levels is near what jsonb's input accepts.
SELECT length(verist_canonical_json(
           (repeat('{"a":', 12000) || '1' || repeat('}', 12000))::jsonb)) AS deep_object,
       length(verist_canonical_json(
           (repeat('[', 12000) || '1' || repeat(']', 12000))::jsonb)) AS deep_array;
SELECT verist_canonical_json((repeat('{"b":[', 3) || '{"z":1,"a":2}' || repeat(']}', 3))::jsonb) AS sorted_at_depth;
SELECT version FROM verist_commit('h-wf', 'deep', 's', 0, '{}',
    jsonb_build_array(jsonb_build_object('type', 'deep',
        'payload', (repeat('{"a":', 12000) || '1' || repeat('}', 12000))::jsonb)),
    jsonb_build_array(jsonb_build_object('type', 'emit', 'topic', 'deep',
        'payload', (repeat('[', 12000) || '1' || repeat(']', 12000))::jsonb)));
SELECT valid, events_checked FROM verist_verify_run('h-wf', 'deep');

-- 4 (the chain's side). Numbers beyond the double range: refused where
-- JavaScript semantics are promised (dedupe keys, verist_canonical_json),
-- chained as their exact decimal text in events.
SELECT verist_try($$SELECT verist_canonical_json('[1e400]')$$) AS canonical_refuses;
SELECT version FROM verist_commit('h-wf', 'huge', 's', 0, '{}',
    '[{"type": "t", "payload": {"big": 1e400, "neg": -2.5e309, "tiny": 1e-400, "ok": 1.5}}]');
SELECT valid FROM verist_verify_run('h-wf', 'huge');
SELECT e.hash = verist_event_hash(verist_chain_genesis('h-wf', 'huge'), 'h-wf', 'huge', 's', 't',
           e.payload, NULL, 1, e.created_at) AS event_hash_agrees
FROM verist_events e WHERE e.workflow_id = 'h-wf' AND e.run_id = 'huge';

-- 7. Renaming the extension's schema: every function follows, the
-- purge procedure included (0.3.0's held the old name in its body).
SELECT verist_commit('h-wf', 'rename', 's', 0, '{}', '[]', '[{"type": "emit", "topic": "r"}]') IS NOT NULL AS created;
ALTER SCHEMA public RENAME TO verist_renamed;
SET search_path = verist_renamed;
SELECT version FROM verist_commit('h-wf', 'rename', 's2', 1, '{"renamed": true}', '[{"type": "after"}]');
SELECT count(*) AS leased FROM verist_lease_outbox('h-ren', 100);
SELECT count(*) AS dispatched FROM verist_mark_dispatched_batch(
    ARRAY(SELECT id FROM verist_outbox WHERE lease_owner = 'h-ren'), 'h-ren');
CALL verist_purge_outbox_all('0 seconds', 1);
SELECT count(*) AS broken FROM verist_verify_all();
SELECT count(*) > 0 AS read FROM verist_read_events(0, 10);
ALTER SCHEMA verist_renamed RENAME TO public;
RESET search_path;
CALL verist_purge_outbox_all('0 seconds', 1);
-- Inside a transaction block it cannot commit per batch, and says so.
BEGIN;
CALL verist_purge_outbox_all('0 seconds', 1);
ROLLBACK;

-- 8. Wake-ups name nothing unless the superuser opts in: LISTEN needs no
-- privilege.  (The payloads themselves are shown by the notify isolation
-- spec; that PREPARE TRANSACTION is refused once a wake-up is queued, by the
-- attack suite, whose server allows prepared transactions.)
SHOW verist.notify_payload;
SELECT setting, context, enumvals FROM pg_settings WHERE name = 'verist.notify_payload';
CREATE ROLE regress_verist_h_app;
SET ROLE regress_verist_h_app;
SELECT verist_try($$SET verist.notify_payload = workflow_id$$) AS app_cannot_opt_in;
RESET ROLE;
DROP ROLE regress_verist_h_app;

-- 4. An upgrade from 0.1.0 takes every event 0.1.0 accepted: numbers beyond
-- the double range and nesting far past 0.3.0's canonicaliser.
CREATE DATABASE verist_h_upgrade;
\c verist_h_upgrade
SET client_min_messages = warning;
CREATE EXTENSION verist VERSION '0.1.0';
SELECT version FROM verist_commit('old', 'huge', 's', 0, '{}',
    '[{"type": "t", "payload": {"x": 1e400, "y": [-1e400, 1e-400, 0.1]}}]');
SELECT version FROM verist_commit('old', 'deep', 's', 0, '{}',
    jsonb_build_array(jsonb_build_object('type', 'd',
        'payload', (repeat('{"a":', 12000) || '1' || repeat('}', 12000))::jsonb),
    jsonb_build_object('type', 'p', 'payload', '{"__proto__": {"k": 1}}'::jsonb)));
SELECT version FROM verist_commit('old', 'plain', 's', 0, '{}', '[{"type": "t"}]');
ALTER EXTENSION verist UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'verist';
SELECT count(*) AS broken_runs FROM verist_verify_all();
SELECT run_id, valid, events_checked FROM verist_state s, verist_verify_run(s.workflow_id, s.run_id) ORDER BY 1;
-- The chains go on.
SELECT version, chain_seq FROM verist_commit('old', 'huge', 's2', 1, '{}', '[{"type": "t", "payload": {"x": 2e400}}]');
SELECT count(*) AS broken_runs FROM verist_verify_all();
\c :home
SET client_min_messages = warning;
DROP DATABASE verist_h_upgrade;
