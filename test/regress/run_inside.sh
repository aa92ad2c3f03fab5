#!/usr/bin/env bash
# Inside a throwaway cluster (pg_virtualenv): the whole pg_regress and
# isolation suite, then every regress file alone (make installcheck
# REGRESS=NAME), which must pass too: no file may lean on another's objects.
set -uo pipefail
cd "$(dirname "$0")/../.."
rc=0
make -s installcheck PG_CONFIG="$PG_CONFIG" || rc=1
for f in regression.diffs output_iso/regression.diffs; do
    if [ -s "$f" ]; then echo "---- $f"; cat "$f"; fi
done
tests=$(make -s -f Makefile -f - PG_CONFIG="$PG_CONFIG" print-regress <<'MK' 2>/dev/null
print-regress:
	@echo $(REGRESS)
MK
)
for t in $tests; do
    rm -rf results regression.diffs regression.out
    if make -s installcheck REGRESS="$t" ISOLATION= PG_CONFIG="$PG_CONFIG" \
            >"test/out/alone-$t.log" 2>&1; then
        echo "ok - $t runs alone"
    else
        echo "not ok - $t runs alone"; cat regression.diffs 2>/dev/null | head -40; rc=1
    fi
done
exit $rc
