-- test/regress/helpers.sql: functions every pg_regress file of verist uses.
-- Each file includes it first (\i, relative to the directory make runs in),
-- with echo off, so that any one file runs alone:
--   make installcheck REGRESS=commit
SET client_min_messages = warning;

-- Run a statement and report "ok" or "SQLSTATE: message | detail".
CREATE OR REPLACE FUNCTION verist_try(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    detail text;
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    RETURN state || ': ' || message || coalesce(' | ' || nullif(detail, ''), '');
END
$$;

-- A fingerprint of every verist table: equal fingerprints, nothing written.
CREATE OR REPLACE FUNCTION verist_fingerprint() RETURNS text
LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(t::text, ',' ORDER BY t.workflow_id, t.run_id) FROM verist_state t),
        (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM verist_events t),
        (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM verist_outbox t),
        (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM verist_blocks t),
        (SELECT string_agg(t::text, ',' ORDER BY t.workflow_id, t.run_id, t.seq) FROM verist_ledger t),
        (SELECT string_agg(t::text, ',' ORDER BY t.seq) FROM verist_retired t)))
$$;
-- Empty every verist table and restart its ids, so that what a file shows
-- does not depend on the files run before it.
CREATE OR REPLACE PROCEDURE verist_test_reset()
LANGUAGE plpgsql AS $$
BEGIN
    SET session_replication_role = replica;
    TRUNCATE verist_state, verist_events, verist_outbox, verist_blocks, verist_ledger, verist_retired
        RESTART IDENTITY;
    RESET session_replication_role;
END
$$;
RESET client_min_messages;
