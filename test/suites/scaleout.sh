#!/usr/bin/env bash
# Scale-out: verist sharded over two servers behind a PL/Proxy router
# (src/proxy, the verist_proxy extension), with PgBouncer (transaction mode)
# between the router and the shards, all on loopback ports 5800-5899:
#   * the committed router script is what generate.py makes from a shard's
#     catalog, and verist_proxy_check() finds no difference;
#   * every verist function through the router answers as one database does
#     (test/scaleout/matrix.py): rows, SQLSTATEs, messages less PL/Proxy's
#     prefix; ids routed by their shard bits, a batch split, the lease shared,
#     a cursor per shard, the documented hash, ROLLBACK not undoing a call;
#   * concurrent commits through the router with a dispatcher and a tailer
#     per shard (direct, LISTEN) and one of each through the router: nothing
#     lost, nothing delivered or read twice, every chain verifies, also
#     outside the database against the acknowledged heads as anchors;
#   * the call after an error is cheaper through PgBouncer than direct;
#   * one shard down stops nothing on the other;
#   * a shard whose verist gained a column or a function is caught (type drift);
#   * a third shard added and partitions moved to it, under load, runs with
#     whole ledgers among them (verist 0.4.0): heads, histories, states and
#     seals kept, verist_verify_all() empty on every shard;
#   * verist 0.4.0 through the router: the ledger's functions in the matrix,
#     the router's verist.actor recorded by the shard, the roles recorded;
#   * verist 0.5.0 through the router: the lease modes' refusals in the
#     matrix, and verist_lease_outbox(..., 'per_run') leasing each run's
#     commands in commit order, one in flight per run, from every shard;
#   * verist 0.6.0 through the router: the outbox rows leasing returns carry
#     the shards' generated column queued; partitions whose outbox rows move
#     to another shard leave it to the target to compute;
#   * the router upgraded from 0.3.1 through the shipped scripts (0.3.1 ->
#     0.4.0 -> 0.5.0 -> 0.6.0, against shards upgraded from 0.3.1) equals a
#     fresh router of the mirrored version, catalog for catalog.
# Ends with "N passed, M failed".  VERIST_LONG=1: a longer load.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/scaleout/lib.sh
export PGOPTIONS="-c client_min_messages=warning"

pass=0; fail=0
result() { if [ "$1" = OK ]; then pass=$((pass + 1)); echo "ok - $2"; else fail=$((fail + 1)); echo "not ok - $2"; fi; }
count() {   # add the ok/not ok lines of a program's output
    local out=$1
    pass=$((pass + $(grep -c '^ok - ' <<<"$out"))); fail=$((fail + $(grep -c '^not ok - ' <<<"$out")))
    [ "$(grep -c '^\(not \)\?ok - ' <<<"$out")" -gt 0 ] || { echo "not ok - $2 printed no result"; fail=$((fail + 1)); }
}
finish() { so_end; echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }
trap 'finish' INT TERM
trap 'so_end' EXIT          # also when the script dies: no server left behind
bad() { result FAIL "$1"; finish; }
start=$(date +%s)
phase() { echo "# $1 ($(( $(date +%s) - start )) s)"; }
seconds=10; [ "${VERIST_LONG:-0}" = 1 ] && seconds=60

so_need_packages postgresql-15-plproxy pgbouncer || bad "apt-get install postgresql-15-plproxy pgbouncer"
PY=$(psycopg_python) || bad "python3 with psycopg"
make -s -C src/proxy install >/dev/null 2>&1 && result OK "make -C src/proxy install (the verist_proxy extension)" ||
    bad "make -C src/proxy install"

# The shards run the verist version the router mirrors (the committed
# script's); a newer default verist is reported by its own check below.
mirrored=$(sed -nE "s/^default_version = '(.*)'/\1/p" src/proxy/verist_proxy.control)
installed=$(sed -nE "s/^default_version = '(.*)'/\1/p" "$("$PG_CONFIG" --sharedir)/extension/verist.control")

