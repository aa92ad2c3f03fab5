-- What a client computes before it sends a commit, precomputed once on the
-- generator side with verist's own functions (byte-compatible with the
-- TypeScript adapter): the two commands' dedupe keys, the three events'
-- chained hashes (0.2.0 audit chain) and, from 0.4.0, the commit's ledger
-- entry (its input fingerprint and its chained hash), for commits
-- g = 0 .. :G - 1.
--   create path: run 1000000000 + g, step 'extract', events seq 1..3, ledger
--                entry 1 (version 1) chained onto the ledger's genesis
--   update path: run 2000000000 + g % 240 at version v = g / 240 + 1, step
--                v + 1, events seq 3v-2 .. 3v, chained onto the run's head;
--                ledger entry v + 1 (version v + 1) chained onto the run's
--                ledger head, which lib/reset.sql writes (entry 1, version 1)
--                and this file reads back, as a client knows the heads of the
--                run it loaded
-- Each row packs "key1 key2 hash1 hash2 hash3 ledger_hash input"
-- (space-separated), and bench.kc(g) / bench.ku(g) return it: PL/pgSQL keeps
-- the lookup's plan for the session, so fetching costs an index probe and no
-- planning, even when the calling statement is planned every time (pgbench -M
-- extended).
--
-- Fixed values.  The events of the client pattern and the floor carry the
-- client-chosen timestamp bench.data.ts (the event hash covers it); verist's
-- carry now().  Their ledger entries likewise carry created_at = bench.data.ts
-- (the entry hash covers "ts"), and the roles bench.data.role and
-- session_role, 'postgres', the role pgbench and psql connect as (lib/cluster.sh,
-- PGUSER=postgres) and so the current_user and session_user verist_commit
-- records: the entry hash covers "role" and "sessionRole", so a client must
-- know them in advance (scripts/client_*.sql and floor_*.sql write the same
-- literals; lib/digest.sql compares the roles of all three variants).  The
-- actor (verist.actor) is not set: JSON null.
--
-- The input fingerprint of a commit (README "Commits safe to retry") is a
-- SHA-256 of jsonb's binary form of output, events and commands, which no SQL
-- function exposes; it depends only on the step, the expected version and
-- those three values, not on the run.  So it is taken from verist_commit
-- itself: bench.commit_inputs commits one step per (step, version) on a
-- scratch run inside a subtransaction that is rolled back, and keeps the
-- input of each ledger entry (PL/pgSQL variables survive the rollback).
--
-- psql variables: G, cmd1, cmd2, e1type, e1payload, e2type, e2payload,
-- e2trace, e3type, e3payload; output, events and commands for the ledger
-- part (without them, e.g. from profile.sh, each row packs only the first
-- five values, and the verist tables are not touched).
\if :{?output}
\set has_ledger true
\else
\set has_ledger false
\set output ''
\set events ''
\set commands ''
\endif
CREATE SCHEMA bench;
CREATE TABLE bench.data AS
SELECT :'e1type'::text AS e1type, :'e1payload'::jsonb AS e1payload,
       :'e2type'::text AS e2type, :'e2payload'::jsonb AS e2payload, :'e2trace'::jsonb AS e2trace,
       :'e3type'::text AS e3type, :'e3payload'::jsonb AS e3payload,
       :'cmd1'::jsonb AS cmd1, :'cmd2'::jsonb AS cmd2,
       nullif(:'output', '')::jsonb AS output, nullif(:'events', '')::jsonb AS events,
       nullif(:'commands', '')::jsonb AS commands,
       '2025-01-01 00:00:00+00'::timestamptz AS ts,
       'postgres'::text AS role, 'postgres'::text AS session_role;

-- the three chained hashes of one commit's events, after prev
CREATE FUNCTION bench.chain3(prev text, run text, step text, seq0 integer,
                             OUT h1 text, OUT h2 text, OUT h3 text)
LANGUAGE sql STABLE AS $$
    SELECT a.h, b.h, c.h
    FROM bench.data AS d,
         LATERAL (SELECT verist_event_hash(prev, 'bench-wf', run, step, d.e1type, d.e1payload,
                                           NULL, seq0 + 1, d.ts) AS h) AS a,
         LATERAL (SELECT verist_event_hash(a.h, 'bench-wf', run, step, d.e2type, d.e2payload,
                                           d.e2trace, seq0 + 2, d.ts) AS h) AS b,
         LATERAL (SELECT verist_event_hash(b.h, 'bench-wf', run, step, d.e3type, d.e3payload,
                                           NULL, seq0 + 3, d.ts) AS h) AS c
$$;

-- the hash of a commit's ledger entry (README "The ledger", format
-- verist-ledger/1): entry seq at version, the step's output as its change,
-- after prev, bound to the run's event head events_hash.  STRICT: NULL
-- without the ledger part.
CREATE FUNCTION bench.entry_hash(prev text, events_hash text, run text, step text,
                                 seq integer, version integer, input text)
RETURNS text LANGUAGE sql STABLE STRICT AS $$
    SELECT verist_ledger_entry_hash(prev, events_hash, jsonb_build_object(
               'actor', NULL,
               'at', jsonb_build_object('seq', seq, 'version', version),
               'block', NULL, 'change', d.output, 'input', input, 'kind', 'commit',
               'role', d.role, 'runId', run, 'sessionRole', d.session_role, 'stepId', step,
               'ts', (extract(epoch FROM d.ts) * 1000000)::bigint, 'workflowId', 'bench-wf'))
    FROM bench.data AS d
$$;

