#!/usr/bin/env bash
# The build's -Werror is real: build a copy of the tree the way test/setup.sh
# does (WERROR=1, and PG_CFLAGS on the command line as the sanitizer build
# passes it), once clean and once with a planted warning; the first must
# build, the second must fail on that warning.  Prints "ok - " / "not ok - ".
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
work=$(mktemp -d /tmp/verist-werror.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar --exclude=.git --exclude=test --exclude=node_modules --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
    -cf - . | tar -C "$work" -xf -
build() {   # build DIR: the flags test/setup.sh uses, plus extra PG_CFLAGS
    make -s -C "$1" clean >/dev/null 2>&1
    make -s -C "$1" WERROR=1 PG_CONFIG="$PG_CONFIG" with_llvm=no PG_CFLAGS+="-O1" 2>&1
}
if out=$(build "$work"); then
    echo "ok - the tree builds warning-free with -Wall -Wextra -Werror"
else
    echo "not ok - the tree builds warning-free with -Wall -Wextra -Werror"; echo "$out" | head -20
fi
# An unused variable: -Wall warns; only -Werror makes it fatal.
cat >> "$work/src/verist.c" <<'C'

int			verist_planted_warning(void);
int
verist_planted_warning(void)
{
	int			unused;

	return 0;
}
C
if out=$(build "$work"); then
    echo "not ok - a planted warning fails the build even with PG_CFLAGS on the command line"
else
    if grep -q "unused variable" <<<"$out"; then
        echo "ok - a planted warning fails the build even with PG_CFLAGS on the command line"
    else
        echo "not ok - the planted build failed, but not on the planted warning"; echo "$out" | head -20
    fi
fi
