-- test/demo/demo.sql: one Verist run, end to end, in psql.
\set ON_ERROR_STOP on
\pset footer off
CREATE EXTENSION IF NOT EXISTS verist;

\echo '== 1. Step "extract" creates the run (expected_version 0): output, an LLM event, and a review gate'
SELECT workflow_id, run_id, version, computed
FROM verist_commit('invoice', 'run-42', 'extract', 0,
    '{"vendor": "ACME", "total": 120}',
    '[{"type": "extracted", "payload": {"pages": 2}},
      {"type": "llm-call", "llmTrace": {"model": "gpt-x", "inputHash": "sha256:9f1c",
        "outputHash": "sha256:77ab", "promptTokens": 812, "completionTokens": 64, "durationMs": 930}}]',
    '[{"type": "emit", "topic": "invoice.extracted", "payload": {"total": 120}},
      {"type": "review", "reason": "total above auto-approve limit", "payload": {"total": 120}}]');

\echo '== 2. The review is an active block; the step''s other command waits, deferred'
SELECT id, type, reason, payload FROM verist_get_block('invoice', 'run-42');
SELECT id, step_id, status, command FROM verist_outbox ORDER BY id;

\echo '== 3. A stale or repeated commit is refused with its own SQLSTATE, and writes nothing'
\set ON_ERROR_STOP off
SELECT verist_commit('invoice', 'run-42', 'extract', 0, '{}');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE '(conflict / run_exists)'
\set ON_ERROR_STOP on

\echo '== 4. A human (verist.actor) corrects a field (overlay) and approves the review'
BEGIN;
SET LOCAL verist.actor = 'alice@example.com';
SELECT version, overlay FROM verist_set_overlay('invoice', 'run-42', '{"vendor": "ACME Corp"}');
SELECT type, resolution, resolved_at IS NOT NULL AS resolved
FROM verist_resolve_block('invoice', 'run-42', '{"approved": true}');
COMMIT;
SELECT verist_effective_state('invoice', 'run-42') AS effective_state;

\echo '== 5. A dispatcher leases the released command, sends it, marks it dispatched'
SELECT id, status, lease_owner, command->>'topic' AS topic
FROM verist_lease_outbox('dispatcher-1', 10, '30 seconds');
SELECT verist_mark_dispatched(id, 'dispatcher-1')
FROM verist_outbox WHERE lease_owner = 'dispatcher-1';
SELECT id, status, dispatched_at IS NOT NULL AS dispatched FROM verist_outbox ORDER BY id;

\echo '== 6. The next step commits on version 1; its answer is lost, so it sends the same commit again'
SELECT version, computed FROM verist_commit('invoice', 'run-42', 'post', 1, '{"posted": true}',
    '[{"type": "posted"}]');
SELECT version, computed FROM verist_commit('invoice', 'run-42', 'post', 1, '{"posted": true}',
    '[{"type": "posted"}]');
\echo '   (the stored result; nothing written twice)'

\echo '== 7. The record: who did what, what the step "post" found, and a verification'
SELECT seq, kind, version, step_id, role, actor, change FROM verist_run_history('invoice', 'run-42');
SELECT version, effective FROM verist_step_input('invoice', 'run-42', 2);
SELECT valid, events_checked, reason FROM verist_verify_run('invoice', 'run-42');

\echo '== 8. The audit log and the ledger are append-only'

SELECT id, step_id, type, llm_trace->>'model' AS model FROM verist_events ORDER BY id;
\set ON_ERROR_STOP off
DELETE FROM verist_events;
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE '(the event log refuses deletes)'
UPDATE verist_ledger SET actor = 'mallory@example.com';
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE '(so does the ledger)'
\set ON_ERROR_STOP on

\echo '== 9. The run is finished: retire it (its record comes back as one document; a seal stays)'
SELECT d->>'format' AS format, jsonb_array_length(d->'ledger') AS entries,
       jsonb_array_length(d->'events') AS events
FROM verist_retire_run('invoice', 'run-42') AS d;
SELECT valid, reason FROM verist_verify_run('invoice', 'run-42');
