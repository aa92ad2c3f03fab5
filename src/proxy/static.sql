--
-- Part 1 (hand-written, src/proxy/static.sql): the cluster's configuration,
-- the routing functions every client can reproduce, and administration.
--

-- Shards are numbered 1, 2, 3, ... without gaps (a shard is never removed: a
-- drained one keeps its number while any outbox id of its range is alive).
-- connstr is what PL/Proxy connects with: normally a PgBouncer database in
-- transaction mode in front of the shard's primary.
CREATE TABLE verist_proxy_shards (
    shard   integer NOT NULL PRIMARY KEY CHECK (shard >= 1 AND shard < 32768),
    connstr text    NOT NULL
);

-- Virtual partitions: a run's partition is fixed for ever by the hash of
-- (workflow_id, run_id); which shard holds a partition is this table's row.
-- Adding a shard moves partitions (their runs) to it.  "moving" refuses the
-- partition's calls (VRP01, retry) while its runs are being copied.
CREATE TABLE verist_proxy_partitions (
    part   integer NOT NULL PRIMARY KEY CHECK (part >= 0),
    shard  integer NOT NULL REFERENCES verist_proxy_shards,
    moving boolean NOT NULL DEFAULT false
);

-- One row: the number of virtual partitions, fixed when the cluster is made.
CREATE TABLE verist_proxy_config (
    one        boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (one),
    partitions integer NOT NULL CHECK (partitions BETWEEN 1 AND 65536)
);

SELECT pg_catalog.pg_extension_config_dump('verist_proxy_shards', '');
SELECT pg_catalog.pg_extension_config_dump('verist_proxy_partitions', '');
SELECT pg_catalog.pg_extension_config_dump('verist_proxy_config', '');

-- The documented hash (README "Scaling out and failover"): the first four
-- bytes, big-endian, of SHA-256 over the UTF-8 bytes of workflow_id, one zero
-- byte, and the UTF-8 bytes of run_id.  A zero byte cannot occur in text, so
-- no two runs share an input.  Any client computes the same in a few lines.
CREATE FUNCTION verist_proxy_hash(workflow_id text, run_id text)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT ('x' || pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(
            pg_catalog.convert_to($1, 'UTF8') || '\x00'::bytea || pg_catalog.convert_to($2, 'UTF8')),
        'hex'), 8))::bit(32)::bigint
$$;
COMMENT ON FUNCTION verist_proxy_hash(text, text) IS
    'unsigned 32-bit hash of a run: first 4 bytes (big-endian) of sha256(utf8(workflow_id) || 0x00 || utf8(run_id))';

-- A run's virtual partition: hash mod the number of partitions.
CREATE FUNCTION verist_proxy_partition(workflow_id text, run_id text)
RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT (@extschema@.verist_proxy_hash($1, $2) % c.partitions)::integer
FROM @extschema@.verist_proxy_config c
$$;
COMMENT ON FUNCTION verist_proxy_partition(text, text) IS
    'the virtual partition of a run: verist_proxy_hash mod the number of partitions';

-- The shard that holds a run, and the shard an id names.
CREATE FUNCTION verist_proxy_shard_of_run(workflow_id text, run_id text)
RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT p.shard FROM @extschema@.verist_proxy_partitions p
WHERE p.part = @extschema@.verist_proxy_partition($1, $2)
$$;
COMMENT ON FUNCTION verist_proxy_shard_of_run(text, text) IS
    'the shard that holds a run now (its partition''s row)';

-- An outbox (or event, or block) id names its shard in its top 15 bits: shard
-- k allocates ids above k * 2^48.  Ids below 2^48 are shard 1's (a database
-- that served alone before it became shard 1); an id that names no shard is
-- sent to shard 1 too, which answers for it as for any id it does not hold
-- (lease_mismatch, not_found, or nothing).
CREATE FUNCTION verist_proxy_shard_of_id(id bigint)
RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT coalesce((SELECT s.shard FROM @extschema@.verist_proxy_shards s
                 WHERE s.shard = ($1 >> 48)), 1)
$$;
COMMENT ON FUNCTION verist_proxy_shard_of_id(bigint) IS
    'the shard an id names (id >> 48; ids of no known shard go to shard 1)';

