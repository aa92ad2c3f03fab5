--
-- ledger: the whole run on the record (0.4.0).  Every action that changes a
-- run is an entry of its ledger, with who did it; any past state reads back;
-- an identical retry of a commit gets the stored result; tampering with
-- state, overlay, blocks or entries is caught at the entry; a finished run
-- retires into a sealed document.
--
\set ECHO none
\i test/regress/helpers.sql
CALL verist_test_reset();
\set ECHO all

CREATE ROLE regress_verist_alice;
CREATE ROLE regress_verist_bob;
GRANT EXECUTE ON FUNCTION verist_commit(text, text, text, integer, jsonb, jsonb, jsonb),
    verist_set_overlay(text, text, jsonb), verist_resolve_block(text, text, jsonb)
  TO regress_verist_alice, regress_verist_bob;

-- Who: the role the caller acts as (current_user outside verist's SECURITY
-- DEFINER functions), the session's login role, and the application's actor.
SET ROLE regress_verist_alice;
BEGIN;
SET LOCAL verist.actor = 'alice@example.com';
SELECT version, ledger_seq FROM verist_commit('l-wf', 'r1', 'extract', 0, '{"a": 1, "b": 1}',
    '[{"type": "extracted"}]', '[{"type": "invoke", "step": "check"}]');
COMMIT;
SELECT version, ledger_seq FROM verist_commit('l-wf', 'r1', 'check', 1, '{"b": 2}', '[]',
    '[{"type": "emit", "topic": "held"}, {"type": "review", "reason": "look", "payload": {"p": 1}}]');
RESET ROLE;
SET ROLE regress_verist_bob;
BEGIN;
SET LOCAL verist.actor = 'bob@example.com';
SELECT overlay, ledger_seq FROM verist_set_overlay('l-wf', 'r1', '{"a": 10}');
SELECT resolution FROM verist_resolve_block('l-wf', 'r1', '{"approved": true, "note": "dropped"}');
COMMIT;
SELECT version, ledger_seq FROM verist_commit('l-wf', 'r1', 'pause', 2, '{"c": 3}', '[]',
    '[{"type": "suspend", "reason": "wait", "checkpoint": {"k": 1}}]');
SELECT resolution FROM verist_resolve_block('l-wf', 'r1', '{"resumeData": {"x": 1}}');
RESET ROLE;
SET verist.actor = '';
SELECT version, ledger_seq FROM verist_commit('l-wf', 'r1', 'finish', 3, '{"d": 4}',
    '[{"type": "done"}, {"type": "done2"}]');
RESET verist.actor;

SELECT seq, kind, version, step_id, role, session_role = session_user AS session_role_ok, actor,
       events_seq, block, change, input ~ '^[0-9a-f]{64}$' AS has_input
FROM verist_run_history('l-wf', 'r1') ORDER BY seq;
SELECT valid, events_checked, reason FROM verist_verify_run('l-wf', 'r1');
-- The digest is the ledger's head, which covers the events too.
SELECT d.seq = s.ledger_seq AND d.hash = s.ledger_hash AS digest_is_ledger_head
FROM verist_run_digest('l-wf', 'r1') d, verist_state s WHERE s.run_id = 'r1';
-- Every entry's hash is the documented formula (verist_ledger_entry_hash of
-- the entry object), chained from the genesis and bound to the events.
SELECT l.seq, l.hash = verist_ledger_entry_hash(
           coalesce(p.hash, verist_ledger_genesis(l.workflow_id, l.run_id)), l.events_hash,
           jsonb_build_object('actor', l.actor,
                              'at', jsonb_build_object('seq', l.seq, 'version', l.version),
                              'block', l.block, 'change', l.change, 'input', l.input,
                              'kind', l.kind, 'role', l.role, 'runId', l.run_id,
                              'sessionRole', l.session_role, 'stepId', l.step_id,
                              'ts', (extract(epoch FROM l.created_at) * 1000000)::bigint,
                              'workflowId', l.workflow_id)) AS documented
FROM verist_ledger l LEFT JOIN verist_ledger p
  ON p.workflow_id = l.workflow_id AND p.run_id = l.run_id AND p.seq = l.seq - 1
WHERE l.run_id = 'r1' ORDER BY l.seq;
SELECT l.events_hash = coalesce(e.hash, verist_chain_genesis('l-wf', 'r1')) AS events_bound
FROM verist_ledger l LEFT JOIN verist_events e
  ON e.workflow_id = l.workflow_id AND e.run_id = l.run_id AND e.seq = l.events_seq
WHERE l.run_id = 'r1' ORDER BY l.seq;

