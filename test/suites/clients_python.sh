#!/usr/bin/env bash
# Python client (test/clients/python): the Verist storage operations on
# psycopg 3 over verist's SQL API, tested on a throwaway cluster.
# Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/out

. test/lib.sh    # psycopg_python
if ! python=$(psycopg_python); then
    echo "clients_python: psycopg 3 not found (apt-get install python3-psycopg, or run test/setup.sh)"
    echo "0 passed, 1 failed"
    exit 1
fi

cd test/clients/python
PYTHONDONTWRITEBYTECODE=1 pg_virtualenv -t "$python" test_verist.py 2>&1 | tee ../../out/clients_python.raw
rc=${PIPESTATUS[0]}
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' ../../out/clients_python.raw | tail -1)
pass=$(awk '{print $1}' <<<"$line"); fail=$(awk '{print $3}' <<<"$line")
pass=${pass:-0}; fail=${fail:-0}
if [ $rc -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi    # died before its summary
# The script's own line is not last (pg_virtualenv prints after it): repeat it.
echo "$pass passed, $fail failed"
[ $rc -eq 0 ] && [ "$fail" -eq 0 ]
