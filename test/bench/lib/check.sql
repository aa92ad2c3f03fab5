-- After a measured run: commits as the database counts them, and whether
-- every commit wrote its 3 events, its 2 outbox rows and, from 0.4.0 on, its
-- ledger entry (lib/reset.sql writes one more for each of the 240 update
-- runs; a 0.1.0 schema, the chain section's, has no ledger).  Prints
-- "commits ok|BAD...".  Create path: new runs; update path: versions advanced.
SELECT to_regclass('verist_ledger') IS NOT NULL AS has_ledger \gset
\if :has_ledger
SELECT count(*) AS ledger FROM verist_ledger \gset
\else
SELECT -1 AS ledger \gset
\endif
WITH s AS (
    SELECT count(*) FILTER (WHERE run_id < '2') AS created,
           coalesce(sum(version - 1) FILTER (WHERE run_id >= '2'), 0) AS updated
    FROM verist_state
), n AS (
    SELECT (SELECT created + updated FROM s) AS commits,
           (SELECT count(*) FROM verist_events) AS events,
           (SELECT count(*) FROM verist_outbox) AS outbox,
           :ledger::bigint AS ledger
)
SELECT commits || ' ' ||
       CASE WHEN events = 3 * commits AND outbox = 2 * commits AND ledger IN (-1, commits + 240)
            THEN 'ok' ELSE 'BAD:events=' || events || ',outbox=' || outbox || ',ledger=' || ledger END
FROM n;
