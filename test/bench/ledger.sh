#!/usr/bin/env bash
# The 0.4.0 ledger's cost against 0.3.1, side by side in one run (README.md
# here, "0.4.0 ledger: cost against 0.3.1"):
#   1. commit    commits/s, create/update path x 1/8 clients x synchronous_commit
#                on/off, 0.3.1 and 0.4.0 interleaved, medians (target >= 0.90)
#   2. bytes     WAL and heap+index+toast bytes per commit, both versions
#   3. stateat   verist_state_at latency at versions 1, 500, 1000 of a run
#                (and verist_run_history, verist_verify_run), 0.4.0
#   4. retire    retiring 100,000 finished runs while commits go on, 0.4.0;
#                verist_verify_all() must find nothing broken afterwards
#
#   bash test/bench/ledger.sh            full run (12-22 minutes on 2 cores, with the machine's load)
#   bash test/bench/ledger.sh --quick    1 repetition, 10,000 runs (about 3-5 minutes)
#   options: --reps N  --duration S  --runs N  --only commit,bytes,stateat,retire
#            --port P (uses P and P+1, 5950-5998; default 5950)
#            --install (build and install this tree's verist first)
#
# Nothing about timing is asserted: exit 0 unless something broke (a failed
# commit, rows that do not add up, a broken chain after retirement).
# Output: test/bench/out/ledger/ (results.txt, *.csv, env.txt).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
. ../lib.sh                     # PG_CONFIG, PGBIN on PATH, as_pg
PY=/usr/bin/python3
V031_COMMIT=07d5f10             # verist 0.3.1 as released

quick=0 reps="" duration="" runs="" install=0 port=5950
only="commit,bytes,stateat,retire"
while (($#)); do
    case "$1" in
        --quick) quick=1 ;;
        --reps) reps=$2; shift ;;
        --duration) duration=$2; shift ;;
        --runs) runs=$2; shift ;;
        --only) only=$2; shift ;;
        --port) port=$2; shift ;;
        --install) install=1 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "ledger.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
want() { [[ ",$only," == *",$1,"* ]]; }

if ((quick)); then
    REPS=${reps:-1}; T=${duration:-2}; WARMUP=0.3
    BYTES_COMMITS=4000; SA_CALLS=30; SA_OTHER=15
    RETIRE_RUNS=${runs:-10000}; LOAD_T=8; CAP_A=20; CAP_B=150
else
    REPS=${reps:-3}; T=${duration:-5}; WARMUP=0.5
    BYTES_COMMITS=20000; SA_CALLS=150; SA_OTHER=50
    RETIRE_RUNS=${runs:-100000}; LOAD_T=20; CAP_A=120; CAP_B=480
fi
LOAD_CLIENTS=2                  # the commit load during retirement

