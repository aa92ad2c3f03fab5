/* sql/verist--0.4.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION verist UPDATE TO '0.5.0'" to load this file. \quit

--
-- 0.5.0: dispatch for many tenants (README "Lease modes", "Counters").
-- Adds: lease modes (a fourth argument of verist_lease_outbox; the three-
-- argument form leases as before), per-workflow caps on leased rows, the
-- index fair leasing walks, counters kept in shared memory, the
-- commit-to-dispatch latency and a Prometheus text export.  Cost of the
-- upgrade: one index build over the outbox's pending and leased rows.
--

-- An operator's cap on each workflow's leased rows, honoured by the fair
-- lease modes (all their dispatchers together).  0 pauses a workflow.
CREATE TABLE verist_workflow_limits (
    workflow_id   text        NOT NULL,
    max_in_flight integer     NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT verist_workflow_limits_pkey PRIMARY KEY (workflow_id),
    CONSTRAINT verist_workflow_limits_workflow_id_check
        CHECK (workflow_id <> '' AND octet_length(workflow_id) <= 512),
    CONSTRAINT verist_workflow_limits_max_in_flight_check CHECK (max_in_flight >= 0)
);
COMMENT ON TABLE verist_workflow_limits IS
    'per workflow: the most outbox rows the fair lease modes keep leased at once (0 pauses it)';
SELECT pg_catalog.pg_extension_config_dump('verist_workflow_limits', '');

-- Fair leasing: one probe per workflow with work, then each workflow's
-- oldest pending rows and its leased ones (to count them and find expired
-- leases).
CREATE INDEX verist_outbox_workflow_ready_idx ON verist_outbox (workflow_id, status, id)
    WHERE status IN ('pending', 'leased');

CREATE FUNCTION verist_lease_outbox(
    lease_owner text, max_entries integer, lease_duration interval, lease_mode text)
RETURNS SETOF verist_outbox
AS 'MODULE_PATHNAME', 'verist_lease_outbox'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER ROWS 10;
COMMENT ON FUNCTION verist_lease_outbox(text, integer, interval, text) IS
    'claim up to max_entries outbox rows in a lease mode: oldest, per_run (commit order, one in flight per run), fair (round-robin over workflows, within their caps) or fair_per_run';

CREATE FUNCTION verist_stat_counters(
    OUT counter text, OUT reason text, OUT value bigint, OUT since timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'verist_stat_counters'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 17;
COMMENT ON FUNCTION verist_stat_counters() IS
    'this database''s counters (needs verist in shared_preload_libraries); read the verist_counters view';

CREATE VIEW verist_counters AS
SELECT counter, reason, value, since FROM verist_stat_counters();
COMMENT ON VIEW verist_counters IS
    'what verist''s functions did and refused in this database since the server started or the last reset';

CREATE FUNCTION verist_reset_counters()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'verist_reset_counters'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION verist_reset_counters() IS
    'zero this database''s counters; returns the time of the reset';

CREATE FUNCTION verist_dispatch_latency(
    recent interval DEFAULT '5 minutes',
    OUT dispatched bigint, OUT p50 interval, OUT p90 interval, OUT p99 interval)
RETURNS record
AS 'MODULE_PATHNAME', 'verist_dispatch_latency'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_dispatch_latency(interval) IS
    'commit-to-dispatch time (dispatched_at - created_at) of the rows dispatched in the recent window: count, p50, p90, p99';

CREATE FUNCTION verist_metrics(recent interval DEFAULT '5 minutes')
RETURNS text
AS 'MODULE_PATHNAME', 'verist_metrics'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_metrics(interval) IS
    'the counters and the dispatch latency in the Prometheus text format';

-- Privileges (README "Roles"): leasing in a mode is a dispatcher's job; the
-- caps, counters and metrics an operator's.
REVOKE ALL ON FUNCTION verist_lease_outbox(text, integer, interval, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_stat_counters() FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_reset_counters() FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_dispatch_latency(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_metrics(interval) FROM PUBLIC;
REVOKE ALL ON verist_counters FROM PUBLIC;