-- Any past state: right after each version, and as of each entry's time.
SELECT v.version, s.computed, s.overlay, s.effective, s.ledger_seq
FROM generate_series(1, 4) AS v(version), verist_state_at('l-wf', 'r1', v.version) s
ORDER BY v.version;
SELECT l.seq, s.version, s.computed, s.overlay
FROM verist_ledger l, verist_state_as_of('l-wf', 'r1', l.created_at) s
WHERE l.run_id = 'r1' ORDER BY l.seq;
-- What each step found: the state before its commit, corrections made since
-- the previous commit included (version 1 found the empty run).
SELECT v.version, s.version AS found_version, s.computed, s.overlay, s.effective, s.ledger_seq,
       s.at IS NULL AS no_entry_yet
FROM generate_series(1, 4) AS v(version), verist_step_input('l-wf', 'r1', v.version) s
ORDER BY v.version;
SELECT verist_try($$SELECT verist_step_input('l-wf', 'r1', 5)$$) AS no_such_step,
       verist_try($$SELECT verist_step_input('l-wf', 'nope', 1)$$) AS no_such_run_input;
SELECT verist_try($$SELECT verist_state_as_of('l-wf', 'r1', '2000-01-01')$$) AS before_the_run,
       verist_try($$SELECT verist_state_at('l-wf', 'r1', 5)$$) AS no_such_version,
       verist_try($$SELECT verist_state_at('l-wf', 'nope', 1)$$) AS no_such_run;

-- Commits safe to retry: exactly the same commit returns what it returned
-- the first time (even after the run moved on) and writes nothing; any
-- other commit for that version is still a conflict.
SELECT verist_fingerprint() AS before, (SELECT count(*) FROM verist_ledger) AS entries \gset
SELECT version, computed, ledger_seq, chain_seq FROM verist_commit('l-wf', 'r1', 'extract', 0,
    '{"a": 1, "b": 1}', '[{"type": "extracted"}]', '[{"type": "invoke", "step": "check"}]');
SELECT version, computed, ledger_seq, chain_seq FROM verist_commit('l-wf', 'r1', 'check', 1,
    '{"b": 2}', '[]',
    '[{"type": "emit", "topic": "held"}, {"type": "review", "reason": "look", "payload": {"p": 1}}]');
SELECT verist_fingerprint() = :'before' AS nothing_written,
       (SELECT count(*) FROM verist_ledger) = :entries AS no_entry;
SELECT verist_try($$SELECT verist_commit('l-wf', 'r1', 'check', 1, '{"b": 3}')$$) AS other_output,
       verist_try($$SELECT verist_commit('l-wf', 'r1', 'other', 1, '{"b": 2}', '[]',
           '[{"type": "emit", "topic": "held"}, {"type": "review", "reason": "look", "payload": {"p": 1}}]')$$) AS other_step,
       verist_try($$SELECT verist_commit('l-wf', 'r1', 'check', 1, '{"b": 2}')$$) AS other_commands,
       verist_try($$SELECT verist_commit('l-wf', 'r1', 'extract', 0, '{"a": 2}')$$) AS other_create;
SELECT verist_fingerprint() = :'before' AS nothing_written;
-- "The same" means the same JSON values as jsonb stores them: key order,
-- spacing and escapes do not matter; every digit does, beyond what a double
-- holds too (found by the ledger suite's model test: the first fingerprint
-- read numbers as doubles), and so does how a number is written.
SELECT version FROM verist_commit('l-wf', 'r-num', 's', 0, '{"n": 9007199254740993, "x": 0.1, "s": "A"}');
SELECT version FROM verist_commit('l-wf', 'r-num', 's', 0, '{"s": "\u0041",  "x": 0.1, "n": 9007199254740993}') AS same_values;
SELECT verist_try($$SELECT verist_commit('l-wf', 'r-num', 's', 0, '{"n": 9007199254740992, "x": 0.1, "s": "A"}')$$) AS one_digit_off,
       verist_try($$SELECT verist_commit('l-wf', 'r-num', 's', 0, '{"n": 9007199254740993, "x": 0.10000000000000000001, "s": "A"}')$$) AS beyond_double,
       verist_try($$SELECT verist_commit('l-wf', 'r-num', 's', 0, '{"n": 9007199254740993, "x": 0.10, "s": "A"}')$$) AS written_otherwise;

-- The ledger is append-only, as the event log is (VRA01).
SELECT verist_try($$UPDATE verist_ledger SET actor = 'mallory' WHERE run_id = 'r1'$$) AS update_entry,
       verist_try($$DELETE FROM verist_ledger WHERE run_id = 'r1'$$) AS delete_entry,
       verist_try($$TRUNCATE verist_ledger$$) AS truncate_ledger;

