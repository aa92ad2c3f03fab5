/* sql/verist--0.6.0.sql */

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
    -- 0.4.0: the head of the run's ledger (README "The ledger").
    ledger_seq  integer     NOT NULL DEFAULT 0,
    ledger_hash text        NOT NULL,
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
    -- One array constant rather than an IN list: a CHECK is read back from
    -- its stored text by every statement that writes the table, and six
    -- separate constants cost a commit about 5% (0.3.0).
    CONSTRAINT verist_outbox_status_check CHECK (status OPERATOR(pg_catalog.=) ANY
        ('{pending,deferred,leased,dispatched,rejected,failed}'::text[]))
);
CREATE UNIQUE INDEX verist_outbox_dedupe_idx ON verist_outbox (dedupe_key);
-- Leasing scans only this index, which holds nothing but the rows a
-- dispatcher may still claim: its cost never grows with finished history.
CREATE INDEX verist_outbox_ready_idx ON verist_outbox (id)
    WHERE status IN ('pending', 'leased');
-- A run's rows (0.4.0; before, only its deferred ones were indexed):
-- resolving a review finds the deferred rows of one step, retiring a run
-- counts, exports and removes all of them.
CREATE INDEX verist_outbox_run_idx ON verist_outbox (workflow_id, run_id, step_id);

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
    'trigger: refuses UPDATE, DELETE and TRUNCATE on verist_events, verist_ledger and verist_retired';

CREATE TRIGGER verist_events_append_only
    BEFORE UPDATE OR DELETE ON verist_events
    FOR EACH ROW EXECUTE FUNCTION verist_events_refuse_change();
CREATE TRIGGER verist_events_no_truncate
    BEFORE TRUNCATE ON verist_events
    FOR EACH STATEMENT EXECUTE FUNCTION verist_events_refuse_change();

--
-- The run's ledger (0.4.0): every action that changed a run, in order, with
-- who did it, hash-chained per run and bound to the run's event chain
-- (README "The ledger").  Entries are written only by verist's functions.
--
CREATE TABLE verist_ledger (
    workflow_id  text        NOT NULL,
    run_id       text        NOT NULL,
    seq          integer     NOT NULL,
    kind         text        NOT NULL,
    version      integer     NOT NULL,
    step_id      text,
    block        jsonb,
    change       jsonb,
    input        text,
    role         text        NOT NULL,
    session_role text        NOT NULL,
    actor        text,
    events_seq   integer     NOT NULL,
    events_hash  text        NOT NULL,
    created_at   timestamptz NOT NULL,
    hash         text        NOT NULL,
    CONSTRAINT verist_ledger_pkey PRIMARY KEY (workflow_id, run_id, seq),
    CONSTRAINT verist_ledger_kind_check CHECK (kind OPERATOR(pg_catalog.=) ANY
        ('{commit,overlay,resolve,adopt}'::text[]))
);

-- What is left of a retired run: a seal, chained with every other seal, so
-- that a retired run and a deleted one look different to the verifier.
CREATE TABLE verist_retired (
    seq           bigint      NOT NULL,
    workflow_id   text        NOT NULL,
    run_id        text        NOT NULL,
    version       integer     NOT NULL,
    ledger_seq    integer     NOT NULL,
    ledger_hash   text        NOT NULL,
    events_seq    integer     NOT NULL,
    events_hash   text        NOT NULL,
    document_hash text        NOT NULL,
    role          text        NOT NULL,
    session_role  text        NOT NULL,
    actor         text,
    retired_at    timestamptz NOT NULL,
    hash          text        NOT NULL,
    CONSTRAINT verist_retired_pkey PRIMARY KEY (seq)
);
CREATE INDEX verist_retired_run_idx ON verist_retired (workflow_id, run_id);

