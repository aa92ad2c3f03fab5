#!/usr/bin/env bash
# pg_regress and isolation suites (make installcheck) on a throwaway cluster.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh    # PG_CONFIG
rm -rf results output_iso regression.diffs regression.out
pg_virtualenv -t make -s installcheck PG_CONFIG="$PG_CONFIG" > test/out/regress.raw 2>&1
rc=$?
cat test/out/regress.raw
for f in regression.diffs output_iso/regression.diffs; do
    if [ -s "$f" ]; then echo "---- $f"; cat "$f"; fi
done
pass=$(grep -cE '\.\.\. ok' test/out/regress.raw)
fail=$(grep -cE '\.\.\. FAILED' test/out/regress.raw)
if [ $rc -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "$pass passed, $fail failed"
[ $rc -eq 0 ] && [ "$fail" -eq 0 ]
