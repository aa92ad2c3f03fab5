-- After a measured run: commits as the database counts them, and whether
-- every commit (and each of the 240 set-up commits) wrote its 2 events, its
-- outbox row and, from 0.4.0 on, its ledger entry.  Prints "commits ok|BAD...".
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
       CASE WHEN events = 2 * (commits + 240) AND outbox = commits + 240
                 AND ledger IN (-1, commits + 240)
            THEN 'ok' ELSE 'BAD:events=' || events || ',outbox=' || outbox || ',ledger=' || ledger END
FROM n;
