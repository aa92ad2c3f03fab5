/* sql/verist--0.2.0--0.3.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION verist UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0 adds functions, a procedure and views.  The lease rule's reading of
-- lease_expires_at as "not leasable before" lives in the shared library and
-- leaves every state 0.2.0 can reach as it was.

-- The same status rule, written as one array constant: a CHECK is read back
-- from its stored text by every statement that writes the table, and the six
-- constants of the IN list cost a commit about 5%.
ALTER TABLE verist_outbox
    DROP CONSTRAINT verist_outbox_status_check,
    ADD CONSTRAINT verist_outbox_status_check CHECK (status OPERATOR(pg_catalog.=) ANY
        ('{pending,deferred,leased,dispatched,rejected,failed}'::text[]));

--
-- Dispatch (0.3.0): retries with backoff and dead letters, re-queueing,
-- retention, operator views.  Wake-ups need no object of their own: with
-- verist.notify on, commits and resolutions NOTIFY verist_outbox.
--

CREATE FUNCTION verist_mark_retry(
    outbox_id bigint, lease_owner text, error text, max_attempts integer,
    base_delay interval DEFAULT '1 second', max_delay interval DEFAULT '5 minutes')
RETURNS verist_outbox
AS 'MODULE_PATHNAME', 'verist_mark_retry'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_mark_retry(bigint, text, text, integer, interval, interval) IS
    'a leased row failed under a retry policy: pending again after an exponential backoff, or failed (dead letter) at max_attempts';

CREATE FUNCTION verist_requeue(outbox_id bigint)
RETURNS verist_outbox
AS 'MODULE_PATHNAME', 'verist_requeue'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_requeue(bigint) IS
    'send a dead letter (failed outbox row) again: pending, failures reset, last error kept';

CREATE FUNCTION verist_purge_outbox(older_than interval, max_rows integer DEFAULT 10000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'verist_purge_outbox'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_purge_outbox(interval, integer) IS
    'delete at most max_rows dispatched or rejected outbox rows finished more than older_than ago, oldest first';

-- A procedure, so that it may commit between batches (which a SECURITY
-- DEFINER routine may not): it runs as the caller, who needs EXECUTE on
-- verist_purge_outbox.  CALL it outside a transaction block.
CREATE PROCEDURE verist_purge_outbox_all(
    older_than interval, batch_rows integer DEFAULT 10000, INOUT purged bigint DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    purged := 0;
    LOOP
        n := @extschema@.verist_purge_outbox(older_than, batch_rows);
        purged := purged OPERATOR(pg_catalog.+) n;
        COMMIT;
        EXIT WHEN n OPERATOR(pg_catalog.<) batch_rows;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE verist_purge_outbox_all(interval, integer, bigint) IS
    'purge finished outbox rows older than older_than in batches of batch_rows, committing after each';

-- Operator views.  They read the tables as the extension owner: grant SELECT
-- on them to an operator role without granting the tables.
CREATE VIEW verist_outbox_stats AS
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'pending' AND lease_expires_at > now()) AS retry_waiting,
       count(*) FILTER (WHERE status = 'deferred') AS deferred,
       count(*) FILTER (WHERE status = 'leased') AS leased,
       count(*) FILTER (WHERE status = 'leased'
                        AND (lease_expires_at IS NULL OR lease_expires_at <= now())) AS expired_leases,
       count(*) FILTER (WHERE status = 'dispatched') AS dispatched,
       count(*) FILTER (WHERE status = 'rejected') AS rejected,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending_at,
       now() - min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending_age
FROM verist_outbox;
COMMENT ON VIEW verist_outbox_stats IS
    'outbox rows by status, rows waiting for a retry, expired leases, and the oldest pending row';

CREATE VIEW verist_active_blocks AS
SELECT id, workflow_id, run_id, step_id, type, reason, resume_step, created_at,
       now() - created_at AS age
FROM verist_blocks
WHERE resolved_at IS NULL;
COMMENT ON VIEW verist_active_blocks IS
    'unresolved review and suspend blocks, with their age';

-- Open commands are counted from the partial indexes of live rows, so the
-- summary does not read finished history.
CREATE VIEW verist_run_summary AS
SELECT s.workflow_id, s.run_id, s.version, s.created_at, s.updated_at,
       b.type AS active_block, b.created_at AS blocked_since,
       coalesce(o.pending, 0) AS pending_commands,
       coalesce(d.deferred, 0) AS deferred_commands,
       (SELECT max(e.created_at) FROM verist_events e
        WHERE e.workflow_id = s.workflow_id AND e.run_id = s.run_id) AS last_event_at
FROM verist_state s
LEFT JOIN verist_blocks b
       ON b.workflow_id = s.workflow_id AND b.run_id = s.run_id AND b.resolved_at IS NULL
LEFT JOIN (SELECT workflow_id, run_id, count(*) AS pending FROM verist_outbox
           WHERE status IN ('pending', 'leased') GROUP BY workflow_id, run_id) o
       ON o.workflow_id = s.workflow_id AND o.run_id = s.run_id
LEFT JOIN (SELECT workflow_id, run_id, count(*) AS deferred FROM verist_outbox
           WHERE status = 'deferred' GROUP BY workflow_id, run_id) d
       ON d.workflow_id = s.workflow_id AND d.run_id = s.run_id;
COMMENT ON VIEW verist_run_summary IS
    'per run: version, active block, commands not yet dispatched, deferred commands, last event time';

-- Dispatch (0.3.0): retries are a dispatcher's job, re-queueing and purging
-- an operator's; the views are for operators (README "Roles").
REVOKE ALL ON FUNCTION verist_mark_retry(bigint, text, text, integer, interval, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_requeue(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_purge_outbox(interval, integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE verist_purge_outbox_all(interval, integer, bigint) FROM PUBLIC;
REVOKE ALL ON verist_outbox_stats, verist_active_blocks, verist_run_summary FROM PUBLIC;
