#!/usr/bin/env bash
# The demo of README's first command: install what is needed, build and
# install verist, then run test/demo/demo.sql with psql against a throwaway
# cluster (pg_virtualenv), so nothing is left behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"   # PG_CONFIG, PGBIN on PATH
pg_virtualenv psql -X -q -f test/demo/demo.sql
