#!/usr/bin/env bash
# Crash: the stress load against a cluster with fsync on, killed mid-load
# K times -- alternately "pg_ctl stop -m immediate" and SIGKILL of the
# postmaster -- and restarted while the clients reconnect and carry on.  Just
# before each crash a dispatcher leases a few rows for 3 s and never finishes
# them.  Afterwards a drain leases whatever is left, and check.py proves that
# no acknowledged call was lost, that no commit is half there (including those
# whose outcome the crash hid), and that held leases were taken over only
# after they expired.
#
#   VERIST_LONG=1    10 crash cycles of ~15 s with 6 clients (default: 2 of ~5 s, 4 clients)
#   CRASH_CYCLES/CRASH_CLIENTS/CRASH_SEED override
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/stress/cluster.sh

if [ "${VERIST_LONG:-0}" = 1 ]; then
    cycles=${CRASH_CYCLES:-10}; clients=${CRASH_CLIENTS:-6}; gap=15
else
    cycles=${CRASH_CYCLES:-2}; clients=${CRASH_CLIENTS:-4}; gap=5
fi
seed=${CRASH_SEED:-$RANDOM}
port=${CRASH_PORT:-5461}
RANDOM=$seed

pass=0; fail=0
result() {   # result OK|FAIL description
    if [ "$1" = OK ]; then pass=$((pass + 1)); echo "ok - $2"
    else fail=$((fail + 1)); echo "not ok - $2"; fi
}
load_pid=
finish() {
    [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
    cluster_destroy
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}

PY=$(psycopg_python) || { echo "crash: no python3 with psycopg (apt-get install python3-psycopg)"; echo "0 passed, 1 failed"; exit 1; }
logdir=test/out/crash
rm -rf "$logdir"; mkdir -p "$logdir"

trap 'finish' INT TERM
if cluster_init "$port"; then result OK "cluster on port $port with verist, fsync on"
else result FAIL "cluster on port $port with verist, fsync on"; cat "${CLUSTER_LOG:-/dev/null}"; finish; fi

# The load outlasts the last crash by a few seconds, so the clients are seen
# to carry on against the recovered server.
seconds=$((cycles * (gap + 2) + 4))
echo "crash: $clients clients, $cycles cycles about ${gap} s apart, load ${seconds} s, seed $seed"
start=$(date +%s)
"$PY" test/stress/load.py run --logdir "$logdir" --clients "$clients" \
    --seconds "$seconds" --runs 3 --seed "$seed" &
load_pid=$!

survived=0
for i in $(seq 1 "$cycles"); do
    sleep "$((gap - 2)).$((RANDOM % 10))"
    "$PY" test/stress/load.py hold --logdir "$logdir" --owner "holder-$i" --max 3 --lease-ms 3000
    if ((i % 2)); then
        how="pg_ctl stop -m immediate"; cluster_stop_immediate
    else
        how="kill -9 of the postmaster"; cluster_kill9
    fi
    echo "crash $i: $how at $(date +%T.%N | cut -c1-12)"
    sleep 1
    ok=0
    for attempt in 1 2 3 4 5; do
        if cluster_start; then ok=1; break; fi
        sleep 1
    done
    if [ $ok = 1 ] && "$PGBIN/psql" -qXAt -c 'SELECT 1' >/dev/null; then
        survived=$((survived + 1))
        result OK "cycle $i: server recovered after $how"
    else
        result FAIL "cycle $i: server recovered after $how"
        tail -20 "$CLUSTER_LOG"
        finish
    fi
done

wait "$load_pid"; rc=$?; load_pid=
[ $rc -eq 0 ] && result OK "load generator: every client finished after $survived crashes" \
              || result FAIL "load generator: every client finished after $survived crashes"

"$PY" test/stress/load.py drain --logdir "$logdir" --timeout 60
[ $? -eq 0 ] && result OK "drain emptied the outbox of pending and leased rows" \
             || result FAIL "drain emptied the outbox of pending and leased rows"

"$PY" test/stress/check.py --logdir "$logdir" --allow-unknown --drained \
    --crashes "$survived" | tee "$logdir/check.out"
line=$(tail -1 "$logdir/check.out")
p=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p' <<<"$line")
f=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p' <<<"$line")
if [ -z "$p" ]; then fail=$((fail + 1)); echo "not ok - checker did not finish"
else pass=$((pass + p)); fail=$((fail + f)); fi

# The induced crashes log nothing of this kind; a segfault, an assertion or
# a PANIC during recovery would.
if grep -E 'terminated by signal (6|11)|TRAP:|PANIC:|was terminated by exception' "$CLUSTER_LOG"; then
    result FAIL "server log: no backend crashed by itself, recovery clean"
else
    result OK "server log: no backend crashed by itself, recovery clean"
fi
echo "# duration: $(( $(date +%s) - start )) s, crash cycles survived: $survived (logs in $logdir)"
finish