-- The input fingerprints, by step: 'extract' the create path's commit
-- (expected version 0, with the events and commands); '1' the commit that
-- lib/reset.sql's update runs stand for (expected version 0, no events, no
-- commands); 'k' (k = 2 .. maxv + 1) the update path's commit from version
-- k - 1 to k.
CREATE FUNCTION bench.commit_inputs(maxv integer)
RETURNS TABLE (step text, input text) LANGUAGE plpgsql AS $$
DECLARE
    d bench.data;
    steps text[];
    inputs text[];
BEGIN
    SELECT * INTO d FROM bench.data;
    BEGIN
        PERFORM verist_commit('bench-keys', 'create', 'extract', 0, d.output, d.events, d.commands);
        PERFORM verist_commit('bench-keys', 'update', '1', 0, d.output);
        FOR v IN 1 .. maxv LOOP
            PERFORM verist_commit('bench-keys', 'update', (v + 1)::text, v,
                                  d.output, d.events, d.commands);
        END LOOP;
        SELECT array_agg(l.step_id ORDER BY l.run_id, l.seq), array_agg(l.input ORDER BY l.run_id, l.seq)
        INTO steps, inputs
        FROM verist_ledger AS l WHERE l.workflow_id = 'bench-keys';
        RAISE EXCEPTION 'bench: roll back the scratch commits' USING ERRCODE = 'BK001';
    EXCEPTION WHEN SQLSTATE 'BK001' THEN
        NULL;
    END;
    RETURN QUERY SELECT * FROM unnest(steps, inputs);
END
$$;

CREATE TABLE bench.inputs (
    step text PRIMARY KEY,
    input text NOT NULL
);

\if :has_ledger
-- the 240 update runs at version 1, as every measured run starts; their
-- ledger heads are what the update path's first entries extend
\ir reset.sql
INSERT INTO bench.inputs SELECT * FROM bench.commit_inputs((:G - 1) / 240 + 1);
\endif

CREATE TABLE bench.keys (
    g integer PRIMARY KEY,
    c text NOT NULL,            -- create path
    u text NOT NULL             -- update path
);

WITH RECURSIVE up(g, h1, h2, h3, lh) AS (
    SELECT r, ch.h1, ch.h2, ch.h3,
           bench.entry_hash(s.ledger_hash, ch.h3, (2000000000 + r)::text, '2', 2, 2,
                            (SELECT i.input FROM bench.inputs AS i WHERE i.step = '2'))
    FROM generate_series(0, 239) AS r
         LEFT JOIN verist_state AS s
           ON s.workflow_id = 'bench-wf' AND s.run_id = (2000000000 + r)::text AND s.ledger_seq = 1,
         LATERAL bench.chain3(verist_chain_genesis('bench-wf', (2000000000 + r)::text),
                              (2000000000 + r)::text, '2', 0) AS ch
    UNION ALL
    SELECT n.g, ch.h1, ch.h2, ch.h3,
           bench.entry_hash(up.lh, ch.h3, n.run, n.step, n.v + 1, n.v + 1,
                            (SELECT i.input FROM bench.inputs AS i WHERE i.step = n.step))
    FROM up,
         LATERAL (SELECT up.g + 240 AS g, (2000000000 + (up.g + 240) % 240)::text AS run,
                         ((up.g + 240) / 240 + 2)::text AS step,
                         (up.g + 240) / 240 + 1 AS v) AS n,
         LATERAL bench.chain3(up.h3, n.run, n.step, 3 * (n.v - 1)) AS ch
    WHERE n.g < :G
), cr AS (
    SELECT g, ch.h1, ch.h2, ch.h3,
           bench.entry_hash(verist_ledger_genesis('bench-wf', (1000000000 + g)::text), ch.h3,
                            (1000000000 + g)::text, 'extract', 1, 1,
                            (SELECT i.input FROM bench.inputs AS i WHERE i.step = 'extract')) AS lh
    FROM generate_series(0, :G - 1) AS g,
         LATERAL bench.chain3(verist_chain_genesis('bench-wf', (1000000000 + g)::text),
                              (1000000000 + g)::text, 'extract', 0) AS ch
)
INSERT INTO bench.keys
SELECT cr.g,
       concat_ws(' ', verist_dedupe_key('bench-wf', (1000000000 + cr.g)::text, 'extract', d.cmd1),
                      verist_dedupe_key('bench-wf', (1000000000 + cr.g)::text, 'extract', d.cmd2),
                      cr.h1, cr.h2, cr.h3, cr.lh,
                      (SELECT i.input FROM bench.inputs AS i WHERE i.step = 'extract')),
       concat_ws(' ', verist_dedupe_key('bench-wf', (2000000000 + up.g % 240)::text, (up.g / 240 + 2)::text, d.cmd1),
                      verist_dedupe_key('bench-wf', (2000000000 + up.g % 240)::text, (up.g / 240 + 2)::text, d.cmd2),
                      up.h1, up.h2, up.h3, up.lh,
                      (SELECT i.input FROM bench.inputs AS i WHERE i.step = (up.g / 240 + 2)::text))
FROM cr JOIN up USING (g), bench.data AS d;
VACUUM ANALYZE bench.keys;

CREATE FUNCTION bench.kc(g integer) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text;
BEGIN
    SELECT k.c INTO v FROM bench.keys AS k WHERE k.g = kc.g;
    RETURN v;
END
$$;

CREATE FUNCTION bench.ku(g integer) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text;
BEGIN
    SELECT k.u INTO v FROM bench.keys AS k WHERE k.g = ku.g;
    RETURN v;
END
$$;