-- Tampering (by the table owner, who can lift the guards), each undone:
-- caught by verist_verify_run at the entry.
ALTER TABLE verist_events DISABLE TRIGGER verist_events_append_only;
ALTER TABLE verist_ledger DISABLE TRIGGER verist_ledger_append_only;
BEGIN;  -- a step's output, edited in the state row
UPDATE verist_state SET computed = computed || '{"b": 99}' WHERE run_id = 'r1';
SELECT valid, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
ROLLBACK;
BEGIN;  -- a human correction, edited
UPDATE verist_state SET overlay = '{"a": 11}' WHERE run_id = 'r1';
SELECT valid, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
ROLLBACK;
BEGIN;  -- the version, moved back
UPDATE verist_state SET version = 3 WHERE run_id = 'r1';
SELECT valid, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
ROLLBACK;
BEGIN;  -- a review's payload
UPDATE verist_blocks SET payload = '{"p": 2}' WHERE run_id = 'r1' AND type = 'review';
SELECT valid, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
ROLLBACK;
BEGIN;  -- an approval turned into a rejection
UPDATE verist_blocks SET resolution = '{"approved": false}' WHERE run_id = 'r1' AND type = 'review';
SELECT valid, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
ROLLBACK;
BEGIN;  -- a resolution undone (the block made active again)
UPDATE verist_blocks SET resolution = NULL, resolved_at = NULL WHERE run_id = 'r1' AND type = 'suspend';
SELECT valid, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
ROLLBACK;
BEGIN;  -- who did it, rewritten
UPDATE verist_ledger SET actor = 'mallory@example.com' WHERE run_id = 'r1' AND seq = 3;
SELECT valid, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
ROLLBACK;
BEGIN;  -- an entry removed
DELETE FROM verist_ledger WHERE run_id = 'r1' AND seq = 4;
SELECT valid, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
ROLLBACK;
BEGIN;  -- the last entry removed and the head rewound to the one before
DELETE FROM verist_ledger WHERE run_id = 'r1' AND seq = 7;
UPDATE verist_state s SET ledger_seq = 6, ledger_hash = (SELECT hash FROM verist_ledger WHERE run_id = 'r1' AND seq = 6)
WHERE s.run_id = 'r1';
SELECT valid, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
ROLLBACK;
BEGIN;  -- an event's payload
UPDATE verist_events SET payload = '{"x": 1}' WHERE run_id = 'r1' AND seq = 1;
SELECT valid, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
ROLLBACK;
BEGIN;  -- an event rewritten and its chain recomputed: only the ledger can tell
UPDATE verist_events e SET payload = '{"forged": true}',
       hash = verist_event_hash(p.hash, e.workflow_id, e.run_id, e.step_id, e.type,
                                '{"forged": true}', e.llm_trace, e.seq, e.created_at)
FROM verist_events p
WHERE e.run_id = 'r1' AND e.seq = 3 AND p.run_id = 'r1' AND p.seq = 2;
UPDATE verist_state s SET chain_hash = e.hash FROM verist_events e
WHERE s.run_id = 'r1' AND e.run_id = 'r1' AND e.seq = 3;
SELECT valid, events_checked, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
ROLLBACK;
ALTER TABLE verist_events ENABLE TRIGGER verist_events_append_only;
ALTER TABLE verist_ledger ENABLE TRIGGER verist_ledger_append_only;
SELECT valid FROM verist_verify_run('l-wf', 'r1');

-- Export: the whole record as one document (verify_chain.py --document
-- checks it offline; the audit suite does).
SELECT d->>'format' AS format, jsonb_array_length(d->'ledger') AS entries,
       jsonb_array_length(d->'events') AS events, jsonb_array_length(d->'blocks') AS blocks,
       d->'state'->>'ledgerHash' = s.ledger_hash AS head
FROM verist_export_run('l-wf', 'r1') d, verist_state s WHERE s.run_id = 'r1';

-- Retirement: refused while work is open, then sealed and removed.
SELECT verist_try($$SELECT verist_retire_run('l-wf', 'r1')$$) AS open_commands;
UPDATE verist_outbox SET status = 'dispatched', dispatched_at = now() WHERE run_id = 'r1';
SELECT version, ledger_seq AS digest_seq FROM verist_state s, verist_run_digest('l-wf', 'r1') WHERE run_id = 'r1';
SELECT verist_export_run('l-wf', 'r1') = verist_retire_run('l-wf', 'r1') AS returns_the_document;
SELECT (SELECT count(*) FROM verist_state WHERE run_id = 'r1') AS state,
       (SELECT count(*) FROM verist_events WHERE run_id = 'r1') AS events,
       (SELECT count(*) FROM verist_ledger WHERE run_id = 'r1') AS entries,
       (SELECT count(*) FROM verist_blocks WHERE run_id = 'r1') AS blocks,
       (SELECT count(*) FROM verist_outbox WHERE run_id = 'r1') AS commands;
