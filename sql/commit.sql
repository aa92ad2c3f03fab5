--
-- commit: create, update, shallow merge, every conflict, not_found, and the
-- all-or-nothing rule (README "The commit").
--
\set ECHO none
\i test/regress/helpers.sql
\set ECHO all

-- Create: version 1, computed = output, empty overlay, one timestamp.
BEGIN;
SELECT workflow_id, run_id, version, computed, overlay,
       created_at = now() AS created_now, updated_at = now() AS updated_now
FROM verist_commit('c-wf', 'run-1', 'extract', 0,
                   '{"title": "a", "nested": {"x": 1, "y": 2}, "list": [1, 2]}');
COMMIT;

-- What was returned is what is stored.
SELECT workflow_id, run_id, version, computed, overlay FROM verist_load('c-wf', 'run-1');

-- Update at the right version: shallow merge.  Nested objects and arrays are
-- replaced whole, keys absent from the output are kept, null is a value.
BEGIN;
SELECT version, computed, updated_at = now() AS updated_now, created_at < now() AS created_before
FROM verist_commit('c-wf', 'run-1', 'verify', 1,
                   '{"nested": {"z": 3}, "list": [], "title": null, "score": 0.9}');
COMMIT;

-- An empty output still counts as a commit: version moves, nothing else.
SELECT version, computed FROM verist_commit('c-wf', 'run-1', 'noop', 2, '{}');

-- Creating an existing run: run_exists, with a hint.
SELECT verist_commit('c-wf', 'run-1', 'extract', 0, '{}');

-- A stale version: version_mismatch names both versions.
SELECT verist_commit('c-wf', 'run-1', 'verify', 1, '{"late": true}');
SELECT verist_commit('c-wf', 'run-1', 'verify', 7, '{"early": true}');
SELECT verist_try($$SELECT verist_commit('c-wf', 'run-1', 'verify', 2147483647, '{}')$$);

-- A missing run with a version above 0: not_found.
SELECT verist_commit('c-wf', 'run-missing', 'verify', 1, '{}');
SELECT count(*) AS missing_runs FROM verist_load('c-wf', 'run-missing');

-- Each conflict has its own SQLSTATE.
SELECT verist_try($$SELECT verist_commit('c-wf', 'run-1', 'x', 0, '{}')$$) AS run_exists,
       verist_try($$SELECT verist_commit('c-wf', 'run-1', 'x', 1, '{}')$$) AS version_mismatch,
       verist_try($$SELECT verist_commit('c-wf', 'nope', 'x', 1, '{}')$$) AS not_found;

-- A failed commit writes nothing: not its state, events or commands.
SELECT verist_fingerprint() AS before \gset
SELECT verist_try($$SELECT verist_commit('c-wf', 'run-1', 'late', 1, '{"late": 1}',
    '[{"type": "should-not-exist"}]', '[{"type": "invoke", "step": "never"}]')$$);
SELECT verist_try($$SELECT verist_commit('c-wf', 'run-1', 'dup', 0, '{}',
    '[{"type": "should-not-exist"}]')$$);
SELECT verist_fingerprint() = :'before' AS nothing_written;
SELECT count(*) AS ghost_events FROM verist_events WHERE type = 'should-not-exist';

-- A commit whose command already sits in the outbox: command_exists, and the
-- state and events written before the check are rolled back with the call.
SELECT version FROM verist_commit('c-wf', 'run-2', 'plan', 0, '{"a": 1}', '[]',
                                  '[{"type": "invoke", "step": "work"}]');
SELECT verist_fingerprint() AS before \gset
SELECT verist_commit('c-wf', 'run-2', 'plan', 1, '{"a": 2}',
                     '[{"type": "again"}]',
                     '[{"type": "emit", "topic": "new"}, {"type": "invoke", "step": "work"}]');
SELECT verist_fingerprint() = :'before' AS nothing_written;
SELECT version, computed FROM verist_load('c-wf', 'run-2');

-- The same command from another step (or another run) is a different command.
SELECT version FROM verist_commit('c-wf', 'run-2', 'plan-2', 1, '{}', '[]',
                                  '[{"type": "invoke", "step": "work"}]');
SELECT step_id, command FROM verist_outbox WHERE run_id = 'run-2' ORDER BY id;

-- Every row of one commit carries the transaction's timestamp.
BEGIN;
SELECT version FROM verist_commit('c-wf', 'run-3', 'all', 0, '{}',
    '[{"type": "a"}, {"type": "b"}]',
    '[{"type": "invoke", "step": "x"}, {"type": "review", "reason": "check"}]');
SELECT (SELECT bool_and(created_at = now()) FROM verist_events WHERE run_id = 'run-3') AS events_now,
       (SELECT bool_and(created_at = now()) FROM verist_outbox WHERE run_id = 'run-3') AS outbox_now,
       (SELECT bool_and(created_at = now()) FROM verist_blocks WHERE run_id = 'run-3') AS block_now,
       (SELECT created_at = now() AND updated_at = now() FROM verist_state WHERE run_id = 'run-3') AS state_now;
COMMIT;

-- Ids are free text: any non-empty string, compared exactly.
SELECT version FROM verist_commit('c-wf', 'Run-1', 'x', 0, '{"case": "upper"}');
SELECT version FROM verist_commit('c-wf', 'run-1 ', 'x', 0, '{"space": true}');
SELECT version FROM verist_commit('wf/é:1', 'run "x"', 'resume:42', 0, '{}');
SELECT run_id, version FROM verist_state WHERE workflow_id = 'c-wf' ORDER BY run_id COLLATE "C";