-- PL/Proxy's slots (modular_mapping): 0 .. P-1 are the virtual partitions,
-- P + k - 1 is shard k itself.  Each slot's connection string is its shard's,
-- and PL/Proxy keeps one connection per distinct string, so RUN ON ALL runs
-- once per shard.  PL/pgSQL keeps these plans for the session.
CREATE FUNCTION verist_proxy_run_slot(workflow_id text, run_id text)
RETURNS integer
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    parts integer;
    p integer;
    m boolean;
BEGIN
    IF workflow_id IS NULL OR run_id IS NULL THEN
        RETURN 0;              -- any shard refuses the NULL itself (VRS01)
    END IF;
    -- verist_proxy_partition() written out so that every plan here stays
    -- generic: a query with the hash inside would be planned anew at every
    -- call (its constant-folded custom plan always looks cheaper)
    SELECT c.partitions INTO parts FROM @extschema@.verist_proxy_config c;
    IF parts IS NULL THEN
        RAISE EXCEPTION 'verist_proxy is not configured'
            USING ERRCODE = 'VRP02', HINT = 'Run verist_proxy_init() on the router.';
    END IF;
    p := (@extschema@.verist_proxy_hash(workflow_id, run_id) % parts)::integer;
    SELECT pp.moving INTO m FROM @extschema@.verist_proxy_partitions pp WHERE pp.part = p;
    IF m THEN
        RAISE EXCEPTION 'partition % is being moved to another shard', p
            USING ERRCODE = 'VRP01', HINT = 'Retry the call in a moment: nothing was done.';
    END IF;
    RETURN p;
END
$$;
COMMENT ON FUNCTION verist_proxy_run_slot(text, text) IS
    'PL/Proxy slot of a run: its virtual partition (VRP01 while the partition moves)';

CREATE FUNCTION verist_proxy_id_slot(id bigint)
RETURNS integer
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    slot integer;
BEGIN
    -- verist_proxy_shard_of_id() written out: P + k - 1
    SELECT c.partitions + coalesce((SELECT s.shard FROM @extschema@.verist_proxy_shards s
                                    WHERE s.shard = (id >> 48)), 1) - 1
      INTO slot FROM @extschema@.verist_proxy_config c;
    IF slot IS NULL THEN
        RAISE EXCEPTION 'verist_proxy is not configured'
            USING ERRCODE = 'VRP02', HINT = 'Run verist_proxy_init() on the router.';
    END IF;
    RETURN slot;
END
$$;
COMMENT ON FUNCTION verist_proxy_id_slot(bigint) IS
    'PL/Proxy slot of the shard an id names';

CREATE FUNCTION verist_proxy_shard_slot(shard integer)
RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT c.partitions + $1 - 1 FROM @extschema@.verist_proxy_config c
$$;
COMMENT ON FUNCTION verist_proxy_shard_slot(integer) IS
    'PL/Proxy slot of shard k';

-- The foreign server PL/Proxy reads is a copy of the two tables above:
-- p0 .. p(P-1) for the partitions, p(P + k - 1) for shard k.  One ALTER
-- SERVER; every router session reloads the cluster at its next call.
CREATE FUNCTION verist_proxy_apply()
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    want jsonb;
    have jsonb := '{}';
    opts text[] := '{}';
    k text;
    v text;
    parts integer;
BEGIN
    SELECT c.partitions INTO parts FROM @extschema@.verist_proxy_config c;
    SELECT pg_catalog.jsonb_object_agg(x.name, x.connstr) INTO want FROM (
        SELECT 'p' || p.part AS name, s.connstr
        FROM @extschema@.verist_proxy_partitions p JOIN @extschema@.verist_proxy_shards s USING (shard)
        UNION ALL
        SELECT 'p' || (parts + s.shard - 1), s.connstr
        FROM @extschema@.verist_proxy_shards s) x;
    want := want || '{"modular_mapping": "1"}';
    SELECT coalesce(pg_catalog.jsonb_object_agg(o.option_name, o.option_value), '{}') INTO have
    FROM pg_catalog.pg_options_to_table(
        (SELECT srvoptions FROM pg_catalog.pg_foreign_server WHERE srvname = 'verist_cluster')) o;
    FOR k, v IN SELECT key, value FROM pg_catalog.jsonb_each_text(want) LOOP
        IF NOT have ? k THEN
            opts := opts || pg_catalog.format('ADD %I %L', k, v);
        ELSIF have->>k IS DISTINCT FROM v THEN
            opts := opts || pg_catalog.format('SET %I %L', k, v);
        END IF;
    END LOOP;
    FOR k IN SELECT key FROM pg_catalog.jsonb_object_keys(have) AS key LOOP
        IF NOT want ? k THEN
            opts := opts || pg_catalog.format('DROP %I', k);
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(opts) > 0 THEN
        EXECUTE 'ALTER SERVER verist_cluster OPTIONS (' ||
                pg_catalog.array_to_string(opts, ', ') || ')';
    END IF;
    RETURN pg_catalog.cardinality(opts);
