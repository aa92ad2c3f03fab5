#!/usr/bin/env bash
# verist 0.5.0's lease modes and counters, side by side on one cluster,
# fsync on (README.md here, "0.5.0: lease modes and counters"):
#
#   1. lease     the consumer loop of queue.sh -- verist_lease_outbox(owner, B,
#                '30 seconds'[, mode]) then verist_mark_dispatched_batch(ids,
#                owner) -- rows leased and finalised per second for the
#                3-argument form (the default, = 'oldest'), 'per_run', 'fair'
#                and 'fair_per_run'; batch 1, 10, 100; 1 and 4 dispatchers;
#                10 workflows, runs of 5 commands (tenants/fill.sql), refilled
#                before every measurement so that the loop never runs dry.
#                Ratio of each mode to the default.
#   2. counters  verist_commit throughput (ledger.sh's create and update
#                scripts) with verist.counters on and off
#                (PGOPTIONS='-c verist.counters=off'), 1 and 4 clients (a
#                2-core machine), synchronous_commit on and off.  Target:
#                counters cost <= 2% (on/off >= 0.98).
#
# Repetitions are interleaved (the order of the modes, and of on/off, rotates
# between repetitions and cells); each figure is the median over them.
# Nothing about timing is asserted: the run exits non-zero only if something
# broke (a failed transaction, a lease left unfinalised, counters that do not
# add up, a queue that ran dry mid-measurement).
#
#   bash test/bench/tenants.sh             full run: 3 repetitions x 5 s per cell
#                                          (about 15 minutes on 2 cores, estimated
#                                          from the quick run; not yet measured)
#   bash test/bench/tenants.sh --quick     validation: 1 repetition x 2 s (about 3 minutes)
#   TENANTS_BENCH_SECONDS=S TENANTS_BENCH_REPS=N   override either
#   options: --only lease,counters   --port P (default 5481)
#
# The cluster: initdb under /tmp, TCP 127.0.0.1:5481, the settings of
# lib/measure.sh (fsync on, full_page_writes on, synchronous_commit on,
# shared_buffers 1GB, no checkpoint inside a measurement) plus
# shared_preload_libraries = 'verist' (the counters need it; part 1 runs with
# verist.counters at its default, on).  Removed at the end.
# Output: test/bench/out/tenants/ (results.txt, also printed; lease_raw.csv,
# counters_raw.csv, env.txt).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
. ../lib.sh                     # PG_CONFIG, PGBIN on PATH, as_pg
. lib/measure.sh                # bench_settings, machine_busy, pgdata_cpu
PY=/usr/bin/python3

quick=0 port=5481 only="lease,counters"
while (($#)); do
    case "$1" in
        --quick) quick=1 ;;
        --only) only=$2; shift ;;
        --port) port=$2; shift ;;
        -h|--help) sed -n '2,38p' "$here/$(basename "$0")"; exit 0 ;;
        *) echo "tenants.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
want() { [[ ",$only," == *",$1,"* ]]; }
if ((quick)); then
    REPS=${TENANTS_BENCH_REPS:-1}; T=${TENANTS_BENCH_SECONDS:-2}; WARMUP=0.3
else
    REPS=${TENANTS_BENCH_REPS:-3}; T=${TENANTS_BENCH_SECONDS:-5}; WARMUP=0.5
fi
MODES=(default per_run fair fair_per_run)      # default = the 3-argument form
BATCHES=(1 10 100)
DISPATCHERS=(1 4)
CLIENTS=(1 4)                                  # part 2 (2 cores: 4, not 8)

