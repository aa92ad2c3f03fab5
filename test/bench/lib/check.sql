-- After a measured run: commits as the database counts them, and whether
-- every commit wrote its 3 events and 2 outbox rows.  Prints
-- "commits ok|BAD".  Create path: new runs; update path: versions advanced.
WITH s AS (
    SELECT count(*) FILTER (WHERE run_id < '2') AS created,
           coalesce(sum(version - 1) FILTER (WHERE run_id >= '2'), 0) AS updated
    FROM verist_state
), n AS (
    SELECT (SELECT created + updated FROM s) AS commits,
           (SELECT count(*) FROM verist_events) AS events,
           (SELECT count(*) FROM verist_outbox) AS outbox
)
SELECT commits || ' ' || CASE WHEN events = 3 * commits AND outbox = 2 * commits
                              THEN 'ok' ELSE 'BAD:events=' || events || ',outbox=' || outbox END
FROM n;
