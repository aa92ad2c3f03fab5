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
