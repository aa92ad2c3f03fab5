#!/usr/bin/env bash
# Attack: what an unrelated or unprivileged session can do to verist, tried
# against a real server (0.3.1).
#   test/attack/inval.py    a role with default privileges churns temporary
#                           tables and GRANT/REVOKE on its own schema while
#                           a runner commits steps with ~600 KB of events:
#                           no commit may fail, every chain verifies
#   test/attack/wakeups.py  what LISTEN tells a role granted nothing; notify
#                           and PREPARE TRANSACTION
#
#   default: 20 s of invalidation attack;  VERIST_LONG=1: 120 s
# Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/fuzz/cluster.sh     # fz_cluster_init / fz_cluster_destroy, psycopg_python

pass=0; fail=0
tally() { pass=$((pass + $(grep -c '^ok - ' <<<"$1"))); fail=$((fail + $(grep -c '^not ok - ' <<<"$1"))); }
finish() { fz_cluster_destroy; echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }
trap 'fz_cluster_destroy; exit 130' INT TERM

if ! PY=$(psycopg_python); then echo "not ok - python3 with psycopg"; fail=1; finish; fi
port=$(fz_free_port 5530 5560)
fz_cluster_init "$port" "max_prepared_transactions = 4" || { echo "not ok - cluster started"; fail=1; finish; }
psql -qX -c 'CREATE EXTENSION verist' || { echo "not ok - CREATE EXTENSION verist"; fail=1; finish; }

seconds=20; [ "${VERIST_LONG:-0}" = 1 ] && seconds=120
out=$("$PY" test/attack/inval.py --seconds "$seconds" 2>&1); echo "$out"; tally "$out"
if [ "$(grep -c '^\(not \)\?ok - ' <<<"$out")" -eq 0 ]; then echo "not ok - inval.py ran"; fail=$((fail + 1)); fi
out=$("$PY" test/attack/wakeups.py 2>&1); echo "$out"; tally "$out"
if [ "$(grep -c '^\(not \)\?ok - ' <<<"$out")" -eq 0 ]; then echo "not ok - wakeups.py ran"; fail=$((fail + 1)); fi
if grep -E 'PANIC|TRAP:|terminated by signal' "$FZ_LOG"; then
    echo "not ok - the server log shows no crash"; fail=$((fail + 1))
else
    echo "ok - the server log shows no crash"; pass=$((pass + 1))
fi
finish
