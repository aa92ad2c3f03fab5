#!/usr/bin/env bash
# Assert: regress, isolation and a short fuzz run on an assert-enabled
# PostgreSQL 15 built from Debian's source package (cached in
# /var/cache/verist), then regress again with debug_discard_caches = 1
# (test/assert/run.sh).  Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
bash test/assert/run.sh
