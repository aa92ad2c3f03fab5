-- Before every measured run (and after it, so that an idle cluster holds
-- nothing for autovacuum): a fresh install, the 240 runs of the update path
-- created at version 1 by verist_commit itself (so both versions write them
-- their own way), statistics, and a checkpoint so that no run pays for an
-- earlier one's dirty pages.  psql variables: output, events, commands.
SET synchronous_commit = off;
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS verist;
CREATE EXTENSION verist;
SELECT count(verist_commit('bench-wf', (2000000000 + r)::text, '1', 0,
                           :'output'::jsonb, :'events'::jsonb, :'commands'::jsonb))
FROM generate_series(0, 239) AS r;
ANALYZE;
CHECKPOINT;
