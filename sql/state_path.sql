--
-- state_path: a commit writes its run's state row and appends its ledger
-- entry without running a statement (src/rowupdate.c, src/rowinsert.c),
-- unless verist_state has something the statement would run and this path
-- would not -- a trigger, a rule, row security -- and then the statement
-- runs.  For an update, which way ran shows in the calls of
-- verist_commit_advance, the function only the statement calls
-- (track_functions = all), counted within one transaction.  Both ways
-- write the same rows and raise the same errors.
--
\set ECHO none
\i test/regress/helpers.sql
CALL verist_test_reset();
-- The function's calls not yet reported by this backend: they only grow
-- inside one transaction (a report may reset them between transactions).
CREATE FUNCTION statement_calls() RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(pg_stat_get_xact_function_calls('verist_commit_advance'::regproc), 0)
$$;
-- Run a commit whose result is one text, and say which way it went.
CREATE FUNCTION via(commit_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before bigint := statement_calls();
    result text;
BEGIN
    EXECUTE commit_sql INTO result;
    RETURN result || CASE WHEN statement_calls() > before THEN ' (statement)' ELSE ' (direct)' END;
END
$$;
-- Every column of a run's state, ledger and events (not the events' ids).
CREATE FUNCTION run_digest(r text) RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT s::text FROM verist_state s WHERE s.run_id = r),
        (SELECT string_agg(l::text, ';' ORDER BY l.seq) FROM verist_ledger l WHERE l.run_id = r),
        (SELECT string_agg(concat_ws(' ', e.seq, e.step_id, e.type, e.payload, e.hash), ';'
                           ORDER BY e.seq)
         FROM verist_events e WHERE e.run_id = r)))
$$;
-- What a failed commit must leave as it was.
CREATE FUNCTION run_counts(r text) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' ',
        (SELECT 'v' || version || ' chain ' || chain_seq || ' ledger ' || ledger_seq
         FROM verist_state WHERE run_id = r),
        (SELECT count(*) || ' entries' FROM verist_ledger WHERE run_id = r),
        (SELECT count(*) || ' events' FROM verist_events WHERE run_id = r),
        (SELECT count(*) || ' commands' FROM verist_outbox WHERE run_id = r))
$$;
CREATE TABLE state_seen (what text);
CREATE FUNCTION note_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO state_seen VALUES (TG_LEVEL || ' ' || TG_WHEN || ' ' || TG_OP);
    RETURN NEW;
END
$$;
SET track_functions = 'all';
\set ECHO all

-- The same commits both ways in one transaction (a ledger entry's hash
-- covers its time, now()).  Without the statement first:
BEGIN;
SAVEPOINT both_ways;
SELECT version FROM verist_commit('up-wf', 'run-1', 'plan', 0, '{"a": 1}', '[{"type": "started"}]');
SELECT version, computed, chain_seq, ledger_seq FROM verist_commit('up-wf', 'run-1', 'act', 1,
    '{"b": 2}', '[{"type": "x"}, {"type": "y", "payload": {"n": 1}}]', '[{"type": "emit", "topic": "t"}]');
SELECT version, computed, chain_seq, ledger_seq FROM verist_commit('up-wf', 'run-1', 'act', 2, '{"a": 3}');
SELECT statement_calls();
SELECT run_digest('run-1') AS digest \gset direct_
ROLLBACK TO SAVEPOINT both_ways;
-- then with row triggers on verist_state: the statements run, the triggers
-- fire, the rows are the same.
CREATE TRIGGER note_state BEFORE UPDATE ON verist_state FOR EACH ROW EXECUTE FUNCTION note_state();
CREATE TRIGGER note_create BEFORE INSERT ON verist_state FOR EACH ROW EXECUTE FUNCTION note_state();
SELECT version FROM verist_commit('up-wf', 'run-1', 'plan', 0, '{"a": 1}', '[{"type": "started"}]');
SELECT version, computed, chain_seq, ledger_seq FROM verist_commit('up-wf', 'run-1', 'act', 1,
    '{"b": 2}', '[{"type": "x"}, {"type": "y", "payload": {"n": 1}}]', '[{"type": "emit", "topic": "t"}]');
SELECT version, computed, chain_seq, ledger_seq FROM verist_commit('up-wf', 'run-1', 'act', 2, '{"a": 3}');
SELECT statement_calls();
SELECT what, count(*) FROM state_seen GROUP BY 1;
SELECT run_digest('run-1') = :'direct_digest' AS same_rows;
COMMIT;
DROP TRIGGER note_state ON verist_state;
DROP TRIGGER note_create ON verist_state;
TRUNCATE state_seen;
SELECT count(*) AS broken_runs FROM verist_verify_all();

-- Without the statement: a stale version, a missing run, an identical
-- retry of an update and of a create, a run that exists.
SELECT verist_try($$SELECT verist_commit('up-wf', 'run-1', 'act', 2, '{"a": 4}')$$);
SELECT verist_try($$SELECT verist_commit('up-wf', 'no-run', 'act', 2, '{"a": 4}')$$);
SELECT via($$SELECT version || ' ' || computed FROM verist_commit('up-wf', 'run-1', 'act', 2, '{"a": 3}')$$);
SELECT version, computed FROM verist_commit('up-wf', 'run-1', 'plan', 0, '{"a": 1}', '[{"type": "started"}]');
SELECT verist_try($$SELECT verist_commit('up-wf', 'run-1', 'plan', 0, '{"a": 2}')$$);
SELECT verist_try($$SELECT verist_commit('up-wf', 'run-1', 'act', 2147483647, '{}')$$);
SELECT run_counts('run-1');