OUT=$here/out/ledger
mkdir -p "$OUT"
rm -f "$OUT"/*.csv "$OUT"/*.txt
LEDGER_ROOT=$(mktemp -d /tmp/verist-bench-ledger-XXXXXX)
chmod 755 "$LEDGER_ROOT"
WORK=$LEDGER_ROOT/work
mkdir -p "$WORK"
source ledger/cluster.sh
load_pid=""
cleanup() {
    [ -n "$load_pid" ] && kill -TERM "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null
    lc_destroy_all
    rm -rf "$LEDGER_ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_start=$(date +%s)
log() { printf '[%4ds] %s\n' $(( $(date +%s) - t_start )) "$*"; }
die() { echo "ledger.sh: $*" >&2; exit 1; }

# ---------------------------------------------------------------- builds
root=$(cd "$here/../.." && pwd)
if ((install)); then
    log "building and installing this tree's verist (0.4.0)"
    make -s -C "$root" PG_CONFIG="$PG_CONFIG" >/dev/null && make -s -C "$root" install PG_CONFIG="$PG_CONFIG" >/dev/null ||
        die "the build failed (another edit in progress? try again)"
fi
sharedir=$("$PG_CONFIG" --sharedir)/extension
pkglib=$("$PG_CONFIG" --pkglibdir)
grep -q "default_version = '0.4.0'" "$sharedir/verist.control" 2>/dev/null && [ -f "$pkglib/verist.so" ] ||
    die "verist 0.4.0 is not installed; run bash test/setup.sh (or pass --install)"
so_stamp() { echo "$(md5sum "$pkglib/verist.so" | cut -c1-12) $(stat -c %y "$pkglib/verist.so" | cut -c1-19)"; }
so_md5() { md5sum "$pkglib/verist.so" | cut -c1-12; }
so_at_start=$(so_stamp)
md5_at_start=$(so_md5)

# 0.3.1 as released, built from git (never from the working tree), cached
# across runs by commit
V031=/tmp/verist-bench-ledger-build-$V031_COMMIT
if [ ! -f "$V031/stamp" ]; then
    log "building verist 0.3.1 ($V031_COMMIT) into $V031"
    rm -rf "$V031"
    mkdir -p "$V031/src"
    git -C "$root" archive "$V031_COMMIT" | tar -x -C "$V031/src"
    make -s -C "$V031/src" PG_CONFIG="$PG_CONFIG" >"$V031/build.log" 2>&1 &&
        make -s -C "$V031/src" install DESTDIR="$V031/inst" PG_CONFIG="$PG_CONFIG" >>"$V031/build.log" 2>&1 ||
        { cat "$V031/build.log" >&2; die "building 0.3.1 failed"; }
    chmod -R a+rX "$V031"
    date -u +%FT%TZ > "$V031/stamp"
fi

# ---------------------------------------------------------------- clusters
# Two clusters with the same settings, both up, measured one at a time: v031
# loads verist from the 0.3.1 build (extension_destdir), v040 the installed one.
VERSIONS=(v031 v040)
declare -A VNAME=([v031]=0.3.1 [v040]=0.4.0)
log "starting two throwaway clusters on 127.0.0.1:$port (0.4.0) and :$((port + 1)) (0.3.1)"
lc_init v040 "$port" || die "cluster v040 did not start"
lc_init v031 $((port + 1)) "$V031/inst" || die "cluster v031 did not start"
for v in "${VERSIONS[@]}"; do
    lc_psql "$v" -c "CREATE DATABASE bench" >/dev/null
    LC_DB=bench lc_psql "$v" -c "CREATE EXTENSION verist" -c "CREATE EXTENSION pg_walinspect" >/dev/null
    got=$(LC_DB=bench lc_psql "$v" -c "SELECT extversion FROM pg_extension WHERE extname = 'verist'")
    [ "$got" = "${VNAME[$v]}" ] || die "cluster $v has verist $got, not ${VNAME[$v]}"
done
loaded_so() {
    LC_DB=bench lc_psql "$1" -c "SELECT verist_canonical_json('{}') IS NOT NULL" \
        -c "SELECT (regexp_match(pg_read_file('/proc/self/maps'), '\S*/verist\.so'))[1]" | tail -1
}

DATA=$here/ledger/data
DEFS=(-D "output=$(cat "$DATA/output.json")" -D "events=$(cat "$DATA/events.json")"
      -D "commands=$(cat "$DATA/commands.json")")
PVARS=(-v "output=$(cat "$DATA/output.json")" -v "events=$(cat "$DATA/events.json")"
       -v "commands=$(cat "$DATA/commands.json")")

