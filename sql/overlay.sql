--
-- overlay: human corrections merged over computed state (README "API").
--
\set ECHO none
\i test/regress/helpers.sql
\set ECHO all

SELECT version FROM verist_commit('o-wf', 'run-1', 'extract', 0,
    '{"name": "ACME", "amount": 10, "address": {"city": "Paris"}}');

-- No overlay yet: effective state is computed.
SELECT verist_effective_state('o-wf', 'run-1');

-- An overlay is merged shallowly, keeps the version, and sets updated_at.
BEGIN;
SELECT version, overlay, updated_at = now() AS updated_now
FROM verist_set_overlay('o-wf', 'run-1', '{"amount": 12, "address": {"zip": "75001"}}');
COMMIT;
SELECT verist_effective_state('o-wf', 'run-1');

-- Last write wins per key; other overlay keys stay.
SELECT overlay FROM verist_set_overlay('o-wf', 'run-1', '{"amount": 13, "note": "checked"}');

-- A commit after an overlay merges into computed; the overlay still wins.
SELECT version, computed, overlay
FROM verist_commit('o-wf', 'run-1', 'verify', 1, '{"amount": 99, "verified": true}');
SELECT verist_effective_state('o-wf', 'run-1');

-- An empty patch changes nothing but updated_at.
SELECT version, overlay FROM verist_set_overlay('o-wf', 'run-1', '{}');

-- A missing run: not_found for the overlay, NULL effective state, no row.
SELECT verist_set_overlay('o-wf', 'missing', '{"a": 1}');
SELECT verist_effective_state('o-wf', 'missing') IS NULL AS no_state;
SELECT count(*) FROM verist_load('o-wf', 'missing');

-- Bad patches are serialization errors, and change nothing.
SELECT verist_fingerprint() AS before \gset
SELECT verist_try($$SELECT verist_set_overlay('o-wf', 'run-1', '[1]')$$) AS array_patch,
       verist_try($$SELECT verist_set_overlay('o-wf', 'run-1', '"x"')$$) AS string_patch,
       verist_try($$SELECT verist_set_overlay('o-wf', 'run-1', 'null')$$) AS json_null_patch,
       verist_try($$SELECT verist_set_overlay('o-wf', 'run-1', NULL)$$) AS sql_null_patch;
SELECT verist_try($$SELECT verist_set_overlay(NULL, 'run-1', '{}')$$) AS null_workflow,
       verist_try($$SELECT verist_set_overlay('o-wf', '', '{}')$$) AS empty_run,
       verist_try($$SELECT verist_effective_state('o-wf', NULL)$$) AS null_run_state,
       verist_try($$SELECT verist_load('', 'run-1')$$) AS empty_workflow_load;
SELECT verist_fingerprint() = :'before' AS nothing_written;
