#!/usr/bin/env bash
# Lint: static checks of the SQL the C code runs (test/lint/check_sql.py:
# constant text only, SPI_prepare only in plans.c, schema-qualified tables,
# pg_catalog functions and operators), with a self-test that planted
# mistakes are found.  Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
out=$(python3 test/lint/check_sql.py --self-test src/*.c)
rc=$?
echo "$out"
pass=$(grep -c '^ok - ' <<<"$out")
fail=$(grep -c '^not ok - ' <<<"$out")
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "$pass passed, $fail failed"
[ "$rc" -eq 0 ]
