#!/usr/bin/env bash
# Node.js client (test/clients/node): the Verist storage interface written on
# node-postgres over verist's SQL API, tested with node --test on a throwaway
# cluster.  Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"   # PG_CONFIG, PGBIN on PATH
mkdir -p test/out
dir=test/clients/node
raw=test/out/clients_node.raw

# Exactly the locked dependency tree (pg); the npm cache serves repeats.
if ! (cd "$dir" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error); then
    echo "clients_node: npm ci failed"
    echo "0 passed, 1 failed"
    exit 1
fi

(cd "$dir" && pg_virtualenv -t node --test --test-reporter=tap verist.test.mjs) > "$raw" 2>&1
rc=$?
cat "$raw"

# node's TAP summary: "# pass N", "# fail M", "# cancelled K" (a failed hook).
count() { grep -E "^# $1 [0-9]+$" "$raw" | tail -1 | awk '{print $3}'; }
pass=$(count pass); fail=$(count fail); cancelled=$(count cancelled)
pass=${pass:-0}; fail=$(( ${fail:-0} + ${cancelled:-0} ))
if [ $rc -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi    # died before its summary
echo "$pass passed, $fail failed"
[ $rc -eq 0 ] && [ "$fail" -eq 0 ]
