#!/usr/bin/env bash
# Run every verist test suite and print one total line "N passed, M failed".
#
#   bash test/run.sh            all suites, short versions (CI)
#   bash test/run.sh --long     long stress/crash/fuzz runs (minutes)
#   bash test/run.sh regress    only the named suites
#
# Each suite is test/suites/NAME.sh: it starts whatever server it needs (a
# throwaway cluster), ends its output with a line "N passed, M failed", and
# exits non-zero if anything failed.  A suite that exits non-zero, prints no
# such line, or prints "0 passed, 0 failed" counts as failed: a suite that
# ran nothing proves nothing.  (VERIST_SUITES_DIR: another suite directory,
# for run.sh's own test in the lint suite.)
set -uo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh    # PG_CONFIG, PGBIN on PATH

export VERIST_LONG=0
names=()
for arg in "$@"; do
    case "$arg" in
        --long) VERIST_LONG=1 ;;
        *) names+=("$arg") ;;
    esac
done
if ((${#names[@]} == 0)); then
    names=(lint regress audit ledger dispatch tenants clients_node clients_python clients_ts stress
           crash attack standby scaleout failover fuzz sanitize assert)
fi

mkdir -p test/out
total_pass=0
total_fail=0
status=0
for name in "${names[@]}"; do
    script="${VERIST_SUITES_DIR:-test/suites}/$name.sh"
    if [ ! -f "$script" ]; then
        echo "== $name: no such suite"
        total_fail=$((total_fail + 1)); status=1
        continue
    fi
    echo "== suite $name"
    start=$(date +%s)
    bash "$script" 2>&1 | tee "test/out/$name.log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^([A-Za-z_]+: )?[0-9]+ passed, [0-9]+ failed' "test/out/$name.log" | tail -1)
    p=$(sed -E 's/^([A-Za-z_]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
    f=$(sed -E 's/^([A-Za-z_]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/' <<<"$line")
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi    # a suite that died counts
    if [ $((p + f)) -eq 0 ]; then                            # so does one that ran nothing
        echo "== suite $name ran no test (no \"N passed, M failed\" line, or 0 and 0)"
        f=1
    fi
    echo "== suite $name: $p passed, $f failed ($(( $(date +%s) - start )) s)"
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] || status=1
done

echo "$total_pass passed, $total_fail failed"
exit $status
