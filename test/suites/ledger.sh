#!/usr/bin/env bash
# Ledger: the run's ledger (0.4.0) against a model, and commit retries across
# a crash, on a throwaway cluster (fsync and synchronous_commit on).
#   test/ledger/model.py        a random history of interleaved runs (commits,
#                               overlays, review/suspend blocks, resolutions,
#                               retries, stale commits) applied through the
#                               SQL functions and checked against a Python
#                               model: state_at for every version, the whole
#                               history, state_as_of between every two
#                               transactions, verify_run, events, outbox
#   test/ledger/crash_retry.py  clients whose commits succeeded but whose
#                               answers a proxy swallowed, and clients blocked
#                               on a lock, across a SIGKILL of the postmaster:
#                               the retry gets the stored row and writes
#                               nothing, or commits exactly once
# Then a few planted mistakes in the model, each of which must be caught.
#
#   default: 300 commits over 2 interleaved runs, 2 crash cycles, 3 planted
#   mistakes (~30-60 s)
#   VERIST_LONG=1: 3,000 commits over 3 runs (state_at at every version,
#   state_as_of at 600 sampled moments), 6 crash cycles, every planted
#   mistake (~5 min: each state_at / as_of replays the ledger from its start)
#   LEDGER_SEED=N replays a seed (model and crash test); ports 5900-5949
# Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. test/stress/cluster.sh        # cluster_init / cluster_destroy, as_pg, psycopg_python

pass=0; fail=0
# show OUTPUT WHAT: print a script's output (its own total as a "# WHAT: ..."
# comment, so that the suite's total stays the only such line) and add its
# ok / not ok lines; a script that printed none or no total did not finish.
show() {
    local n
    sed -E "s/^([0-9]+ passed, [0-9]+ failed)\$/# $2: \1/" <<<"$1"
    pass=$((pass + $(grep -c '^ok - ' <<<"$1"))); fail=$((fail + $(grep -c '^not ok - ' <<<"$1")))
    n=$(grep -c '^\(not \)\?ok - ' <<<"$1")
    if [ "$n" -eq 0 ] || ! tail -1 <<<"$1" | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then
        echo "not ok - $2 ran to the end"; fail=$((fail + 1))
    fi
}
finish() { cluster_destroy; echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }
trap 'cluster_destroy; exit 130' INT TERM

free_port() {
    local p
    for p in $(seq "$1" "$2"); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

start=$(date +%s)
if ! PY=$(psycopg_python); then echo "not ok - python3 with psycopg"; fail=1; finish; fi
port=$(free_port 5900 5919) || { echo "not ok - a free port in 5900-5919"; fail=1; finish; }
if cluster_init "$port"; then
    echo "ok - cluster on port $port with verist, fsync and synchronous_commit on"; pass=$((pass + 1))
else
    echo "not ok - cluster on port $port with verist"; fail=1; cat "${CLUSTER_LOG:-/dev/null}"; finish
fi
dsn="host=127.0.0.1 port=$port user=postgres dbname=postgres"

if [ "${VERIST_LONG:-0}" = 1 ]; then
    model_args="--runs 3 --commits 3000 --asof-max 600"; cycles=6
    plants="deep-merge null-removes state-at-later raw-resolution retry-different retry-text
            stale-same stale-count asof-early events-seq actor block-payload outbox-approve
            missing-version verify final-version event-type no-block-row asof-first"
else
    model_args="--runs 2 --commits 300"; cycles=2
    plants="null-removes state-at-later retry-different"
fi
seed=${LEDGER_SEED:-}

# shellcheck disable=SC2086
out=$("$PY" test/ledger/model.py --dsn "$dsn" $model_args ${seed:+--seed $seed} 2>&1)
show "$out" "model.py"

out=$("$PY" test/ledger/crash_retry.py --port "$port" --pgdata "$PGDATA_DIR" --pgbin "$PGBIN" \
      --log "$CLUSTER_LOG" --proxy-ports 5920-5949 --cycles "$cycles" ${seed:+--seed $seed} 2>&1)
show "$out" "crash_retry.py"

# The model's checks can fail: each planted mistake must be reported by the
# check it breaks (a fixed seed that exercises each).
declare -A caught=(
    [deep-merge]="verist_state_at(v) equals"          [null-removes]="verist_state_as_of at a moment"
    [state-at-later]="verist_state_at(v) equals"      [raw-resolution]="verist_run_history holds"
    [retry-different]="identical retries return"      [retry-text]="jsonb-equal retries"
    [stale-same]="stale commits are refused"          [stale-count]="stale commits are refused"
    [asof-early]="verist_state_as_of at a moment"     [events-seq]="verist_run_history holds"
    [actor]="verist_run_history holds"                [block-payload]="each block as created"
    [outbox-approve]="the run's outbox is the model's" [missing-version]="verist_state_at past the last"
    [verify]="verist_verify_run"                      [final-version]="the final state row"
    [event-type]="the run's events are the model's"  [no-block-row]="a resolution without an active block"
    [asof-first]="verist_state_as_of before a run's first entry")
for p in $plants; do
    out=$("$PY" test/ledger/model.py --dsn "$dsn" --commits 40 --seed 7 --plant "$p" 2>&1)
    if grep -qF "not ok - ${caught[$p]}" <<<"$out"; then
        echo "ok - planted mistake '$p' caught by: ${caught[$p]}"; pass=$((pass + 1))
    else
        echo "not ok - planted mistake '$p' caught by: ${caught[$p]}"; fail=$((fail + 1))
        grep -E '^(not )?ok - ' <<<"$out" | sed 's/^/#   /'
    fi
done

if grep -E 'terminated by signal (6|11)|TRAP:|PANIC:|was terminated by exception' "$CLUSTER_LOG"; then
    echo "not ok - server log: no backend crashed by itself, recovery clean"; fail=$((fail + 1))
else
    echo "ok - server log: no backend crashed by itself, recovery clean"; pass=$((pass + 1))
fi
echo "# duration: $(( $(date +%s) - start )) s"
finish
