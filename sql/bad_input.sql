--
-- bad_input: every malformed argument of README "Errors", for every function.  Each
-- call must fail with a clear error and its own SQLSTATE (never a crash, a
-- NULL result or a partial write).  The fingerprint of all four tables is
-- taken before and compared after.
--
\set ECHO none
\i test/regress/helpers.sql
CALL verist_test_reset();
\set ECHO all

-- A run with an active review and a leased outbox row, so that bad calls
-- meet real data they could damage.
SELECT version FROM verist_commit('b-wf', 'run-1', 'step', 0, '{"a": 1}',
    '[{"type": "e"}]', '[{"type": "invoke", "step": "next"}]');
SELECT version FROM verist_commit('b-wf', 'run-2', 'step', 0, '{}', '[]',
    '[{"type": "emit", "topic": "t"}, {"type": "review", "reason": "r"}]');
SELECT count(*) AS leased FROM verist_lease_outbox('owner', 1);
SELECT verist_fingerprint() AS before \gset

CREATE TEMP TABLE bad_calls(label text, statement text);
INSERT INTO bad_calls VALUES
  -- verist_commit: NULLs
  ('commit: null workflow_id',      $$SELECT verist_commit(NULL, 'r', 's', 0, '{}')$$),
  ('commit: null run_id',           $$SELECT verist_commit('w', NULL, 's', 0, '{}')$$),
  ('commit: null step_id',          $$SELECT verist_commit('w', 'r', NULL, 0, '{}')$$),
  ('commit: null expected_version', $$SELECT verist_commit('w', 'r', 's', NULL, '{}')$$),
  ('commit: null output',           $$SELECT verist_commit('w', 'r', 's', 0, NULL)$$),
  ('commit: null events',           $$SELECT verist_commit('w', 'r', 's', 0, '{}', NULL)$$),
  ('commit: null commands',         $$SELECT verist_commit('w', 'r', 's', 0, '{}', '[]', NULL)$$),
  -- verist_commit: empty ids, negative version
  ('commit: empty workflow_id',     $$SELECT verist_commit('', 'r', 's', 0, '{}')$$),
  ('commit: empty run_id',          $$SELECT verist_commit('w', '', 's', 0, '{}')$$),
  ('commit: empty step_id',         $$SELECT verist_commit('w', 'r', '', 0, '{}')$$),
  -- ids are index keys: longer than 512 bytes is refused before any index sees it
  ('commit: long workflow_id',      $$SELECT verist_commit(repeat('w', 3000), 'r', 's', 0, '{}')$$),
  ('commit: long run_id',           $$SELECT verist_commit('w', repeat('é', 257), 's', 0, '{}')$$),
  ('commit: long step_id, deferred', $$SELECT verist_commit('b-wf', 'run-1', repeat('s', 513), 1, '{}', '[]', '[{"type": "review", "reason": "x"}, {"type": "emit", "topic": "t"}]')$$),
  ('lease: long owner',             $$SELECT verist_lease_outbox(repeat('o', 600), 1)$$),
  ('commit: negative version',      $$SELECT verist_commit('b-wf', 'run-1', 's', -1, '{}')$$),
  ('commit: minimum int version',   $$SELECT verist_commit('b-wf', 'run-1', 's', -2147483648, '{}')$$),
  -- verist_commit: output not an object
  ('commit: output array',          $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '[]')$$),
  ('commit: output string',         $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '"x"')$$),
  ('commit: output number',         $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '1')$$),
  ('commit: output boolean',        $$SELECT verist_commit('b-wf', 'run-1', 's', 1, 'true')$$),
  ('commit: output json null',      $$SELECT verist_commit('b-wf', 'run-1', 's', 1, 'null')$$),
  -- verist_commit: events / commands not arrays
  ('commit: events object',         $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '{"type": "e"}')$$),
  ('commit: events string',         $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '"e"')$$),
  ('commit: events json null',      $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', 'null')$$),
  ('commit: commands object',       $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[]', '{"type": "invoke", "step": "x"}')$$),
  ('commit: commands number',       $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[]', '7')$$),
  -- verist_commit: bad elements, checked before the version (a valid version)
  ('commit: event not object',      $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[1]')$$),
  ('commit: event without type',    $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[{}]')$$),
  ('commit: event extra key',       $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[{"type": "e", "stepId": "s"}]')$$),
  ('commit: trace without hashes',  $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[{"type": "e", "llmTrace": {"model": "m", "promptTokens": 1, "completionTokens": 1, "durationMs": 1}}]')$$),
  ('commit: command not object',    $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[]', '["invoke"]')$$),
  ('commit: unknown command type', $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[]', '[{"type": "delete", "step": "x"}]')$$),
  ('commit: command extra key',     $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[]', '[{"type": "invoke", "step": "x", "priority": 1}]')$$),
  ('commit: two blocking commands', $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[]', '[{"type": "review", "reason": "a"}, {"type": "suspend", "reason": "b"}]')$$),
  ('commit: duplicate commands',    $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[]', '[{"type": "emit", "topic": "t"}, {"type": "emit", "topic": "t"}]')$$),
  ('commit: number beyond double',  $$SELECT verist_commit('b-wf', 'run-1', 's', 1, '{}', '[]', '[{"type": "invoke", "step": "x", "input": 1e999}]')$$),
  -- verist_commit: unknown ids and conflicts
  ('commit: unknown run',           $$SELECT verist_commit('b-wf', 'nope', 's', 1, '{}')$$),
  ('commit: unknown workflow',      $$SELECT verist_commit('nope', 'run-1', 's', 1, '{}')$$),
  ('commit: existing run',          $$SELECT verist_commit('b-wf', 'run-1', 's', 0, '{}')$$),
  ('commit: stale version',         $$SELECT verist_commit('b-wf', 'run-1', 's', 5, '{}')$$),
  ('commit: second block',          $$SELECT verist_commit('b-wf', 'run-2', 's', 1, '{}', '[]', '[{"type": "suspend", "reason": "r"}]')$$),
  ('commit: command exists',        $$SELECT verist_commit('b-wf', 'run-1', 'step', 1, '{}', '[]', '[{"type": "invoke", "step": "next"}]')$$),
  -- verist_load, verist_effective_state, verist_get_block
  ('load: null workflow_id',        $$SELECT verist_load(NULL, 'r')$$),
  ('load: null run_id',             $$SELECT verist_load('w', NULL)$$),
  ('load: empty run_id',            $$SELECT verist_load('w', '')$$),
  ('effective: null workflow_id',   $$SELECT verist_effective_state(NULL, 'r')$$),
  ('effective: empty workflow_id',  $$SELECT verist_effective_state('', 'r')$$),
  ('get_block: null run_id',        $$SELECT verist_get_block('w', NULL)$$),
  ('get_block: empty workflow_id',  $$SELECT verist_get_block('', 'r')$$),
  -- verist_set_overlay
  ('overlay: null workflow_id',     $$SELECT verist_set_overlay(NULL, 'run-1', '{}')$$),
  ('overlay: null run_id',          $$SELECT verist_set_overlay('b-wf', NULL, '{}')$$),
  ('overlay: null patch',           $$SELECT verist_set_overlay('b-wf', 'run-1', NULL)$$),
  ('overlay: patch array',          $$SELECT verist_set_overlay('b-wf', 'run-1', '[{"a": 2}]')$$),
  ('overlay: patch json null',      $$SELECT verist_set_overlay('b-wf', 'run-1', 'null')$$),
  ('overlay: unknown run',          $$SELECT verist_set_overlay('b-wf', 'nope', '{"a": 2}')$$),
  -- verist_resolve_block
  ('resolve: null workflow_id',     $$SELECT verist_resolve_block(NULL, 'run-2', '{"approved": true}')$$),
  ('resolve: empty run_id',         $$SELECT verist_resolve_block('b-wf', '', '{"approved": true}')$$),
  ('resolve: null resolution',      $$SELECT verist_resolve_block('b-wf', 'run-2', NULL)$$),
  ('resolve: resolution array',     $$SELECT verist_resolve_block('b-wf', 'run-2', '[true]')$$),
  ('resolve: resolution boolean',   $$SELECT verist_resolve_block('b-wf', 'run-2', 'true')$$),
  ('resolve: review without approved', $$SELECT verist_resolve_block('b-wf', 'run-2', '{"resumeData": 1}')$$),
  ('resolve: approved as string',   $$SELECT verist_resolve_block('b-wf', 'run-2', '{"approved": "true"}')$$),
  ('resolve: approved as number',   $$SELECT verist_resolve_block('b-wf', 'run-2', '{"approved": 1}')$$),
  -- verist_lease_outbox
  ('lease: null owner',             $$SELECT verist_lease_outbox(NULL, 1)$$),
  ('lease: empty owner',            $$SELECT verist_lease_outbox('', 1)$$),
  ('lease: null max_entries',       $$SELECT verist_lease_outbox('w', NULL)$$),
  ('lease: zero max_entries',       $$SELECT verist_lease_outbox('w', 0)$$),
  ('lease: negative max_entries',   $$SELECT verist_lease_outbox('w', -1)$$),
  ('lease: null duration',          $$SELECT verist_lease_outbox('w', 1, NULL)$$),
  ('lease: zero duration',          $$SELECT verist_lease_outbox('w', 1, '0')$$),
  ('lease: negative duration',      $$SELECT verist_lease_outbox('w', 1, '-1 second')$$),
  -- verist_mark_dispatched / verist_mark_failed / batch
  ('dispatched: null id',           $$SELECT verist_mark_dispatched(NULL, 'owner')$$),
  ('dispatched: null owner',        $$SELECT verist_mark_dispatched(1, NULL)$$),
  ('dispatched: empty owner',       $$SELECT verist_mark_dispatched(1, '')$$),
  ('dispatched: unknown id',        $$SELECT verist_mark_dispatched(-7, 'owner')$$),
  ('dispatched: not the owner',     $$SELECT verist_mark_dispatched((SELECT min(id) FROM verist_outbox WHERE status = 'leased'), 'intruder')$$),
  ('dispatched: deferred row',      $$SELECT verist_mark_dispatched((SELECT min(id) FROM verist_outbox WHERE status = 'deferred'), 'owner')$$),
  ('failed: null id',               $$SELECT verist_mark_failed(NULL, 'owner', 'e')$$),
  ('failed: null owner',            $$SELECT verist_mark_failed(1, NULL, 'e')$$),
  ('failed: null error',            $$SELECT verist_mark_failed(1, 'owner', NULL)$$),
  ('failed: unknown id',            $$SELECT verist_mark_failed(-7, 'owner', 'e')$$),
  ('failed: not the owner',         $$SELECT verist_mark_failed((SELECT min(id) FROM verist_outbox WHERE status = 'leased'), 'intruder', 'e')$$),
  ('batch: null ids',               $$SELECT verist_mark_dispatched_batch(NULL, 'owner')$$),
  ('batch: null owner',             $$SELECT verist_mark_dispatched_batch('{1}', NULL)$$),
  ('batch: empty owner',            $$SELECT verist_mark_dispatched_batch('{1}', '')$$),
  -- verist_dedupe_key / verist_canonical_json
  ('dedupe_key: null command',      $$SELECT verist_dedupe_key('w', 'r', 's', NULL)$$),
  ('dedupe_key: null workflow_id',  $$SELECT verist_dedupe_key(NULL, 'r', 's', '{}')$$),
  ('canonical: null value',         $$SELECT verist_canonical_json(NULL)$$),
  ('canonical: number beyond double', $$SELECT verist_canonical_json('{"n": 2e308}')$$);

SELECT label, verist_try(statement) AS result FROM bad_calls ORDER BY label;

-- No bad call returned normally.
SELECT count(*) AS accepted FROM bad_calls WHERE verist_try(statement) = 'ok';

SELECT verist_fingerprint() = :'before' AS nothing_written;

-- The longest ids accepted work end to end, through every index.
SELECT version FROM verist_commit(repeat('w', 512), repeat('r', 512), repeat('s', 512), 0, '{}',
    '[{"type": "e"}]', '[{"type": "emit", "topic": "t"}, {"type": "review", "reason": "x"}]');
SELECT length(workflow_id), length(run_id), length(step_id), status
FROM verist_outbox WHERE workflow_id = repeat('w', 512);
SELECT resolution FROM verist_resolve_block(repeat('w', 512), repeat('r', 512), '{"approved": false}');
SELECT verist_fingerprint() AS before \gset

-- Text that is not JSON, or JSON with \u0000, never reaches verist:
-- PostgreSQL's own jsonb input refuses it with a standard 22xxx SQLSTATE.
SELECT verist_try($$SELECT verist_commit('w', 'r', 's', 0, '{not json}')$$) AS not_json,
       verist_try($$SELECT verist_commit('w', 'r', 's', 0, '{"a": "\u0000"}')$$) AS nul_char;
SELECT verist_fingerprint() = :'before' AS nothing_written;
