/* sql/verist--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION verist UPDATE TO '0.2.0'" to load this file. \quit

--
-- 0.2.0: the tamper-evident event log.  Every existing event gets its
-- per-run sequence number (in id order) and its chained hash, and every run
-- its chain head, exactly as 0.2.0 would have written them; afterwards the
-- database is identical to a fresh 0.2.0 install with the same data.
--
-- Cost: one pass over the events in (workflow_id, run_id, id) order, one
-- UPDATE per event, in the ALTER EXTENSION transaction (which holds an
-- exclusive lock on the tables meanwhile).
--

ALTER TABLE verist_state
    ADD COLUMN chain_seq integer NOT NULL DEFAULT 0,
    ADD COLUMN chain_hash text;
ALTER TABLE verist_events
    ADD COLUMN seq integer,
    ADD COLUMN hash text;

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

-- Chain the existing events.  The append-only guard is lifted for this
-- transaction only: these are the columns being added, not history edited.
ALTER TABLE verist_events DISABLE TRIGGER verist_events_append_only;
DO $$
DECLARE
    e record;
    wf text;
    run text;
    n integer;
    prev text;
BEGIN
    FOR e IN SELECT id, workflow_id, run_id, step_id, type, payload, llm_trace, created_at
             FROM @extschema@.verist_events
             ORDER BY workflow_id, run_id, id
    LOOP
        IF wf IS NULL OR e.workflow_id OPERATOR(pg_catalog.<>) wf
                      OR e.run_id OPERATOR(pg_catalog.<>) run THEN
            wf := e.workflow_id;
            run := e.run_id;
            n := 0;
            prev := @extschema@.verist_chain_genesis(wf, run);
        END IF;
        n := n OPERATOR(pg_catalog.+) 1;
        prev := @extschema@.verist_event_hash(prev, e.workflow_id, e.run_id, e.step_id,
                    e.type, e.payload, e.llm_trace, n, e.created_at);
        UPDATE @extschema@.verist_events SET seq = n, hash = prev
        WHERE id OPERATOR(pg_catalog.=) e.id;
    END LOOP;
END
$$;
ALTER TABLE verist_events ENABLE TRIGGER verist_events_append_only;

-- Each run's head: its genesis, then its last event if it has one.
UPDATE verist_state SET chain_hash = verist_chain_genesis(workflow_id, run_id);
UPDATE verist_state AS s
SET chain_seq = h.seq, chain_hash = h.hash
FROM (SELECT DISTINCT ON (workflow_id, run_id) workflow_id, run_id, seq, hash
      FROM verist_events ORDER BY workflow_id, run_id, seq DESC) AS h
WHERE s.workflow_id OPERATOR(pg_catalog.=) h.workflow_id
  AND s.run_id OPERATOR(pg_catalog.=) h.run_id;

ALTER TABLE verist_state ALTER COLUMN chain_hash SET NOT NULL;
ALTER TABLE verist_events
    ALTER COLUMN seq SET NOT NULL,
    ALTER COLUMN hash SET NOT NULL;

-- Commits extend the chain from now on.
CREATE OR REPLACE FUNCTION verist_commit(
    workflow_id text, run_id text, step_id text,
    expected_version integer, output jsonb,
    events jsonb DEFAULT '[]', commands jsonb DEFAULT '[]')
RETURNS verist_state
AS 'MODULE_PATHNAME', 'verist_commit_chain'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;

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

-- Reading the audit chain and the event log is an auditor's or a consumer's
-- job: granted like the others (README "Roles"); the two hash functions are
-- pure and open to everyone, so anyone can re-derive a hash.
REVOKE ALL ON FUNCTION verist_verify_run(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_verify_all() FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_run_digest(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_read_events(bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_chain_extend(text, integer, text[], text[]) FROM PUBLIC;