SELECT seq, workflow_id, run_id, version, ledger_seq, role = current_user AS role_ok,
       document_hash ~ '^[0-9a-f]{64}$' AS has_document_hash FROM verist_retired;
SELECT valid, events_checked, first_broken_seq, reason FROM verist_verify_run('l-wf', 'r1');
SELECT seq FROM verist_run_digest('l-wf', 'r1');
SELECT count(*) AS broken FROM verist_verify_all();
SELECT verist_try($$SELECT verist_export_run('l-wf', 'r1')$$) AS gone;
-- The id is free again: a new run starts a new ledger.
SELECT version, ledger_seq FROM verist_commit('l-wf', 'r1', 'again', 0, '{}');
SELECT valid, reason FROM verist_verify_run('l-wf', 'r1');
-- Seals are append-only; one altered or removed (guard lifted) shows.
SELECT verist_try($$UPDATE verist_retired SET actor = 'nobody'$$) AS update_seal,
       verist_try($$DELETE FROM verist_retired$$) AS delete_seal,
       verist_try($$TRUNCATE verist_retired$$) AS truncate_seals;
BEGIN;
ALTER TABLE verist_retired DISABLE TRIGGER verist_retired_append_only;
UPDATE verist_retired SET actor = 'nobody';
SELECT workflow_id, run_id, first_broken_seq, reason FROM verist_verify_all();
ROLLBACK;
BEGIN;  -- the first of two seals removed: a gap at 1
SELECT verist_commit('l-wf', 'r2', 's', 0, '{}') IS NOT NULL AS r2;
UPDATE verist_outbox SET status = 'dispatched';
SELECT verist_retire_run('l-wf', 'r2') IS NOT NULL AS retired;
ALTER TABLE verist_retired DISABLE TRIGGER verist_retired_append_only;
DELETE FROM verist_retired WHERE seq = 1;
SELECT workflow_id, run_id, first_broken_seq, reason FROM verist_verify_all();
ROLLBACK;

-- Bad input: each refused with its SQLSTATE, nothing written.
SELECT verist_fingerprint() AS before \gset
CREATE TEMP TABLE bad_ledger (label text, statement text);
INSERT INTO bad_ledger VALUES
  ('state_at: null version',     $$SELECT verist_state_at('l-wf', 'r1', NULL)$$),
  ('state_at: version 0',        $$SELECT verist_state_at('l-wf', 'r1', 0)$$),
  ('state_at: negative version', $$SELECT verist_state_at('l-wf', 'r1', -1)$$),
  ('state_at: empty run_id',     $$SELECT verist_state_at('l-wf', '', 1)$$),
  ('step_input: null version',   $$SELECT verist_step_input('l-wf', 'r1', NULL)$$),
  ('step_input: version 0',      $$SELECT verist_step_input('l-wf', 'r1', 0)$$),
  ('step_input: null run_id',    $$SELECT verist_step_input('l-wf', NULL, 1)$$),
  ('as_of: null time',           $$SELECT verist_state_as_of('l-wf', 'r1', NULL)$$),
  ('as_of: null run_id',         $$SELECT verist_state_as_of('l-wf', NULL, now())$$),
  ('history: null workflow_id',  $$SELECT verist_run_history(NULL, 'r1')$$),
  ('history: long run_id',       $$SELECT verist_run_history('l-wf', repeat('x', 513))$$),
  ('export: unknown run',        $$SELECT verist_export_run('l-wf', 'nope')$$),
  ('export: null run_id',        $$SELECT verist_export_run('l-wf', NULL)$$),
  ('retire: unknown run',        $$SELECT verist_retire_run('l-wf', 'nope')$$),
  ('retire: empty workflow_id',  $$SELECT verist_retire_run('', 'r1')$$);
SELECT label, verist_try(statement) AS result FROM bad_ledger ORDER BY label;
SELECT verist_fingerprint() = :'before' AS nothing_written;
-- An unknown run's history is simply empty.
SELECT count(*) AS entries FROM verist_run_history('l-wf', 'nope');

REVOKE ALL ON FUNCTION verist_commit(text, text, text, integer, jsonb, jsonb, jsonb),
    verist_set_overlay(text, text, jsonb), verist_resolve_block(text, text, jsonb)
  FROM regress_verist_alice, regress_verist_bob;
DROP ROLE regress_verist_alice;
DROP ROLE regress_verist_bob;