END
$$;
COMMENT ON FUNCTION verist_proxy_apply() IS
    'write the shards and partitions tables into the foreign server verist_cluster; returns the number of options changed';

-- What a shard's three sequences hold, and the ids its tables use.
CREATE FUNCTION verist_proxy_remote_ranges(connstr text,
    OUT seq text, OUT last_value bigint, OUT min_id bigint, OUT max_id bigint)
RETURNS SETOF record
LANGUAGE plproxy
AS $$
    CONNECT connstr;
    SELECT 'verist_outbox_id_seq'::text AS seq, s.last_value,
           (SELECT pg_catalog.min(t.id) FROM @extschema@.verist_outbox t) AS min_id,
           (SELECT pg_catalog.max(t.id) FROM @extschema@.verist_outbox t) AS max_id
      FROM @extschema@.verist_outbox_id_seq s
    UNION ALL
    SELECT 'verist_events_id_seq', s.last_value,
           (SELECT pg_catalog.min(t.id) FROM @extschema@.verist_events t),
           (SELECT pg_catalog.max(t.id) FROM @extschema@.verist_events t)
      FROM @extschema@.verist_events_id_seq s
    UNION ALL
    SELECT 'verist_blocks_id_seq', s.last_value,
           (SELECT pg_catalog.min(t.id) FROM @extschema@.verist_blocks t),
           (SELECT pg_catalog.max(t.id) FROM @extschema@.verist_blocks t)
      FROM @extschema@.verist_blocks_id_seq s;
$$;
COMMENT ON FUNCTION verist_proxy_remote_ranges(text) IS
    'internal: a shard''s sequence positions and id extremes';

CREATE FUNCTION verist_proxy_remote_setval(connstr text, seq text, value bigint)
RETURNS bigint
LANGUAGE plproxy
AS $$
    CONNECT connstr;
    SELECT pg_catalog.setval(('@extschema@.' || seq)::pg_catalog.regclass, value, true) AS r;
$$;
COMMENT ON FUNCTION verist_proxy_remote_setval(text, text, bigint) IS
    'internal: move a shard''s sequence into its range';

