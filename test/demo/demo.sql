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

\echo '== 4. A human corrects a field (overlay) and approves the review'
SELECT version, overlay FROM verist_set_overlay('invoice', 'run-42', '{"vendor": "ACME Corp"}');
SELECT type, resolution, resolved_at IS NOT NULL AS resolved
FROM verist_resolve_block('invoice', 'run-42', '{"approved": true}');
SELECT verist_effective_state('invoice', 'run-42') AS effective_state;

\echo '== 5. A dispatcher leases the released command, sends it, marks it dispatched'
SELECT id, status, lease_owner, command->>'topic' AS topic
FROM verist_lease_outbox('dispatcher-1', 10, '30 seconds');
SELECT verist_mark_dispatched(id, 'dispatcher-1')
FROM verist_outbox WHERE lease_owner = 'dispatcher-1';
SELECT id, status, dispatched_at IS NOT NULL AS dispatched FROM verist_outbox ORDER BY id;

\echo '== 6. The next step commits on version 1; the audit log is append-only'
SELECT version, computed FROM verist_commit('invoice', 'run-42', 'post', 1, '{"posted": true}',
    '[{"type": "posted"}]');
SELECT id, step_id, type, llm_trace->>'model' AS model FROM verist_events ORDER BY id;
\set ON_ERROR_STOP off
DELETE FROM verist_events;
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE '(the event log refuses deletes)'
