#!/usr/bin/env bash
# test/run.sh itself: a suite that ran nothing must count as failed.  Three
# fake suites -- one prints "0 passed, 0 failed", one prints nothing, one
# passes -- must total "1 passed, 2 failed" with a non-zero exit.
set -uo pipefail
cd "$(dirname "$0")/../.."
fake=$(mktemp -d /tmp/verist-runner.XXXXXX)
trap 'rm -rf "$fake"' EXIT
printf 'echo "0 passed, 0 failed"\n' > "$fake/empty.sh"
printf 'echo "nothing to say"\n' > "$fake/silent.sh"
printf 'echo "ok - one"\necho "1 passed, 0 failed"\n' > "$fake/real.sh"
out=$(VERIST_SUITES_DIR="$fake" bash test/run.sh empty silent real 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && [ "$(tail -1 <<<"$out")" = "1 passed, 2 failed" ]; then
    echo "ok - test/run.sh fails suites that ran nothing (0 and 0, or no totals line)"
else
    echo "not ok - test/run.sh fails suites that ran nothing (exit $rc, last line: $(tail -1 <<<"$out"))"
fi

# pg_regress's results are counted in PostgreSQL 15's format and in the TAP
# format of 16 and later (samples of each, as those versions print them).
. test/lib.sh
sample=$(mktemp /tmp/verist-tap.XXXXXX)
cat > "$sample" <<'OUT'
test schema                       ... ok           82 ms
test commit                       ... FAILED       72 ms
ok 1         - schema                                     20 ms
not ok 2     - commit                                      3 ms
ok 3         + isolation-spec                             41 ms
# All 3 tests passed.
OUT
if [ "$(regress_counts "$sample")" = "3 2" ]; then
    echo "ok - pg_regress results are counted in 15's format and in the TAP format of 16+"
else
    echo "not ok - pg_regress results are counted in 15's format and in the TAP format of 16+ (got $(regress_counts "$sample"))"
fi
rm -f "$sample"