-- Put shard k's three sequences into k's range (ids from k * 2^48 + 1 up).
-- A sequence already in the range is left alone.  Shard 1 may hold ids below
-- 2^48 (it served alone before); any other shard must not hold ids outside
-- its range, and no shard may have allocated ids in another shard's range.
CREATE FUNCTION verist_proxy_prepare_shard(shard integer)
RETURNS TABLE (seq text, last_value bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    cs text;
    r record;
    lo bigint := shard::bigint << 48;
    hi bigint := ((shard::bigint + 1) << 48) - 1;
BEGIN
    SELECT s.connstr INTO cs FROM @extschema@.verist_proxy_shards s WHERE s.shard = $1;
    IF cs IS NULL THEN
        RAISE EXCEPTION 'shard % is not in verist_proxy_shards', $1 USING ERRCODE = 'VRP02';
    END IF;
    FOR r IN SELECT * FROM @extschema@.verist_proxy_remote_ranges(cs) LOOP
        seq := r.seq;
        IF r.max_id > hi OR (r.min_id < lo AND (shard > 1 OR r.min_id >= (1::bigint << 48))) THEN
            RAISE EXCEPTION 'shard % holds ids outside its range in %: % .. %', shard,
                pg_catalog.replace(r.seq, '_id_seq', ''), r.min_id, r.max_id
                USING ERRCODE = 'VRP02',
                      HINT = 'A database that already holds runs can only become shard 1.';
        END IF;
        IF r.last_value BETWEEN lo AND hi THEN
            last_value := r.last_value;
        ELSIF r.last_value > hi OR (r.last_value >= (1::bigint << 48) AND r.last_value < lo) THEN
            RAISE EXCEPTION 'sequence % of shard % is at %, in another shard''s range', r.seq, shard, r.last_value
                USING ERRCODE = 'VRP02';
        ELSE
            last_value := @extschema@.verist_proxy_remote_setval(cs, r.seq, lo);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION verist_proxy_prepare_shard(integer) IS
    'put a shard''s outbox, events and blocks sequences into its id range (k * 2^48 + 1 ...)';

-- Make the cluster: P virtual partitions over the given shards (partition i
-- on shard i mod S + 1), the foreign server, a user mapping for PUBLIC (each
-- router role connects to the shards as itself), and the shards' id ranges.
CREATE FUNCTION verist_proxy_init(shards text[], partitions integer DEFAULT 1024)
RETURNS TABLE (shard integer, partitions_held bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    n integer := pg_catalog.cardinality(shards);
BEGIN
    IF n IS NULL OR n < 1 THEN
        RAISE EXCEPTION 'verist_proxy_init needs at least one shard connection string' USING ERRCODE = '22023';
    END IF;
    IF partitions < n THEN
        RAISE EXCEPTION 'more shards (%) than partitions (%)', n, partitions USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT FROM @extschema@.verist_proxy_config) THEN
        RAISE EXCEPTION 'verist_proxy is already configured'
            USING ERRCODE = 'VRP02', HINT = 'Add shards with verist_proxy_add_shard().';
    END IF;
    INSERT INTO @extschema@.verist_proxy_config (partitions) VALUES (partitions);
    INSERT INTO @extschema@.verist_proxy_shards (shard, connstr)
        SELECT i, shards[i] FROM pg_catalog.generate_series(1, n) i;
    INSERT INTO @extschema@.verist_proxy_partitions (part, shard)
        SELECT p, p % n + 1 FROM pg_catalog.generate_series(0, partitions - 1) p;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_foreign_server WHERE srvname = 'verist_cluster') THEN
        EXECUTE pg_catalog.format('CREATE SERVER verist_cluster FOREIGN DATA WRAPPER plproxy OPTIONS (modular_mapping %L, p0 %L)',
                                  '1', shards[1]);
        CREATE USER MAPPING FOR PUBLIC SERVER verist_cluster;
        GRANT USAGE ON FOREIGN SERVER verist_cluster TO PUBLIC;
    END IF;
    PERFORM @extschema@.verist_proxy_apply();
    FOR i IN 1 .. n LOOP
        PERFORM @extschema@.verist_proxy_prepare_shard(i);
    END LOOP;
    RETURN QUERY SELECT p.shard, pg_catalog.count(*) FROM @extschema@.verist_proxy_partitions p
                 GROUP BY p.shard ORDER BY p.shard;
END
$$;
COMMENT ON FUNCTION verist_proxy_init(text[], integer) IS
    'make the cluster: partitions over the shards, the foreign server verist_cluster, the shards'' id ranges';

-- A new shard, holding no partition yet: its number is the next one.
CREATE FUNCTION verist_proxy_add_shard(connstr text)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    k integer;
BEGIN
    SELECT coalesce(pg_catalog.max(s.shard), 0) + 1 INTO k FROM @extschema@.verist_proxy_shards s;
    INSERT INTO @extschema@.verist_proxy_shards (shard, connstr) VALUES (k, connstr);
    PERFORM @extschema@.verist_proxy_prepare_shard(k);
    PERFORM @extschema@.verist_proxy_apply();
    RETURN k;
END
$$;
COMMENT ON FUNCTION verist_proxy_add_shard(text) IS
    'add a shard (next number, its id range prepared); it holds no partition until partitions move to it';

