/* src/proxy/verist_proxy--0.5.0--0.6.0.sql: the router of verist 0.5.0 made the router
   of verist 0.6.0 (written by hand; the result equals a fresh verist_proxy--0.6.0.sql,
   which the scaleout suite checks catalog against catalog) */

\echo Use "ALTER EXTENSION verist_proxy UPDATE TO '0.6.0'" to load this file. \quit

--
-- Upgrade the shards first (ALTER EXTENSION verist UPDATE on each): a 0.5.0
-- router goes on forwarding to 0.6.0 shards as before (PL/Proxy selects the
-- columns it knows by name, so its leases return the rows without the new
-- column), then this.  Nothing is dropped or replaced: every function keeps
-- its identity, so what the administrator granted on the router stays
-- granted.  Router sessions that were open cache the old type: reconnect
-- them (PgBouncer's RECONNECT, or restart the application's pool).
--
-- What 0.6.0 changes on the router:
--   * verist_outbox gains queued (status pending or leased), the generated
--     column the shards' outbox indexes name: the router's type gains the
--     attribute, at its end, so verist_lease_outbox (both overloads),
--     verist_mark_retry and verist_requeue return it as the shards do.
--     On the router it is an ordinary attribute: the router writes no outbox
--     row, and the shard computes the value it returns.
-- Nothing else the router forwards changed: no function, signature, comment
-- or privilege is new (0.6.0's leasing without index writes is the shards'
-- business; each leases its own rows).
--

-- The shards' verist_outbox gained a column, at its end.
ALTER TYPE verist_outbox ADD ATTRIBUTE queued boolean;