so_begin
for v in rp p1 p2 p3 bp; do so_port "$v" 5800 5899 || bad "free ports in 5800-5899"; done
so_server router "$rp" || bad "router server started"
for k in 1 2 3; do
    port=$(eval echo \$p$k)
    so_server "shard$k" "$port" "verist.notify = on" || bad "shard $k server started"
    psql -qX -p "$port" -d postgres -c 'CREATE DATABASE verist' -c '\c verist' -c "CREATE EXTENSION verist VERSION '$mirrored'" >/dev/null ||
        bad "verist $mirrored on shard $k"
done
psql -qX -p "$p1" -d postgres -c 'CREATE DATABASE reference' -c '\c reference' -c "CREATE EXTENSION verist VERSION '$mirrored'" >/dev/null ||
    bad "reference database"
so_pgbouncer bouncer "$bp" "verist_shard1 = host=127.0.0.1 port=$p1 dbname=verist
verist_shard2 = host=127.0.0.1 port=$p2 dbname=verist
verist_shard3 = host=127.0.0.1 port=$p3 dbname=verist
verist_old1 = host=127.0.0.1 port=$p1 dbname=old
verist_old2 = host=127.0.0.1 port=$p2 dbname=old" || bad "PgBouncer started"
pooled() { echo "host=127.0.0.1 port=$bp dbname=verist_shard$1"; }
direct() { echo "host=127.0.0.1 port=$(eval echo \$p$1) dbname=verist"; }
ROUTER="host=127.0.0.1 port=$rp dbname=router user=postgres"
S1="$(direct 1) user=postgres"; S2="$(direct 2) user=postgres"; S3="$(direct 3) user=postgres"
rsql() { psql -qXAt -v ON_ERROR_STOP=1 "$ROUTER" "$@"; }

psql -qX -p "$rp" -d postgres -c 'CREATE DATABASE router' >/dev/null
init=$(rsql -c 'CREATE EXTENSION verist_proxy CASCADE' \
            -c "SELECT string_agg(shard || ':' || partitions_held, ' ') FROM verist_proxy_init(ARRAY['$(pooled 1)', '$(pooled 2)'], 128)" 2>&1)
[ "$init" = "1:64 2:64" ] && result OK "router: CREATE EXTENSION verist_proxy, verist_proxy_init over 2 shards through PgBouncer (128 partitions: $init)" ||
    { echo "$init"; bad "router initialised"; }

# A LOGIN role that is not a superuser, on every server and in PgBouncer's
# users, allowed to commit and read the record: the matrix's SET ROLE check.
clerk_grants="GRANT EXECUTE ON FUNCTION verist_commit(text, text, text, integer, jsonb, jsonb, jsonb),
    verist_run_history(text, text) TO verist_clerk"
for port in $rp $p1 $p2 $p3; do
    psql -qX -p "$port" -d postgres -c 'CREATE ROLE verist_clerk LOGIN' >/dev/null || bad "role verist_clerk"
done
for db in "-p $p1 -d verist" "-p $p1 -d reference" "-p $p2 -d verist" "-p $p3 -d verist" "-p $rp -d router"; do
    psql -qX -v ON_ERROR_STOP=1 $db -c "$clerk_grants" >/dev/null || bad "grants to verist_clerk ($db)"
done
as_pg "echo '\"verist_clerk\" \"\"' >> $SO_ROOT/bouncer/users.txt"
psql -qX -p "$bp" -d pgbouncer -c RELOAD >/dev/null 2>&1 || bad "PgBouncer reloaded"

phase "servers up"
# --- the router is what generate.py makes of a shard, and matches every shard
out=$("$PY" src/proxy/generate.py --check "src/proxy/verist_proxy--$mirrored.sql" "$S1" 2>&1)
[ $? = 0 ] && result OK "src/proxy/verist_proxy--$mirrored.sql is what generate.py makes from functions.list and a shard's catalog (verist $mirrored)" ||
    { echo "$out" | head -30; result FAIL "src/proxy/verist_proxy--$mirrored.sql is what generate.py makes from a shard's catalog"; }
