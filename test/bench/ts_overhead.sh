#!/usr/bin/env bash
# Latency overhead of the TypeScript package (@verist/storage-pg-verist) over a
# bare pool.query of verist_commit: packs src/typescript, installs the tarball
# into a scratch project, and runs test/bench/ts_overhead.mjs against a
# throwaway cluster, once with fsync on (PostgreSQL's defaults: fsync and
# synchronous_commit on) and once with fsync off.  Not part of the test suites.
#
#   bash test/bench/ts_overhead.sh                   3000 iterations per variant and setting
#   ITERATIONS=300 FSYNC=off bash test/bench/ts_overhead.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/fuzz/cluster.sh

scratch=$(mktemp -d /tmp/verist-ts-bench.XXXXXX)
trap 'fz_cluster_destroy; rm -rf "$scratch"' EXIT
quiet=(--no-audit --no-fund --prefer-offline --loglevel=error)

(cd src/typescript && npm ci "${quiet[@]}" >/dev/null)
tarball=$(cd src/typescript && npm pack --pack-destination "$scratch" --loglevel=error | tail -1)
cp test/clients/typescript/package.json test/clients/typescript/package-lock.json "$scratch/"
(cd "$scratch" && npm ci "${quiet[@]}" >/dev/null && npm install --no-save "${quiet[@]}" "./$tarball" >/dev/null)
cp test/bench/ts_overhead.mjs "$scratch/"

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for fsync in ${FSYNC:-on off}; do
    port=$(fz_free_port 5700 5799)
    fz_cluster_init "$port" "fsync = $fsync
synchronous_commit = on"
    psql -X -q -c 'CREATE EXTENSION verist'
    echo "== fsync = $fsync"
    (cd "$scratch" && node ts_overhead.mjs)
    fz_cluster_destroy
done
