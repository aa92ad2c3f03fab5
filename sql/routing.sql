--
-- routing: commands go to the outbox, review defers, suspend discards; one
-- active block per run; resolution (README "Routing" and "Review and suspend").
--
\set ECHO none
\i test/regress/helpers.sql
\set ECHO all

-- No blocking command: every command is pending, stored exactly as given.
SELECT version FROM verist_commit('r-wf', 'plain', 'extract', 0, '{}', '[]',
    $$[{"type": "invoke", "step": "verify", "input": {"claims": ["a"]}},
       {"type": "fanout", "step": "score", "inputs": [{"doc": 1}, {"doc": 2}]},
       {"type": "emit", "topic": "extracted", "payload": null},
       {"type": "invoke", "step": "bare"}]$$);
SELECT step_id, status, command, lease_owner IS NULL AS no_owner, failures
FROM verist_outbox WHERE run_id = 'plain' ORDER BY id;
SELECT count(*) AS blocks FROM verist_blocks WHERE run_id = 'plain';

-- Each row's dedupe key is README "Dedupe keys"'s.
SELECT bool_and(dedupe_key = verist_dedupe_key(workflow_id, run_id, step_id, command)) AS keys_match
FROM verist_outbox WHERE run_id = 'plain';

--
-- review: a block row, the other commands deferred.
--
SELECT version FROM verist_commit('r-wf', 'rev', 'draft', 0, '{}', '[]',
    $$[{"type": "invoke", "step": "publish"},
       {"type": "review", "reason": "check the draft", "payload": {"draft": 1}},
       {"type": "emit", "topic": "drafted"}]$$);
SELECT step_id, type, reason, payload, resume_step, resolution, resolved_at IS NULL AS active
FROM verist_get_block('r-wf', 'rev');
SELECT step_id, status, command FROM verist_outbox WHERE run_id = 'rev' ORDER BY id;

-- One active block per run: another blocking command is active_block, and
-- nothing of that commit is written.
SELECT verist_fingerprint() AS before \gset
SELECT verist_commit('r-wf', 'rev', 'again', 1, '{"x": 1}', '[{"type": "e"}]',
                     '[{"type": "suspend", "reason": "wait"}]');
SELECT verist_try($$SELECT verist_commit('r-wf', 'rev', 'again', 1, '{}', '[]',
                     '[{"type": "review", "reason": "twice"}]')$$);
SELECT verist_fingerprint() = :'before' AS nothing_written;

-- Non-blocking commands are accepted while a block is active, as pending:
-- the runner, not storage, decides whether a blocked run may go on.
SELECT version FROM verist_commit('r-wf', 'rev', 'side', 1, '{}', '[]',
                                  '[{"type": "emit", "topic": "side-effect"}]');
SELECT step_id, status FROM verist_outbox WHERE run_id = 'rev' ORDER BY id;

-- Another run with the same step name, also under review, and a deferred row
-- of another step of this run (as a restore of older data could leave).
SELECT version FROM verist_commit('r-wf', 'rev-other', 'draft', 0, '{}', '[]',
    '[{"type": "invoke", "step": "publish"}, {"type": "review", "reason": "other"}]');
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status)
VALUES ('r-wf', 'rev', 'older-step', '{"type": "invoke", "step": "old"}', 'test-older-step', 'deferred');

-- A resolution must carry "approved" as a boolean; nothing changes otherwise.
SELECT verist_fingerprint() AS before \gset
SELECT verist_try($$SELECT verist_resolve_block('r-wf', 'rev', '{}')$$) AS missing,
       verist_try($$SELECT verist_resolve_block('r-wf', 'rev', '{"approved": "yes"}')$$) AS string,
       verist_try($$SELECT verist_resolve_block('r-wf', 'rev', '{"approved": null}')$$) AS json_null;
SELECT verist_try($$SELECT verist_resolve_block('r-wf', 'rev', '[true]')$$) AS not_object,
       verist_try($$SELECT verist_resolve_block('r-wf', 'rev', NULL)$$) AS sql_null;
