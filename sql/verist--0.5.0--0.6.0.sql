/* sql/verist--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION verist UPDATE TO '0.6.0'" to load this file. \quit

--
-- 0.6.0: leasing without index writes (README "What leasing writes").
-- A lease changes a row's status, owner and lease end and nothing an index
-- holds, so it is a HOT update: a new row version on the same page and no
-- index entry.  For that the outbox's partial indexes name a generated column,
-- queued (status pending or leased), instead of status, and the outbox leaves
-- half of each page free for the versions its updates write.  Finalising a
-- row still changes queued, and so writes one entry in each full index.
-- Cost of the upgrade: the outbox is rewritten once (the new column) and its
-- indexes rebuilt, holding an ACCESS EXCLUSIVE lock meanwhile.
--

DROP INDEX verist_outbox_ready_idx;
DROP INDEX verist_outbox_workflow_ready_idx;
ALTER TABLE verist_outbox SET (fillfactor = 50);
ALTER TABLE verist_outbox ADD COLUMN queued boolean NOT NULL
    GENERATED ALWAYS AS (status OPERATOR(pg_catalog.=) ANY ('{pending,leased}'::pg_catalog.text[])) STORED;
COMMENT ON COLUMN verist_outbox.queued IS
    'status is pending or leased (generated): the predicate of the indexes leasing reads';

-- Leasing scans only this index, which holds nothing but the rows a
-- dispatcher may still claim: its cost never grows with finished history.
CREATE INDEX verist_outbox_ready_idx ON verist_outbox (id) WHERE queued;
-- Fair leasing: one probe per workflow with work, then each workflow's
-- oldest rows in id order.
CREATE INDEX verist_outbox_workflow_ready_idx ON verist_outbox (workflow_id, id) WHERE queued;

-- Both forms of verist_lease_outbox run the queries that name queued.
CREATE OR REPLACE FUNCTION verist_lease_outbox(
    lease_owner text, max_entries integer,
    lease_duration interval DEFAULT '30 seconds')
RETURNS SETOF verist_outbox
AS 'MODULE_PATHNAME', 'verist_lease_outbox_queued'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER ROWS 10;
CREATE OR REPLACE FUNCTION verist_lease_outbox(
    lease_owner text, max_entries integer, lease_duration interval, lease_mode text)
RETURNS SETOF verist_outbox
AS 'MODULE_PATHNAME', 'verist_lease_outbox_queued'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER ROWS 10;

-- Open commands are counted from the partial index of live rows, so the
-- summary does not read finished history.
CREATE OR REPLACE VIEW verist_run_summary AS
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
           WHERE queued GROUP BY workflow_id, run_id) o
       ON o.workflow_id = s.workflow_id AND o.run_id = s.run_id
LEFT JOIN (SELECT workflow_id, run_id, count(*) AS deferred FROM verist_outbox
           WHERE status = 'deferred' GROUP BY workflow_id, run_id) d
       ON d.workflow_id = s.workflow_id AND d.run_id = s.run_id;
