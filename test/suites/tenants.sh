#!/usr/bin/env bash
# Tenants (0.5.0): fairness between workflows.  One workflow ('big') with a
# backlog of 100,000 pending commands, committed first, and nine small ones
# with 100 commands each; four dispatchers lease (batch 10) and mark
# dispatched until every small command is out.  test/tenants/fairness.py
# compares each small workflow's drain time in mode 'fair' behind the backlog
# with its time alone (target: at most 2x), shows mode 'oldest' behind the
# same backlog (much worse: the backlog is older), checks that every small
# command was dispatched exactly once, and prints a table of the figures.
# Then the counters: test/tenants/counters.py on the same (preloaded)
# cluster, zero again after the server is killed and restarted, and
# counters.py --absent on a cluster that does not preload verist.
#
#   VERIST_LONG=1          5 repeats, batch sizes 10 and 100, mode oldest given
#                          up to 120 s to drain the backlog (default: 3
#                          repeats, batch 10, oldest cut short at 15 s)
#   TENANTS_PORT           the throwaway cluster's port (default 5471)
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/stress/cluster.sh    # cluster_init / cluster_destroy, psycopg_python
mkdir -p test/out

port=${TENANTS_PORT:-5471}
if [ "${VERIST_LONG:-0}" = 1 ]; then
    repeats=5; batches="10 100"; oldest_timeout=120
else
    repeats=3; batches="10"; oldest_timeout=15
fi

pass=0; fail=0
result() {   # result OK|FAIL description
    if [ "$1" = OK ]; then pass=$((pass + 1)); echo "ok - $2"
    else fail=$((fail + 1)); echo "not ok - $2"; fi
}
finish() {
    cluster_destroy
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}

PY=$(psycopg_python) || { echo "tenants: no python3 with psycopg (apt-get install python3-psycopg)"; echo "0 passed, 1 failed"; exit 1; }

trap 'cluster_destroy; exit 130' INT TERM
if cluster_init "$port"; then result OK "cluster on port $port with verist"
else result FAIL "cluster on port $port with verist"; cat "${CLUSTER_LOG:-/dev/null}"; finish; fi

for batch in $batches; do
    "$PY" test/tenants/fairness.py --batch "$batch" --dispatchers 4 --repeats "$repeats" \
        --oldest-timeout "$oldest_timeout" \
        2>&1 | tee test/out/tenants-batch$batch.raw
    rc=${PIPESTATUS[0]}
    p=$(grep -c '^ok - ' test/out/tenants-batch$batch.raw)
    f=$(grep -c '^not ok - ' test/out/tenants-batch$batch.raw)
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        result FAIL "fairness.py --batch $batch exited with $rc"
    fi
    pass=$((pass + p)); fail=$((fail + f))
done

# Counters: every counter moves by exactly what the calls should move it.
add_script() {   # add_script LOGFILE RC DESCRIPTION
    local p f
    p=$(grep -c '^ok - ' "$1"); f=$(grep -c '^not ok - ' "$1")
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $3 exited with $2"; fi
    pass=$((pass + p)); fail=$((fail + f))
}
"$PY" test/tenants/counters.py 2>&1 | tee test/out/tenants-counters.raw
add_script test/out/tenants-counters.raw "${PIPESTATUS[0]}" "counters.py"

# A restart (here a crash: kill -9 of the postmaster) starts them from zero.
before=$("$PGBIN/psql" -qXAt -c "SELECT sum(value) FROM verist_counters")
cluster_kill9 && cluster_start
after=$("$PGBIN/psql" -qXAt -c "SELECT sum(value) || ' ' || bool_and(since > now() - interval '1 minute') FROM verist_counters")
[ "${before:-0}" -gt 0 ] && [ "$after" = "0 true" ] &&
    result OK "after a crash and restart every counter starts from zero (before: $before in all; after: $after)" ||
    result FAIL "after a crash and restart every counter starts from zero (before: $before; after: $after)"
cluster_destroy

# Without shared_preload_libraries: the view says so, verist works.
pg_virtualenv -t "$PY" test/tenants/counters.py --absent 2>&1 | tee test/out/tenants-absent.raw
add_script test/out/tenants-absent.raw "${PIPESTATUS[0]}" "counters.py --absent"
finish
