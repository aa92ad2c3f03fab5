-- Before every measured pgbench run: empty verist tables (a fresh install),
-- the 240 runs of the update path at version 1 (no events yet: chain head
-- seq 0, the genesis hash), statistics, and a checkpoint so that no run pays
-- for an earlier one's dirty pages.  psql variable: output.
--
-- From 0.4.0 a run at version 1 has a ledger: entry 1, the commit that
-- created it.  Each run is written as verist_commit('bench-wf', run, '1', 0,
-- output) would write it (state with both heads, the entry, no events, no
-- commands), but at the fixed time 2025-01-01 00:00:00+00 and by the fixed
-- role 'postgres' (the entry hash covers both), so that the hashes of the
-- update path's entries, which chain onto this one, can be precomputed
-- (lib/keys.sql) for the client pattern and the floor.  Every variant starts
-- from these same rows; verist_verify_all() verifies them.
DROP EXTENSION verist;
CREATE EXTENSION verist;

-- The entry's input fingerprint (a SHA-256 of jsonb's binary form, no SQL
-- function computes it) from verist_commit itself, on a scratch run, rolled
-- back.
BEGIN;
SELECT version FROM verist_commit('bench-reset', 'scratch', '1', 0, :'output'::jsonb) \g /dev/null
SELECT input AS init_input FROM verist_ledger
WHERE workflow_id = 'bench-reset' AND run_id = 'scratch' \gset
ROLLBACK;

INSERT INTO verist_state (workflow_id, run_id, version, computed, overlay, chain_seq, chain_hash,
                          ledger_seq, ledger_hash)
SELECT 'bench-wf', r.run_id, 1, :'output'::jsonb, '{}'::jsonb,
       0, verist_chain_genesis('bench-wf', r.run_id),
       1, verist_ledger_entry_hash(
              verist_ledger_genesis('bench-wf', r.run_id), verist_chain_genesis('bench-wf', r.run_id),
              jsonb_build_object(
                  'actor', NULL, 'at', jsonb_build_object('seq', 1, 'version', 1),
                  'block', NULL, 'change', :'output'::jsonb, 'input', :'init_input',
                  'kind', 'commit', 'role', 'postgres', 'runId', r.run_id,
                  'sessionRole', 'postgres', 'stepId', '1',
                  'ts', (extract(epoch FROM '2025-01-01 00:00:00+00'::timestamptz) * 1000000)::bigint,
                  'workflowId', 'bench-wf'))
FROM (SELECT (2000000000 + i)::text AS run_id FROM generate_series(0, 239) AS i) AS r;
INSERT INTO verist_ledger (workflow_id, run_id, seq, kind, version, step_id, block, change, input,
                           role, session_role, actor, events_seq, events_hash, created_at, hash)
SELECT workflow_id, run_id, 1, 'commit', 1, '1', NULL, computed, :'init_input',
       'postgres', 'postgres', NULL, chain_seq, chain_hash, '2025-01-01 00:00:00+00', ledger_hash
FROM verist_state;
ANALYZE verist_state, verist_events, verist_outbox, verist_blocks, verist_ledger;
CHECKPOINT;
