#!/usr/bin/env bash
# Sanitize: test/sanitize/run.sh builds a copy of verist with
# -fsanitize=address,undefined (the system install is not touched), runs the
# pg_regress and isolation suites and the fuzzer against it on a throwaway
# cluster with libasan preloaded, requires a server log free of sanitizer
# reports, and proves the sanitizers were live with two planted bugs.
#
#   default          30,000 fuzz calls, under 2 minutes in all
#   VERIST_LONG=1    200,000 fuzz calls
#   SANITIZE_FUZZ_COUNT / SANITIZE_FUZZ_SEED / SANITIZE_PORT override
#
# Also "make sanitize".  Ends with "N passed, M failed" (run.sh prints it).
set -uo pipefail
cd "$(dirname "$0")/../.."
bash test/sanitize/run.sh
