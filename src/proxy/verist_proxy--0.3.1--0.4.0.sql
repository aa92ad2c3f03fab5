/* src/proxy/verist_proxy--0.3.1--0.4.0.sql: the router of verist 0.3.1 made the router
   of verist 0.4.0 (written by hand; the result equals a fresh verist_proxy--0.4.0.sql,
   which the scaleout suite checks catalog against catalog) */

\echo Use "ALTER EXTENSION verist_proxy UPDATE TO '0.4.0'" to load this file. \quit

--
-- Upgrade the shards first (ALTER EXTENSION verist UPDATE on each): a 0.3.1
-- router forwards to 0.4.0 shards as before (PL/Proxy selects the columns it
-- knows by name), then this.  Nothing is dropped: every function the router
-- had keeps its identity, so what the administrator granted on the router
-- stays granted; the functions that changed are replaced in place.  Router
-- sessions that were open cache the old types: reconnect them (PgBouncer's
-- RECONNECT, or restart the application's pool).
--
-- What 0.4.0 changes on the router:
--   * verist_state gains ledger_seq and ledger_hash (the shards' columns);
--     the new tables verist_ledger and verist_retired become types;
--   * verist_commit, verist_set_overlay and verist_resolve_block, which write
--     ledger entries, and the new verist_retire_run, which writes a seal, pass
--     the caller's verist.actor to the shard (kind "write" of functions.list):
--     SQL functions calling a PL/Proxy helper verist_proxy_actor__<name>;
--   * the new per-run functions, the two ledger hash functions;
--   * comments of the functions whose meaning 0.4.0 changed (verist's);
--   * verist_proxy_unproxied(): verist_chain_extend is gone,
--     verist_commit_advance and verist_ledger_extend are internal;
--   * every router role can route: the partition map and the shard numbers
--     become readable by PUBLIC (0.3.1 routed for superusers only).
--

-- Part 1: configuration readable for routing (not the connection strings).
GRANT SELECT ON verist_proxy_config, verist_proxy_partitions TO PUBLIC;
GRANT SELECT (shard) ON verist_proxy_shards TO PUBLIC;

-- Part 2: the mirrored API of verist 0.4.0.

-- The shards' verist_state gained two columns, at its end.
ALTER TYPE verist_state ADD ATTRIBUTE ledger_seq integer, ADD ATTRIBUTE ledger_hash text;

-- The columns of the shards' table verist_ledger, in order (PL/Proxy selects them by name).
CREATE TYPE verist_ledger AS (
    workflow_id text,
    run_id text,
    seq integer,
    kind text,
    version integer,
    step_id text,
    block jsonb,
    change jsonb,
    input text,
    role text,
    session_role text,
    actor text,
    events_seq integer,
    events_hash text,
    created_at timestamp with time zone,
    hash text
);

-- The columns of the shards' table verist_retired, in order (PL/Proxy selects them by name).
CREATE TYPE verist_retired AS (
    seq bigint,
    workflow_id text,
    run_id text,
    version integer,
    ledger_seq integer,
    ledger_hash text,
    events_seq integer,
    events_hash text,
    document_hash text,
    role text,
    session_role text,
    actor text,
    retired_at timestamp with time zone,
    hash text
);

-- The writing functions: a PL/Proxy helper that sets verist.actor on the
-- shard for the call (while verist's first argument is evaluated, so before
-- verist's function runs), and verist's name, now an SQL function passing the
-- caller's setting to it.  CREATE OR REPLACE keeps each function's identity
-- (and its grants); its language changes from plproxy to sql.
CREATE FUNCTION verist_proxy_actor__verist_commit(actor text, workflow_id text, run_id text, step_id text, expected_version integer, output jsonb, events jsonb, commands jsonb)
RETURNS verist_state
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON @extschema@.verist_proxy_run_slot(workflow_id, run_id);
    SELECT r.* FROM @extschema@.verist_commit(CASE WHEN pg_catalog.set_config('verist.actor', $1, true) IS NULL THEN $2 ELSE $2 END, $3, $4, $5, $6, $7, $8) AS r;
$$;
COMMENT ON FUNCTION verist_proxy_actor__verist_commit(text, text, text, text, integer, jsonb, jsonb, jsonb) IS 'internal: verist_commit on the shard of the run, with verist.actor set to the first argument for the call';
CREATE OR REPLACE FUNCTION verist_commit(workflow_id text, run_id text, step_id text, expected_version integer, output jsonb, events jsonb DEFAULT '[]'::jsonb, commands jsonb DEFAULT '[]'::jsonb)
RETURNS verist_state
LANGUAGE sql
AS $$ SELECT * FROM @extschema@.verist_proxy_actor__verist_commit(pg_catalog.current_setting('verist.actor', true), $1, $2, $3, $4, $5, $6, $7) $$;
COMMENT ON FUNCTION verist_commit(workflow_id text, run_id text, step_id text, expected_version integer, output jsonb, events jsonb, commands jsonb) IS 'router (to the shard of the run, with the caller''s verist.actor): commit one step of a run: version check, shallow merge of output, events, commands and its ledger entry, all or nothing; an identical retry returns the stored result';

CREATE FUNCTION verist_proxy_actor__verist_set_overlay(actor text, workflow_id text, run_id text, patch jsonb)
RETURNS verist_state
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON @extschema@.verist_proxy_run_slot(workflow_id, run_id);
    SELECT r.* FROM @extschema@.verist_set_overlay(CASE WHEN pg_catalog.set_config('verist.actor', $1, true) IS NULL THEN $2 ELSE $2 END, $3, $4) AS r;
$$;
COMMENT ON FUNCTION verist_proxy_actor__verist_set_overlay(text, text, text, jsonb) IS 'internal: verist_set_overlay on the shard of the run, with verist.actor set to the first argument for the call';
CREATE OR REPLACE FUNCTION verist_set_overlay(workflow_id text, run_id text, patch jsonb)
RETURNS verist_state
LANGUAGE sql
AS $$ SELECT * FROM @extschema@.verist_proxy_actor__verist_set_overlay(pg_catalog.current_setting('verist.actor', true), $1, $2, $3) $$;
COMMENT ON FUNCTION verist_set_overlay(workflow_id text, run_id text, patch jsonb) IS 'router (to the shard of the run, with the caller''s verist.actor): shallow-merge a patch into the human overlay of a run; version unchanged';

CREATE FUNCTION verist_proxy_actor__verist_resolve_block(actor text, workflow_id text, run_id text, resolution jsonb)
RETURNS SETOF verist_blocks
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON @extschema@.verist_proxy_run_slot(workflow_id, run_id);
    SELECT r.* FROM @extschema@.verist_resolve_block(CASE WHEN pg_catalog.set_config('verist.actor', $1, true) IS NULL THEN $2 ELSE $2 END, $3, $4) AS r;
$$;
COMMENT ON FUNCTION verist_proxy_actor__verist_resolve_block(text, text, text, jsonb) IS 'internal: verist_resolve_block on the shard of the run, with verist.actor set to the first argument for the call';
CREATE OR REPLACE FUNCTION verist_resolve_block(workflow_id text, run_id text, resolution jsonb)
RETURNS SETOF verist_blocks
LANGUAGE sql
AS $$ SELECT * FROM @extschema@.verist_proxy_actor__verist_resolve_block(pg_catalog.current_setting('verist.actor', true), $1, $2, $3) $$;
COMMENT ON FUNCTION verist_resolve_block(workflow_id text, run_id text, resolution jsonb) IS 'router (to the shard of the run, with the caller''s verist.actor): resolve the active block of a run: release or reject deferred commands, or queue the resume command';

-- What verist 0.4.0 says differently of three functions.
COMMENT ON FUNCTION verist_verify_run(workflow_id text, run_id text, OUT valid boolean, OUT events_checked bigint, OUT first_broken_seq integer, OUT reason text) IS 'router (to the shard of the run): verify a run: its event hash chain, its ledger, and its state and blocks against the ledger';
COMMENT ON FUNCTION verist_run_digest(workflow_id text, run_id text, OUT seq integer, OUT hash text) IS 'router (to the shard of the run): the head of a run''s ledger (last entry and hash; it covers the events too), for anchoring outside the database';
COMMENT ON FUNCTION verist_verify_all(OUT workflow_id text, OUT run_id text, OUT events_checked bigint, OUT first_broken_seq integer, OUT reason text) IS 'router (every shard, rows concatenated): verify every run and the seals of retired runs; returns the broken ones';

-- The new per-run functions: reading the record, exporting, retiring.
CREATE FUNCTION verist_state_at(workflow_id text, run_id text, version integer, OUT version integer, OUT computed jsonb, OUT "overlay" jsonb, OUT effective jsonb, OUT ledger_seq integer, OUT at timestamp with time zone)
RETURNS record
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON @extschema@.verist_proxy_run_slot(workflow_id, run_id);
$$;
COMMENT ON FUNCTION verist_state_at(workflow_id text, run_id text, version integer, OUT version integer, OUT computed jsonb, OUT "overlay" jsonb, OUT effective jsonb, OUT ledger_seq integer, OUT at timestamp with time zone) IS 'router (to the shard of the run): a run as it was right after the commit that produced a version, replayed from its ledger';

CREATE FUNCTION verist_step_input(workflow_id text, run_id text, version integer, OUT version integer, OUT computed jsonb, OUT "overlay" jsonb, OUT effective jsonb, OUT ledger_seq integer, OUT at timestamp with time zone)
RETURNS record
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON @extschema@.verist_proxy_run_slot(workflow_id, run_id);
$$;
COMMENT ON FUNCTION verist_step_input(workflow_id text, run_id text, version integer, OUT version integer, OUT computed jsonb, OUT "overlay" jsonb, OUT effective jsonb, OUT ledger_seq integer, OUT at timestamp with time zone) IS 'router (to the shard of the run): a run as the commit that produced a version found it (the input of that step), replayed from its ledger';

CREATE FUNCTION verist_state_as_of(workflow_id text, run_id text, as_of timestamp with time zone, OUT version integer, OUT computed jsonb, OUT "overlay" jsonb, OUT effective jsonb, OUT ledger_seq integer, OUT at timestamp with time zone)
RETURNS record
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON @extschema@.verist_proxy_run_slot(workflow_id, run_id);
$$;
COMMENT ON FUNCTION verist_state_as_of(workflow_id text, run_id text, as_of timestamp with time zone, OUT version integer, OUT computed jsonb, OUT "overlay" jsonb, OUT effective jsonb, OUT ledger_seq integer, OUT at timestamp with time zone) IS 'router (to the shard of the run): a run as it was at a moment, replayed from its ledger';

CREATE FUNCTION verist_run_history(workflow_id text, run_id text)
RETURNS SETOF verist_ledger
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON @extschema@.verist_proxy_run_slot(workflow_id, run_id);
$$;
COMMENT ON FUNCTION verist_run_history(workflow_id text, run_id text) IS 'router (to the shard of the run): every entry of a run''s ledger, in order: what changed it, who, when, and the hashes';

CREATE FUNCTION verist_export_run(workflow_id text, run_id text)
RETURNS jsonb
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON @extschema@.verist_proxy_run_slot(workflow_id, run_id);
$$;
COMMENT ON FUNCTION verist_export_run(workflow_id text, run_id text) IS 'router (to the shard of the run): a run''s whole record as one self-verifying document (verist-run/1)';

CREATE FUNCTION verist_proxy_actor__verist_retire_run(actor text, workflow_id text, run_id text)
RETURNS jsonb
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON @extschema@.verist_proxy_run_slot(workflow_id, run_id);
    SELECT r.* FROM @extschema@.verist_retire_run(CASE WHEN pg_catalog.set_config('verist.actor', $1, true) IS NULL THEN $2 ELSE $2 END, $3) AS r;
$$;
COMMENT ON FUNCTION verist_proxy_actor__verist_retire_run(text, text, text) IS 'internal: verist_retire_run on the shard of the run, with verist.actor set to the first argument for the call';
CREATE FUNCTION verist_retire_run(workflow_id text, run_id text)
RETURNS jsonb
LANGUAGE sql
AS $$ SELECT * FROM @extschema@.verist_proxy_actor__verist_retire_run(pg_catalog.current_setting('verist.actor', true), $1, $2) $$;
COMMENT ON FUNCTION verist_retire_run(workflow_id text, run_id text) IS 'router (to the shard of the run, with the caller''s verist.actor): retire a finished run: return its record as a document, seal it, and remove its rows';

-- The ledger's two hash functions: pure, any shard computes them.
CREATE FUNCTION verist_ledger_genesis(workflow_id text, run_id text)
RETURNS text
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON ANY;
$$;
COMMENT ON FUNCTION verist_ledger_genesis(workflow_id text, run_id text) IS 'router (pure: computed by any shard): the hash a run''s ledger starts from';

CREATE FUNCTION verist_ledger_entry_hash(prev_hash text, events_hash text, entry jsonb)
RETURNS text
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON ANY;
$$;
COMMENT ON FUNCTION verist_ledger_entry_hash(prev_hash text, events_hash text, entry jsonb) IS 'router (pure: computed by any shard): the hash of a ledger entry: hex SHA-256 of the previous hash, the run''s event-chain head and the canonical JSON of the entry';

-- Privileges: as verist 0.4.0's on the shards.
REVOKE ALL ON FUNCTION verist_state_at(text, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_step_input(text, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_state_as_of(text, text, timestamp with time zone) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_run_history(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_export_run(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_retire_run(text, text) FROM PUBLIC;

-- What the router does not forward (verist_proxy_check() skips them on the shards).
CREATE OR REPLACE FUNCTION verist_proxy_unproxied()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '{verist_commit_advance,verist_events_refuse_change,verist_ledger_extend}'::text[] $$;
