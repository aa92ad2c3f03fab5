--
-- append_only: the database refuses to change or remove events (README "Guarantees"),
-- even for the table's owner.
--
\set ECHO none
\i test/regress/helpers.sql
\set ECHO all

SELECT version FROM verist_commit('a-wf', 'run-1', 'step', 0, '{}',
    '[{"type": "kept", "payload": {"n": 1}}, {"type": "kept-too"}]');
SELECT verist_fingerprint() AS before \gset

UPDATE verist_events SET type = 'forged' WHERE workflow_id = 'a-wf';
UPDATE verist_events SET payload = NULL WHERE workflow_id = 'a-wf' AND type = 'kept';
DELETE FROM verist_events WHERE workflow_id = 'a-wf';
TRUNCATE verist_events;
-- Each refusal has the append-only SQLSTATE.
SELECT verist_try($$DELETE FROM verist_events$$) AS delete_all,
       verist_try($$TRUNCATE verist_events CASCADE$$) AS truncate_cascade;
-- An upsert that would rewrite an event is refused too.
SELECT verist_try($$INSERT INTO verist_events (id, workflow_id, run_id, step_id, type, seq, hash)
                    SELECT id, workflow_id, run_id, step_id, 'forged', seq, hash FROM verist_events
                    WHERE workflow_id = 'a-wf' LIMIT 1
                    ON CONFLICT (id) DO UPDATE SET type = 'forged'$$) AS upsert;

SELECT verist_fingerprint() = :'before' AS nothing_changed;
SELECT type, payload FROM verist_events WHERE workflow_id = 'a-wf' ORDER BY id;

-- Appending is still allowed, through verist_commit.
SELECT version FROM verist_commit('a-wf', 'run-1', 'step-2', 1, '{}', '[{"type": "appended"}]');
SELECT count(*) AS events FROM verist_events WHERE workflow_id = 'a-wf';

-- The trigger function cannot be called on its own.
SELECT verist_try($$SELECT verist_events_refuse_change()$$) AS direct_call;

-- The guard is visible in the catalog: enabled triggers on the table.
SELECT tgname, tgenabled FROM pg_trigger
WHERE tgrelid = 'verist_events'::regclass AND NOT tgisinternal ORDER BY tgname;