SELECT pg_catalog.pg_extension_config_dump('verist_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('verist_retired', '');

-- The ledger and the seals are append-only too (only a retirement removes a
-- run's entries, through the same guard as its events).
CREATE TRIGGER verist_ledger_append_only
    BEFORE UPDATE OR DELETE ON verist_ledger
    FOR EACH ROW EXECUTE FUNCTION verist_events_refuse_change();
CREATE TRIGGER verist_ledger_no_truncate
    BEFORE TRUNCATE ON verist_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION verist_events_refuse_change();
CREATE TRIGGER verist_retired_append_only
    BEFORE UPDATE OR DELETE ON verist_retired
    FOR EACH ROW EXECUTE FUNCTION verist_events_refuse_change();
CREATE TRIGGER verist_retired_no_truncate
    BEFORE TRUNCATE ON verist_retired
    FOR EACH STATEMENT EXECUTE FUNCTION verist_events_refuse_change();

-- Internal: the statements of verist_commit, verist_set_overlay and
-- verist_resolve_block move a run's heads with these (src/ledger.c); not for
-- direct use.
CREATE FUNCTION verist_ledger_extend(
    ledger_hash text, ledger_seq integer, version integer, events_hash text,
    head text, tail text)
RETURNS text
AS 'MODULE_PATHNAME', 'verist_ledger_extend'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION verist_ledger_extend(text, integer, integer, text, text, text) IS
    'internal: a run''s ledger head after one entry given by its canonical content around "at"; used by verist_set_overlay and verist_resolve_block';

CREATE FUNCTION verist_commit_advance(
    events_hash text, events_seq integer, heads text[], tails text[],
    ledger_hash text, ledger_seq integer, version integer, head text, tail text,
    OUT events_hash text, OUT ledger_hash text)
RETURNS record
AS 'MODULE_PATHNAME', 'verist_commit_advance'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION verist_commit_advance(text, integer, text[], text[], text, integer, integer, text, text) IS
    'internal: both heads of a run after a commit (its events, then its ledger entry); used by verist_commit';

CREATE FUNCTION verist_ledger_genesis(workflow_id text, run_id text)
RETURNS text
AS 'MODULE_PATHNAME', 'verist_ledger_genesis'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION verist_ledger_genesis(text, text) IS
    'the hash a run''s ledger starts from';

CREATE FUNCTION verist_ledger_entry_hash(prev_hash text, events_hash text, entry jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'verist_ledger_entry_hash'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION verist_ledger_entry_hash(text, text, jsonb) IS
    'the hash of a ledger entry: hex SHA-256 of the previous hash, the run''s event-chain head and the canonical JSON of the entry';

CREATE FUNCTION verist_state_at(
    workflow_id text, run_id text, version integer,
    OUT version integer, OUT computed jsonb, OUT "overlay" jsonb, OUT effective jsonb,
    OUT ledger_seq integer, OUT at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'verist_state_at'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_state_at(text, text, integer) IS
    'a run as it was right after the commit that produced a version, replayed from its ledger';

CREATE FUNCTION verist_step_input(
    workflow_id text, run_id text, version integer,
    OUT version integer, OUT computed jsonb, OUT "overlay" jsonb, OUT effective jsonb,
    OUT ledger_seq integer, OUT at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'verist_step_input'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_step_input(text, text, integer) IS
    'a run as the commit that produced a version found it (the input of that step), replayed from its ledger';

CREATE FUNCTION verist_state_as_of(
    workflow_id text, run_id text, as_of timestamptz,
    OUT version integer, OUT computed jsonb, OUT "overlay" jsonb, OUT effective jsonb,
    OUT ledger_seq integer, OUT at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'verist_state_as_of'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_state_as_of(text, text, timestamptz) IS
    'a run as it was at a moment, replayed from its ledger';

CREATE FUNCTION verist_run_history(workflow_id text, run_id text)
RETURNS SETOF verist_ledger
AS 'MODULE_PATHNAME', 'verist_run_history'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER ROWS 100;
COMMENT ON FUNCTION verist_run_history(text, text) IS
    'every entry of a run''s ledger, in order: what changed it, who, when, and the hashes';

CREATE FUNCTION verist_export_run(workflow_id text, run_id text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'verist_export_run'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_export_run(text, text) IS
    'a run''s whole record as one self-verifying document (verist-run/1)';

CREATE FUNCTION verist_retire_run(workflow_id text, run_id text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'verist_retire_run'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_retire_run(text, text) IS
    'retire a finished run: return its record as a document, seal it, and remove its rows';

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
AS 'MODULE_PATHNAME', 'verist_commit_ledger'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_commit(text, text, text, integer, jsonb, jsonb, jsonb) IS
    'commit one step of a run: version check, shallow merge of output, events, commands and its ledger entry, all or nothing; an identical retry returns the stored result';

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
AS 'MODULE_PATHNAME', 'verist_set_overlay_ledger'
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
AS 'MODULE_PATHNAME', 'verist_resolve_block_ledger'
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

CREATE FUNCTION verist_verify_run(
    workflow_id text, run_id text,
    OUT valid boolean, OUT events_checked bigint, OUT first_broken_seq integer, OUT reason text)
RETURNS record
AS 'MODULE_PATHNAME', 'verist_verify_run_ledger'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_verify_run(text, text) IS
    'verify a run: its event hash chain, its ledger, and its state and blocks against the ledger';

CREATE FUNCTION verist_verify_all(
    OUT workflow_id text, OUT run_id text,
    OUT events_checked bigint, OUT first_broken_seq integer, OUT reason text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'verist_verify_all_ledger'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_verify_all() IS
    'verify every run and the seals of retired runs; returns the broken ones';

CREATE FUNCTION verist_run_digest(
    workflow_id text, run_id text, OUT seq integer, OUT hash text)
RETURNS record
AS 'MODULE_PATHNAME', 'verist_run_digest_ledger'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_run_digest(text, text) IS
    'the head of a run''s ledger (last entry and hash; it covers the events too), for anchoring outside the database';

CREATE FUNCTION verist_read_events(after_id bigint, max_entries integer)
RETURNS SETOF verist_events
AS 'MODULE_PATHNAME', 'verist_read_events'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER ROWS 100;
COMMENT ON FUNCTION verist_read_events(bigint, integer) IS
    'events with id > after_id in id order, holding back where an older id may still commit';

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
-- verist_purge_outbox.  CALL it outside a transaction block.  In C (0.3.1):
-- it finds verist_purge_outbox in the extension's schema when it runs, so a
-- renamed schema does not break it.
CREATE PROCEDURE verist_purge_outbox_all(
    older_than interval, batch_rows integer DEFAULT 10000, INOUT purged bigint DEFAULT 0)
AS 'MODULE_PATHNAME', 'verist_purge_outbox_all'
LANGUAGE C;
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
-- Dispatch (0.3.0): retries are a dispatcher's job, re-queueing and purging
-- an operator's; the views are for operators (README "Roles").
REVOKE ALL ON FUNCTION verist_mark_retry(bigint, text, text, integer, interval, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_requeue(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_purge_outbox(interval, integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE verist_purge_outbox_all(interval, integer, bigint) FROM PUBLIC;
REVOKE ALL ON verist_outbox_stats, verist_active_blocks, verist_run_summary FROM PUBLIC;
-- The ledger (0.4.0): reading the record is like reading a run; exporting
-- is an auditor's job and retiring an operator's (README "Roles").  The two
-- ledger hash functions are pure and open to everyone.
REVOKE ALL ON FUNCTION verist_ledger_extend(text, integer, integer, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_commit_advance(text, integer, text[], text[], text, integer, integer, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_state_at(text, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_step_input(text, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_state_as_of(text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_run_history(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_export_run(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_retire_run(text, text) FROM PUBLIC;

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