# A later verist installed here needs its router: regenerate (README).
psql -qX -p "$p1" -d postgres -c 'CREATE DATABASE latest' -c '\c latest' -c 'CREATE EXTENSION verist' >/dev/null
out=$("$PY" src/proxy/generate.py --check "src/proxy/verist_proxy--$installed.sql" "$(direct 1 | sed 's/dbname=verist/dbname=latest/') user=postgres" 2>&1)
[ $? = 0 ] && result OK "the router mirrors the default verist installed here ($installed)" ||
    { echo "$out" | head -30; result FAIL "the router mirrors the default verist installed here ($installed; the router is $mirrored): add the new objects to src/proxy/functions.list and make -C src/proxy generate"; }
out=$(rsql -c 'SELECT shard, problem FROM verist_proxy_check()' 2>&1)
[ -z "$out" ] && result OK "verist_proxy_check(): the router's types, views and signatures equal every shard's, ids in range" ||
    { echo "$out"; result FAIL "verist_proxy_check() finds nothing"; }

phase "generated and checked"
# --- upgrading a cluster of verist 0.3.1: the shards, then the router
old=0.3.1
# the shipped upgrade scripts chain from $old to $mirrored (0.3.1--0.4.0, 0.4.0--0.5.0, ...);
# ALTER EXTENSION ... UPDATE runs them in turn
path=$old; v=$old
while [ "$v" != "$mirrored" ]; do
    next=$(ls src/proxy/verist_proxy--"$v"--*.sql 2>/dev/null | sed -nE 's/.*--[^-]+--(.*)\.sql$/\1/p' | head -1)
    [ -n "$next" ] || { path=; break; }
    v=$next; path="$path -> $v"