settings() {
    local s
    for s in fsync synchronous_commit full_page_writes wal_sync_method wal_level shared_buffers \
             wal_buffers max_wal_size checkpoint_timeout work_mem autovacuum jit; do
        echo -n " $s=$(lc_psql "$1" -c "SHOW $s")"
    done
}
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "mode: $( ((quick)) && echo quick || echo full ) (reps=$REPS, ${T}s per pgbench run, warm-up ${WARMUP}s dropped; $BYTES_COMMITS commits per path for bytes; $RETIRE_RUNS runs to retire)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
    echo "ram: $(free -g | awk '/^Mem:/ {print $2}') GB"
    echo "kernel: $(uname -sr)"
    echo "postgres: $(lc_psql v040 -c 'SELECT version()')"
    echo "pgbench: $(pgbench --version)"
    echo "0.4.0: $(loaded_so v040), $so_at_start, tree $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$root" diff --quiet HEAD -- src sql 2>/dev/null || echo ', src/sql modified in the working tree')"
    echo "0.3.1: $(loaded_so v031), commit $V031_COMMIT (git archive, built $(cat "$V031/stamp"))"
    echo "clusters: initdb under $LEDGER_ROOT, TCP 127.0.0.1:$port (0.4.0) and :$((port + 1)) (0.3.1), both up, measured one at a time; pgbench on the same machine, -M extended"
    echo "payload per commit: output $(($(wc -c < "$DATA/output.json") - 1)) B JSON, 2 events ($(($(wc -c < "$DATA/events.json") - 1)) B), 1 emit command ($(($(wc -c < "$DATA/commands.json") - 1)) B)"
    s40=$(settings v040); s31=$(settings v031)
    echo "settings:$s40"
    [ "$s40" = "$s31" ] && echo "settings of the 0.3.1 cluster: identical" || echo "settings of the 0.3.1 cluster:$s31"
} > "$OUT/env.txt"
cat "$OUT/env.txt"

# CPU time (jiffies) of one of the clusters (lib/measure.sh).
cluster_cpu() { pgdata_cpu "${LC_DATA[$1]}"; }

