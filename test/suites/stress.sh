#!/usr/bin/env bash
# Stress: concurrent clients race on a few runs (commits with right and stale
# versions, overlays, review/suspend resolutions, short outbox leases and
# finalisations); then a drain leases everything left; then counters.py
# requires verist_counters to equal, counter by counter, what the logged calls
# add up to, and check.py proves the promises from the clients' logs and the
# database.
#
#   VERIST_LONG=1          8 clients for 5 minutes (default: 4 clients, 20 s)
#   STRESS_CLIENTS/STRESS_SECONDS/STRESS_RUNS/STRESS_SEED override
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/stress/cluster.sh

if [ "${VERIST_LONG:-0}" = 1 ]; then
    clients=${STRESS_CLIENTS:-8}; seconds=${STRESS_SECONDS:-300}; runs=${STRESS_RUNS:-6}
else
    clients=${STRESS_CLIENTS:-4}; seconds=${STRESS_SECONDS:-20}; runs=${STRESS_RUNS:-3}
fi
seed=${STRESS_SEED:-$RANDOM}
port=${STRESS_PORT:-5462}

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

PY=$(psycopg_python) || { echo "stress: no python3 with psycopg (apt-get install python3-psycopg)"; fail=1; echo "0 passed, 1 failed"; exit 1; }
logdir=test/out/stress
rm -rf "$logdir"; mkdir -p "$logdir"

trap 'cluster_destroy; exit 130' INT TERM
if cluster_init "$port"; then result OK "cluster on port $port with verist"
else result FAIL "cluster on port $port with verist"; cat "${CLUSTER_LOG:-/dev/null}"; finish; fi

# verist is preloaded (cluster.sh), so its counters exist; nobody has called
# a verist function in this database yet, so they must all read zero.
zero=$("$PGBIN/psql" -qXAt -c "SELECT count(*) FILTER (WHERE value <> 0) || ' of ' || count(*)
                                FROM verist_counters" 2>&1)
[ "$zero" = "0 of 17" ] && result OK "verist_counters: 17 counters, all zero before the load" \
                        || result FAIL "verist_counters: 17 counters, all zero before the load (got: $zero)"

echo "stress: $clients clients, $runs runs, $seconds s, seed $seed"
start=$(date +%s)
"$PY" test/stress/load.py run --logdir "$logdir" --clients "$clients" \
    --seconds "$seconds" --runs "$runs" --seed "$seed"
[ $? -eq 0 ] && result OK "load generator: every client finished" \
             || result FAIL "load generator: every client finished"

"$PY" test/stress/load.py drain --logdir "$logdir" --timeout 60
[ $? -eq 0 ] && result OK "drain emptied the outbox of pending and leased rows" \
             || result FAIL "drain emptied the outbox of pending and leased rows"

# add_totals NAME FILE: add the "N passed, M failed" that ends a script's output.
add_totals() {
    local line p f
    line=$(tail -1 "$2")
    p=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p' <<<"$line")
    f=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p' <<<"$line")
    if [ -z "$p" ]; then fail=$((fail + 1)); echo "not ok - $1 did not finish"
    else pass=$((pass + p)); fail=$((fail + f)); fi
}

# The counters against the logs, read now: only the clients and the drain
# have called verist in this database, and check.py's own calls
# (verist_dedupe_key, verist_verify_all) must not be in the figures.  The
# script's total is shown as a comment: the suite's total stays the only one.
"$PY" test/stress/counters.py --logdir "$logdir" --save "$logdir/counters.json" \
    > "$logdir/counters.out"
sed -E 's/^([0-9]+ passed, [0-9]+ failed)$/# counters: \1/' "$logdir/counters.out"
add_totals "counter check" "$logdir/counters.out"

"$PY" test/stress/check.py --logdir "$logdir" --drained | tee "$logdir/check.out"
add_totals "checker" "$logdir/check.out"

# The checker must be able to fail: on copies of the database, break one
# promise at a time and require the matching property to be reported.
sabotage() {   # sabotage NAME SQL EXPECTED-PROPERTY-REGEX
    local db="sabotage_$((pass + fail))" out
    "$PGBIN/psql" -qX -c "CREATE DATABASE $db TEMPLATE postgres" >/dev/null &&
    PGDATABASE=$db "$PGBIN/psql" -qX -v ON_ERROR_STOP=1 -c "$2" >/dev/null &&
    out=$(PGDATABASE=$db "$PY" test/stress/check.py --logdir "$logdir" --drained)
    if grep -qE "^not ok [0-9]+ - .*$3" <<<"$out"; then
        result OK "checker detects $1"
    else
        result FAIL "checker detects $1"; grep '^not ok' <<<"$out"
    fi
    "$PGBIN/psql" -qX -c "DROP DATABASE IF EXISTS $db" >/dev/null
}
sabotage "a lost commit" \
    "UPDATE verist_state SET version = version - 1,
            computed = computed - (SELECT k FROM jsonb_each(computed) AS e(k, v)
                                   WHERE k LIKE 's-%' ORDER BY v::int DESC LIMIT 1)
      WHERE run_id = 'run-0'" \
    "acknowledged commits are in"
sabotage "a half commit (outbox row missing)" \
    "DELETE FROM verist_outbox WHERE id = (SELECT min(id) FROM verist_outbox WHERE step_id LIKE 's-%')" \
    "commands are in the outbox"
sabotage "a vanished event" \
    "ALTER TABLE verist_events DISABLE TRIGGER USER;
     DELETE FROM verist_events WHERE id = (SELECT max(id) FROM verist_events)" \
    "events are all there"
sabotage "a row leased behind its owner's back" \
    "UPDATE verist_outbox SET status = 'leased', lease_owner = 'ghost',
            lease_expires_at = now() + interval '1 hour', dispatched_at = NULL
      WHERE id = (SELECT min(id) FROM verist_outbox WHERE status = 'dispatched')" \
    "status agrees"
sabotage "two active blocks in one run" \
    "DROP INDEX verist_blocks_active_idx;
     INSERT INTO verist_blocks (workflow_id, run_id, step_id, type, reason)
       SELECT 'stress', 'run-0', 'x' || g, 'review', 'x' FROM generate_series(1, 2) g" \
    "at most one active block"

# The lease check works on the logs: forge one lease that starts 1 ms after
# a real one, while that one still runs.
forged=$logdir-forged
rm -rf "$forged"; cp -r "$logdir" "$forged"
"$PY" - "$forged" <<'EOF'
import datetime, json, sys
sys.path.insert(0, "test/stress")
from check import load_calls
d = sys.argv[1]
real = next(c for c in load_calls(d) if c["op"] == "lease" and c["r"] == "ok" and c["rows"])
oid, step, exp = real["rows"][0]
exp = (datetime.datetime.fromisoformat(exp) + datetime.timedelta(milliseconds=1)).isoformat()
with open(d + "/client-forged.jsonl", "w") as f:
    f.write(json.dumps(dict(k="b", c="forged", n=1, op="lease", owner="ghost", max=1,
                            ms=real["ms"])) + "\n")
    f.write(json.dumps(dict(k="e", c="forged", n=1, r="ok", rows=[[oid, step, exp]])) + "\n")
EOF
out=$("$PY" test/stress/check.py --logdir "$forged" --drained)
if grep -qE '^not ok [0-9]+ - no outbox row was leased to two owners' <<<"$out"; then
    result OK "checker detects a row leased to two owners at once"
else
    result FAIL "checker detects a row leased to two owners at once"
fi
rm -rf "$forged"

# The counter check must be able to fail.  Logs that miss one acknowledged
# lease call: leases and rows_leased must disagree with the saved counters.
dropped=$logdir-dropped
rm -rf "$dropped"; cp -r "$logdir" "$dropped"
"$PY" - "$dropped" <<'EOF'
import glob, json, sys
d = sys.argv[1]
for path in sorted(glob.glob(d + "/*.jsonl")):
    recs = [json.loads(l) for l in open(path) if l.strip()]
    ends = {(r["c"], r["n"]) for r in recs if r["k"] == "e" and r["r"] == "ok" and r.get("rows")}
    begins = [r for r in recs if r["k"] == "b" and r["op"] == "lease" and (r["c"], r["n"]) in ends]
    if begins:
        key = (begins[0]["c"], begins[0]["n"])
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in recs if (r["c"], r["n"]) != key)
        break