SELECT verist_fingerprint() = :'before' AS nothing_written;

-- Approve: the block step's deferred rows become pending, lease fields
-- cleared; other steps and other runs are untouched.  The stored resolution
-- is the cleaned object.  State and events do not change (0.4.0: the run's
-- ledger gains the resolution, so its ledger head moves; nothing else).
SELECT (SELECT md5(string_agg((s.workflow_id, s.run_id, s.version, s.computed, s.overlay,
                               s.updated_at, s.chain_seq, s.chain_hash)::text, ''
                              ORDER BY s.workflow_id, s.run_id))
        FROM verist_state s) AS state_before,
       (SELECT count(*) FROM verist_events) AS events_before \gset
SELECT step_id, type, resolution, resolved_at IS NOT NULL AS resolved
FROM verist_resolve_block('r-wf', 'rev', '{"approved": true, "comment": "dropped"}');
SELECT run_id, step_id, status, lease_owner, lease_expires_at
FROM verist_outbox WHERE run_id IN ('rev', 'rev-other') ORDER BY run_id, id;
SELECT (SELECT md5(string_agg((s.workflow_id, s.run_id, s.version, s.computed, s.overlay,
                               s.updated_at, s.chain_seq, s.chain_hash)::text, ''
                              ORDER BY s.workflow_id, s.run_id))
        FROM verist_state s) = :'state_before' AS state_unchanged,
       (SELECT kind FROM verist_ledger WHERE run_id = 'rev' ORDER BY seq DESC LIMIT 1) AS ledger_entry,
       (SELECT count(*) FROM verist_events) = :events_before AS no_new_events;

-- No active block any more: 0 rows, nothing changes, as often as asked.
SELECT verist_fingerprint() AS before \gset
SELECT count(*) AS rows FROM verist_resolve_block('r-wf', 'rev', '{"approved": false}');
SELECT count(*) AS rows FROM verist_resolve_block('r-wf', 'rev', '{"approved": true}');
SELECT count(*) AS rows FROM verist_resolve_block('r-wf', 'never-existed', '{"approved": true}');
SELECT count(*) AS rows FROM verist_get_block('r-wf', 'rev');
SELECT verist_fingerprint() = :'before' AS nothing_written;
-- ...but a malformed resolution is still refused, block or not.
SELECT verist_try($$SELECT verist_resolve_block('r-wf', 'rev', '"approved"')$$);

-- Reject: deferred rows become rejected.
SELECT resolution FROM verist_resolve_block('r-wf', 'rev-other', '{"approved": false}');
SELECT step_id, status FROM verist_outbox WHERE run_id = 'rev-other' ORDER BY id;

-- With the review resolved, the run may block again.
SELECT version FROM verist_commit('r-wf', 'rev', 'second-review', 2, '{}', '[]',
                                  '[{"type": "review", "reason": "again"}]');
SELECT type, reason, payload FROM verist_get_block('r-wf', 'rev');
SELECT count(*) AS blocks, count(*) FILTER (WHERE resolved_at IS NULL) AS active
FROM verist_blocks WHERE run_id = 'rev';

--
-- suspend: a block row, the other commands discarded.
--
SELECT version FROM verist_commit('r-wf', 'sus', 'ask', 0, '{}', '[]',
    $$[{"type": "emit", "topic": "discarded"},
       {"type": "suspend", "reason": "need input", "checkpoint": {"page": 3}, "resumeStep": "continue"},
       {"type": "invoke", "step": "discarded-too"}]$$);
SELECT step_id, type, reason, payload, resume_step FROM verist_get_block('r-wf', 'sus');
SELECT count(*) AS outbox_rows FROM verist_outbox WHERE run_id = 'sus';

-- resumeData is required; its value may be null.
SELECT verist_try($$SELECT verist_resolve_block('r-wf', 'sus', '{"approved": true}')$$);

