#!/usr/bin/env bash
# Lint: static checks of the SQL the C code runs (test/lint/check_sql.py:
# constant text only, SPI_prepare only in plans.c, schema-qualified tables,
# pg_catalog functions and operators), with a self-test that planted
# mistakes are found; test/lint/check_scripts.py: no routine body of the
# install script names @extschema@ (it would break on a schema rename);
# test/lint/werror.sh: -Werror is real (a planted warning fails the build);
# test/lint/runner.sh: test/run.sh fails a suite that ran nothing.  Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
out=$(python3 test/lint/check_sql.py --self-test src/*.c)
rc=$?
out+=$'\n'$(python3 test/lint/check_scripts.py --self-test verist.control sql/)
out+=$'\n'$(bash test/lint/werror.sh)
out+=$'\n'$(bash test/lint/runner.sh)
grep -q '^not ok - ' <<<"$out" && rc=1
echo "$out"
pass=$(grep -c '^ok - ' <<<"$out")
fail=$(grep -c '^not ok - ' <<<"$out")
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "$pass passed, $fail failed"
[ "$rc" -eq 0 ]
