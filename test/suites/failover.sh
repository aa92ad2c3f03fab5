#!/usr/bin/env bash
# Failover of a shard: commits through the router (src/proxy) and PgBouncer
# to a shard primary with a streaming standby, on loopback ports 5800-5899.
# Under load the replication link stalls (the primary's walsender is stopped,
# as a network that stops delivering would), the primary is killed (-9: the
# machine is gone), PgBouncer is pointed at the standby and the standby is
# promoted; the clients reconnect and carry on.  test/scaleout/load.py logs
# every acknowledged commit, and then:
#   * synchronous standby: no acknowledged commit is lost, every chain
#     verifies, in the database and outside it against the acknowledged chain
#     heads as anchors; the commits whose wait for the standby was cancelled
#     (success with a WARNING, PostgreSQL's behaviour) were logged in doubt --
#     and are the ones missing;
#   * asynchronous standby (the control, same fault): the checker must find
#     acknowledged commits lost, and the anchors must show the cut-back chains
#     that verify on their own;
#   * the standby read/write matrix (test/standby/matrix.py) on the pair.
# VERIST_LONG=1 adds the managed recipe: pg_auto_failover (a monitor and two
# nodes) promotes by itself after the primary's machine is killed.
# Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/scaleout/lib.sh
export PGOPTIONS="-c client_min_messages=warning"
export SO_QUERY_WAIT=10     # PgBouncer holds calls while the shard has no primary