done
if [ "$mirrored" != "$old" ] && [ -n "$path" ]; then
    osql() { psql -qXAt -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$rp dbname=router_old user=postgres" "$@"; }
    for port in $p1 $p2; do
        psql -qX -p "$port" -d postgres -c 'CREATE DATABASE old' -c '\c old' -c "CREATE EXTENSION verist VERSION '$old'" >/dev/null ||
            bad "verist $old on a shard"
    done
    psql -qX -p "$rp" -d postgres -c 'CREATE DATABASE router_old' -c 'CREATE DATABASE router_fresh' >/dev/null
    out=$(osql -c "CREATE EXTENSION verist_proxy VERSION '$old' CASCADE" \
               -c "SELECT count(*) FROM verist_proxy_init(ARRAY['host=127.0.0.1 port=$bp dbname=verist_old1', 'host=127.0.0.1 port=$bp dbname=verist_old2'], 16)" \
               -c "SELECT count(verist_commit('up', 'u-' || i, 's1', 0, '{\"a\": 1}', '[{\"type\": \"x\"}]',
                          CASE WHEN i % 2 = 0 THEN '[{\"type\": \"review\", \"reason\": \"r\"}]' ELSE '[]' END::jsonb))
                   FROM generate_series(1, 12) i" \
               -c "GRANT EXECUTE ON FUNCTION verist_commit(text, text, text, integer, jsonb, jsonb, jsonb) TO verist_clerk" \
               -c "SELECT extversion FROM pg_extension WHERE extname = 'verist_proxy'" 2>&1)
    [ "$(tail -1 <<<"$out")" = "$old" ] && result OK "a $old cluster: router $old over 2 shards of verist $old, 12 runs committed through it" ||
        { echo "$out"; result FAIL "a $old cluster through a $old router"; }
    for db in verist_old1 verist_old2; do
        psql -qX -p "$(eval echo \$p${db#verist_old})" -d old -c 'ALTER EXTENSION verist UPDATE' >/dev/null ||
            result FAIL "ALTER EXTENSION verist UPDATE on $db"
    done
    # shards first: the old router goes on working against them
    out=$(osql -c "SELECT version FROM verist_commit('up', 'u-1', 's2', 1, '{\"b\": 2}')" \
               -c "SELECT version FROM verist_load('up', 'u-2')" \
               -c "SELECT count(*) FROM verist_proxy_check()" 2>&1)
    [ "$(head -2 <<<"$out" | tr '\n' ' ')" = "2 1 " ] && [ "$(tail -1 <<<"$out")" -gt 0 ] 2>/dev/null &&
        result OK "shards upgraded to $mirrored first: the $old router still commits and loads through them; verist_proxy_check() lists the $(tail -1 <<<"$out") differences" ||
        { echo "$out"; result FAIL "the $old router against upgraded shards"; }
    out=$(osql -c 'ALTER EXTENSION verist_proxy UPDATE' -c "SELECT extversion FROM pg_extension WHERE extname = 'verist_proxy'" \
               -c 'SELECT shard, problem FROM verist_proxy_check()' 2>&1)
    [ "$out" = "$mirrored" ] && result OK "ALTER EXTENSION verist_proxy UPDATE: $path, verist_proxy_check() finds nothing" ||
        { echo "$out"; result FAIL "ALTER EXTENSION verist_proxy UPDATE to $mirrored, verist_proxy_check() clean"; }
    out=$(osql -c "SELECT has_function_privilege('verist_clerk', 'verist_commit(text, text, text, integer, jsonb, jsonb, jsonb)', 'EXECUTE')" 2>&1)
    [ "$out" = t ] && result OK "... a grant made on the $old router survives the upgrade (the functions are replaced, not dropped)" ||
        { echo "$out"; result FAIL "a grant on the router survives its upgrade"; }
    osql -c "REVOKE EXECUTE ON FUNCTION verist_commit(text, text, text, integer, jsonb, jsonb, jsonb) FROM verist_clerk"
    psql -qX -v ON_ERROR_STOP=1 -p "$rp" -d router_fresh -c 'CREATE EXTENSION verist_proxy CASCADE' >/dev/null
    psql -qXAt -v ON_ERROR_STOP=1 -p "$rp" -d router_old -f test/scaleout/router_catalog.sql >"$SO_ROOT/catalog.upgraded" 2>&1
    psql -qXAt -v ON_ERROR_STOP=1 -p "$rp" -d router_fresh -f test/scaleout/router_catalog.sql >"$SO_ROOT/catalog.fresh" 2>&1
    if diff "$SO_ROOT/catalog.upgraded" "$SO_ROOT/catalog.fresh" >"$SO_ROOT/catalog.diff" && [ -s "$SO_ROOT/catalog.fresh" ]; then
        result OK "the upgraded router's catalog equals a fresh $mirrored install ($(wc -l <"$SO_ROOT/catalog.fresh") facts: routines with bodies, comments and privileges, types, views, columns, configuration tables)"
    else
        head -30 "$SO_ROOT/catalog.diff"; result FAIL "the upgraded router's catalog equals a fresh $mirrored install"
    fi
    # the upgraded router serves the runs 0.4.0 adopted, and the new API
    out=$(osql -c "SELECT string_agg(kind, ',' ORDER BY seq) FROM verist_run_history('up', 'u-2')" \
               -c "SELECT version FROM verist_state_at('up', 'u-1', 2)" \
               -c "BEGIN" -c "SET LOCAL verist.actor = 'upgrader'" \
               -c "SELECT count(*) FROM verist_resolve_block('up', 'u-2', '{\"approved\": true}')" -c "COMMIT" \
               -c "SELECT actor FROM verist_run_history('up', 'u-2') WHERE kind = 'resolve'" \
               -c "SELECT count(*) FROM verist_verify_all()" 2>&1)
    [ "$(echo $out)" = "adopt 2 1 upgrader 0" ] &&
        result OK "the upgraded router: adopted runs' history, state_at, a resolution with its actor, verist_verify_all() empty" ||
        { echo "$out"; result FAIL "the upgraded router serves the new API (want: adopt 2 1 upgrader 0)"; }
