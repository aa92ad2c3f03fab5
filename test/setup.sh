#!/usr/bin/env bash
# Install what verist needs on a fresh Debian/Ubuntu machine, then build and
# install the extension.  Safe to run again: it installs only what is missing.
#   VERIST_CFLAGS=...  extra compiler flags (the Makefile keeps its warnings
#                      and -Werror: they are "override" there)
#   PG_CONFIG=...      build against another installed PostgreSQL (the
#                      packages installed here are PostgreSQL 15's)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(gcc make postgresql-15 postgresql-server-dev-15 postgresql-contrib
          python3 python3-psycopg nodejs npm gnuplot-nox
          postgresql-15-plproxy pgbouncer postgresql-15-auto-failover)   # scale-out suites
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from elsewhere than Debian: a working node is enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=($(printf '%s\n' "${missing[@]}" | grep -vx -e nodejs -e npm || true))
fi
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

. test/lib.sh    # PG_CONFIG, PGBIN on PATH
make -s clean
make -s WERROR=1 PG_CONFIG="$PG_CONFIG" ${VERIST_CFLAGS:+PG_CFLAGS+="$VERIST_CFLAGS"}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
echo "setup: verist built with -Wall -Wextra -Werror against $("$PG_CONFIG" --version) and installed"