-- Resolving queues one resume command under step "resume:<block id>".
SELECT id AS block_id FROM verist_get_block('r-wf', 'sus') \gset
SELECT type, resolution, resolved_at IS NOT NULL AS resolved
FROM verist_resolve_block('r-wf', 'sus', '{"resumeData": {"answer": 42}, "extra": 1}');
SELECT step_id = 'resume:' || :block_id AS resume_step_id, status, command,
       dedupe_key = verist_dedupe_key('r-wf', 'sus', 'resume:' || :block_id, command) AS key_ok
FROM verist_outbox WHERE run_id = 'sus';
SELECT count(*) AS rows FROM verist_resolve_block('r-wf', 'sus', '{"resumeData": 1}');
SELECT count(*) AS resume_commands FROM verist_outbox WHERE run_id = 'sus';

-- Without resumeStep or checkpoint: resume the suspending step, checkpoint null.
SELECT version FROM verist_commit('r-wf', 'sus2', 'wait-here', 0, '{}', '[]',
                                  '[{"type": "suspend", "reason": "pause"}]');
SELECT resume_step, payload IS NULL AS no_payload FROM verist_get_block('r-wf', 'sus2');
SELECT resolution FROM verist_resolve_block('r-wf', 'sus2', '{"resumeData": null}');
SELECT command FROM verist_outbox WHERE run_id = 'sus2';

--
-- Malformed commands (README "Shapes") and blocking rules, each a serialization_error.
--
SELECT verist_fingerprint() AS before \gset
CREATE TEMP TABLE bad_commands(label text, commands text);
INSERT INTO bad_commands VALUES
  ('not an object',          '["invoke"]'),
  ('null command',           '[null]'),
  ('missing type',           '[{"step": "s"}]'),
  ('type not a string',      '[{"type": 1, "step": "s"}]'),
  ('unknown type',           '[{"type": "launch", "step": "s"}]'),
  ('invoke without step',    '[{"type": "invoke"}]'),
  ('invoke empty step',      '[{"type": "invoke", "step": ""}]'),
  ('invoke step not string', '[{"type": "invoke", "step": ["s"]}]'),
  ('invoke unknown key',     '[{"type": "invoke", "step": "s", "inputs": []}]'),
  ('fanout without inputs',  '[{"type": "fanout", "step": "s"}]'),
  ('fanout inputs object',   '[{"type": "fanout", "step": "s", "inputs": {}}]'),
  ('emit without topic',     '[{"type": "emit", "payload": 1}]'),
  ('emit unknown key',       '[{"type": "emit", "topic": "t", "event": "x"}]'),
  ('review without reason',  '[{"type": "review"}]'),
  ('review empty reason',    '[{"type": "review", "reason": ""}]'),
  ('review unknown key',     '[{"type": "review", "reason": "r", "checkpoint": 1}]'),
  ('suspend empty resume',   '[{"type": "suspend", "reason": "r", "resumeStep": ""}]'),
  ('suspend resume number',  '[{"type": "suspend", "reason": "r", "resumeStep": 3}]'),
  ('two reviews',            '[{"type": "review", "reason": "a"}, {"type": "review", "reason": "b"}]'),
  ('review and suspend',     '[{"type": "review", "reason": "a"}, {"type": "suspend", "reason": "b"}]'),
  ('duplicate commands',     '[{"type": "invoke", "step": "s"}, {"type": "emit", "topic": "t"}, {"type": "invoke", "step": "s"}]'),
  ('duplicate, keys reordered', '[{"type": "invoke", "step": "s", "input": {"a": 1, "b": 2}}, {"input": {"b": 2, "a": 1}, "step": "s", "type": "invoke"}]'),
  ('third command broken',   '[{"type": "invoke", "step": "s"}, {"type": "emit", "topic": "t"}, {"type": "emit"}]');
SELECT label, verist_try(format(
    $$SELECT verist_commit('r-wf', 'bad', 's', 0, '{}', '[]', %L)$$, commands)) AS result
FROM bad_commands ORDER BY label;
SELECT verist_fingerprint() = :'before' AS nothing_written;
