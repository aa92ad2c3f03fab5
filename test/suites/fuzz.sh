#!/usr/bin/env bash
# Fuzz: test/fuzz/fuzz.py feeds generated and mutated arguments to every
# verist function on a throwaway cluster whose log and postmaster it watches
# (no crash, only documented SQLSTATEs, nothing written by a failed call,
# canonical JSON equal to JavaScript's).
#
#   VERIST_LONG=1     100,000 calls (default: FUZZ_COUNT or 100,000 too; see below)
#   FUZZ_COUNT/FUZZ_SEED/FUZZ_PORT override
#
# Ends with "N passed, M failed" (one line per criterion of fuzz.py).
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/fuzz/cluster.sh

if [ "${VERIST_LONG:-0}" = 1 ]; then count=${FUZZ_COUNT:-300000}
else count=${FUZZ_COUNT:-100000}; fi
seed=${FUZZ_SEED:-$RANDOM}
outdir=test/out/fuzz
rm -rf "$outdir"; mkdir -p "$outdir"

PY=$(fz_python) || { echo "fuzz: no python3 with psycopg (apt-get install python3-psycopg)"; echo "0 passed, 1 failed"; exit 1; }
trap 'fz_cluster_destroy; exit 130' INT TERM

port=${FUZZ_PORT:-$(fz_free_port 5480 5489)}
if ! fz_cluster_init "$port"; then
    echo "not ok - throwaway cluster on port $port"
    echo "0 passed, 1 failed"
    exit 1
fi

args=(--count "$count" --seed "$seed" --server-log "$FZ_LOG" --outdir "$outdir")
command -v node >/dev/null && args+=(--node node)
echo "fuzz: $count calls, seed $seed (replay: FUZZ_SEED=$seed FUZZ_COUNT=$count bash test/suites/fuzz.sh)"
"$PY" test/fuzz/fuzz.py "${args[@]}" | tee "$outdir/fuzz.out"
rc=${PIPESTATUS[0]}
cp "$FZ_LOG" "$outdir/server.log" 2>/dev/null
fz_cluster_destroy

pass=$(grep -c '^ok' "$outdir/fuzz.out")
fail=$(grep -c '^not ok' "$outdir/fuzz.out")
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "$pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
