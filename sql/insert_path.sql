--
-- insert_path: a commit puts its events and commands into their tables
-- without running an INSERT statement (src/rowinsert.c), unless the table
-- has something an INSERT would run and this path would not -- a trigger, a
-- rule, row security -- and then the INSERT runs.  Both ways write the same
-- rows, filled from the table's own defaults and checked against its own
-- constraints; an operator's trigger always fires.
--
\set ECHO none
\i test/regress/helpers.sql
CALL verist_test_reset();
-- The rows of one run, without what differs between two runs of the same
-- commit (ids, run id, hashes, which cover the run id); created_at is
-- compared with the run's, which the commit set to now().
CREATE OR REPLACE FUNCTION run_rows(r text) RETURNS text LANGUAGE sql AS $$
    WITH s AS (SELECT created_at FROM verist_state WHERE run_id = r)
    SELECT concat_ws(E'\n',
        (SELECT count(*) || ' events' FROM verist_events e WHERE e.run_id = r),
        (SELECT count(*) || ' commands' FROM verist_outbox o WHERE o.run_id = r),
        (SELECT string_agg(concat_ws(' ', e.seq, e.step_id, e.type, e.payload, e.llm_trace,
                                     e.created_at = s.created_at, length(e.hash)),
                           E'\n' ORDER BY e.id)
         FROM verist_events e, s WHERE e.run_id = r),
        (SELECT string_agg(concat_ws(' ', o.step_id, o.command, o.status, o.queued, o.failures,
                                     o.lease_owner, o.last_error, o.created_at = s.created_at,
                                     length(o.dedupe_key)),
                           E'\n' ORDER BY o.id)
         FROM verist_outbox o, s WHERE o.run_id = r))
$$;
CREATE TABLE seen (tbl text, what text);
CREATE FUNCTION note_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seen VALUES (TG_TABLE_NAME, TG_LEVEL || ' ' || TG_WHEN);
    RETURN NEW;
END
$$;
\set events '[{"type": "started", "payload": {"n": 1}}, {"type": "noted"}, {"type": "llm", "payload": {"p": true}, "llmTrace": {"model": "m", "inputHash": "i", "outputHash": "o", "promptTokens": 1, "completionTokens": 2, "durationMs": 0.5}}]'
\set commands '[{"type": "emit", "topic": "a"}, {"type": "invoke", "step": "check", "input": {"q": 1}}]'
\set ECHO all

-- The simple path: the rows, with the defaults (failures 0) and the
-- generated column (queued) as an INSERT fills them.
SELECT version FROM verist_commit('ip-wf', 'run-1', 'plan', 0, '{}', :'events', :'commands');
SELECT run_rows('run-1');
SELECT count(*) AS broken_runs FROM verist_verify_all();

-- A row trigger on each table: the INSERT runs, the triggers fire for every
-- row, and the rows are the same.
CREATE TRIGGER seen_event AFTER INSERT ON verist_events FOR EACH ROW EXECUTE FUNCTION note_row();
CREATE TRIGGER seen_command AFTER INSERT ON verist_outbox FOR EACH ROW EXECUTE FUNCTION note_row();
SELECT version FROM verist_commit('ip-wf', 'run-2', 'plan', 0, '{}', :'events', :'commands');
SELECT run_rows('run-2') = run_rows('run-1') AS same_rows;
SELECT tbl, what, count(*) FROM seen GROUP BY 1, 2 ORDER BY 1, 2;
DROP TRIGGER seen_event ON verist_events;
DROP TRIGGER seen_command ON verist_outbox;
TRUNCATE seen;

-- Statement triggers fire once per statement; a BEFORE trigger may change
-- the row, and its change is what lands.
CREATE TRIGGER seen_events AFTER INSERT ON verist_events FOR EACH STATEMENT EXECUTE FUNCTION note_row();
CREATE FUNCTION tag_command() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_error := 'tagged';
    RETURN NEW;
END
$$;
CREATE TRIGGER tag_command BEFORE INSERT ON verist_outbox FOR EACH ROW EXECUTE FUNCTION tag_command();
SELECT version FROM verist_commit('ip-wf', 'run-3', 'plan', 0, '{}', :'events', :'commands');
SELECT tbl, what, count(*) FROM seen GROUP BY 1, 2 ORDER BY 1, 2;
SELECT last_error, count(*) FROM verist_outbox WHERE run_id = 'run-3' GROUP BY 1;
DROP TRIGGER seen_events ON verist_events;
DROP TRIGGER tag_command ON verist_outbox;
TRUNCATE seen;

