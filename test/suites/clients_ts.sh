#!/usr/bin/env bash
# The TypeScript package (src/typescript, @verist/storage-pg-verist) as a
# Verist user gets it: built and packed with npm pack, the tarball installed
# into a fresh scratch project under /tmp, and the compatibility suite of
# test/clients/typescript run there with node --test against a throwaway
# cluster (test/fuzz/cluster.sh), which the connection tests stop and restart.
# One "ok - ..." / "not ok - ..." line per test, then "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/fuzz/cluster.sh    # test/lib.sh, fz_free_port, fz_cluster_init/destroy
mkdir -p test/out

pkg=src/typescript
tests=test/clients/typescript
scratch=$(mktemp -d /tmp/verist-ts.XXXXXX)
log=$PWD/test/out/clients_ts.npm.log
cleanup() { fz_cluster_destroy; rm -rf "$scratch"; }
trap cleanup EXIT

give_up() {
    echo "clients_ts: $1 (see $log)"
    tail -20 "$log"
    echo "0 passed, 1 failed"
    exit 1
}
npm_quiet=(--no-audit --no-fund --prefer-offline --loglevel=error)

# 1. The package: its locked dev dependencies, then npm pack (prepack: tsc to dist/).
: > "$log"
(cd "$pkg" && npm ci "${npm_quiet[@]}") >> "$log" 2>&1 || give_up "npm ci in $pkg failed"
tarball=$(cd "$pkg" && npm pack --pack-destination "$scratch" --loglevel=error 2>> "$log" | tail -1)
[ -n "$tarball" ] && [ -f "$scratch/$tarball" ] || give_up "npm pack failed"
echo "packed $tarball ($(du -k "$scratch/$tarball" | cut -f1) kB): $(tar tzf "$scratch/$tarball" | wc -l) files"

# 2. A fresh project: the suite's locked dependencies (pg, drizzle-orm,
#    typescript for the type test), then the tarball, as a user installs it.
cp "$tests/package.json" "$tests/package-lock.json" "$scratch/"
(cd "$scratch" && npm ci "${npm_quiet[@]}" && npm install --no-save "${npm_quiet[@]}" "./$tarball") \
    >> "$log" 2>&1 || give_up "installing the tarball into $scratch failed"
cp "$tests"/*.mjs "$tests/consumer.ts" "$tests/tsconfig.json" "$scratch/"
installed=$(cd "$scratch" && node -p "require('@verist/storage-pg-verist/package.json').version")
echo "installed @verist/storage-pg-verist $installed into $scratch"

# 3. A throwaway cluster on a free port of 5700-5799, and the script the
#    connection tests stop and start it with.
port=$(fz_free_port 5700 5799) || give_up "no free port in 5700-5799"
# verist preloaded: its counters (0.5.0) live in shared memory, which readCounters reads
fz_cluster_init "$port" "max_connections = 60
shared_preload_libraries = 'verist'" >> "$log" 2>&1 || give_up "cluster did not start"
psql -X -q -c 'CREATE EXTENSION verist' >> "$log" 2>&1 || give_up "CREATE EXTENSION verist failed"
echo "cluster on port $port, verist $(psql -X -A -t -c "SELECT extversion FROM pg_extension WHERE extname = 'verist'")"
cat > "$scratch/server-ctl.sh" <<EOF
#!/usr/bin/env bash
# stop (immediate, as a crash) or start the suite's cluster
. "$PWD/test/lib.sh"
case "\$1" in
    stop)  as_pg "$FZ_PGBIN/pg_ctl -D $FZ_DATA -m immediate -w stop" ;;
    start) as_pg "$FZ_PGBIN/pg_ctl -D $FZ_DATA -l $FZ_LOG -w -t 60 start" ;;
    *) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
EOF
chmod +x "$scratch/server-ctl.sh"

# 4. The compatibility suite, one file at a time; the connection tests last
#    and alone, since they stop the server.
raw=test/out/clients_ts.raw
( cd "$scratch" && node --test --test-concurrency=1 --test-reporter=./reporter.mjs \
    runstore.test.mjs blocks.test.mjs outbox.test.mjs audit.test.mjs drizzle.test.mjs \
    example.test.mjs types.test.mjs ) > "$raw" 2>&1
rc1=$?
( cd "$scratch" && VERIST_TEST_SERVER_CTL="$scratch/server-ctl.sh" \
    node --test --test-reporter=./reporter.mjs connection.test.mjs ) >> "$raw" 2>&1
rc2=$?
grep -v '^# [0-9]* passed, [0-9]* failed$' "$raw"

pass=0; fail=0; runs=0
while read -r _ p _ f _; do
    pass=$((pass + p)); fail=$((fail + f)); runs=$((runs + 1))
done < <(grep -E '^# [0-9]+ passed, [0-9]+ failed$' "$raw")
if [ "$runs" -ne 2 ] || { [ $((rc1 + rc2)) -ne 0 ] && [ "$fail" -eq 0 ]; }; then
    fail=$((fail + 1))    # a run died before its count line
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
