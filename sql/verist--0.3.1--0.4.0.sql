/* sql/verist--0.3.1--0.4.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION verist UPDATE TO '0.4.0'" to load this file. \quit

--
-- 0.4.0: the whole run on the record.  Every existing run gets a ledger whose
-- first entry ("adopt") is the run as this upgrade finds it -- its computed
-- state, overlay, version and blocks, bound to its event-chain head -- so
-- that from now on every change is an entry after it.  What happened before
-- the upgrade is provable only as far as the event chain reaches: the
-- adopted state itself is taken as found (README "Upgrading").
--
-- Cost: one pass over the runs, one ledger row each, in the ALTER EXTENSION
-- transaction.
--

ALTER TABLE verist_state
    ADD COLUMN ledger_seq integer NOT NULL DEFAULT 0,
    ADD COLUMN ledger_hash text;

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

-- A run's outbox rows, all of them: retiring a run counts, exports and
-- removes them (the partial index of deferred rows it replaces served only
-- the resolution of a review).
DROP INDEX verist_outbox_deferred_idx;
CREATE INDEX verist_outbox_run_idx ON verist_outbox (workflow_id, run_id, step_id);

SELECT pg_catalog.pg_extension_config_dump('verist_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('verist_retired', '');

COMMENT ON FUNCTION verist_events_refuse_change() IS
    'trigger: refuses UPDATE, DELETE and TRUNCATE on verist_events, verist_ledger and verist_retired';
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

-- Adopt every existing run: its first ledger entry, hashed as the commit of
-- 0.4.0 would hash it (README "The ledger"), by verist_ledger_entry_hash.
DO $$
DECLARE
    s record;
    blocks jsonb;
    entry jsonb;
    h text;
    t timestamptz := pg_catalog.now();
    ts bigint := (pg_catalog.extract('epoch', pg_catalog.now()) OPERATOR(pg_catalog.*) 1000000)::bigint;
BEGIN
    FOR s IN SELECT st.workflow_id, st.run_id, st.version, st.computed, st.overlay,
                    st.chain_seq, st.chain_hash
             FROM @extschema@.verist_state AS st ORDER BY st.workflow_id, st.run_id
    LOOP
        SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                   'id', b.id, 'stepId', b.step_id, 'type', b.type, 'reason', b.reason,
                   'payload', b.payload, 'resumeStep', b.resume_step,
                   'resolution', b.resolution,
                   'createdAt', (pg_catalog.extract('epoch', b.created_at) OPERATOR(pg_catalog.*) 1000000)::bigint,
                   'resolvedAt', (pg_catalog.extract('epoch', b.resolved_at) OPERATOR(pg_catalog.*) 1000000)::bigint)
                   ORDER BY b.id), '[]'::jsonb)
        INTO blocks
        FROM @extschema@.verist_blocks AS b
        WHERE b.workflow_id OPERATOR(pg_catalog.=) s.workflow_id
          AND b.run_id OPERATOR(pg_catalog.=) s.run_id;
        entry := pg_catalog.jsonb_build_object(
            'actor', NULL,
            'at', pg_catalog.jsonb_build_object('seq', 1, 'version', s.version),
            'block', NULL,
            'change', pg_catalog.jsonb_build_object('blocks', blocks, 'computed', s.computed,
                                                    'overlay', s.overlay, 'version', s.version),
            'input', NULL,
            'kind', 'adopt',
            'role', current_user,
            'runId', s.run_id,
            'sessionRole', session_user,
            'stepId', NULL,
            'ts', ts,
            'workflowId', s.workflow_id);
        h := @extschema@.verist_ledger_entry_hash(
                 @extschema@.verist_ledger_genesis(s.workflow_id, s.run_id), s.chain_hash, entry);
        INSERT INTO @extschema@.verist_ledger
            (workflow_id, run_id, seq, kind, version, change, role, session_role,
             events_seq, events_hash, created_at, hash)
        VALUES (s.workflow_id, s.run_id, 1, 'adopt', s.version, entry OPERATOR(pg_catalog.->) 'change',
                current_user, session_user, s.chain_seq, s.chain_hash, t, h);
        UPDATE @extschema@.verist_state AS st SET ledger_seq = 1, ledger_hash = h
        WHERE st.workflow_id OPERATOR(pg_catalog.=) s.workflow_id
          AND st.run_id OPERATOR(pg_catalog.=) s.run_id;
    END LOOP;
END
$$;
ALTER TABLE verist_state ALTER COLUMN ledger_hash SET NOT NULL;

-- The functions that change or verify a run now keep and check the ledger
-- (same signatures and privileges, new C entry points).
CREATE OR REPLACE FUNCTION verist_commit(
    workflow_id text, run_id text, step_id text,
    expected_version integer, output jsonb,
    events jsonb DEFAULT '[]', commands jsonb DEFAULT '[]')
RETURNS verist_state
AS 'MODULE_PATHNAME', 'verist_commit_ledger'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_commit(text, text, text, integer, jsonb, jsonb, jsonb) IS
    'commit one step of a run: version check, shallow merge of output, events, commands and its ledger entry, all or nothing; an identical retry returns the stored result';

CREATE OR REPLACE FUNCTION verist_set_overlay(workflow_id text, run_id text, patch jsonb)
RETURNS verist_state
AS 'MODULE_PATHNAME', 'verist_set_overlay_ledger'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION verist_set_overlay(text, text, jsonb) IS
    'shallow-merge a patch into the human overlay of a run; version unchanged';

CREATE OR REPLACE FUNCTION verist_resolve_block(workflow_id text, run_id text, resolution jsonb)
RETURNS SETOF verist_blocks
AS 'MODULE_PATHNAME', 'verist_resolve_block_ledger'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER ROWS 1;
COMMENT ON FUNCTION verist_resolve_block(text, text, jsonb) IS
    'resolve the active block of a run: release or reject deferred commands, or queue the resume command';

CREATE OR REPLACE FUNCTION verist_verify_run(
    workflow_id text, run_id text,
    OUT valid boolean, OUT events_checked bigint, OUT first_broken_seq integer, OUT reason text)
RETURNS record
AS 'MODULE_PATHNAME', 'verist_verify_run_ledger'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_verify_run(text, text) IS
    'verify a run: its event hash chain, its ledger, and its state and blocks against the ledger';

CREATE OR REPLACE FUNCTION verist_verify_all(
    OUT workflow_id text, OUT run_id text,
    OUT events_checked bigint, OUT first_broken_seq integer, OUT reason text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'verist_verify_all_ledger'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_verify_all() IS
    'verify every run and the seals of retired runs; returns the broken ones';

CREATE OR REPLACE FUNCTION verist_run_digest(
    workflow_id text, run_id text, OUT seq integer, OUT hash text)
RETURNS record
AS 'MODULE_PATHNAME', 'verist_run_digest_ledger'
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER;
COMMENT ON FUNCTION verist_run_digest(text, text) IS
    'the head of a run''s ledger (last entry and hash; it covers the events too), for anchoring outside the database';

-- The event chain is now extended by verist_commit_advance.
DROP FUNCTION verist_chain_extend(text, integer, text[], text[]);

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