# run_pgbench NAME CLUSTER DB CLIENTS [pgbench args...]: a measured run;
# prints "tps p50 p99 mean txns failed rc foreign cluster_cpu" (from the
# per-transaction logs, after warm-up; foreign = cores other processes kept
# busy meanwhile; cluster_cpu = CPU jiffies of the cluster's processes, the
# exited backends included)
run_pgbench() {
    local name=$1 cl=$2 db=$3 clients=$4
    shift 4
    local dir=$WORK/runs/$name threads=1 rc=0 b0 c0 t0 b1 c1 t1 foreign summary failed
    rm -rf "$dir"; mkdir -p "$dir"
    ((clients > 1)) && threads=2
    b0=$(machine_busy); c0=$(cluster_cpu "$cl"); t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$dir/time" \
    pgbench -n -h 127.0.0.1 -p "${LC_PORT[$cl]}" -U postgres -d "$db" -M extended -c "$clients" -j "$threads" \
        -l --log-prefix="$dir/log" -D n=0 -D nclients="$clients" "$@" > "$dir/stdout" 2>&1 || rc=$?
    b1=$(machine_busy); c1=$(cluster_cpu "$cl"); t1=$(date +%s.%N)
    foreign=$(awk -v b="$((b1 - b0))" -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" \
        '{printf "%.2f", (b - c - 100 * ($1 + $2)) / 100 / (t1 - t0)}' "$dir/time" 2>/dev/null || echo "?")
    summary=$($PY lib/pgblog.py "$dir" "$WARMUP")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/stdout")
    if [ "$rc" != 0 ] || grep -qE "aborted|ERROR" "$dir/stdout"; then
        cp "$dir/stdout" "$OUT/failed-$name.txt"
        failed=$(( ${failed:-0} + 1000000 ))   # an aborted client: count it loudly
    fi
    set -- $summary
    echo "$1 $2 $3 $4 $5 $(( ${failed:-0} + $6 )) $rc $foreign $((c1 - c0))"
}

reset_bench() { LC_DB=bench lc_psql "$1" "${PVARS[@]}" -f ledger/reset.sql >/dev/null; }
clear_bench() { LC_DB=bench lc_psql "$1" -c "DROP EXTENSION verist" -c "CHECKPOINT" >/dev/null; }
check_bench() { LC_DB=bench lc_psql "$1" -f ledger/check.sql; }
broke=0

# ---------------------------------------------------------------- 1. commit path
if want commit; then
    RAW=$OUT/commit_raw.csv
    echo "version,path,clients,sync,rep,tps,p50_ms,p99_ms,mean_ms,txns,failed,check,foreign_cores" > "$RAW"
    log "1. commit path: ${REPS} x 2 sync x 4 configs x 2 versions, ${T}s each"
    n=0
    for rep in $(seq 1 "$REPS"); do
        for sync in on off; do
            for v in "${VERSIONS[@]}"; do lc_set "$v" synchronous_commit "$sync"; done
            ci=0
            for cfg in "create 1" "update 1" "create 8" "update 8"; do
                set -- $cfg
                path=$1 clients=$2
                for k in 0 1; do
                    # each version goes first in half of the pairs
                    v=${VERSIONS[$(( (k + rep + ci) % 2 ))]}
                    reset_bench "$v"
                    r=$(run_pgbench "c-$v-$path-$clients-$sync-$rep" "$v" bench "$clients" -T "$T" \
                          -D base=1000000000 "${DEFS[@]}" -f "ledger/$path.sql")
                    chk=$(check_bench "$v")
                    set -- $r
                    [ "${chk%% *}" = "$5" ] || chk="$chk,db_commits!=log($5)"
                    [ "${chk#* }" = ok ] && [ "$6" = 0 ] || broke=1
                    echo "${VNAME[$v]},$path,$clients,$sync,$rep,$1,$2,$3,$4,$5,$6,${chk#* },$8" >> "$RAW"
                    clear_bench "$v"
                    n=$((n + 1))
                done
                ci=$((ci + 1))
            done
            log "rep $rep/$REPS sync=$sync done ($n runs)"
        done
    done
    for v in "${VERSIONS[@]}"; do lc_set "$v" synchronous_commit on; done
fi

# ---------------------------------------------------------------- 2. bytes per commit
if want bytes; then
    BYTES=$OUT/bytes.csv
    echo "version,path,commits,wal_bytes,wal_record_bytes,wal_fpi_bytes,wal_records,rel_before,state_before,events_before,outbox_before,ledger_before,rel_after,state_after,events_after,outbox_after,ledger_after,check,verify_broken,server_cpu_us,tps,foreign_cores" > "$BYTES"
    log "2. bytes per commit: $BYTES_COMMITS commits per path and version, 1 client, synchronous_commit off, autovacuum off"
    sizes_sql="SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0),
        coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'verist_state'), 0),
        coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'verist_events'), 0),
        coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'verist_outbox'), 0),
        coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'verist_ledger'), 0)
      FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
        AND d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'verist')
      WHERE c.relkind = 'r'"
    for v in "${VERSIONS[@]}"; do lc_set "$v" synchronous_commit off; lc_set "$v" autovacuum off; done
    for path in create update; do
        for v in "${VERSIONS[@]}"; do
            reset_bench "$v"
            lsn0=$(LC_DB=bench lc_psql "$v" -c "SELECT pg_current_wal_lsn()")
            sz0=$(LC_DB=bench lc_psql "$v" -F' ' -c "$sizes_sql")
            r=$(run_pgbench "b-$v-$path" "$v" bench 1 -t "$BYTES_COMMITS" -D base=1000000000 "${DEFS[@]}" \
                  -f "ledger/$path.sql")
            set -- $r
            # the server's CPU per commit (all its processes; jiffies of 10 ms)
            extra="$(( $9 * 10000 / BYTES_COMMITS )),$1,$8"
            # a commit with synchronous_commit on flushes the WAL past the run's end
            lsn1=$(LC_DB=bench lc_psql "$v" -c "SELECT pg_current_wal_lsn()")
            LC_DB=bench lc_psql "$v" -c "SET synchronous_commit = on" -c "SELECT txid_current()" >/dev/null
            wal=$(LC_DB=bench lc_psql "$v" -F' ' -c "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')::bigint,
                    sum(record_size), sum(fpi_size), sum(count)
                  FROM pg_get_wal_stats('$lsn0', '$lsn1')")
            sz=$(LC_DB=bench lc_psql "$v" -F' ' -c "$sizes_sql")
            chk=$(check_bench "$v")
            [ "${chk%% *}" = "$BYTES_COMMITS" ] || chk="$chk,expected=$BYTES_COMMITS"
            [ "${chk#* }" = ok ] && [ "$6" = 0 ] || broke=1
            bad=$(LC_DB=bench lc_psql "$v" -c "SELECT count(*) FROM verist_verify_all()")
            [ "$bad" = 0 ] || broke=1
            set -- $wal
            echo "${VNAME[$v]},$path,$BYTES_COMMITS,$1,$2,$3,$4,$(echo "$sz0" | tr ' ' ','),$(echo "$sz" | tr ' ' ','),${chk#* },$bad,$extra" >> "$BYTES"
            LC_DB=bench lc_psql "$v" -P tuples_only=off --csv \
                -c "SELECT * FROM pg_get_wal_stats('$lsn0', '$lsn1') ORDER BY combined_size DESC" \
                > "$OUT/wal_by_rmgr-${VNAME[$v]}-$path.csv"
            clear_bench "$v"
        done
        log "bytes: $path path done"
    done
    for v in "${VERSIONS[@]}"; do lc_set "$v" synchronous_commit on; lc_set "$v" autovacuum on; done
fi

# ---------------------------------------------------------------- 3. state_at
if want stateat; then
    SA=$OUT/stateat.csv
    echo "call,calls,p50_ms,p95_ms,p99_ms,mean_ms,max_ms" > "$SA"
    log "3. verist_state_at at versions 1, 500, 1000 of a run of 1,000 commits and 10 overlays (0.4.0)"
    lc_psql v040 -c "CREATE DATABASE sa" >/dev/null
    LC_DB=sa lc_psql v040 -c "CREATE EXTENSION verist" >/dev/null
    r=$(run_pgbench "sa-build" v040 sa 1 -t 1000 "${DEFS[@]}" -f ledger/stateat_build.sql)
    set -- $r
    [ "$6" = 0 ] || { broke=1; echo "ledger.sh: building the 1,000-version run failed" >&2; }
    LC_DB=sa lc_psql v040 -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
    sa_desc=$(LC_DB=sa lc_psql v040 -F' ' -c "SELECT version, ledger_seq, pg_column_size(computed) FROM verist_state")
    echo "$sa_desc" > "$OUT/stateat_run.txt"
    for spec in "state_at(v=1) stateat_call -D v=1 $SA_CALLS" \
                "state_at(v=500) stateat_call -D v=500 $SA_CALLS" \
                "state_at(v=1000) stateat_call -D v=1000 $SA_CALLS" \
                "run_history(all) history_call -D x=0 $SA_OTHER" \
                "verify_run verify_call -D x=0 $SA_OTHER" \
                "load(current) load_call -D x=0 $SA_CALLS"; do
        set -- $spec
        call=$1 f=$2 d1=$3 d2=$4 calls=$5
        # 1 client, one call per transaction; the first 3 calls (planning) left out
        run_pgbench "sa-$f-${d2#*=}" v040 sa 1 -t $((calls + 3)) "$d1" "$d2" -f "ledger/$f.sql" >/dev/null
        lat=$($PY ledger/lat.py "$WORK/runs/sa-$f-${d2#*=}" 3)
        echo "$call,$(echo "$lat" | tr ' ' ',')" >> "$SA"
    done
    rows=$(LC_DB=sa lc_psql v040 -c "SELECT count(*) FROM verist_run_history('sa-wf', 'sa-1')")
    eff=$(LC_DB=sa lc_psql v040 -c "SELECT (SELECT effective FROM verist_state_at('sa-wf', 'sa-1', 1000))
                                          = (SELECT computed || overlay FROM verist_state)")
    echo "history_rows=$rows state_at_1000_equals_current=$eff" >> "$OUT/stateat_run.txt"
    [ "$eff" = t ] || { broke=1; echo "ledger.sh: state_at(1000) differs from the current state" >&2; }
fi

# ---------------------------------------------------------------- 4. retirement under load
if want retire; then
    RET=$OUT/retire.csv
    echo "phase,runs_retired,secs,runs_per_s,first_batch_rps,last_batch_rps,doc_kb_per_run,outbox_rows_at_start,load_commits,load_secs,load_tps,foreign_cores" > "$RET"
    log "4. retirement: $RETIRE_RUNS finished runs (2 commits each), retired while $LOAD_CLIENTS clients commit (0.4.0)"
    lc_psql v040 -c "CREATE DATABASE ret" >/dev/null
    LC_DB=ret lc_psql v040 -c "CREATE EXTENSION verist" -f ledger/retire_proc.sql >/dev/null
    t0=$(date +%s)
    chunk=5000 i=1 pids=()
    fill() {    # fill FROM TO: consecutive chunks of finished runs in one session at a time
        local a=$1 b=$2 c
        for ((c = a; c <= b; c += chunk)); do
            LC_DB=ret lc_psql v040 "${PVARS[@]}" -v from=$c -v to=$(( c + chunk - 1 < b ? c + chunk - 1 : b )) \
                -f ledger/retire_fill.sql >/dev/null || return 1
        done
    }
    half=$(( (RETIRE_RUNS + 1) / 2 ))
    fill 1 "$half" & pids+=($!)
    fill $((half + 1)) "$RETIRE_RUNS" & pids+=($!)
    for p in "${pids[@]}"; do wait "$p" || die "filling the finished runs failed"; done
    LC_DB=ret lc_psql v040 -c "UPDATE verist_outbox SET status = 'dispatched', dispatched_at = now()
                                WHERE workflow_id = 'done-wf'" \
        -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
    filled=$(LC_DB=ret lc_psql v040 -F' ' -c "SELECT (SELECT count(*) FROM verist_state), (SELECT count(*) FROM verist_events),
        (SELECT count(*) FROM verist_outbox), (SELECT count(*) FROM verist_ledger),
        pg_size_pretty(pg_database_size(current_database()))")
    log "filled in $(( $(date +%s) - t0 )) s: runs, events, outbox rows, ledger entries, database: $filled"
    echo "finished runs: $filled (filled in $(( $(date +%s) - t0 )) s)" > "$OUT/retire_fill.txt"

    # load BASE: the create path, $LOAD_CLIENTS clients, in the background
    load_start() {
        pgbench -n -h 127.0.0.1 -p "$port" -U postgres -d ret -M extended -c "$LOAD_CLIENTS" -j 2 -T 100000 \
            -D n=0 -D nclients="$LOAD_CLIENTS" -D base="$1" "${DEFS[@]}" -f ledger/create.sql \
            > "$WORK/load-$1.out" 2>&1 &
        load_pid=$!
        sleep 1
        lb0=$(machine_busy); lc0=$(cluster_cpu v040); lt0=$(date +%s.%N)
    }
    load_stop() {   # SIGTERM: a background job of a non-interactive shell ignores SIGINT
        local pg lb1 lc1 lt1
        # cores kept busy by other processes than this cluster and the load's pgbench
        pg=$(sed 's/^.*) //' "/proc/$load_pid/stat" 2>/dev/null | awk '{print $12 + $13}')
        lb1=$(machine_busy); lc1=$(cluster_cpu v040); lt1=$(date +%s.%N)
        load_foreign=$(awk -v b="$((lb1 - lb0))" -v c="$((lc1 - lc0))" -v p="${pg:-0}" -v t0="$lt0" -v t1="$lt1" \
            'BEGIN {printf "%.2f", (b - c - p) / 100 / (t1 - t0)}')
        kill -TERM "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null || true
        load_pid=""
        if grep -qE "aborted|ERROR" "$WORK/load-$1.out"; then
            cp "$WORK/load-$1.out" "$OUT/failed-load-$1.txt"; broke=1
        fi
    }
    now() { LC_DB=ret lc_psql v040 -c "SELECT clock_timestamp()"; }
    # commits of the load between two server times, and the seconds between them
    load_count() {
        LC_DB=ret lc_psql v040 -F',' -c "SELECT count(*), round(extract(epoch FROM '$2'::timestamptz - '$1'::timestamptz), 2),
            round(count(*) / extract(epoch FROM '$2'::timestamptz - '$1'::timestamptz), 1)
            FROM verist_state WHERE workflow_id = 'bench-wf' AND created_at >= '$1' AND created_at < '$2'"
    }
    outbox_idx=$(LC_DB=ret lc_psql v040 -c "SELECT count(*) FROM pg_index i JOIN pg_attribute a1
        ON a1.attrelid = i.indrelid AND a1.attnum = i.indkey[0] JOIN pg_attribute a2
        ON a2.attrelid = i.indrelid AND a2.attnum = i.indkey[1]
        WHERE i.indrelid = 'verist_outbox'::regclass AND i.indpred IS NULL
          AND a1.attname = 'workflow_id' AND a2.attname = 'run_id'")

    LC_DB=ret lc_psql v040 -c "CHECKPOINT" >/dev/null
    load_start 3000000000
    a=$(now); sleep "$LOAD_T"; b=$(now)
    load_stop 3000000000
    alone=$(load_count "$a" "$b")
    echo "load alone,,,,,,,,$alone,$load_foreign" >> "$RET"
    log "load alone: $alone (commits, s, commits/s), foreign cores $load_foreign"

    retire_phase() {    # retire_phase NAME CAP BASE
        local name=$1 cap=$2 base=$3 ob a b stats
        ob=$(LC_DB=ret lc_psql v040 -c "SELECT count(*) FROM verist_outbox")
        LC_DB=ret lc_psql v040 -c "CHECKPOINT" >/dev/null
        load_start "$base"
        a=$(now)
        LC_DB=ret lc_psql v040 -c "CALL bench.retire('$name', 1000, $cap)" >/dev/null || broke=1
        b=$(now)
        load_stop "$base"
        stats=$(LC_DB=ret lc_psql v040 -F',' <<EOF
WITH l AS (SELECT * FROM bench.retire_log WHERE phase = '$name'),
     s AS (SELECT max(runs) AS runs, max(doc_bytes) AS bytes,
                  extract(epoch FROM max(at) - min(at)) AS secs FROM l),
     b AS (SELECT batch, (runs - lag(runs) OVER w) / nullif(extract(epoch FROM at - lag(at) OVER w), 0) AS rps
           FROM l WINDOW w AS (ORDER BY batch))
SELECT s.runs, round(s.secs, 1), round(s.runs / nullif(s.secs, 0), 1),
       round((SELECT rps FROM b WHERE batch = 1), 1),
       round((SELECT rps FROM b WHERE rps IS NOT NULL ORDER BY batch DESC LIMIT 1), 1),
       round(s.bytes / 1024.0 / nullif(s.runs, 0), 1)
FROM s
EOF
)
        echo "$name,$stats,$ob,$(load_count "$a" "$b"),$load_foreign" >> "$RET"
        log "retire $name: $stats (runs, s, runs/s, first/last batch runs/s, doc kB/run); outbox rows at start $ob"
    }
    if [ "$outbox_idx" -gt 0 ]; then
        retire_phase as-installed "$CAP_B" 4000000000
    else
        # 0.4.0 as shipped has no index on verist_outbox (workflow_id, run_id):
        # time-boxed, then the rest with such an index (what-if, not 0.4.0)
        retire_phase as-shipped "$CAP_A" 4000000000
        left=$(LC_DB=ret lc_psql v040 -c "SELECT count(*) FROM verist_state WHERE workflow_id = 'done-wf'")
        if [ "$left" -gt 0 ]; then
            LC_DB=ret lc_psql v040 -c "CREATE INDEX bench_outbox_run_idx ON verist_outbox (workflow_id, run_id)" \
                -c "ANALYZE verist_outbox" >/dev/null
            retire_phase with-outbox-run-index "$CAP_B" 5000000000
        fi
    fi
    left=$(LC_DB=ret lc_psql v040 -c "SELECT count(*) FROM verist_state WHERE workflow_id = 'done-wf'")
    seals=$(LC_DB=ret lc_psql v040 -c "SELECT count(*) FROM verist_retired")
    retired=$(LC_DB=ret lc_psql v040 -c "SELECT coalesce(sum(m), 0) FROM (SELECT max(runs) AS m FROM bench.retire_log GROUP BY phase) x")
    leftover=$(LC_DB=ret lc_psql v040 -F' ' -c "SELECT (SELECT count(*) FROM verist_events WHERE workflow_id = 'done-wf'),
        (SELECT count(*) FROM verist_ledger WHERE workflow_id = 'done-wf'),
        (SELECT count(*) FROM verist_outbox WHERE workflow_id = 'done-wf')")
    LC_DB=ret lc_psql v040 -c "COPY (SELECT phase, batch, runs, doc_bytes, at,
            round(((runs - lag(runs) OVER w) / nullif(extract(epoch FROM at - lag(at) OVER w), 0))::numeric, 1) AS runs_per_s
        FROM bench.retire_log WINDOW w AS (PARTITION BY phase ORDER BY batch) ORDER BY at) TO STDOUT WITH CSV HEADER" \
        > "$OUT/retire_batches.csv"
    log "verifying everything (verist_verify_all)"
    v0=$(date +%s.%N)
    LC_DB=ret lc_psql v040 -F',' -c "SELECT * FROM verist_verify_all()" > "$OUT/retire_verify_broken.txt" || broke=1
    v1=$(date +%s.%N)
    nbroken=$(wc -l < "$OUT/retire_verify_broken.txt")
    runs_now=$(LC_DB=ret lc_psql v040 -c "SELECT count(*) FROM verist_state")
    vsecs=$(awk -v a="$v0" -v b="$v1" 'BEGIN {printf "%.1f", b - a}')
    ok=ok
    [ "$seals" = "$retired" ] && [ $((retired + left)) = "$RETIRE_RUNS" ] && [ "$leftover" = "0 0 0" ] ||
        { ok="BAD: seals=$seals retired=$retired left=$left rows_of_retired=$leftover"; broke=1; }
    [ "$nbroken" = 0 ] || { ok="$ok; verist_verify_all: $nbroken broken (retire_verify_broken.txt)"; broke=1; }
    echo "runs=$RETIRE_RUNS retired=$retired left=$left seals=$seals verify_all_broken=$nbroken verify_all_secs=$vsecs runs_verified=$runs_now seals_verified=$seals check=$ok" \
        > "$OUT/retire_check.txt"
    log "retired $retired of $RETIRE_RUNS, $seals seals; verist_verify_all: $nbroken broken, $runs_now runs + $seals seals in $vsecs s ($ok)"
fi

# ---------------------------------------------------------------- report
so_now=$(so_stamp)
if [ "$(so_md5)" != "$md5_at_start" ]; then
    echo "WARNING: the installed verist.so was replaced during this run ($so_at_start -> $so_now): sessions started after that loaded the new build" |
        tee -a "$OUT/env.txt"
fi
log "writing the report"
$PY ledger/report.py "$OUT" "$( ((quick)) && echo quick || echo full )" "$(( $(date +%s) - t_start ))" | tee "$OUT/results.txt"
if ((broke)); then
    echo "ledger.sh: something broke (see the check columns and $OUT/failed-*.txt)" >&2
    exit 1
fi
log "done: $OUT/results.txt"
