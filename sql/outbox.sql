--
-- outbox: leasing, expiry reclaim, owner checks, dispatched, failed, and the
-- batch form (README "Leasing").
--
\set ECHO none
\i test/regress/helpers.sql
\set ECHO all

-- Earlier files leave pending commands behind: start from an empty outbox,
-- ids from 1, so messages that name an id are stable.
TRUNCATE verist_outbox RESTART IDENTITY;

-- Five pending commands over two runs, two deferred behind a review.
SELECT version FROM verist_commit('x-wf', 'run-1', 'plan', 0, '{}', '[]',
    '[{"type": "invoke", "step": "a"}, {"type": "invoke", "step": "b"},
      {"type": "emit", "topic": "c"}]');
SELECT version FROM verist_commit('x-wf', 'run-2', 'plan', 0, '{}', '[]',
    '[{"type": "invoke", "step": "d"}, {"type": "emit", "topic": "e"}]');
SELECT version FROM verist_commit('x-wf', 'run-3', 'gate', 0, '{}', '[]',
    '[{"type": "invoke", "step": "held"}, {"type": "emit", "topic": "held"},
      {"type": "review", "reason": "look"}]');
SELECT id AS first_id FROM verist_outbox WHERE workflow_id = 'x-wf' ORDER BY id LIMIT 1 \gset

-- Lease takes the oldest first, at most max_entries, and never deferred rows.
-- The expiry is the wall clock plus the duration.  (Leases this file
-- expects to stay held last an hour: under debug_discard_caches, as the
-- assert suite runs it, the file takes minutes.)
BEGIN;
SELECT id - :first_id AS n, run_id, status, lease_owner, failures,
       lease_expires_at BETWEEN clock_timestamp() + interval '59 minutes'
                            AND clock_timestamp() + interval '61 minutes' AS expires_in_60min
FROM verist_lease_outbox('worker-a', 2, '60 minutes');
COMMIT;
SELECT id - :first_id AS n, status, lease_owner FROM verist_lease_outbox('worker-b', 100, '1 hour');
SELECT id - :first_id AS n, status, lease_owner IS NULL AS no_owner
FROM verist_outbox WHERE workflow_id = 'x-wf' ORDER BY id;

-- Nothing left to lease: live leases and deferred rows stay where they are.
SELECT count(*) AS leased FROM verist_lease_outbox('worker-c', 10);

-- The default lease is 30 seconds.
SELECT version FROM verist_commit('x-wf', 'run-4', 'plan', 0, '{}', '[]',
    '[{"type": "invoke", "step": "default"}]');
SELECT lease_expires_at BETWEEN clock_timestamp() + interval '29 seconds'
                            AND clock_timestamp() + interval '31 seconds' AS expires_in_30s
FROM verist_lease_outbox('worker-d', 1);
UPDATE verist_outbox SET lease_expires_at = lease_expires_at + interval '1 hour'
WHERE lease_owner = 'worker-d';   -- held for the rest of the file, however slow

-- Only the lease owner finalises; anyone else gets lease_mismatch and the
-- row is untouched.
SELECT verist_fingerprint() AS before \gset
SELECT verist_mark_dispatched(:first_id, 'worker-b');
SELECT verist_try(format('SELECT verist_mark_failed(%s, %L, %L)', :first_id, 'worker-b', 'boom'));
SELECT verist_try('SELECT verist_mark_dispatched(999999999, ''worker-a'')') AS unknown_id;
SELECT verist_fingerprint() = :'before' AS nothing_written;

-- The owner marks it dispatched: lease and error cleared, time set.
BEGIN;
SELECT verist_mark_dispatched(:first_id, 'worker-a');
SELECT status, lease_owner, lease_expires_at, last_error, dispatched_at = now() AS dispatched_now
FROM verist_outbox WHERE id = :first_id;
COMMIT;

-- Finalised rows cannot be finalised again, by anyone.
SELECT verist_try(format('SELECT verist_mark_dispatched(%s, %L)', :first_id, 'worker-a')) AS again,
       verist_try(format('SELECT verist_mark_failed(%s, %L, %L)', :first_id, 'worker-a', 'x')) AS fail_after;

-- The owner marks the second failed: failures counted, error kept, lease cleared.
SELECT verist_mark_failed(:first_id + 1, 'worker-a', 'endpoint returned 503');
SELECT status, failures, last_error, lease_owner, lease_expires_at, dispatched_at
FROM verist_outbox WHERE id = :first_id + 1;

-- Dispatched and failed rows are never leased again.
SELECT count(*) AS leased FROM verist_lease_outbox('worker-c', 100);

-- An expired lease is reclaimed by the next dispatcher, oldest first, and the
-- old owner loses the right to finalise it.
SELECT version FROM verist_commit('x-wf', 'run-5', 'plan', 0, '{}', '[]',
    '[{"type": "invoke", "step": "short"}]');
