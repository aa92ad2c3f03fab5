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

\ir update_runs.sql
ANALYZE verist_state, verist_events, verist_outbox, verist_blocks, verist_ledger;
CHECKPOINT;
