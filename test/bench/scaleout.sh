#!/usr/bin/env bash
# Benchmark (not a test) of the router: verist_commit and verist_load direct
# against a shard, through the router (src/proxy) with PL/Proxy connecting
# directly, and through the router with PgBouncer (transaction mode) in
# between; 1 and 8 clients; then aggregate commits/s through routers over
# 1, 2 and 4 shards.  Everything on this one machine, on loopback ports
# 5800-5899, fsync on: with 2 cores the shards share the CPUs and the disk,
# so the shard series shows the router's overhead, not scaling -- the last
# lines estimate separate machines from the CPU each server spent per call.
#   BENCH_SECONDS=5   seconds per measurement
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/scaleout/lib.sh
export PGOPTIONS="-c client_min_messages=warning"
trap 'so_end' EXIT
so_need_packages postgresql-15-plproxy pgbouncer
PY=$(psycopg_python) || { echo "python3 with psycopg needed"; exit 1; }
make -s -C src/proxy install >/dev/null || exit 1
mirrored=$(sed -nE "s/^default_version = '(.*)'/\1/p" src/proxy/verist_proxy.control)

so_begin
so_port rp 5800 5899; so_port bp 5800 5899
so_server router "$rp" "max_connections = 100" || exit 1
dbs=
for k in 1 2 3 4; do
    so_port "p$k" 5800 5899
    port=$(eval echo \$p$k)
    so_server "shard$k" "$port" "max_connections = 100" || exit 1
    psql -qX -p "$port" -d postgres -c "CREATE EXTENSION verist VERSION '$mirrored'" >/dev/null || exit 1
    dbs="$dbs
shard$k = host=127.0.0.1 port=$port dbname=postgres"
done
so_pgbouncer bouncer "$bp" "$dbs" || exit 1
pooled() { echo "host=127.0.0.1 port=$bp dbname=shard$1"; }
direct() { echo "host=127.0.0.1 port=$(eval echo \$p$1) dbname=postgres"; }
router_db() {   # NAME CONNSTR...
    local name=$1; shift
    local arr
    arr=$(printf "'%s'," "$@"); arr="ARRAY[${arr%,}]"
    psql -qX -p "$rp" -d postgres -c "CREATE DATABASE $name" >/dev/null &&
    psql -qXAt -p "$rp" -d "$name" -c 'CREATE EXTENSION verist_proxy CASCADE' \
        -c "SELECT count(*) FROM verist_proxy_init($arr, 1024)" >/dev/null
}
router_db r_direct "$(direct 1)" || exit 1
router_db r_pooled "$(pooled 1)" || exit 1
router_db r_two "$(pooled 1)" "$(pooled 2)" || exit 1
router_db r_four "$(pooled 1)" "$(pooled 2)" "$(pooled 3)" "$(pooled 4)" || exit 1
R="host=127.0.0.1 port=$rp user=postgres dbname="
echo "# $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GB, $("$PG_CONFIG" --version), fsync on, $(date -u +%F)"
"$PY" test/bench/scaleout_bench.py --seconds "${BENCH_SECONDS:-5}" \
    --direct "$(direct 1) user=postgres" --router-direct "${R}r_direct" --router-pooled "${R}r_pooled" \
    --shards-router "${R}r_pooled" --shards-router "${R}r_two" --shards-router "${R}r_four" \
    --pids "router=$SO_ROOT/router/data/postmaster.pid" --pids "shard=$SO_ROOT/shard1/data/postmaster.pid" \
    --pids "bouncer=$SO_ROOT/bouncer/pgbouncer.pid"