-- A rule, and row security: the INSERT runs (the rule's copy is made; the
-- extension's owner is not subject to the policy, as before).
CREATE RULE copy_event AS ON INSERT TO verist_events DO ALSO INSERT INTO seen VALUES ('rule', NEW.type);
ALTER TABLE verist_outbox ENABLE ROW LEVEL SECURITY;
SELECT version FROM verist_commit('ip-wf', 'run-4', 'plan', 0, '{}', :'events', :'commands');
SELECT tbl, what FROM seen ORDER BY what;
SELECT run_rows('run-4') = run_rows('run-1') AS same_rows;
DROP RULE copy_event ON verist_events;
ALTER TABLE verist_outbox DISABLE ROW LEVEL SECURITY;

-- Defaults and constraints are the table's own, whichever way: an operator's
-- column with a default, a changed default, an added CHECK.
ALTER TABLE verist_events ADD COLUMN note text DEFAULT 'from the default';
ALTER TABLE verist_outbox ALTER COLUMN failures SET DEFAULT 7;
ALTER TABLE verist_outbox ADD CONSTRAINT short_step CHECK (length(step_id) < 8);
SELECT version FROM verist_commit('ip-wf', 'run-5', 'plan', 0, '{}', :'events', :'commands');
SELECT DISTINCT note FROM verist_events WHERE run_id = 'run-5';
SELECT DISTINCT failures FROM verist_outbox WHERE run_id = 'run-5';
SELECT verist_fingerprint() AS before \gset
SELECT split_part(verist_try($$SELECT verist_commit('ip-wf', 'run-6', 'too-long-step', 0, '{}',
    '[]', '[{"type": "emit", "topic": "a"}]')$$), ' | ', 1) AS error;
SELECT verist_fingerprint() = :'before' AS nothing_written;
ALTER TABLE verist_events DROP COLUMN note;
ALTER TABLE verist_outbox ALTER COLUMN failures SET DEFAULT 0;
ALTER TABLE verist_outbox DROP CONSTRAINT short_step;

-- A dedupe key already present: command_exists, nothing written, on the
-- simple path and with a trigger (the INSERT).
SELECT verist_fingerprint() AS before \gset
SELECT verist_try($$SELECT verist_commit('ip-wf', 'run-1', 'plan', 1, '{}', '[]',
    '[{"type": "emit", "topic": "a"}]')$$);
SELECT verist_fingerprint() = :'before' AS nothing_written;
CREATE TRIGGER seen_command AFTER INSERT ON verist_outbox FOR EACH ROW EXECUTE FUNCTION note_row();
SELECT verist_try($$SELECT verist_commit('ip-wf', 'run-1', 'plan', 1, '{}', '[]',
    '[{"type": "emit", "topic": "a"}]')$$);
SELECT verist_fingerprint() = :'before' AS nothing_written;
DROP TRIGGER seen_command ON verist_outbox;

-- A default that itself commits, through a function: the inner commit finds
-- the cached expressions invalidated (by the GRANT) and rebuilds them while
-- the outer insert is still using its own (src/rowinsert.c keeps those until
-- the transaction ends).  Both commits land whole.
CREATE TABLE nest_depth (d int);
INSERT INTO nest_depth VALUES (2);  -- 0 once the column exists (its rewrite calls it)
CREATE FUNCTION nested_note() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT d FROM nest_depth) = 1 THEN
        RETURN 'inner';             -- the inner commit's row
    ELSIF (SELECT d FROM nest_depth) = 2 THEN
        RETURN 'outer';             -- the outer commit's later rows
    END IF;
    UPDATE nest_depth SET d = 1;
    GRANT SELECT ON verist_outbox TO PUBLIC;    -- invalidates its relcache entry
    REVOKE SELECT ON verist_outbox FROM PUBLIC;
    PERFORM verist_commit('ip-wf', 'run-nested', 'inner', 0, '{}', '[]',
        '[{"type": "emit", "topic": "inner"}]');
    UPDATE nest_depth SET d = 2;
    RETURN 'outer';
END
$$;
ALTER TABLE verist_outbox ADD COLUMN note text DEFAULT nested_note();
UPDATE nest_depth SET d = 0;
SELECT version FROM verist_commit('ip-wf', 'run-9', 'plan', 0, '{}', '[]',
    '[{"type": "emit", "topic": "one"}, {"type": "emit", "topic": "two"}]');
SELECT run_id, command ->> 'topic' AS topic, status, queued, note FROM verist_outbox
WHERE run_id IN ('run-9', 'run-nested') ORDER BY id;
ALTER TABLE verist_outbox DROP COLUMN note;

-- After the DDL above, the simple path again: same rows as the first run.
SELECT version FROM verist_commit('ip-wf', 'run-8', 'plan', 0, '{}', :'events', :'commands');
SELECT run_rows('run-8') = run_rows('run-1') AS same_rows;
SELECT count(*) AS broken_runs FROM verist_verify_all();
