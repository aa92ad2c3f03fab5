-- reset.sql for a verist 0.1.0 installation (no hash chain): the same 240
-- runs of the update path at version 1.  psql variable: output.
DROP EXTENSION verist;
CREATE EXTENSION verist VERSION '0.1.0';
INSERT INTO verist_state (workflow_id, run_id, version, computed, overlay)
SELECT 'bench-wf', (2000000000 + r)::text, 1, :'output'::jsonb, '{}'::jsonb
FROM generate_series(0, 239) AS r;
ANALYZE verist_state, verist_events, verist_outbox, verist_blocks;
CHECKPOINT;
