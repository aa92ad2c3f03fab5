-- Before every measured pgbench run: empty verist tables (a fresh install),
-- the 240 runs of the update path at version 1 (no events yet: chain head
-- seq 0, the genesis hash), statistics, and a checkpoint so that no run pays
-- for an earlier one's dirty pages.  psql variable: output.
DROP EXTENSION verist;
CREATE EXTENSION verist;
INSERT INTO verist_state (workflow_id, run_id, version, computed, overlay, chain_seq, chain_hash)
SELECT 'bench-wf', (2000000000 + r)::text, 1, :'output'::jsonb, '{}'::jsonb,
       0, verist_chain_genesis('bench-wf', (2000000000 + r)::text)
FROM generate_series(0, 239) AS r;
ANALYZE verist_state, verist_events, verist_outbox, verist_blocks;
CHECKPOINT;