pass=0; fail=0
result() { if [ "$1" = OK ]; then pass=$((pass + 1)); echo "ok - $2"; else fail=$((fail + 1)); echo "not ok - $2"; fi; }
count() {
    local out=$1
    pass=$((pass + $(grep -c '^ok - ' <<<"$out"))); fail=$((fail + $(grep -c '^not ok - ' <<<"$out")))
    [ "$(grep -c '^\(not \)\?ok - ' <<<"$out")" -gt 0 ] || { echo "not ok - $2 printed no result"; fail=$((fail + 1)); }
}
load_pid=
finish() {
    [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
    [ -n "${paf_root:-}" ] && paf_stop
    so_end; echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit
}
trap 'finish' INT TERM
trap '[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null; [ -n "${paf_root:-}" ] && paf_stop; so_end' EXIT
bad() { result FAIL "$1"; finish; }
start=$(date +%s)
phase() { echo "# $1 ($(( $(date +%s) - start )) s)"; }

so_need_packages postgresql-15-plproxy pgbouncer || bad "apt-get install postgresql-15-plproxy pgbouncer"
PY=$(psycopg_python) || bad "python3 with psycopg"
make -s -C src/proxy install >/dev/null 2>&1 || bad "make -C src/proxy install"
mirrored=$(sed -nE "s/^default_version = '(.*)'/\1/p" src/proxy/verist_proxy.control)
logdir=test/out/failover; rm -rf "$logdir"; mkdir -p "$logdir"

so_begin
so_port rp 5800 5899 && so_port bp 5800 5899 || bad "free ports in 5800-5899"
so_server router "$rp" || bad "router server started"
psql -qX -p "$rp" -d postgres -c 'CREATE DATABASE router' >/dev/null
ROUTER="host=127.0.0.1 port=$rp dbname=router user=postgres"

# One scenario: MODE sync|async.  A primary and a standby (pg_basebackup -R,
# application name standby1), PgBouncer in front of the primary, the router
# with this one shard; load, stall, kill, repoint, promote, load on, check.
scenario() {
    local mode=$1 pp sp
    so_port pp 5800 5899 && so_port sp 5800 5899 || bad "free ports in 5800-5899"
    # fsync off: no server here restarts after a crash -- the fault is the
    # primary's machine gone for good, which the standby's page cache outlives
    so_server "primary-$mode" "$pp" "wal_level = replica
max_wal_senders = 4
hot_standby = on
synchronous_commit = on
wal_sender_timeout = 5s
fsync = off" || bad "$mode: primary started"
    psql -qX -p "$pp" -d postgres -c "CREATE EXTENSION verist VERSION '$mirrored'" >/dev/null ||
        bad "$mode: verist on the primary"
    local sdata=$SO_ROOT/standby-$mode
    as_pg "mkdir -p $sdata && $PGBIN/pg_basebackup -h 127.0.0.1 -p $pp -U postgres -D $sdata/data -R -X stream --checkpoint=fast" \
        >/dev/null 2>&1 || bad "$mode: pg_basebackup"
    as_pg "cat >> $sdata/data/postgresql.conf" <<EOF
port = $sp
unix_socket_directories = '$sdata'
cluster_name = 'standby1'
EOF
    SO_SERVERS+=("standby-$mode")
    so_start "standby-$mode" || bad "$mode: standby started"
    # the recipe: name the standby synchronous once it is attached
    [ "$mode" = sync ] && psql -qX -p "$pp" -d postgres -c "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" \
        -c 'SELECT pg_reload_conf()' >/dev/null
    local i state=
    for i in $(seq 1 100); do
        state=$(psql -qXAt -p "$pp" -d postgres -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1' AND state = 'streaming'")
        [ "$state" = "$mode" ] && break
        sleep 0.1
    done
    [ "$state" = "$mode" ] && result OK "$mode: the standby streams, pg_stat_replication says sync_state = $state" ||
        bad "$mode: the standby streams ($state)"

    if [ "$mode" = sync ]; then
        out=$("$PY" test/standby/matrix.py "host=127.0.0.1 port=$pp user=postgres dbname=postgres" \
                                           "host=127.0.0.1 port=$sp user=postgres dbname=postgres" 2>&1)
        echo "$out" | sed 's/^\(not \)\?ok - /&standby matrix: /'
        count "$out" "test/standby/matrix.py"
    fi

    [ -n "$(so_bouncer_pid)" ] && so_bouncer_stop
    so_pgbouncer "bouncer-$mode" "$bp" "verist_shard1 = host=127.0.0.1 port=$pp dbname=postgres" || bad "$mode: PgBouncer"
    psql -qXAt "$ROUTER" -c 'DROP EXTENSION IF EXISTS verist_proxy' -c 'DROP SERVER IF EXISTS verist_cluster CASCADE' \
        -c 'CREATE EXTENSION IF NOT EXISTS verist_proxy CASCADE' \
        -c "SELECT count(*) FROM verist_proxy_init(ARRAY['host=127.0.0.1 port=$bp dbname=verist_shard1'], 16)" >/dev/null ||
        bad "$mode: router initialised"

    local dir=$logdir/$mode
    phase "$mode: pair up"
    "$PY" test/scaleout/load.py run --router "$ROUTER" --logdir "$dir" --seconds 9 --clients 4 --runs 6 \
        --seed "$RANDOM" >"$dir.load.out" 2>&1 &
    load_pid=$!
    sleep 3
    local ws
    ws=$(psql -qXAt -p "$pp" -d postgres -c "SELECT pid FROM pg_stat_replication WHERE application_name = 'standby1'")
    kill -STOP "$ws"
    echo "# $mode: replication stalled (walsender $ws stopped) at $(date +%T.%N | cut -c1-12)"
    sleep 1
    if [ "$mode" = sync ]; then
        local cancelled
        cancelled=$(psql -qXAt -p "$pp" -d postgres -c "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
        echo "# $mode: cancelled the wait for the standby of $cancelled commits"
    fi
    sleep 0.5
    so_kill9 "primary-$mode"
    echo "# $mode: primary killed (-9) at $(date +%T.%N | cut -c1-12)"
    # PgBouncer to the standby first: calls get 25006 until it is promoted
    as_pg "sed -i 's/port=$pp /port=$sp /' $SO_ROOT/bouncer-$mode/pgbouncer.ini"
    psql -qX -h 127.0.0.1 -p "$bp" -U postgres pgbouncer -c RELOAD >/dev/null 2>&1
    sleep 0.3
    as_pg "$PGBIN/pg_ctl -D $sdata/data -w -t 60 promote" >/dev/null 2>&1 && result OK "$mode: standby promoted, PgBouncer pointed at it, the router unchanged" ||
        result FAIL "$mode: standby promoted"
    wait "$load_pid"; local rc=$?; load_pid=
    [ $rc = 0 ] && result OK "$mode: the load went on through the failover and finished ($(tail -1 "$dir.load.out"))" ||
        { cat "$dir.load.out"; result FAIL "$mode: the load finished"; }
    phase "$mode: load done"
    local d25006 dconn dwarn
    d25006=$(cat "$dir"/commit-*.jsonl | grep -c '"s":"25006"')
    dwarn=$(cat "$dir"/commit-*.jsonl | grep -c '"s":"01000"')
    dconn=$(cat "$dir"/commit-*.jsonl | grep '"r":"doubt"' | grep -vc '"s":"\(25006\|01000\)"')
    echo "# $mode: in doubt: $dconn dropped or failed mid-call, $d25006 refused with 25006 while the standby was not yet promoted, $dwarn returned with the WARNING that the wait for the standby was cancelled"

    local S="host=127.0.0.1 port=$sp dbname=postgres user=postgres"
    if [ "$mode" = sync ]; then
        out=$("$PY" test/scaleout/load.py check --router "$ROUTER" --logdir "$dir" --shard "$S" 2>&1)
        echo "$out" | sed 's/^\(not \)\?ok - /&sync: /'; count "$out" "sync: load.py check"
        out=$("$PY" test/scaleout/verify_shards.py --router "$ROUTER" --anchors "$dir/anchors.csv" --ledger-anchors "$dir/ledger-anchors.csv" "$S" 2>&1)
        echo "$out" | sed 's/^\(not \)\?ok - /&sync: /'; count "$out" "sync: verify_shards.py"
        # the commits that returned with the WARNING: on the old primary only
        local gone
        gone=$("$PY" - "$dir" "$S" <<'EOF'
import glob, json, sys, psycopg
calls = {}
for path in glob.glob(sys.argv[1] + "/commit-*.jsonl"):
    for line in open(path):
        r = json.loads(line)
        calls.setdefault((path, r["n"]), {}).update(r)
warned = [c for c in calls.values() if c.get("s") == "01000"]
conn = psycopg.connect(sys.argv[2])
lost = sum(1 for c in warned if not conn.execute(
    "SELECT 1 FROM verist_state WHERE workflow_id = 'scale' AND run_id = %s AND computed ? %s",
    (c["run"], c["step"])).fetchone())
print(len(warned), lost)
EOF
)
        # they had committed on the primary; those whose WAL had not reached
        # the standby before the link stalled are gone (the others were only
        # waiting for an acknowledgement the stopped walsender never read)
        [ "${gone% *}" -ge 1 ] &&
            result OK "sync: ${gone% *} commits returned success with the WARNING 'canceling wait for synchronous replication', logged in doubt; ${gone#* } of them are missing after the failover" ||
            result FAIL "sync: commits whose wait for the standby was cancelled returned with a WARNING (warned, missing: $gone)"
    else
        out=$("$PY" test/scaleout/load.py check --router "$ROUTER" --logdir "$dir" --shard "$S" --expect-loss 2>&1)
        echo "$out" | sed 's/^\(not \)\?ok - /# async control (load.py check): /'
        # what matters of it: the loss is found; the rest may or may not hold
        grep -q '^ok - the control detects lost acknowledged commits' <<<"$out" &&
            result OK "async control: the checker finds acknowledged commits lost ($(grep -o '([0-9]* of [0-9]* lost)' <<<"$out"))" ||
            result FAIL "async control: the checker finds acknowledged commits lost"
        grep -q '^ok - every chain verifies on every shard' <<<"$out" &&
            result OK "async control: yet every chain verifies in the database (a chain cut back at its tail is a valid chain)" ||
            result FAIL "async control: the cut-back chains verify in the database"
        out=$("$PY" test/scaleout/verify_shards.py --router "$ROUTER" --anchors "$dir/anchors.csv" --ledger-anchors "$dir/ledger-anchors.csv" --expect-loss "$S" 2>&1)
        echo "$out" | sed 's/^\(not \)\?ok - /&async control: /'; count "$out" "async: verify_shards.py"
    fi
    phase "$mode: checked"
    so_stop "standby-$mode"
}

so_bouncer_pid() { ls "$SO_ROOT"/bouncer-*/pgbouncer.pid 2>/dev/null | head -1; }
so_bouncer_stop() {
    local f
    for f in "$SO_ROOT"/bouncer-*/pgbouncer.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    sleep 0.3
}

scenario sync
scenario async

if [ "${VERIST_LONG:-0}" = 1 ]; then
    . test/failover/auto_failover.sh
    paf_scenario
fi
echo "# failover: $(( $(date +%s) - start )) s"
finish