-- Point a shard at another server (a promoted standby, another PgBouncer).
CREATE FUNCTION verist_proxy_set_connstr(shard integer, connstr text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE @extschema@.verist_proxy_shards s SET connstr = $2 WHERE s.shard = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no shard %', $1 USING ERRCODE = 'VRP02';
    END IF;
    PERFORM @extschema@.verist_proxy_apply();
END
$$;
COMMENT ON FUNCTION verist_proxy_set_connstr(integer, text) IS
    'change the connection string of a shard (failover to another server)';

-- Moving a partition (src/proxy/move_partition.py does all of it): freeze,
-- copy its runs, assign, unfreeze.  The flag and the assignment are the
-- router's part.
CREATE FUNCTION verist_proxy_set_moving(part integer, moving boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE @extschema@.verist_proxy_partitions p SET moving = $2 WHERE p.part = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no partition %', $1 USING ERRCODE = 'VRP02';
    END IF;
END
$$;
COMMENT ON FUNCTION verist_proxy_set_moving(integer, boolean) IS
    'refuse (true) or admit (false) calls for the runs of a partition while it moves';

CREATE FUNCTION verist_proxy_assign(part integer, shard integer)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE @extschema@.verist_proxy_partitions p SET shard = $2 WHERE p.part = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no partition %', $1 USING ERRCODE = 'VRP02';
    END IF;
    PERFORM @extschema@.verist_proxy_apply();
END
$$;
COMMENT ON FUNCTION verist_proxy_assign(integer, integer) IS
    'record that a partition''s runs now live on another shard (after they were copied there)';

-- A shard's verist as the router must mirror it: its version, the columns
-- of its tables and views, and the signature of every routine.  Types are
-- printed without the extension's schema, on both sides.
CREATE FUNCTION verist_proxy_remote_catalog(connstr text, OUT kind text, OUT name text, OUT detail text)
RETURNS SETOF record
LANGUAGE plproxy
AS $$
    CONNECT connstr;
    SELECT 'version'::text AS kind, 'verist'::text AS name, e.extversion::text AS detail
      FROM pg_catalog.pg_extension e WHERE e.extname = 'verist'
    UNION ALL
    SELECT 'column', c.relname::text,
           a.attnum || ' ' || a.attname || ' '
           || pg_catalog.replace(pg_catalog.format_type(a.atttypid, a.atttypmod), '@extschema@.', '')
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'verist'
      JOIN pg_catalog.pg_class c ON c.oid = d.objid AND c.relkind IN ('r', 'v')
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
    UNION ALL
    SELECT 'routine', p.proname::text,
           pg_catalog.replace(pg_catalog.pg_get_function_arguments(p.oid) || ' -> '
               || coalesce(pg_catalog.pg_get_function_result(p.oid), 'procedure'), '@extschema@.', '')
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'verist'
      JOIN pg_catalog.pg_proc p ON p.oid = d.objid
     WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e';
$$;
COMMENT ON FUNCTION verist_proxy_remote_catalog(text) IS
    'internal: a shard''s verist version, table and view columns, and routine signatures';

-- The same of the router: its composite types and views stand for the
-- shards' tables and views, its proxied routines for verist's.
CREATE FUNCTION verist_proxy_local_catalog(OUT kind text, OUT name text, OUT detail text)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = @extschema@, pg_catalog
AS $$
    SELECT 'version'::text, 'verist'::text, e.extversion::text
      FROM pg_catalog.pg_extension e WHERE e.extname = 'verist_proxy'
    UNION ALL
    SELECT 'column', c.relname::text,
           a.attnum || ' ' || a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'verist_proxy'
      JOIN pg_catalog.pg_class c ON (d.classid = 'pg_catalog.pg_class'::regclass AND c.oid = d.objid AND c.relkind = 'v')
                                 OR (d.classid = 'pg_catalog.pg_type'::regclass
                                     AND c.oid = (SELECT t.typrelid FROM pg_catalog.pg_type t WHERE t.oid = d.objid))
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
       AND c.relname NOT LIKE 'verist\_proxy\_%'
    UNION ALL
    SELECT 'routine', p.proname::text,
           pg_catalog.pg_get_function_arguments(p.oid) || ' -> '
           || coalesce(pg_catalog.pg_get_function_result(p.oid), 'procedure')
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'verist_proxy'
      JOIN pg_catalog.pg_proc p ON p.oid = d.objid
     WHERE d.classid = 'pg_catalog.pg_proc'::regclass
       AND d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
       AND p.proname NOT LIKE 'verist\_proxy\_%'
$$;
COMMENT ON FUNCTION verist_proxy_local_catalog() IS
    'internal: the router''s mirrored version, type and view columns, and routine signatures';

-- Everything that must hold between the router and each shard; no row means
-- all is well.  A later verist that adds a column, a function or changes a
-- signature, on a shard whose router was not regenerated, shows here (and in
-- the scaleout suite, which fails on any row).
CREATE FUNCTION verist_proxy_check()
RETURNS TABLE (shard integer, problem text)
LANGUAGE plpgsql
SET search_path = @extschema@, pg_catalog
AS $$
DECLARE
    s record;
    r record;
    mine text[];
    theirs text[];
    item text;
    lo bigint;
    hi bigint;
BEGIN
    SELECT pg_catalog.array_agg(c.kind || ' ' || c.name || ' ' || c.detail)
      INTO mine FROM @extschema@.verist_proxy_local_catalog() c;
    IF NOT EXISTS (SELECT FROM @extschema@.verist_proxy_config) THEN
        shard := NULL; problem := 'not configured: run verist_proxy_init()'; RETURN NEXT;
        RETURN;
    END IF;
    FOR s IN SELECT * FROM @extschema@.verist_proxy_shards ORDER BY 1 LOOP
        shard := s.shard;
        BEGIN
            SELECT pg_catalog.array_agg(c.kind || ' ' || c.name || ' ' || c.detail) INTO theirs
              FROM @extschema@.verist_proxy_remote_catalog(s.connstr) c
             WHERE NOT c.name = ANY (@extschema@.verist_proxy_unproxied());
        EXCEPTION WHEN OTHERS THEN
            problem := 'unreachable: ' || SQLERRM; RETURN NEXT;
            CONTINUE;
        END;
        IF theirs IS NULL THEN
            problem := 'no verist extension on the shard'; RETURN NEXT;
            CONTINUE;
        END IF;
        FOR item IN SELECT x FROM pg_catalog.unnest(theirs) x EXCEPT SELECT y FROM pg_catalog.unnest(mine) y ORDER BY 1 LOOP
            problem := 'the shard has what the router lacks: ' || item; RETURN NEXT;
        END LOOP;
        FOR item IN SELECT y FROM pg_catalog.unnest(mine) y EXCEPT SELECT x FROM pg_catalog.unnest(theirs) x ORDER BY 1 LOOP
            problem := 'the router has what the shard lacks: ' || item; RETURN NEXT;
        END LOOP;
        lo := s.shard::bigint << 48;
        hi := ((s.shard::bigint + 1) << 48) - 1;
        FOR r IN SELECT * FROM @extschema@.verist_proxy_remote_ranges(s.connstr) LOOP
            IF r.last_value NOT BETWEEN lo AND hi THEN
                problem := pg_catalog.format('%s is at %s, outside the shard''s range %s .. %s',
                                             r.seq, r.last_value, lo, hi);
                RETURN NEXT;
            END IF;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION verist_proxy_check() IS
    'differences between the router and each shard (version, columns, signatures, id ranges); no row: all is well';

-- Every router role routes (0.4.0; before, only a superuser could): the
-- partition map and the shard numbers are readable by all -- a client may
-- route by itself too (README) -- and the connection strings, which may hold
-- passwords, by the administrator only.
GRANT SELECT ON verist_proxy_config, verist_proxy_partitions TO PUBLIC;
GRANT SELECT (shard) ON verist_proxy_shards TO PUBLIC;

REVOKE ALL ON FUNCTION verist_proxy_apply(), verist_proxy_init(text[], integer),
    verist_proxy_add_shard(text), verist_proxy_set_connstr(integer, text),
    verist_proxy_set_moving(integer, boolean), verist_proxy_assign(integer, integer),
    verist_proxy_prepare_shard(integer), verist_proxy_remote_ranges(text),
    verist_proxy_remote_setval(text, text, bigint), verist_proxy_remote_catalog(text),
    verist_proxy_check() FROM PUBLIC;
