#!/usr/bin/env bash
# pg_regress and isolation suites (make installcheck) on a throwaway cluster,
# then each pg_regress file alone (test/regress/run_inside.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh    # PG_CONFIG
rm -rf results output_iso regression.diffs regression.out
pg_virtualenv -t bash test/regress/run_inside.sh > test/out/regress.raw 2>&1
rc=$?
cat test/out/regress.raw
read -r pass fail < <(regress_counts test/out/regress.raw)
pass=$((pass + $(grep -c '^ok - ' test/out/regress.raw)))
fail=$((fail + $(grep -c '^not ok - ' test/out/regress.raw)))
if [ $rc -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "$pass passed, $fail failed"
[ $rc -eq 0 ] && [ "$fail" -eq 0 ]