SELECT id AS short_id FROM verist_lease_outbox('worker-e', 1, '10 milliseconds') \gset
SELECT pg_sleep(0.05);
SELECT id = :short_id AS same_row, lease_owner FROM verist_lease_outbox('worker-f', 1);
SELECT verist_mark_dispatched(:short_id, 'worker-e');
SELECT verist_mark_dispatched(:short_id, 'worker-f');
SELECT status, lease_owner FROM verist_outbox WHERE id = :short_id;

-- A leased row with no expiry (left by older data or a manual fix) is leasable.
UPDATE verist_outbox SET lease_expires_at = NULL WHERE id = :first_id + 2;
SELECT id - :first_id AS n, lease_owner FROM verist_lease_outbox('worker-g', 1);

-- The batch form finalises only what the owner leases, and returns those ids.
SELECT version FROM verist_commit('x-wf', 'run-6', 'plan', 0, '{}', '[]',
    '[{"type": "invoke", "step": "b1"}, {"type": "invoke", "step": "b2"},
      {"type": "invoke", "step": "b3"}]');
SELECT array_agg(id ORDER BY id) AS batch FROM verist_lease_outbox('worker-h', 3) \gset
SELECT id AS foreign_id FROM verist_outbox WHERE lease_owner = 'worker-b' ORDER BY id LIMIT 1 \gset
SELECT array_position(:'batch'::bigint[], ids) AS position
FROM verist_mark_dispatched_batch(:'batch'::bigint[] || ARRAY[:foreign_id, 999999999]::bigint[], 'worker-h') AS ids;
SELECT count(*) FILTER (WHERE status = 'dispatched') AS dispatched,
       count(*) FILTER (WHERE lease_owner IS NOT NULL) AS still_leased
FROM verist_outbox WHERE id = ANY(:'batch'::bigint[]);
SELECT status, lease_owner FROM verist_outbox WHERE id = :foreign_id;
-- A second batch call finds nothing left to finalise; an empty array is fine.
SELECT count(*) AS again FROM verist_mark_dispatched_batch(:'batch'::bigint[], 'worker-h');
SELECT count(*) AS empty FROM verist_mark_dispatched_batch('{}', 'worker-h');
SELECT count(*) AS nulls FROM verist_mark_dispatched_batch(ARRAY[NULL]::bigint[], 'worker-h');

-- Released review commands become leasable; rejected ones never do.
SELECT count(*) FROM verist_resolve_block('x-wf', 'run-3', '{"approved": true}');
SELECT run_id, command->>'type' AS type, status FROM verist_lease_outbox('worker-i', 10);

-- Bad arguments: serialization_error, nothing leased or changed.
SELECT version FROM verist_commit('x-wf', 'run-7', 'plan', 0, '{}', '[]',
    '[{"type": "invoke", "step": "waiting"}]');
SELECT verist_fingerprint() AS before \gset
SELECT verist_try('SELECT verist_lease_outbox(''w'', 0)') AS zero_entries,
       verist_try('SELECT verist_lease_outbox(''w'', -5)') AS negative_entries;
SELECT verist_try('SELECT verist_lease_outbox(NULL, 1)') AS null_owner,
       verist_try('SELECT verist_lease_outbox('''', 1)') AS empty_owner,
       verist_try('SELECT verist_lease_outbox(''w'', NULL)') AS null_entries;
SELECT verist_try('SELECT verist_lease_outbox(''w'', 1, NULL)') AS null_duration,
       verist_try('SELECT verist_lease_outbox(''w'', 1, ''0 seconds'')') AS zero_duration,
       verist_try('SELECT verist_lease_outbox(''w'', 1, ''-1 minute'')') AS negative_duration;
SELECT verist_try('SELECT verist_mark_dispatched(NULL, ''w'')') AS null_id,
       verist_try('SELECT verist_mark_dispatched(1, NULL)') AS null_owner,
       verist_try('SELECT verist_mark_dispatched(1, '''')') AS empty_owner;
SELECT verist_try('SELECT verist_mark_failed(NULL, ''w'', ''e'')') AS null_id,
       verist_try('SELECT verist_mark_failed(1, NULL, ''e'')') AS null_owner,
       verist_try('SELECT verist_mark_failed(1, ''w'', NULL)') AS null_error;
SELECT verist_try('SELECT verist_mark_dispatched_batch(NULL, ''w'')') AS null_ids,
       verist_try('SELECT verist_mark_dispatched_batch(''{1}'', NULL)') AS null_owner,
       verist_try('SELECT verist_mark_dispatched_batch(''{1}'', '''')') AS empty_owner;
SELECT verist_fingerprint() = :'before' AS nothing_written;