else
    result FAIL "upgrade scripts src/proxy/verist_proxy--$old--*.sql ... --$mirrored.sql (a chain from $old to $mirrored)"
fi

phase "router upgraded"
# --- every function through the router, against one database
out=$("$PY" test/scaleout/matrix.py "$ROUTER" "$(direct 1 | sed 's/dbname=verist/dbname=reference/') user=postgres" "$S1" "$S2" 2>&1)
echo "$out"; count "$out" matrix.py

phase "matrix done"
# --- concurrent load, per-shard dispatch and tailing
logdir=test/out/scaleout; rm -rf "$logdir"; mkdir -p "$logdir"
"$PY" test/scaleout/load.py run --router "$ROUTER" --logdir "$logdir/load" --seconds "$seconds" --clients 4 \
    --shard "$S1" --shard "$S2" --router-dispatcher --router-tailer
[ $? = 0 ] && result OK "load: 4 committers through the router for ${seconds} s, a dispatcher and a tailer per shard and through the router" ||
    result FAIL "load ran"
out=$("$PY" test/scaleout/load.py check --router "$ROUTER" --logdir "$logdir/load" --shard "$S1" --shard "$S2" --dispatch --tail 2>&1)
echo "$out"; count "$out" "load.py check"
out=$("$PY" test/scaleout/verify_shards.py --router "$ROUTER" --anchors "$logdir/load/anchors.csv" \
    --ledger-anchors "$logdir/load/ledger-anchors.csv" "$S1" "$S2" 2>&1)
echo "$out"; count "$out" verify_shards.py

phase "load checked"
# --- PgBouncer: the call after an error
out=$("$PY" test/scaleout/reconnect.py "$ROUTER" "$(pooled 1)" "$(pooled 2)" -- "$(direct 1)" "$(direct 2)" 2>&1)
echo "$out"; count "$out" reconnect.py

phase "reconnect measured"
# --- one shard down: the other goes on
run1=$(rsql -c "SELECT run_id FROM verist_run_summary WHERE workflow_id = 'scale' ORDER BY run_id" |
       while read -r r; do [ "$(rsql -c "SELECT verist_proxy_shard_of_run('scale', '$r')")" = 1 ] && { echo "$r"; break; }; done)
run2=$(rsql -c "SELECT run_id FROM verist_run_summary WHERE workflow_id = 'scale' ORDER BY run_id" |
       while read -r r; do [ "$(rsql -c "SELECT verist_proxy_shard_of_run('scale', '$r')")" = 2 ] && { echo "$r"; break; }; done)
so_stop shard2
v=$(rsql -c "SELECT version FROM verist_load('scale', '$run1')" 2>/dev/null)
out=$(rsql -c "SELECT version FROM verist_commit('scale', '$run1', 'outage', $v, '{\"outage\": $((v + 1))}', '[{\"type\": \"outage\"}]', '[{\"type\": \"emit\", \"topic\": \"outage\"}]')" 2>&1)
[ "$out" = $((v + 1)) ] && result OK "shard 2 down: a commit through the router to a run of shard 1 succeeds" ||
    { echo "$out"; result FAIL "shard 2 down: a commit to a run of shard 1 succeeds"; }
out=$(psql -qXAt "$S1" -c "SELECT count(*) FROM verist_lease_outbox('outage', 10, '1 second')" -c "SELECT count(*) FROM verist_read_events(0, 100000)" 2>&1)
[ "$(head -1 <<<"$out")" -ge 1 ] && result OK "shard 2 down: shard 1's own dispatcher and tailer go on (leased $(head -1 <<<"$out"), read $(tail -1 <<<"$out") events)" ||
    { echo "$out"; result FAIL "shard 2 down: shard 1's dispatcher goes on"; }
