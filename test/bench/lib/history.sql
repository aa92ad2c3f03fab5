-- Stored history for the growth and lease-latency measurements, written with
-- set-based SQL (no trigger or constraint of verist is disabled; the events
-- table's append-only trigger fires only on UPDATE, DELETE and TRUNCATE).
-- psql variables: runs (number of runs), per_run (events per run),
-- dispatched (dispatched outbox rows), output, e1payload, cmd1.
--
-- Run ids are random 64-bit integers as text, the same shape as the ids the
-- growth measurement's commits use, so new runs land all over the indexes
-- rather than at their right-hand edge.  The history's chain hashes have the
-- right shape (64 hex digits) but are not a valid chain: it is volume only,
-- and nothing here verifies it.  The same goes for the ledger (0.4.0): one
-- commit entry per version (the step's output as its change), and its head
-- on the state row.
CREATE TEMP TABLE hist_runs AS
SELECT (('x' || substr(md5('h' || i), 1, 16))::bit(64)::bigint)::text AS run_id
FROM generate_series(1, :runs) AS i
ORDER BY 1;

INSERT INTO verist_state (workflow_id, run_id, version, computed, overlay, created_at, updated_at,
                          chain_seq, chain_hash, ledger_seq, ledger_hash)
SELECT 'bench-wf', run_id, greatest(1, :per_run / 3), :'output'::jsonb, '{}'::jsonb, now(), now(),
       :per_run, md5(run_id) || md5(run_id || 'x'),
       greatest(1, :per_run / 3), md5(run_id || 'l') || md5(run_id || 'L')
FROM hist_runs;

-- the ledger, in run order too: entry k made version k
INSERT INTO verist_ledger (workflow_id, run_id, seq, kind, version, step_id, block, change, input,
                           role, session_role, actor, events_seq, events_hash, created_at, hash)
SELECT 'bench-wf', r.run_id, k, 'commit', k, 'step-' || k, NULL, :'output'::jsonb,
       md5(r.run_id || 'i' || k) || md5(k || 'i' || r.run_id), 'postgres', 'postgres', NULL,
       least(3 * k, :per_run), md5(r.run_id || least(3 * k, :per_run)) || md5(least(3 * k, :per_run) || r.run_id),
       now(), md5(r.run_id || 'l' || k) || md5(k || 'l' || r.run_id)
FROM hist_runs AS r, generate_series(1, greatest(1, :per_run / 3)) AS k;

-- events in run order, so the run index is built from sorted input
INSERT INTO verist_events (workflow_id, run_id, step_id, type, payload, llm_trace, created_at, seq, hash)
SELECT 'bench-wf', r.run_id, 'step-' || (j + 2) / 3, 'step.event', :'e1payload'::jsonb, NULL, now(),
       j, md5(r.run_id || j) || md5(j || r.run_id)
FROM hist_runs AS r, generate_series(1, :per_run) AS j;

-- finished outbox rows, older (lower ids) than anything a dispatcher will lease
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status,
                           created_at, dispatched_at)
SELECT 'bench-wf', 'history', 'step-' || i, :'cmd1'::jsonb,
       md5('k' || i) || md5('K' || i), 'dispatched', now(), now()
FROM generate_series(1, :dispatched) AS i;