EOF
out=$("$PY" test/stress/counters.py --logdir "$dropped" --from "$logdir/counters.json")
if grep -qE '^not ok [0-9]+ - counter leases: ' <<<"$out" &&
   grep -qE '^not ok [0-9]+ - counter rows_leased: ' <<<"$out"; then
    result OK "counter check detects a lease call missing from the logs"
else
    result FAIL "counter check detects a lease call missing from the logs"; echo "$out"
fi
# Logs whose last call has no end record: its outcome is unknown, so no
# exact comparison.
rm -rf "$dropped"; cp -r "$logdir" "$dropped"
last=$(ls "$dropped"/client-*.jsonl | head -1)
n=$(grep -n '"k":"e"' "$last" | tail -1 | cut -d: -f1)
[ -n "$n" ] && sed -i "${n}d" "$last"
out=$("$PY" test/stress/counters.py --logdir "$dropped" --from "$logdir/counters.json")
if grep -qE '^not ok 1 - counters: no call has an unknown outcome' <<<"$out"; then
    result OK "counter check refuses to compare with a call of unknown outcome"
else
    result FAIL "counter check refuses to compare with a call of unknown outcome"; echo "$out"
fi
rm -rf "$dropped"
# A refusal that no client logged: one stale commit, counted by the server.
stale=$("$PGBIN/psql" -qXAt -v VERBOSITY=sqlstate -c \
    "SELECT verist_commit(workflow_id, run_id, 'counters-sabotage', version + 5, '{}', '[]', '[]')
       FROM verist_state WHERE workflow_id = 'stress' ORDER BY run_id LIMIT 1" 2>&1)
out=$("$PY" test/stress/counters.py --logdir "$logdir")
if grep -q VRC02 <<<"$stale" &&
   grep -qE '^not ok [0-9]+ - counter conflicts/version_mismatch: logs ([0-9]+), verist_counters' <<<"$out" &&
   [ "$(grep -c '^not ok' <<<"$out")" = 1 ]; then
    result OK "counter check detects a version_mismatch that no client logged"
else
    result FAIL "counter check detects a version_mismatch that no client logged"; echo "$stale"; echo "$out"
fi

# A backend that died (signal, assertion, PANIC) shows in the server log even
# when no client noticed.
if grep -E 'terminated by signal|TRAP:|PANIC:|was terminated by exception' "$CLUSTER_LOG"; then
    result FAIL "server log: no backend crashed"
else
    result OK "server log: no backend crashed"
fi
echo "# duration: $(( $(date +%s) - start )) s (logs in $logdir)"
finish
