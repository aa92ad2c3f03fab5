/* sql/verist--0.2.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION verist" to load this file. \quit

--
-- Tables.  Names and columns are those of the TypeScript adapter
-- (@verist/storage-pg), so queries written against its schema keep working.
--

CREATE TABLE verist_state (
    workflow_id text        NOT NULL,
    run_id      text        NOT NULL,
    version     integer     NOT NULL,
    computed    jsonb       NOT NULL DEFAULT '{}',
    overlay     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- 0.2.0: the head of the run's event hash chain (README "Audit chain"),
    -- kept here so that a commit extends the chain without reading events.
    chain_seq   integer     NOT NULL DEFAULT 0,
    chain_hash  text        NOT NULL,
    CONSTRAINT verist_state_pkey PRIMARY KEY (workflow_id, run_id)
);

CREATE TABLE verist_events (
    id          bigserial   NOT NULL,
    workflow_id text        NOT NULL,
    run_id      text        NOT NULL,
    step_id     text        NOT NULL,
    type        text        NOT NULL,
    payload     jsonb,
    llm_trace   jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- 0.2.0: gapless per-run sequence number and chained hash of the event.
    seq         integer     NOT NULL,
    hash        text        NOT NULL,
    CONSTRAINT verist_events_pkey PRIMARY KEY (id)
);
CREATE INDEX verist_events_run_idx ON verist_events (workflow_id, run_id);

CREATE TABLE verist_outbox (
    id               bigserial   NOT NULL,
    workflow_id      text        NOT NULL,
    run_id           text        NOT NULL,
    step_id          text        NOT NULL,
    command          jsonb       NOT NULL,
    dedupe_key       text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending',
    lease_owner      text,
    lease_expires_at timestamptz,
    failures         integer     NOT NULL DEFAULT 0,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    dispatched_at    timestamptz,
    CONSTRAINT verist_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT verist_outbox_status_check CHECK (status IN
        ('pending', 'deferred', 'leased', 'dispatched', 'rejected', 'failed'))
);
CREATE UNIQUE INDEX verist_outbox_dedupe_idx ON verist_outbox (dedupe_key);
-- Leasing scans only this index, which holds nothing but the rows a
-- dispatcher may still claim: its cost never grows with finished history.
CREATE INDEX verist_outbox_ready_idx ON verist_outbox (id)
    WHERE status IN ('pending', 'leased');
-- Resolving a review finds the deferred rows of one run and step.
CREATE INDEX verist_outbox_deferred_idx ON verist_outbox (workflow_id, run_id, step_id)
    WHERE status = 'deferred';

CREATE TABLE verist_blocks (
    id          bigserial   NOT NULL,
    workflow_id text        NOT NULL,
    run_id      text        NOT NULL,
    step_id     text        NOT NULL,
    type        text        NOT NULL,
    reason      text        NOT NULL,
    payload     jsonb,
    resume_step text,
    resolution  jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    CONSTRAINT verist_blocks_pkey PRIMARY KEY (id),
    CONSTRAINT verist_blocks_type_check CHECK (type IN ('review', 'suspend'))
);
CREATE UNIQUE INDEX verist_blocks_active_idx ON verist_blocks (workflow_id, run_id)
    WHERE resolved_at IS NULL;
CREATE INDEX verist_blocks_run_idx ON verist_blocks (workflow_id, run_id);

-- pg_dump skips extension tables unless told otherwise: keep every run.
SELECT pg_catalog.pg_extension_config_dump('verist_state', '');
SELECT pg_catalog.pg_extension_config_dump('verist_events', '');
SELECT pg_catalog.pg_extension_config_dump('verist_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('verist_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('verist_outbox_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('verist_blocks', '');
SELECT pg_catalog.pg_extension_config_dump('verist_blocks_id_seq', '');

--
-- The event log is append-only, and the database says so.
--

CREATE FUNCTION verist_events_refuse_change()
RETURNS trigger
AS 'MODULE_PATHNAME', 'verist_events_refuse_change'
LANGUAGE C;
COMMENT ON FUNCTION verist_events_refuse_change() IS
    'trigger: refuses UPDATE, DELETE and TRUNCATE on verist_events';

CREATE TRIGGER verist_events_append_only
    BEFORE UPDATE OR DELETE ON verist_events
    FOR EACH ROW EXECUTE FUNCTION verist_events_refuse_change();
CREATE TRIGGER verist_events_no_truncate
    BEFORE TRUNCATE ON verist_events
    FOR EACH STATEMENT EXECUTE FUNCTION verist_events_refuse_change();

--
-- Functions.  None is STRICT: a NULL required argument is an error, never a
-- silent NULL result.  Those that write run as the extension owner
-- (SECURITY DEFINER), so an application role needs EXECUTE and nothing else;
-- every query they run names its objects with this schema and pg_catalog,
-- so no caller's search_path can redirect them.
--

CREATE FUNCTION verist_commit(
    workflow_id text, run_id text, step_id text,
    expected_version integer, output jsonb,
    events jsonb DEFAULT '[]', commands jsonb DEFAULT '[]')
RETURNS verist_state
AS 'MODULE_PATHNAME', 'verist_commit_chain'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_commit(text, text, text, integer, jsonb, jsonb, jsonb) IS
    'commit one step of a run: version check, shallow merge of output, events and commands, all or nothing';

CREATE FUNCTION verist_load(workflow_id text, run_id text)
RETURNS SETOF verist_state
AS 'MODULE_PATHNAME', 'verist_load'
LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER ROWS 1;
COMMENT ON FUNCTION verist_load(text, text) IS
    'the state row of a run (0 or 1 rows)';

CREATE FUNCTION verist_effective_state(workflow_id text, run_id text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'verist_effective_state'
LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_effective_state(text, text) IS
    'computed || overlay of a run, or NULL when the run does not exist';

CREATE FUNCTION verist_set_overlay(workflow_id text, run_id text, patch jsonb)
RETURNS verist_state
AS 'MODULE_PATHNAME', 'verist_set_overlay'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_set_overlay(text, text, jsonb) IS
    'shallow-merge a patch into the human overlay of a run; version unchanged';

CREATE FUNCTION verist_get_block(workflow_id text, run_id text)
RETURNS SETOF verist_blocks
AS 'MODULE_PATHNAME', 'verist_get_block'
LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER ROWS 1;
COMMENT ON FUNCTION verist_get_block(text, text) IS
    'the active (unresolved) block of a run (0 or 1 rows)';

CREATE FUNCTION verist_resolve_block(workflow_id text, run_id text, resolution jsonb)
RETURNS SETOF verist_blocks
AS 'MODULE_PATHNAME', 'verist_resolve_block'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER ROWS 1;
COMMENT ON FUNCTION verist_resolve_block(text, text, jsonb) IS
    'resolve the active block of a run: release or reject deferred commands, or queue the resume command';

CREATE FUNCTION verist_lease_outbox(
    lease_owner text, max_entries integer,
    lease_duration interval DEFAULT '30 seconds')
RETURNS SETOF verist_outbox
AS 'MODULE_PATHNAME', 'verist_lease_outbox'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER ROWS 10;
COMMENT ON FUNCTION verist_lease_outbox(text, integer, interval) IS
    'claim up to max_entries pending (or expired) outbox rows, oldest first, skipping rows other sessions hold';

CREATE FUNCTION verist_mark_dispatched(outbox_id bigint, lease_owner text)
RETURNS void
AS 'MODULE_PATHNAME', 'verist_mark_dispatched'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_mark_dispatched(bigint, text) IS
    'finalise a leased outbox row as dispatched; only its lease owner may';

CREATE FUNCTION verist_mark_failed(outbox_id bigint, lease_owner text, error text)
RETURNS void
AS 'MODULE_PATHNAME', 'verist_mark_failed'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_mark_failed(bigint, text, text) IS
    'finalise a leased outbox row as failed, recording the error; only its lease owner may';

CREATE FUNCTION verist_mark_dispatched_batch(outbox_ids bigint[], lease_owner text)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'verist_mark_dispatched_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_mark_dispatched_batch(bigint[], text) IS
    'finalise every listed row the owner currently leases as dispatched; returns their ids';

CREATE FUNCTION verist_dedupe_key(workflow_id text, run_id text, step_id text, command jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'verist_dedupe_key'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION verist_dedupe_key(text, text, text, jsonb) IS
    'the outbox dedupe key of a command: hex SHA-256 of its canonical JSON, byte-compatible with the TypeScript adapter';

CREATE FUNCTION verist_canonical_json(value jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'verist_canonical_json'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION verist_canonical_json(jsonb) IS
    'canonical JSON text of a value, as JSON.stringify prints it with every object''s keys sorted';

--
-- The audit chain (0.2.0): verification, digests and gap-free reading.
--

CREATE FUNCTION verist_chain_genesis(workflow_id text, run_id text)
RETURNS text
AS 'MODULE_PATHNAME', 'verist_chain_genesis'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION verist_chain_genesis(text, text) IS
    'the hash a run''s event chain starts from';

CREATE FUNCTION verist_event_hash(
    prev_hash text, workflow_id text, run_id text, step_id text, type text,
    payload jsonb, llm_trace jsonb, seq integer, created_at timestamptz)
RETURNS text
AS 'MODULE_PATHNAME', 'verist_event_hash'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION verist_event_hash(text, text, text, text, text, jsonb, jsonb, integer, timestamptz) IS
    'the chained hash of one event: hex SHA-256 of prev_hash and the canonical JSON of the event';

-- Internal: verist_commit moves a run's chain head inside its state UPDATE
-- with this (src/chain.c); not for direct use.
CREATE FUNCTION verist_chain_extend(prev_hash text, prev_seq integer, heads text[], tails text[])
RETURNS text
AS 'MODULE_PATHNAME', 'verist_chain_extend'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION verist_chain_extend(text, integer, text[], text[]) IS
    'internal: the chain head after events given by their canonical content around their sequence numbers; used by verist_commit';

CREATE FUNCTION verist_verify_run(
    workflow_id text, run_id text,
    OUT valid boolean, OUT events_checked bigint, OUT first_broken_seq integer, OUT reason text)
RETURNS record
AS 'MODULE_PATHNAME', 'verist_verify_run'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_verify_run(text, text) IS
    'recompute the event hash chain of a run and compare it with the stored hashes and chain head';

CREATE FUNCTION verist_verify_all(
    OUT workflow_id text, OUT run_id text,
    OUT events_checked bigint, OUT first_broken_seq integer, OUT reason text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'verist_verify_all'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_verify_all() IS
    'verify the event hash chain of every run; returns the broken runs';

CREATE FUNCTION verist_run_digest(
    workflow_id text, run_id text, OUT seq integer, OUT hash text)
RETURNS record
AS 'MODULE_PATHNAME', 'verist_run_digest'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_run_digest(text, text) IS
    'the head of a run''s event hash chain (last sequence and hash), for anchoring outside the database';

CREATE FUNCTION verist_read_events(after_id bigint, max_entries integer)
RETURNS SETOF verist_events
AS 'MODULE_PATHNAME', 'verist_read_events'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER ROWS 100;
COMMENT ON FUNCTION verist_read_events(bigint, integer) IS
    'events with id > after_id in id order, holding back where an older id may still commit';

--
-- Privileges.  The functions that read or write runs act as the extension
-- owner, so who may call them is the administrator's decision: grant EXECUTE
-- to the roles that run steps, dispatch or review (README: "Roles").
-- The two pure functions touch no table and stay open to everyone.
--
REVOKE ALL ON FUNCTION verist_commit(text, text, text, integer, jsonb, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_load(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_effective_state(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_set_overlay(text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_get_block(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_resolve_block(text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_lease_outbox(text, integer, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_mark_dispatched(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_mark_failed(bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_mark_dispatched_batch(bigint[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_events_refuse_change() FROM PUBLIC;
-- Reading the audit chain and the event log is an auditor's or a consumer's
-- job: granted like the others (README "Roles"); the two hash functions are
-- pure and open to everyone, so anyone can re-derive a hash.
REVOKE ALL ON FUNCTION verist_verify_run(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_verify_all() FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_run_digest(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_read_events(bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_chain_extend(text, integer, text[], text[]) FROM PUBLIC;
