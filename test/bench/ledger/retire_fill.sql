-- Finished runs for the retirement measurement: runs :from .. :to of
-- workflow done-wf, each committed twice by verist_commit (create, then one
-- more step), each commit with the ~1 KB output, 2 events and 1 emit
-- command: 4 events, 2 outbox rows and (0.4.0) 2 ledger entries per run.
-- ledger.sh marks the commands dispatched afterwards, as a dispatcher would.
-- psql variables: from, to, output, events, commands.
SET synchronous_commit = off;
SELECT count(verist_commit('done-wf', 'd' || lpad(i::text, 7, '0'), 'extract', 0,
                           :'output'::jsonb, :'events'::jsonb, :'commands'::jsonb))
FROM generate_series(:from, :to) AS i;
SELECT count(verist_commit('done-wf', 'd' || lpad(i::text, 7, '0'), 'finish', 1,
                           :'output'::jsonb, :'events'::jsonb, :'commands'::jsonb))
FROM generate_series(:from, :to) AS i;
