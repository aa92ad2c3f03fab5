#!/usr/bin/env bash
# Audit (0.2.0): the hash chain re-verified outside the database by
# test/audit/verify_chain.py from a psql export, tampering caught at the
# right run and sequence (also a full rewrite, against recorded anchors), and
# verist_read_events delivering every event under concurrent writers.
# Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/out

. test/lib.sh    # psycopg_python
if ! python=$(psycopg_python); then
    echo "audit: psycopg 3 not found (apt-get install python3-psycopg, or run test/setup.sh)"
    echo "0 passed, 1 failed"
    exit 1
fi

pg_virtualenv -t bash test/audit/run_inside.sh "$python" 2>&1 | tee test/out/audit.raw
rc=${PIPESTATUS[0]}
pass=$(grep -c '^ok - ' test/out/audit.raw)
fail=$(grep -c '^not ok - ' test/out/audit.raw)
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "$pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