out=$(psql -qXAt -v VERBOSITY=verbose "$ROUTER" -c "SELECT version FROM verist_load('scale', '$run2')" 2>&1)
grep -q 'ERROR' <<<"$out" && result OK "shard 2 down: a call for a run of shard 2 fails at once ($(head -1 <<<"$out" | cut -c1-90))" ||
    { echo "$out"; result FAIL "shard 2 down: a call for a run of shard 2 fails"; }
out=$(psql -qXAt "$ROUTER" -c "SELECT count(*) FROM verist_verify_all()" 2>&1)
grep -q 'ERROR' <<<"$out" && result OK "shard 2 down: verist_verify_all() through the router fails as a whole (no partial answer)" ||
    { echo "$out"; result FAIL "shard 2 down: verist_verify_all() through the router fails"; }
so_start shard2
for i in 1 2 3 4 5 6 7 8 9 10; do
    out=$(rsql -c "SELECT count(*) FROM verist_load('scale', '$run2')" 2>&1) && break
    sleep 0.5
done
[ "$out" = 1 ] && result OK "shard 2 back: its runs answer through the router again (PgBouncer reconnects)" ||
    { echo "$out"; result FAIL "shard 2 back: its runs answer again"; }

phase "outage done"
# --- adding a shard: partitions move to it while commits go on; among the
# runs, 60 with whole ledgers (every kind of entry), a third of them retired
out=$("$PY" test/scaleout/ledger_runs.py make --router "$ROUTER" --state "$logdir/ledger-runs.json" "$S1" "$S2" 2>&1)
echo "$out"; count "$out" "ledger_runs.py make"
"$PY" test/scaleout/load.py run --router "$ROUTER" --logdir "$logdir/move" --seconds 8 --clients 3 --runs 16 --seed 2 --tag m \
    >"$logdir/move-load.out" 2>&1 &
load_pid=$!
out=$("$PY" src/proxy/move_partition.py --router "$ROUTER" --add-shard "$(pooled 3)" --moves 40 2>&1)
rc=$?
echo "$out" | tail -4
[ $rc = 0 ] && result OK "a third shard added and 40 of 128 partitions moved to it while commits went on ($(tail -1 <<<"$out"))" ||
    result FAIL "a third shard added and partitions moved to it"
wait "$load_pid" && result OK "the load through the moves finished (VRP01 refusals while a partition moved: $(grep -c VRP01 "$logdir"/move/commit-*.jsonl | awk -F: '{s+=$2} END {print s+0}'))" ||
    { cat "$logdir/move-load.out"; result FAIL "the load through the moves finished"; }
out=$("$PY" test/scaleout/load.py check --router "$ROUTER" --logdir "$logdir/move" --shard "$S1" --shard "$S2" --shard "$S3" 2>&1)
echo "$out"; count "$out" "load.py check after the moves"
out=$("$PY" test/scaleout/verify_shards.py --router "$ROUTER" --anchors "$logdir/move/anchors.csv" \
    --ledger-anchors "$logdir/move/ledger-anchors.csv" "$S1" "$S2" "$S3" 2>&1)
echo "$out"; count "$out" "verify_shards.py after the moves"
out=$("$PY" test/scaleout/ledger_runs.py check --router "$ROUTER" --state "$logdir/ledger-runs.json" "$S1" "$S2" "$S3" 2>&1)
echo "$out"; count "$out" "ledger_runs.py check after the moves"
# verist 0.6.0: the moved outbox rows' generated column is the target's own
# (move_partition.py copies every column but generated ones: naming queued in
# an INSERT fails with 428C9)
if [ "$(psql -qXAt "$S3" -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'verist_outbox'::regclass AND attname = 'queued' AND attgenerated = 's'")" = 1 ]; then
    out=$(psql -qXAt "$S3" -c "SELECT count(*), count(*) FILTER (WHERE queued), count(*) FILTER (WHERE queued IS DISTINCT FROM (status IN ('pending', 'leased'))) FROM verist_outbox" 2>&1)
    IFS='|' read -r n nq nbad <<<"$out"
    [ "${n:-0}" -gt 0 ] 2>/dev/null && [ "$nbad" = 0 ] &&
        result OK "verist 0.6.0: the $n outbox rows on shard 3 (moved, or committed since) have queued computed by shard 3 ($nq queued)" ||
        { echo "$out"; result FAIL "verist 0.6.0: moved outbox rows on shard 3 with queued computed"; }
