--
-- search_path: nothing on a caller's search_path can stand in for what the C
-- code runs.  A schema placed before pg_catalog holds a shadow verist_state
-- table and shadow jsonb "||" and text "=" operators; a temporary table
-- shadows verist_outbox.  The shadows are live for plain SQL (the controls
-- below show it) and change nothing verist does.
--
\set ECHO none
\i test/regress/helpers.sql
CALL verist_test_reset();
\set ECHO all

CREATE SCHEMA shadow;
CREATE TABLE shadow.calls(what text);
CREATE TABLE shadow.verist_state (LIKE public.verist_state);
CREATE TABLE shadow.verist_events (LIKE public.verist_events);
CREATE TABLE shadow.verist_blocks (LIKE public.verist_blocks);

CREATE FUNCTION shadow.concat(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO shadow.calls VALUES ('jsonb ||');
    RETURN '{"hijacked": true}'::jsonb;
END
$$;
CREATE OPERATOR shadow.|| (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = shadow.concat);

CREATE FUNCTION shadow.texteq(a text, b text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO shadow.calls VALUES ('text =');
    RETURN true;
END
$$;
CREATE OPERATOR shadow.= (LEFTARG = text, RIGHTARG = text, FUNCTION = shadow.texteq);

CREATE FUNCTION shadow.now() RETURNS timestamptz
LANGUAGE sql AS $$ SELECT '2000-01-01'::timestamptz $$;

CREATE TEMP TABLE verist_outbox (LIKE public.verist_outbox INCLUDING ALL);

-- verist_try's nullif() would itself call the shadow "=": this helper uses
-- no operator the shadows replace.
CREATE FUNCTION public.sp_try(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
    RETURN state || ': ' || message;
END
$$;

SET search_path = shadow, pg_catalog, public;

-- Controls: unqualified SQL now reaches the shadows.
SELECT '{"a": 1}'::jsonb || '{"b": 2}'::jsonb AS shadow_concat;
SELECT 'x'::text = 'y'::text AS shadow_equal;
SELECT now() AS shadow_now;
SELECT count(*) AS temp_outbox_rows FROM verist_outbox;
SELECT what, count(*) FROM shadow.calls GROUP BY what ORDER BY what;
TRUNCATE shadow.calls;

-- verist works exactly as it does without the shadows.
SELECT version, computed, created_at > '2001-01-01' AS real_now
FROM public.verist_commit('sp-wf', 'run-1', 'extract', 0, '{"a": 1, "n": {"x": 1}}',
    '[{"type": "e"}]', '[{"type": "invoke", "step": "next"}, {"type": "review", "reason": "r"}]');
SELECT version, computed FROM public.verist_commit('sp-wf', 'run-1', 'more', 1, '{"b": 2, "n": {"y": 2}}');
SELECT public.sp_try($$SELECT public.verist_commit('sp-wf', 'run-1', 'late', 1, '{}')$$) AS stale;
SELECT public.sp_try($$SELECT public.verist_commit('sp-wf', 'other', 'x', 1, '{}')$$) AS missing;
SELECT overlay FROM public.verist_set_overlay('sp-wf', 'run-1', '{"c": 3}');
SELECT public.verist_effective_state('sp-wf', 'run-1') AS effective;
SELECT count(*) AS wrong_run_loads FROM public.verist_load('sp-wf', 'no-such-run');
SELECT type FROM public.verist_get_block('sp-wf', 'run-1');
SELECT resolution FROM public.verist_resolve_block('sp-wf', 'run-1', '{"approved": true}');
SELECT max(id) FILTER (WHERE workflow_id OPERATOR(pg_catalog.=) 'sp-wf') AS lease_id
FROM public.verist_lease_outbox('owner', 100) \gset
SELECT public.sp_try(format('SELECT public.verist_mark_dispatched(%s, %L)', :lease_id, 'intruder')) AS intruder;
SELECT public.verist_mark_dispatched(:lease_id, 'owner');

-- The real tables got the writes; the shadows got nothing and were never called.
SELECT count(*) AS shadow_state_rows FROM shadow.verist_state;
SELECT count(*) AS shadow_event_rows FROM shadow.verist_events;
SELECT count(*) AS shadow_block_rows FROM shadow.verist_blocks;
SELECT count(*) AS temp_outbox_rows FROM pg_temp.verist_outbox;
SELECT count(*) AS shadow_calls FROM shadow.calls;

RESET search_path;
SELECT version, computed, overlay FROM public.verist_state WHERE workflow_id = 'sp-wf';
SELECT step_id, status FROM public.verist_outbox WHERE workflow_id = 'sp-wf' ORDER BY id;
SELECT count(*) AS events FROM public.verist_events WHERE workflow_id = 'sp-wf';

DROP SCHEMA shadow CASCADE;
DROP TABLE pg_temp.verist_outbox;
DROP FUNCTION public.sp_try(text);
