/* src/proxy/verist_proxy--0.4.0--0.5.0.sql: the router of verist 0.4.0 made the router
   of verist 0.5.0 (written by hand; the result equals a fresh verist_proxy--0.5.0.sql,
   which the scaleout suite checks catalog against catalog) */

\echo Use "ALTER EXTENSION verist_proxy UPDATE TO '0.5.0'" to load this file. \quit

--
-- Upgrade the shards first (ALTER EXTENSION verist UPDATE on each): a 0.4.0
-- router goes on forwarding to 0.5.0 shards as before (nothing it forwards
-- changed), then this.  Nothing is dropped or replaced: 0.5.0 only adds.
--
-- What 0.5.0 changes on the router:
--   * verist_lease_outbox gains its 4-argument overload (lease_mode), forwarded
--     as the 3-argument one: max_entries shared out between the shards, the
--     mode applied by each shard to its own rows (a run lives on one shard, so
--     per_run order holds; fair leasing and the caps of verist_workflow_limits
--     hold per shard);
--   * the counters: verist_stat_counters and the view verist_counters return
--     every shard's rows, concatenated;
--   * verist_proxy_unproxied(): per shard only (read or called on each shard
--     directly) are verist_workflow_limits (each shard's caps),
--     verist_reset_counters, verist_dispatch_latency and verist_metrics.
--

-- The 4-argument lease: a PL/Proxy helper called on the shards of each round
-- with their shares, and verist's name looping over the rounds.
CREATE FUNCTION verist_proxy_split__verist_lease_outbox(slots integer[], quotas integer[], lease_owner text, lease_duration interval, lease_mode text)
RETURNS SETOF verist_outbox
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    SPLIT slots, quotas;
    RUN ON slots;
    SELECT l.* FROM @extschema@.verist_lease_outbox(lease_owner, (quotas)[1], lease_duration, lease_mode) AS l;
$$;
CREATE FUNCTION verist_lease_outbox(lease_owner text, max_entries integer, lease_duration interval, lease_mode text)
RETURNS SETOF verist_outbox
LANGUAGE plpgsql
AS $$
-- max_entries is shared out between the shards, each called once per round
-- with its share (max_entries / n, the remainder one each from a random
-- starting shard; a share of 0 is not called).  A shard that returns less
-- than its share has no more ready rows and drops out; what is still
-- missing goes round again to the others.  So: up to max_entries rows in
-- all, fewer only when the shards have no more.
DECLARE
    candidates integer[];
    keep integer[];
    called integer[];
    slots integer[];
    quotas integer[];
    got integer[];
    remaining integer := max_entries;
    n integer;
    first integer;
    share integer;
    k integer;
    r verist_outbox;
BEGIN
    SELECT pg_catalog.array_agg(s.shard ORDER BY s.shard) INTO candidates
    FROM @extschema@.verist_proxy_shards s;
    IF candidates IS NULL THEN
        RAISE EXCEPTION 'verist_proxy is not configured' USING ERRCODE = 'VRP02';
    END IF;
    IF lease_owner IS NULL OR max_entries IS NULL OR max_entries < 1 OR lease_duration IS NULL OR lease_mode IS NULL THEN
        -- one shard refuses it as verist does (VRS01)
        RETURN QUERY SELECT * FROM @extschema@.verist_proxy_split__verist_lease_outbox(ARRAY[@extschema@.verist_proxy_shard_slot(1)],
            ARRAY[max_entries], lease_owner, lease_duration, lease_mode);
        RETURN;
    END IF;
    WHILE remaining > 0 AND pg_catalog.cardinality(candidates) > 0 LOOP
        n := pg_catalog.cardinality(candidates);
        first := pg_catalog.floor(pg_catalog.random() * n)::integer;
        slots := '{}'; quotas := '{}'; called := '{}'; keep := '{}';
        FOR i IN 0 .. n - 1 LOOP
            k := candidates[(first + i) % n + 1];
            share := remaining / n + CASE WHEN i < remaining % n THEN 1 ELSE 0 END;
            IF share > 0 THEN
                slots := slots || @extschema@.verist_proxy_shard_slot(k);
                quotas := quotas || share;
                called := called || k;
            ELSE
                keep := keep || k;
            END IF;
        END LOOP;
        got := pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(called)]);
        FOR r IN SELECT * FROM @extschema@.verist_proxy_split__verist_lease_outbox(slots, quotas, lease_owner, lease_duration, lease_mode) LOOP
            k := pg_catalog.array_position(called, @extschema@.verist_proxy_shard_of_id(r.id));
            IF k IS NOT NULL THEN
                got[k] := got[k] + 1;
            END IF;
            remaining := remaining - 1;
            RETURN NEXT r;
        END LOOP;
        FOR i IN 1 .. pg_catalog.cardinality(called) LOOP
            IF got[i] >= quotas[i] THEN
                keep := keep || called[i];
            END IF;
        END LOOP;
        candidates := keep;
    END LOOP;
END
$$;
COMMENT ON FUNCTION verist_lease_outbox(lease_owner text, max_entries integer, lease_duration interval, lease_mode text) IS 'router (max_entries shared out between the shards): claim up to max_entries outbox rows in a lease mode: oldest, per_run (commit order, one in flight per run), fair (round-robin over workflows, within their caps) or fair_per_run';

-- The counters: every shard's rows, concatenated (sum them per counter and reason
-- for the cluster's; the shard's own view for one shard's).
CREATE FUNCTION verist_stat_counters(OUT counter text, OUT reason text, OUT value bigint, OUT since timestamp with time zone)
RETURNS SETOF record
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON ALL;
$$;
COMMENT ON FUNCTION verist_stat_counters(OUT counter text, OUT reason text, OUT value bigint, OUT since timestamp with time zone) IS 'router (every shard, rows concatenated): this database''s counters (needs verist in shared_preload_libraries); read the verist_counters view';

CREATE FUNCTION verist_proxy_all__verist_counters()
RETURNS TABLE (counter text, reason text, value bigint, since timestamp with time zone)
LANGUAGE plproxy
AS $$
    CLUSTER 'verist_cluster';
    RUN ON ALL;
    SELECT counter, reason, value, since FROM @extschema@.verist_counters;
$$;
CREATE VIEW verist_counters AS
SELECT counter, reason, value, since FROM @extschema@.verist_proxy_all__verist_counters();
COMMENT ON VIEW verist_counters IS 'router (every shard''s rows): what verist''s functions did and refused in this database since the server started or the last reset';

-- Privileges: as verist 0.5.0's on the shards.
REVOKE ALL ON FUNCTION verist_lease_outbox(lease_owner text, max_entries integer, lease_duration interval, lease_mode text) FROM PUBLIC;
REVOKE ALL ON FUNCTION verist_stat_counters(OUT counter text, OUT reason text, OUT value bigint, OUT since timestamp with time zone) FROM PUBLIC;
REVOKE ALL ON verist_counters FROM PUBLIC;

-- What the router does not forward (verist_proxy_check() skips them on the shards).
CREATE OR REPLACE FUNCTION verist_proxy_unproxied()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '{verist_commit_advance,verist_dispatch_latency,verist_events_refuse_change,verist_ledger_extend,verist_metrics,verist_reset_counters,verist_workflow_limits}'::text[] $$;
COMMENT ON FUNCTION verist_proxy_unproxied() IS 'objects of verist that the router does not forward';