fi
out=$(rsql -c 'SELECT shard, problem FROM verist_proxy_check()' 2>&1)
[ -z "$out" ] && result OK "verist_proxy_check() after the moves: 3 shards, nothing differs" ||
    { echo "$out"; result FAIL "verist_proxy_check() after the moves"; }

phase "moves done"
# --- type drift: a later verist on a shard, a router not regenerated
psql -qX "$S2" -c 'ALTER TABLE verist_state ADD COLUMN later integer' >/dev/null
out=$(rsql -c 'SELECT shard, problem FROM verist_proxy_check()' 2>&1)
grep -q '^2|the shard has what the router lacks: column verist_state 12 later integer' <<<"$out" &&
    result OK "a column added to a shard's verist_state is caught by verist_proxy_check() ($(head -1 <<<"$out"))" ||
    { echo "$out"; result FAIL "a column added to a shard's table is caught by verist_proxy_check()"; }
"$PY" src/proxy/generate.py --check "src/proxy/verist_proxy--$mirrored.sql" "$S2" >"$logdir/drift.diff" 2>&1
[ $? = 1 ] && grep -q '^+    later integer' "$logdir/drift.diff" &&
    result OK "... and by generate.py --check (the generated type gains the column)" ||
    { head -20 "$logdir/drift.diff"; result FAIL "a column added to a shard's table is caught by generate.py --check"; }
psql -qX "$S2" -c 'ALTER TABLE verist_state DROP COLUMN later' \
    -c "CREATE FUNCTION verist_rewind_run(workflow_id text, run_id text, version integer) RETURNS verist_state
        LANGUAGE sql SECURITY DEFINER AS 'SELECT * FROM verist_state WHERE false'" \
    -c 'ALTER EXTENSION verist ADD FUNCTION verist_rewind_run(text, text, integer)' >/dev/null
out=$(rsql -c 'SELECT shard, problem FROM verist_proxy_check()' 2>&1)
grep -q '^2|the shard has what the router lacks: routine verist_rewind_run' <<<"$out" &&
    result OK "a function added to a shard's verist is caught by verist_proxy_check()" ||
    { echo "$out"; result FAIL "a function added to a shard's verist is caught by verist_proxy_check()"; }
out=$("$PY" src/proxy/generate.py "$S2" 2>&1 >/dev/null)
grep -q 'write verist_rewind_run(workflow_id text, run_id text, version integer)' <<<"$out" &&
    result OK "... and generate.py refuses the shard, naming the line to add: 'write verist_rewind_run' (a volatile per-run function: the actor goes with it)" ||
    { echo "$out"; result FAIL "generate.py names the line to add for a new function"; }
psql -qX "$S2" -c 'ALTER EXTENSION verist DROP FUNCTION verist_rewind_run(text, text, integer)' \
    -c 'DROP FUNCTION verist_rewind_run(text, text, integer)' >/dev/null
out=$(rsql -c 'SELECT shard, problem FROM verist_proxy_check()' 2>&1)
[ -z "$out" ] && result OK "both taken back: verist_proxy_check() finds nothing again" ||
    { echo "$out"; result FAIL "verist_proxy_check() clean again"; }

echo "# scaleout: $(( $(date +%s) - start )) s"
finish