-- A statement trigger, a rule, row security: the statement runs.
CREATE TRIGGER note_statement AFTER UPDATE ON verist_state FOR EACH STATEMENT EXECUTE FUNCTION note_state();
SELECT via($$SELECT version FROM verist_commit('up-wf', 'run-1', 'act', 3, '{}')$$);
DROP TRIGGER note_statement ON verist_state;
-- (A rule is refused by the statement itself, as before: 0A000.)
CREATE RULE note_update AS ON UPDATE TO verist_state DO ALSO INSERT INTO state_seen VALUES ('rule ' || NEW.version);
SELECT verist_try($$SELECT verist_commit('up-wf', 'run-1', 'act', 4, '{}')$$);
DROP RULE note_update ON verist_state;
ALTER TABLE verist_state ENABLE ROW LEVEL SECURITY;
SELECT via($$SELECT version FROM verist_commit('up-wf', 'run-1', 'act', 4, '{}')$$);
ALTER TABLE verist_state DISABLE ROW LEVEL SECURITY;
SELECT what FROM state_seen ORDER BY what;
TRUNCATE state_seen;

-- A foreign key pointing at verist_state has triggers on it: the statement runs.
CREATE TABLE run_notes (workflow_id text, run_id text, note text,
    FOREIGN KEY (workflow_id, run_id) REFERENCES verist_state (workflow_id, run_id));
INSERT INTO run_notes VALUES ('up-wf', 'run-1', 'kept');
SELECT via($$SELECT version FROM verist_commit('up-wf', 'run-1', 'act', 5, '{}')$$);
DROP TABLE run_notes;

-- An operator's column, generated column and CHECK, added after the path
-- was used: the column keeps its value, the generated column follows the
-- output, the CHECK refuses (23514) with nothing written.
ALTER TABLE verist_state ADD COLUMN team text DEFAULT 'blue';
ALTER TABLE verist_state ADD COLUMN a_value int GENERATED ALWAYS AS ((computed ->> 'a')::int) STORED;
ALTER TABLE verist_state ADD CONSTRAINT few_versions CHECK (version < 8);
SELECT via($$SELECT concat_ws(' ', version, team, a_value) FROM verist_commit('up-wf', 'run-1', 'act', 6, '{"a": 40}')$$);
SELECT run_counts('run-1');
SELECT split_part(verist_try($$SELECT verist_commit('up-wf', 'run-1', 'act', 7, '{"a": 41}',
    '[{"type": "z"}]', '[{"type": "emit", "topic": "t"}]')$$), ' | ', 1) AS refused;
SELECT run_counts('run-1');
ALTER TABLE verist_state DROP CONSTRAINT few_versions, DROP COLUMN a_value, DROP COLUMN team;
SELECT count(*) AS broken_runs FROM verist_verify_all();

-- Counts at their limit (set by hand): 22003, nothing written; the
-- statement raised the same.
CREATE FUNCTION at_limit(col text, via_statement boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    IF via_statement THEN
        CREATE TRIGGER note_state BEFORE UPDATE ON verist_state FOR EACH ROW EXECUTE FUNCTION note_state();
    END IF;
    EXECUTE format('UPDATE verist_state SET %I = 2147483647 WHERE run_id = %L', col, 'run-1');
    result := verist_try(format($f$SELECT verist_commit('up-wf', 'run-1', 'act', %s, '{}', '[{"type": "z"}]')$f$,
                                (SELECT version FROM verist_state WHERE run_id = 'run-1')));
    RAISE EXCEPTION USING MESSAGE = result || ' / ' || run_counts('run-1');
EXCEPTION WHEN raise_exception THEN
    RETURN SQLERRM;
END
$$;
SELECT col, via_statement, at_limit(col, via_statement)
FROM unnest('{version,chain_seq,ledger_seq}'::text[]) AS col, unnest('{false,true}'::boolean[]) AS via_statement
ORDER BY 1, 2;

-- A damaged chain head: VRS01 both ways, nothing written.
BEGIN;
UPDATE verist_state SET chain_hash = 'not a hash' WHERE run_id = 'run-1';
SELECT verist_try($$SELECT verist_commit('up-wf', 'run-1', 'act', 7, '{}')$$), run_counts('run-1');
CREATE TRIGGER note_state BEFORE UPDATE ON verist_state FOR EACH ROW EXECUTE FUNCTION note_state();
SELECT verist_try($$SELECT verist_commit('up-wf', 'run-1', 'act', 7, '{}')$$), run_counts('run-1');
ROLLBACK;

-- A read-only transaction: the statement's own error.
BEGIN READ ONLY;
SELECT verist_try($$SELECT verist_commit('up-wf', 'run-1', 'act', 7, '{}')$$);
ROLLBACK;

SELECT count(*) AS broken_runs FROM verist_verify_all();
DROP FUNCTION at_limit(text, boolean);
DROP TABLE state_seen;
