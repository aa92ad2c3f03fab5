#!/usr/bin/env bash
# Standby: verist on a streaming-replication hot standby (test/standby/
# matrix.py): reads answer as on the primary, writes fail with 25006, and
# verist_read_events refuses with VRR01 instead of skipping events.  A
# primary and a standby (pg_basebackup -R) on loopback, both throwaway.
# Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/fuzz/cluster.sh     # fz_cluster_init, fz_free_port, as_pg, psycopg_python

pass=0; fail=0
sb_root=
cleanup() {
    if [ -n "$sb_root" ]; then
        as_pg "$FZ_PGBIN/pg_ctl -D $sb_root/data -m immediate -w stop" >/dev/null 2>&1
        rm -rf "$sb_root"
    fi
    fz_cluster_destroy
}
finish() { cleanup; echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }
trap 'cleanup; exit 130' INT TERM
bad() { echo "not ok - $1"; fail=$((fail + 1)); finish; }

PY=$(psycopg_python) || bad "python3 with psycopg"
pport=$(fz_free_port 5561 5580)
fz_cluster_init "$pport" "wal_level = replica
max_wal_senders = 4
hot_standby = on" || bad "primary started"
psql -qX -c 'CREATE EXTENSION verist' || bad "CREATE EXTENSION verist on the primary"

sport=$(fz_free_port $((pport + 1)) 5590)
sb_root=$(mktemp -d /tmp/verist-standby.XXXXXX)
chmod 755 "$sb_root"; [ "$(id -u)" = 0 ] && chown postgres: "$sb_root"
as_pg "$FZ_PGBIN/pg_basebackup -h 127.0.0.1 -p $pport -U postgres -D $sb_root/data -R -X stream" \
    >/dev/null 2>&1 || bad "pg_basebackup of the primary"
cat >> "$sb_root/data/postgresql.conf" <<CONF
port = $sport
unix_socket_directories = '$sb_root'
CONF
as_pg "$FZ_PGBIN/pg_ctl -D $sb_root/data -l $sb_root/server.log -w -t 120 start" >/dev/null ||
    { cat "$sb_root/server.log"; bad "standby started"; }

out=$("$PY" test/standby/matrix.py "host=127.0.0.1 port=$pport user=postgres dbname=postgres" \
                                   "host=127.0.0.1 port=$sport user=postgres dbname=postgres" 2>&1)
echo "$out"
pass=$((pass + $(grep -c '^ok - ' <<<"$out"))); fail=$((fail + $(grep -c '^not ok - ' <<<"$out")))
[ "$(grep -c '^\(not \)\?ok - ' <<<"$out")" -gt 0 ] || { echo "not ok - matrix.py ran"; fail=$((fail + 1)); }
finish