OUT=$here/out/tenants
mkdir -p "$OUT"
rm -f "$OUT"/*.csv "$OUT"/*.txt
ROOT=$(mktemp -d /tmp/verist-bench-tenants.XXXXXX)
chmod 755 "$ROOT"
WORK=$ROOT/work
mkdir -p "$WORK"
PGDATA_T=$ROOT/data
cleanup() {
    if [ -f "$PGDATA_T/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl -D $PGDATA_T -m fast -w -t 60 stop" >/dev/null 2>&1 ||
            as_pg "$PGBIN/pg_ctl -D $PGDATA_T -m immediate -w stop" >/dev/null 2>&1
    fi
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
t_start=$(date +%s)
log() { printf '[%4ds] %s\n' $(( $(date +%s) - t_start )) "$*"; }
die() { echo "tenants.sh: $*" >&2; exit 1; }
broke=0
broken() { echo "tenants.sh: $*" >&2; broke=1; }

sharedir=$("$PG_CONFIG" --sharedir)/extension
# the lease modes came with 0.5.0: any installed version from it on
installed=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$sharedir/verist.control" 2>/dev/null)
[ -n "$installed" ] && [ "$(printf '%s\n' 0.5.0 "$installed" | sort -V | head -1)" = 0.5.0 ] &&
    [ -f "$("$PG_CONFIG" --pkglibdir)/verist.so" ] ||
    die "verist 0.5.0 or later is not installed (found ${installed:-none}); run bash test/setup.sh first"

# ---------------------------------------------------------------- cluster
if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
    die "something already listens on port $port"
fi
log "cluster on 127.0.0.1:$port (fsync on, synchronous_commit on, shared_preload_libraries = verist)"
[ "$(id -u)" = 0 ] && chown postgres: "$ROOT"
as_pg "$PGBIN/initdb -D $PGDATA_T --auth=trust --username=postgres -E UTF8 --no-locale" >/dev/null ||
    die "initdb failed"
{ bench_settings "$port" "$ROOT" "${BENCH_SHARED_BUFFERS:-1GB}"
  echo "shared_preload_libraries = 'verist'"; } >> "$PGDATA_T/postgresql.conf"
as_pg "$PGBIN/pg_ctl -D $PGDATA_T -l $ROOT/server.log -w -t 120 start" >/dev/null ||
    { cat "$ROOT/server.log" >&2; die "the cluster did not start"; }
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
unset PGPASSWORD PGSERVICE PGOPTIONS PGDATABASE
tpsql() {   # tpsql DB [psql args...]
    local db=$1; shift
    "$PGBIN/psql" -qXAt -v ON_ERROR_STOP=1 -d "$db" "$@"
}
for db in lease bench; do
    tpsql postgres -c "CREATE DATABASE $db" >/dev/null
    tpsql "$db" -c "CREATE EXTENSION verist" >/dev/null
done
set_sync() {
    tpsql postgres -c "ALTER SYSTEM SET synchronous_commit = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
    local i
    for i in $(seq 1 50); do
        [ "$(tpsql postgres -c 'SHOW synchronous_commit')" = "$1" ] && return 0
        sleep 0.1
    done
    die "synchronous_commit did not become $1"
}
cluster_cpu() { pgdata_cpu "$PGDATA_T"; }
# counter NAME DB: the value of one of verist_counters' rows (reason NULL)
counter() { tpsql "$2" -c "SELECT coalesce(sum(value), 0) FROM verist_counters WHERE counter = '$1'"; }

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "mode: $( ((quick)) && echo quick || echo full ) ($REPS repetition(s) x ${T} s per cell, warm-up ${WARMUP} s dropped in part 2)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; ram $(free -g | awk '/^Mem:/ {print $2}') GB; kernel $(uname -sr)"
    echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "postgres: $(tpsql postgres -c 'SELECT version()')"
    echo "pgbench: $(pgbench --version)"
    echo "verist: $(tpsql lease -c "SELECT extversion FROM pg_extension WHERE extname = 'verist'"), verist.so $(md5sum "$("$PG_CONFIG" --pkglibdir)/verist.so" | cut -c1-12), tree $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$here" diff --quiet HEAD -- ../../src ../../sql 2>/dev/null || echo ', src/sql modified in the working tree')"
    echo -n "settings:"
    for s in fsync synchronous_commit full_page_writes wal_sync_method wal_level shared_buffers \
             max_wal_size checkpoint_timeout autovacuum jit shared_preload_libraries verist.counters; do
        echo -n " $s=$(tpsql postgres -c "SHOW $s")"
    done
    echo
    echo "cluster: initdb under $ROOT, TCP 127.0.0.1:$port; pgbench on the same machine"
} > "$OUT/env.txt"
cat "$OUT/env.txt"

# ---------------------------------------------------------------- 1. lease modes
$PY lib/gen_data.py "$WORK/data" >/dev/null
CMD=$(cat "$WORK/data/cmd1.json")

# lease_measure NAME MODE BATCH DISPATCHERS: one measured run of the consumer
# loop; appends a line to lease_raw.csv, prints rows/s.
lease_measure() {
    local name=$1 mode=$2 b=$3 d=$4
    local dir=$WORK/runs/$name threads=1 b0 c0 t0 b1 c1 t1 foreign tps tx failed
    local got leased left heads l0 l1 r0 r1 chk per_lease rows_s
    rm -rf "$dir"; mkdir -p "$dir"
    ((d > 1)) && threads=2
    l0=$(counter rows_leased lease); r0=$(counter dispatched lease)
    b0=$(machine_busy); c0=$(cluster_cpu); t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$dir/time" \
        pgbench -n -M prepared -c "$d" -j "$threads" -T "$T" -f "$WORK/lease_${mode}_$b.sql" lease \
        > "$dir/stdout" 2>&1 || { cp "$dir/stdout" "$OUT/failed-$name.txt"; broken "$name: pgbench failed"; }
    b1=$(machine_busy); c1=$(cluster_cpu); t1=$(date +%s.%N)
    foreign=$(awk -v b="$((b1 - b0))" -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" \
        'END {printf "%.2f", (b - c - 100 * ($1 + $2)) / 100 / (t1 - t0)}' "$dir/time" 2>/dev/null || echo "?")
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$dir/stdout")
    tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$dir/stdout")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/stdout")
    l1=$(counter rows_leased lease); r1=$(counter dispatched lease)
    IFS='|' read -r got leased left heads < <(tpsql lease -c "
        SELECT count(*) FILTER (WHERE status = 'dispatched'),
               count(*) FILTER (WHERE status = 'leased'),
               count(*) FILTER (WHERE status = 'pending'),
               count(DISTINCT run_id) FILTER (WHERE status = 'pending')
        FROM verist_outbox")
    chk=ok
    [ "${failed:-0}" = 0 ] || chk="failed=$failed"
    grep -qE "aborted|ERROR" "$dir/stdout" && chk="$chk,errors"
    ((got > 0)) || chk="$chk,nothing_finalised"
    [ "$leased" = 0 ] || chk="$chk,left_leased=$leased"
    # every row leased was finalised, and the counters saw each exactly once
    [ "$((l1 - l0))" = "$got" ] && [ "$((r1 - r0))" = "$got" ] ||
        chk="$chk,counters(leased=$((l1 - l0)),dispatched=$((r1 - r0)))!=finalised($got)"
    # the loop must never have run dry: enough runs with a pending command
    # left for every dispatcher's next full batch
    ((heads >= b * d)) || chk="$chk,ran_dry(pending_runs=$heads)"
    [ "$chk" = ok ] || { cp "$dir/stdout" "$OUT/failed-$name.txt"; broken "$name: $chk"; }
    per_lease=$(awk -v g="$got" -v t="${tx:-0}" 'BEGIN {printf "%.2f", (t > 0 ? g / t : 0)}')
    rows_s=$(awk -v p="${tps:-0}" -v g="$got" -v t="${tx:-0}" 'BEGIN {printf "%.0f", (t > 0 ? p * g / t : 0)}')
    echo "$name,$mode,$b,$d,${tps:-0},$rows_s,${tx:-0},$got,$per_lease,$FILLED,$left,$chk,$foreign" >> "$OUT/lease_raw.csv"
    echo "$rows_s rows/s ($per_lease rows/lease, $foreign foreign cores)"
}

if want lease; then
    for b in "${BATCHES[@]}"; do
        for mode in "${MODES[@]}"; do
            if [ "$mode" = default ]; then call="verist_lease_outbox('d' || :client_id, $b, '30 seconds')"
            else call="verist_lease_outbox('d' || :client_id, $b, '30 seconds', '$mode')"; fi
            cat > "$WORK/lease_${mode}_$b.sql" <<EOF
SELECT array_agg(id) AS ids, count(*) AS got FROM $call
\\gset
\\if :got > 0
SELECT count(*) FROM verist_mark_dispatched_batch(:ids, 'd' || :client_id);
\\endif
EOF
        done
    done
    echo "name,mode,batch,dispatchers,tps,rows_per_s,transactions,finalised,rows_per_lease,filled,pending_left,check,foreign_cores" \
        > "$OUT/lease_raw.csv"
    declare -A SEEN=()
    log "1. lease modes: ${#MODES[@]} modes x batch ${BATCHES[*]} x ${DISPATCHERS[*]} dispatcher(s) x $REPS repetition(s) of ${T} s, interleaved"
    for rep in $(seq 1 "$REPS"); do
        ci=0
        for b in "${BATCHES[@]}"; do
            for d in "${DISPATCHERS[@]}"; do
                for k in "${!MODES[@]}"; do
                    mode=${MODES[$(( (k + rep + ci) % ${#MODES[@]} ))]}
                    # rows to fill: in the first repetition queue.sh's sizing
                    # (b x d x 6000, scaled to the measurement's length, within
                    # 30k..250k); later, twice the most this cell has consumed
                    # (a queue that runs dry anyway is reported as broken)
                    cap=$(( 250000 * T / 5 )); ((cap < 30000)) && cap=30000
                    rows=$(( b * d * 6000 * T / 5 ))
                    [ -n "${SEEN[$mode-$b-$d]:-}" ] && rows=$(( 2 * ${SEEN[$mode-$b-$d]} ))
                    ((rows > cap)) && rows=$cap
                    ((rows < 30000)) && rows=30000
                    runs=$(( rows / 5 )); FILLED=$(( runs * 5 ))
                    tpsql lease -v runs="$runs" -v cmd="$CMD" -f tenants/fill.sql >/dev/null
                    r=$(lease_measure "lease-$mode-$b-$d-$rep" "$mode" "$b" "$d")
                    log "  rep $rep batch $b, $d dispatcher(s), $mode: $r"
                    used=$(tail -1 "$OUT/lease_raw.csv" | cut -d, -f8)
                    (( used > ${SEEN[$mode-$b-$d]:-0} )) && SEEN[$mode-$b-$d]=$used
                done
                ci=$((ci + 1))
            done
        done
    done
    tpsql lease -c "TRUNCATE verist_outbox" -c "CHECKPOINT" >/dev/null
fi

# ---------------------------------------------------------------- 2. counters on/off
DATA=$here/ledger/data
DEFS=(-D "output=$(cat "$DATA/output.json")" -D "events=$(cat "$DATA/events.json")"
      -D "commands=$(cat "$DATA/commands.json")")
PVARS=(-v "output=$(cat "$DATA/output.json")" -v "events=$(cat "$DATA/events.json")"
       -v "commands=$(cat "$DATA/commands.json")")

# commit_measure NAME COUNTERS(on|off) PATH CLIENTS: prints
# "tps p50 p99 mean txns failed foreign"
commit_measure() {
    local name=$1 cnt=$2 path=$3 clients=$4
    local dir=$WORK/runs/$name threads=1 rc=0 b0 c0 t0 b1 c1 t1 foreign summary failed opts=""
    rm -rf "$dir"; mkdir -p "$dir"
    ((clients > 1)) && threads=2
    [ "$cnt" = off ] && opts="-c verist.counters=off"
    b0=$(machine_busy); c0=$(cluster_cpu); t0=$(date +%s.%N)
    PGOPTIONS="$opts" /usr/bin/time -f "%U %S" -o "$dir/time" \
    pgbench -n -M prepared -c "$clients" -j "$threads" -T "$T" \
        -l --log-prefix="$dir/log" -D n=0 -D nclients="$clients" -D base=1000000000 "${DEFS[@]}" \
        -f "ledger/$path.sql" bench > "$dir/stdout" 2>&1 || rc=$?
    b1=$(machine_busy); c1=$(cluster_cpu); t1=$(date +%s.%N)
    foreign=$(awk -v b="$((b1 - b0))" -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" \
        'END {printf "%.2f", (b - c - 100 * ($1 + $2)) / 100 / (t1 - t0)}' "$dir/time" 2>/dev/null || echo "?")
    summary=$($PY lib/pgblog.py "$dir" "$WARMUP")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/stdout")
    if [ "$rc" != 0 ] || grep -qE "aborted|ERROR" "$dir/stdout"; then
        cp "$dir/stdout" "$OUT/failed-$name.txt"
        failed=$(( ${failed:-0} + 1000000 ))
    fi
    set -- $summary
    echo "$1 $2 $3 $4 $5 $(( ${failed:-0} + $6 )) $foreign"
}

if want counters; then
    echo "counters,path,clients,sync,rep,tps,p50_ms,p99_ms,mean_ms,txns,failed,db_commits,counted,check,foreign_cores" \
        > "$OUT/counters_raw.csv"
    log "2. counters: on/off x create/update x ${CLIENTS[*]} client(s) x synchronous_commit on/off x $REPS repetition(s) of ${T} s, interleaved"
    # PGOPTIONS reaches the server: a session started with it has counting off
    got=$(PGOPTIONS="-c verist.counters=off" tpsql bench -c "SHOW verist.counters")
    [ "$got" = off ] || die "PGOPTIONS='-c verist.counters=off' gave verist.counters=$got"
    for rep in $(seq 1 "$REPS"); do
        for sync in on off; do
            set_sync "$sync"
            ci=0
            for cl in "${CLIENTS[@]}"; do
                for path in create update; do
                    for k in 0 1; do
                        # each setting goes first in half of the pairs
                        cnt=$([ $(( (k + rep + ci) % 2 )) = 0 ] && echo on || echo off)
                        tpsql bench "${PVARS[@]}" -f ledger/reset.sql >/dev/null
                        # creates count commits that made a run, commits the others
                        counter_name=$([ "$path" = create ] && echo creates || echo commits)
                        v0=$(counter "$counter_name" bench)
                        r=$(commit_measure "c-$cnt-$path-$cl-$sync-$rep" "$cnt" "$path" "$cl")
                        v1=$(counter "$counter_name" bench)
                        chk=$(tpsql bench -f ledger/check.sql)
                        set -- $r
                        db_commits=${chk%% *}; chk=${chk#* }
                        [ "$db_commits" = "$5" ] || chk="$chk,db_commits!=log($5)"
                        want_counted=$([ "$cnt" = on ] && echo "$db_commits" || echo 0)
                        [ "$((v1 - v0))" = "$want_counted" ] || chk="$chk,counted=$((v1 - v0)),expected=$want_counted"
                        [ "$chk" = ok ] && [ "$6" = 0 ] || broken "c-$cnt-$path-$cl-$sync-$rep: $chk failed=$6"
                        echo "$cnt,$path,$cl,$sync,$rep,$1,$2,$3,$4,$5,$6,$db_commits,$((v1 - v0)),$chk,$7" >> "$OUT/counters_raw.csv"
                        log "  rep $rep sync=$sync $path $cl client(s), counters $cnt: $1 commits/s (p50 $2 ms, $7 foreign cores)"
                    done
                done
                ci=$((ci + 1))
            done
        done
    done
    set_sync on
    tpsql bench -c "DROP EXTENSION verist" -c "CHECKPOINT" >/dev/null
fi

$PY tenants/report.py "$OUT" "$(cat "$OUT/env.txt")" | tee "$OUT/results.txt"
log "done"
exit "$broke"
