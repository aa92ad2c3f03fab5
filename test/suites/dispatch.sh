#!/usr/bin/env bash
# Dispatch (0.3.0): the example dispatcher of test/dispatch/ end to end on a
# throwaway cluster -- NOTIFY wake-ups, retries with backoff, dead letters and
# re-queueing, lease takeover by polling -- with two dispatchers at once;
# then again with both leasing in mode per_run (0.5.0).
# Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/out

. test/lib.sh    # psycopg_python
if ! python=$(psycopg_python); then
    echo "dispatch: psycopg 3 not found (apt-get install python3-psycopg, or run test/setup.sh)"
    echo "0 passed, 1 failed"
    exit 1
fi

pg_virtualenv -t "$python" test/dispatch/e2e.py --seconds "${DISPATCH_SECONDS:-8}" \
    --outdir test/out/dispatch 2>&1 | tee test/out/dispatch.raw
rc=${PIPESTATUS[0]}
# 0.5.0: the same with both dispatchers leasing in mode per_run, which must
# also keep every run's commands in commit order, retries included.
echo "# again, both dispatchers with --mode per_run"
pg_virtualenv -t "$python" test/dispatch/e2e.py --seconds "${DISPATCH_SECONDS:-8}" --mode per_run \
    --outdir test/out/dispatch-per-run 2>&1 | tee -a test/out/dispatch.raw
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
pass=$(grep -c '^ok - ' test/out/dispatch.raw)
fail=$(grep -c '^not ok - ' test/out/dispatch.raw)
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "$pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
