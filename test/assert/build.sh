#!/usr/bin/env bash
# Build (once) an assert-enabled PostgreSQL 15 from Debian's own source
# package, and print its bin directory.
#
# Debian's postgresql-15 source package is fetched with `apt-get source`
# (a deb-src entry mirroring the machine's own Debian archive is added when
# missing).  The upstream tarball inside it (*.orig.tar.bz2) is built with
# --enable-cassert --enable-debug and its own --prefix: Debian's patched tree
# would install over the system server's libraries.  The build is cached
# outside the clone, in $VERIST_ASSERT_CACHE (default /var/cache/verist),
# keyed by the version; a second run reuses it in a second.  Delete the
# directory to rebuild from scratch.
#
#   bash test/assert/build.sh          build if missing; last line: the bin dir
#
# The version built is the installed server's when Debian's archive still
# serves its source, else the newest postgresql-15 source it serves (the
# security archive keeps binaries, not always sources).  Either is a 15.x
# server; verist is built against the assert server's own pg_config.
set -euo pipefail

cache=${VERIST_ASSERT_CACHE:-/var/cache/verist}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

log() { echo "assert-build: $*" >&2; }

# A deb-src twin of every deb entry of the machine's sources (deb822 and
# one-line formats), so that apt-get source reaches the same archive.
add_deb_src() {
    local f=/etc/apt/sources.list.d/verist-deb-src.sources
    [ -f "$f" ] && return 0
    if apt-cache showsrc postgresql-15 2>/dev/null | grep -q '^Version:'; then return 0; fi
    log "adding deb-src entries ($f)"
    {
        for s in /etc/apt/sources.list.d/*.sources; do
            [ -f "$s" ] && [ "$s" != "$f" ] || continue
            sed -n '/^Types:/,$p' "$s" | sed 's/^Types:.*\bdeb\b.*/Types: deb-src/'
            echo
        done
    } | $SUDO tee "$f.tmp" >/dev/null
    if [ -f /etc/apt/sources.list ]; then
        grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' |
            $SUDO tee /etc/apt/sources.list.d/verist-deb-src.list >/dev/null || true
    fi
    if grep -q 'deb-src' "$f.tmp"; then $SUDO mv "$f.tmp" "$f"; else $SUDO rm -f "$f.tmp"; fi
    $SUDO apt-get update -qq >/dev/null
}

# Versions of the source package to try, the installed server's first.
candidate_versions() {
    dpkg-query -W -f='${Version}\n' postgresql-15 2>/dev/null || true
    apt-cache showsrc postgresql-15 2>/dev/null | sed -n 's/^Version: //p' | sort -rV
}

add_deb_src
$SUDO mkdir -p "$cache"
dl=$(mktemp -d /tmp/verist-pgsrc.XXXXXX)
trap 'rm -rf "$dl"' EXIT

# Reuse a finished build of any candidate version.
for v in $(candidate_versions | awk '!seen[$0]++'); do
    up=${v%%-*}
    prefix="$cache/pg-$up-assert"
    if [ -x "$prefix/bin/postgres" ] && [ -f "$prefix/.complete" ]; then
        log "cached: $prefix ($(cat "$prefix/.complete"))"
        echo "$prefix/bin"
        exit 0
    fi
done

chmod 755 "$dl"
cd "$dl"
got=
for v in $(candidate_versions | awk '!seen[$0]++'); do
    if apt-get source --download-only -qq "postgresql-15=$v" >/dev/null 2>&1; then
        got=$v; break
    fi
    log "source of postgresql-15 $v not served; trying an older one"
    rm -f ./*
done
[ -n "$got" ] || { log "no postgresql-15 source package could be downloaded"; exit 1; }
up=${got%%-*}
prefix="$cache/pg-$up-assert"
tarball=$(ls ./*.orig.tar.bz2)
log "building PostgreSQL $up (Debian $got) with --enable-cassert --enable-debug into $prefix"
tar -xjf "$tarball"
src=$(find . -maxdepth 1 -type d -name 'postgresql-*' | head -1)
cd "$src"
start=$(date +%s)
# No readline, ICU or zlib: a server for tests needs none, and a fresh
# machine has none of their -dev packages.  (--enable-debug keeps -O2.)
./configure -q --prefix="$prefix" --enable-cassert --enable-debug \
    --without-readline --without-icu --without-zlib >/dev/null
make -s -j"$(nproc)" >/dev/null 2>&1 || make -s  # a failure prints once, without -j
$SUDO rm -rf "$prefix"
$SUDO make -s install >/dev/null
# pg_regress and the isolation tester, where PGXS's installcheck looks.
$SUDO make -s -C src/test/isolation install >/dev/null
echo "$got built $(date -u +%F) in $(( $(date +%s) - start )) s" | $SUDO tee "$prefix/.complete" >/dev/null
log "done in $(( $(date +%s) - start )) s"
echo "$prefix/bin"
