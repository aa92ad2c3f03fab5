#!/usr/bin/env bash
# Fuzz: test/fuzz/fuzz.py feeds generated and mutated arguments to every
# verist function on a throwaway cluster whose log and postmaster it watches
# (no crash, only documented SQLSTATEs, nothing written before bad input is
# refused, bad input always refused, canonical JSON equal to JavaScript's).
# First its self-test plants one violation of each promise and requires every
# check to report it (a check that cannot fail proves nothing).  Then
# test/fuzz/upgrade_fuzz.py: a 0.1.0 database fed generated events must
# upgrade to the current version with every chain verifying.
#
#   default          60,000 calls (about 2.5 minutes on 2 cores)
#   VERIST_LONG=1    300,000 calls
#   FUZZ_COUNT / FUZZ_SEED / FUZZ_PORT override
#
# Ends with "N passed, M failed": one line per check, and per self-test check.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/fuzz/cluster.sh

if [ "${VERIST_LONG:-0}" = 1 ]; then count=${FUZZ_COUNT:-300000}
else count=${FUZZ_COUNT:-60000}; fi
seed=${FUZZ_SEED:-$RANDOM}
outdir=test/out/fuzz
rm -rf "$outdir"; mkdir -p "$outdir"

PY=$(psycopg_python) || { echo "fuzz: no python3 with psycopg (apt-get install python3-psycopg)"; echo "0 passed, 1 failed"; exit 1; }
trap 'fz_cluster_destroy; exit 130' INT TERM

port=${FUZZ_PORT:-$(fz_free_port 5480 5489)}
# verist preloaded, so that its counters (0.5.0) answer here; the sanitize and
# assert suites run the fuzzer without, where they answer 55000.
if ! fz_cluster_init "$port" "shared_preload_libraries = 'verist'"; then
    echo "not ok - throwaway cluster on port $port"
    echo "0 passed, 1 failed"
    fz_cluster_destroy
    exit 1
fi

args=(--seed "$seed" --server-log "$FZ_LOG" --outdir "$outdir")
command -v node >/dev/null && args+=(--node node)
echo "fuzz: self-test (planted violations)"
"$PY" test/fuzz/fuzz.py --self-test "${args[@]}" | tee "$outdir/selftest.out"
rc1=${PIPESTATUS[0]}
echo "fuzz: $count calls, seed $seed (replay: FUZZ_SEED=$seed FUZZ_COUNT=$count bash test/suites/fuzz.sh)"
start=$(date +%s)
"$PY" test/fuzz/fuzz.py --count "$count" "${args[@]}" | tee "$outdir/fuzz.out"
rc2=${PIPESTATUS[0]}
echo "fuzz: wall time $(( $(date +%s) - start )) s"
# The class of 0.3.1's defect 4: an upgrade must take all an older version stored.
commits=400; [ "${VERIST_LONG:-0}" = 1 ] && commits=2000
"$PY" test/fuzz/upgrade_fuzz.py --dsn "host=127.0.0.1 port=$port user=postgres dbname=postgres" \
    --commits "$commits" --seed "$seed" | tee "$outdir/upgrade.out"
rc3=${PIPESTATUS[0]}
cp "$FZ_LOG" "$outdir/server.log" 2>/dev/null
fz_cluster_destroy

outs=("$outdir/selftest.out" "$outdir/fuzz.out" "$outdir/upgrade.out")
pass=$(cat "${outs[@]}" | grep -c '^ok')
fail=$(cat "${outs[@]}" | grep -c '^not ok')
if { [ "$rc1" -ne 0 ] || [ "$rc2" -ne 0 ] || [ "$rc3" -ne 0 ]; } && [ "$fail" -eq 0 ]; then fail=1; fi
echo "$pass passed, $fail failed"
[ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && [ "$rc3" -eq 0 ] && [ "$fail" -eq 0 ]
