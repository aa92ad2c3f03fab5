#!/usr/bin/env bash
# The verist benchmark (issue 4): verist_commit against the client pattern and
# the floor, leasing, growth, memory and dedupe-key speed.  See README.md here.
#
#   bash test/bench/run.sh            full run (about 27 minutes on 2 cores)
#   bash test/bench/run.sh --quick    smoke run (a few minutes, few repetitions)
#   options: --reps N  --duration S
#            --only main,sweep,keyfetch,chain,notify,purge,lease,growth,memory,dedupe
#
# Results: test/bench/out/results.txt (the table, also printed), results.csv
# (medians), raw.csv (every run), commits_vs_clients.png, env.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
. "$here/../lib.sh"   # PG_CONFIG, PGBIN on PATH
PY=/usr/bin/python3
source lib/cluster.sh

quick=0
reps=""
duration=""
only="main,sweep,keyfetch,chain,notify,purge,lease,growth,memory,dedupe"
while (($#)); do
    case "$1" in
        --quick) quick=1 ;;
        --reps) reps=$2; shift ;;
        --duration) duration=$2; shift ;;
        --only) only=$2; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
want() { [[ ",$only," == *",$1,"* ]]; }

if ((quick)); then
    REPS=${reps:-1}; T=${duration:-2}; WARMUP=0.3
    SWEEP_CLIENTS="2 4 16"; PROTOCOLS="extended prepared"
    HIST_RUNS=100000; HIST_EVENTS_PER_RUN=10; HIST_DISPATCHED=100000
    MEM_COMMITS=20000; LEASE_REPS=1; GROWTH_REPS=1; DEDUPE_1K=20000; DEDUPE_100K=200
    KEYS=40000; PURGE_ROWS=100000
else
    REPS=${reps:-5}; T=${duration:-3}; WARMUP=0.5
    SWEEP_CLIENTS="2 4 16"; PROTOCOLS="extended prepared"
    HIST_RUNS=1000000; HIST_EVENTS_PER_RUN=10; HIST_DISPATCHED=1000000
    MEM_COMMITS=200000; LEASE_REPS=3; GROWTH_REPS=3; DEDUPE_1K=200000; DEDUPE_100K=2000
    KEYS=100000; PURGE_ROWS=1000000
fi

OUT=$here/out
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/verist-bench-work.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    bench_cluster_destroy
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_start=$(date +%s)
log() { printf '[%4ds] %s\n' $(( $(date +%s) - t_start )) "$*"; }

# ---------------------------------------------------------------- setup
if [ ! -f "$(pg_config --pkglibdir)/verist.so" ]; then
    echo "run.sh: verist is not installed; run bash test/setup.sh first" >&2
    exit 1
fi
$PY lib/gen_data.py "$WORK/data"
DATA=$WORK/data
j() { cat "$DATA/$1.json"; }
# the same JSON texts for every variant, as pgbench variables (parameters)
DEFS=()
for f in output events commands e1type e1payload e2type e2payload e2trace e3type e3payload cmd1 cmd2; do
    DEFS+=(-D "$f=$(j $f)")
done

log "starting a throwaway cluster on 127.0.0.1:$BENCH_PORT"
bench_cluster_init
RAW=$OUT/raw.csv
echo "section,protocol,sync,path,clients,variant,rep,tps,p50_ms,p99_ms,mean_ms,txns,failed,check,extra,foreign_cores" > "$RAW"
rm -f "$OUT"/results.txt "$OUT"/results.csv "$OUT"/*.png "$OUT"/*.dat

# machine and settings
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "mode: $( ((quick)) && echo quick || echo full ) (reps=$REPS, duration=${T}s per run, warm-up ${WARMUP}s dropped)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
    echo "ram: $(free -g | awk '/^Mem:/ {print $2}') GB"
    echo "kernel: $(uname -sr)"
    echo "postgres: $(bench_psql -c 'SELECT version()')"
    echo "pgbench: $(pgbench --version)"
    echo "verist: $(bench_psql -c "SELECT extversion FROM pg_extension WHERE extname = 'verist'") ($(git -C "$here/../.." rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$here/../.." diff --quiet -- src sql 2>/dev/null || echo ', src/sql modified in the working tree'))"
    echo "cluster: initdb under /tmp, TCP 127.0.0.1:$BENCH_PORT, pgbench on the same machine"
    echo -n "settings:"
    for s in fsync synchronous_commit full_page_writes wal_sync_method wal_level shared_buffers \
             wal_buffers max_wal_size checkpoint_timeout work_mem autovacuum jit \
             verist.notify verist.hash_only; do
        echo -n " $s=$(bench_psql -c "LOAD 'verist'" -c "SHOW $s")"
    done
    echo
    echo "verist.so: $(md5sum "$(pg_config --pkglibdir)/verist.so" | cut -c1-12) $(stat -c %y "$(pg_config --pkglibdir)/verist.so" | cut -c1-19)"
} > "$OUT/env.txt"
cat "$OUT/env.txt"

bench_psql -c "CREATE DATABASE bench" -c "CREATE DATABASE growth0" -c "CREATE DATABASE growthh" \
    -c "CREATE DATABASE lease" -c "CREATE DATABASE mem" >/dev/null
for db in bench growth0 growthh lease mem; do
    bench_psql -d "$db" -c "CREATE EXTENSION IF NOT EXISTS verist" >/dev/null
done

# CPU time (jiffies) of this benchmark's cluster (lib/measure.sh).
cluster_cpu() { pgdata_cpu "$BENCH_PGDATA"; }

# run_pgbench NAME DB PROTOCOL CLIENTS [pgbench args...]: a measured run;
# prints "tps p50 p99 mean txns failed rc foreign" (tps etc. from the logs,
# after warm-up; foreign = CPU cores busy with other processes of the machine
# during the run, i.e. not this cluster and not pgbench)
run_pgbench() {
    local name=$1 db=$2 proto=$3 clients=$4
    shift 4
    local dir=$WORK/runs/$name threads=1 rc=0 b0 c0 t0 b1 c1 t1
    rm -rf "$dir"; mkdir -p "$dir"
    ((clients > 1)) && threads=2
    b0=$(machine_busy); c0=$(cluster_cpu); t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$dir/time" \
    pgbench -n -d "$db" -M "$proto" -c "$clients" -j "$threads" -l --log-prefix="$dir/log" \
        -D n=0 -D nclients="$clients" "$@" > "$dir/stdout" 2>&1 || rc=$?
    b1=$(machine_busy); c1=$(cluster_cpu); t1=$(date +%s.%N)
    local foreign
    foreign=$(awk -v b="$((b1 - b0))" -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" \
        '{printf "%.2f", (b - c - 100 * ($1 + $2)) / 100 / (t1 - t0)}' "$dir/time" 2>/dev/null || echo "?")
    local summary failed
    summary=$($PY lib/pgblog.py "$dir" "$WARMUP")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/stdout")
    if [ "$rc" != 0 ] || grep -qE "aborted|ERROR" "$dir/stdout"; then
        cp "$dir/stdout" "$OUT/failed-$name.txt"
        failed=$(( ${failed:-0} + 1000000 ))   # an aborted client: count it loudly
    fi
    rm -f "$dir"/log.*
    set -- $summary
    echo "$1 $2 $3 $4 $5 $(( ${failed:-0} + $6 )) $rc $foreign"
}

reset_bench() { bench_psql -d bench -v output="$(j output)" -f lib/reset.sql >/dev/null; }

# ---------------------------------------------------------------- keys
if want main || want sweep || want keyfetch; then
    log "precomputing what a client computes (dedupe keys, event chain hashes, ledger entries) for $KEYS commits per path"
    kvars=()
    for f in cmd1 cmd2 e1type e1payload e2type e2payload e2trace e3type e3payload output events commands; do
        kvars+=(-v "$f=$(j $f)")
    done
    bench_psql -d bench "${kvars[@]}" -v G="$KEYS" -f lib/keys.sql >/dev/null

    # Same rows in every variant: a few commits of each path with 2 clients,
    # then a digest of the tables (ledger included) without ids, timestamps
    # and the hashes that cover timestamps, and verist_verify_all().
    log "checking that the three variants write the same rows"
    same=""
    digests=()
    for v in verist client floor; do
        reset_bench
        for p in create update; do
            pgbench -n -d bench -M extended -c 2 -j 1 -t 300 -D n=0 -D nclients=2 "${DEFS[@]}" \
                -f "scripts/${v}_$p.sql" > "$WORK/same.out" 2>&1 || { cat "$WORK/same.out"; exit 1; }
        done
        d=$(bench_psql -d bench -f lib/digest.sql)
        digests+=("$d")
        same="$same $v: $d;"
    done
    echo "same rows check (1200 commits per variant, state, events, outbox and ledger; digest without ids, timestamps, hashes):$same" |
        tee "$OUT/same_rows.txt"
    if [ "$(printf '%s\n' "${digests[@]}" | sort -u | wc -l)" != 1 ] ||
       [[ "${digests[0]}" != *" broken_chains=0" ]]; then
        echo "run.sh: the variants did not write the same rows" >&2
        exit 1
    fi
fi

# ---------------------------------------------------------------- main + sweep
# All variants interleaved: every repetition runs every configuration once,
# the variants in a rotated order, each run on freshly reset tables.
if want main || want sweep; then
    variants=(verist client floor)
    total=0
    for rep in $(seq 1 "$REPS"); do
        for proto in $PROTOCOLS; do
            for sync in on off; do
                bench_set synchronous_commit "$sync"
                configs=()
                if want main; then
                    for c in 1 8; do configs+=("create $c" "update $c"); done
                fi
                if want sweep && [ "$proto" = extended ]; then
                    for c in $SWEEP_CLIENTS; do configs+=("create $c"); done
                fi
                for cfg in "${configs[@]}"; do
                    set -- $cfg
                    path=$1 clients=$2
                    for k in 0 1 2; do
                        v=${variants[$(( (k + rep + clients) % 3 ))]}
                        reset_bench
                        r=$(run_pgbench "m-$v-$path-$clients-$proto-$sync-$rep" bench "$proto" "$clients" \
                              -T "$T" "${DEFS[@]}" -f "scripts/${v}_$path.sql")
                        chk=$(bench_psql -d bench -f lib/check.sql)
                        set -- $r
                        # the log must hold every transaction the database committed
                        [ "${chk%% *}" = "$5" ] || chk="$chk,db_commits!=log($5)"
                        section=main
                        [ "$clients" = 1 ] || [ "$clients" = 8 ] || section=sweep
                        echo "$section,$proto,$sync,$path,$clients,$v,$rep,$1,$2,$3,$4,$5,$6,${chk#* },,$8" >> "$RAW"
                        total=$((total + 1))
                    done
                done
                log "rep $rep/$REPS $proto sync=$sync done ($total runs)"
            done
        done
    done
    bench_set synchronous_commit on
fi

# ---------------------------------------------------------------- key fetch
# What the client pattern and the floor pay to fetch their precomputed keys
# (an index probe inside a statement they send anyway): the same statement
# with and without the probes, 1 client.
if want keyfetch; then
    log "measuring the key-fetch overhead of the client pattern and the floor"
    cat > "$WORK/kf_with.sql" <<'EOF'
\set n :n + 1
\set g :client_id + :nclients * (:n - 1)
SELECT :g AS g, split_part(bench.kc(:g), ' ', 5) AS h3, bench.kc(:g) AS kk;
EOF
    cat > "$WORK/kf_without.sql" <<'EOF'
\set n :n + 1
\set g :client_id + :nclients * (:n - 1)
SELECT :g AS g, :g::text AS h3, :g::text AS kk;
EOF
    for rep in $(seq 1 3); do
        for proto in $PROTOCOLS; do
            for w in with without; do
                r=$(run_pgbench "kf-$w-$proto-$rep" bench "$proto" 1 -T 2 -f "$WORK/kf_$w.sql")
                set -- $r
                echo "keyfetch,$proto,,,1,$w,$rep,$1,$2,$3,$4,$5,$6,ok,,$8" >> "$RAW"
            done
        done
    done
fi

# ---------------------------------------------------------------- chain cost
# The audit chain's price (issue 5), the same verist workload three ways,
# interleaved:
#   release  the released 0.1.0 (built from the commit that shipped it, loaded
#            in database chain010 only, through Debian's extension_destdir);
#   nochain  this build with the 0.1.0 schema (no chain): the chain's own cost;
#   current  this build, this version.
if want chain; then
    v010_commit=$(git -C "$here/../.." log --format=%H --diff-filter=A -- sql/verist--0.1.0.sql | tail -1)
    log "the hash chain's cost: verist 0.1.0 as released (${v010_commit:0:7}), and this build with and without the chain"
    mkdir -p "$WORK/v010/src"
    git -C "$here/../.." archive "$v010_commit" | tar -x -C "$WORK/v010/src"
    make -s -C "$WORK/v010/src" PG_CONFIG="$(command -v pg_config)" >/dev/null 2>&1 &&
        make -s -C "$WORK/v010/src" PG_CONFIG="$(command -v pg_config)" DESTDIR="$WORK/v010/inst" install >/dev/null
    chmod -R a+rX "$WORK/v010"
    bench_psql -c "CREATE DATABASE chain010" \
        -c "ALTER DATABASE chain010 SET extension_destdir = '$WORK/v010/inst'" >/dev/null
    bench_psql -d chain010 -c "CREATE EXTENSION verist" >/dev/null
    variants3=(release nochain current)
    for rep in $(seq 1 "$REPS"); do
        for sync in on off; do
            bench_set synchronous_commit "$sync"
            for cfg in "create 1" "update 1" "create 8" "update 8"; do
                set -- $cfg
                path=$1 clients=$2
                for k in 0 1 2; do
                    v=${variants3[$(( (k + rep) % 3 ))]}
                    db=bench
                    case $v in
                        release) db=chain010
                                 bench_psql -d chain010 -v output="$(j output)" -f lib/reset_010.sql >/dev/null ;;
                        nochain) bench_psql -d bench -v output="$(j output)" -f lib/reset_010.sql >/dev/null ;;
                        current) reset_bench ;;
                    esac
                    r=$(run_pgbench "chain-$v-$path-$clients-$sync-$rep" "$db" extended "$clients" \
                          -T "$T" "${DEFS[@]}" -f "scripts/verist_$path.sql")
                    chk=$(bench_psql -d "$db" -f lib/check.sql)
                    set -- $r
                    [ "${chk%% *}" = "$5" ] || chk="$chk,db_commits!=log($5)"
                    echo "chain,extended,$sync,$path,$clients,$v,$rep,$1,$2,$3,$4,$5,$6,${chk#* },$v010_commit,$8" >> "$RAW"
                done
            done
        done
    done
    reset_bench
    bench_set synchronous_commit on
fi

# ---------------------------------------------------------------- notify cost
# Wake-ups (issue 6): the create path at 1 and 8 clients with verist.notify
# off (the default) and on.  Every notifying commit takes PostgreSQL's
# cluster-wide notify lock at commit.
if want notify; then
    log "the cost of verist.notify"
    for rep in $(seq 1 "$REPS"); do
        for sync in on off; do
            bench_set synchronous_commit "$sync"
            for clients in 1 8; do
                for k in 0 1; do
                    mode=$([ $(( (k + rep) % 2 )) = 0 ] && echo off || echo on)
                    reset_bench
                    bench_psql -c "ALTER DATABASE bench SET verist.notify = $mode" >/dev/null
                    r=$(run_pgbench "notify-$mode-$clients-$sync-$rep" bench extended "$clients" \
                          -T "$T" "${DEFS[@]}" -f scripts/verist_create.sql)
                    set -- $r
                    echo "notify,extended,$sync,create,$clients,notify_$mode,$rep,$1,$2,$3,$4,$5,$6,ok,,$8" >> "$RAW"
                done
            done
        done
    done
    bench_psql -c "ALTER DATABASE bench RESET verist.notify" >/dev/null
    bench_set synchronous_commit on
fi

# ---------------------------------------------------------------- retention
# Retention (issue 6): PURGE_ROWS dispatched rows older than the cut-off,
# purged in batches of 10,000 (one verist_purge_outbox call, one transaction
# each) while 4 clients keep committing; rows/s of the purge, and the commit
# rate during the purge against the same load, as long, without it.
if want purge; then
    log "retention: purging $PURGE_ROWS dispatched rows while commits continue"
    bench_set synchronous_commit on
    purge_fill() {
        reset_bench
        bench_psql -d bench -v cmd1="$(j cmd1)" >/dev/null <<EOF
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status,
                           created_at, dispatched_at)
SELECT 'old-wf', 'old-' || (i / 2), 'extract', :'cmd1'::jsonb, md5('o' || i) || md5('O' || i),
       'dispatched', now() - interval '40 days', now() - interval '40 days'
FROM generate_series(1, $PURGE_ROWS) AS i;
VACUUM ANALYZE verist_outbox;
CHECKPOINT;
EOF
    }
    for rep in $(seq 1 "$GROWTH_REPS"); do
        purge_fill
        t0=$(date +%s.%N)
        pgbench -n -d bench -M extended -c 4 -j 2 -T 600 -D n=0 -D nclients=4 "${DEFS[@]}" \
            -f scripts/verist_create.sql > "$WORK/purge_load.out" 2>&1 &
        load=$!
        sleep 1
        t1=$(date +%s.%N)
        purged=0
        while :; do
            n=$(bench_psql -d bench -c "SELECT verist_purge_outbox('30 days', 10000)")
            purged=$((purged + n))
            [ "$n" -lt 10000 ] && break
        done
        t2=$(date +%s.%N)
        during=$(bench_psql -d bench -c "SELECT count(*) FROM verist_state WHERE run_id < '2'")
        # SIGTERM: a background job of a non-interactive shell ignores SIGINT
        kill -TERM "$load" 2>/dev/null; wait "$load" 2>/dev/null || true
        secs=$(awk -v a="$t0" -v b="$t2" 'BEGIN {printf "%.2f", b - a}')
        purge_secs=$(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.2f", b - a}')
        left=$(bench_psql -d bench -c "SELECT count(*) FROM verist_outbox WHERE workflow_id = 'old-wf'")
        chk=ok; { [ "$purged" = "$PURGE_ROWS" ] && [ "$left" = 0 ]; } || chk="purged=$purged;left=$left"
        rate=$(awk -v n="$purged" -v s="$purge_secs" 'BEGIN {printf "%.0f", n / s}')
        crate=$(awk -v n="$during" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')
        echo "purge,extended,on,purge,4,with_purge,$rep,$rate,,,,$purged,0,$chk,$crate;$purge_secs," >> "$RAW"
        # the same load, as long, without a purge
        purge_fill
        r=$(run_pgbench "purge-load-$rep" bench extended 4 -T "${secs%.*}" "${DEFS[@]}" -f scripts/verist_create.sql)
        set -- $r
        echo "purge,extended,on,create,4,without_purge,$rep,$1,$2,$3,$4,$5,$6,ok,,$8" >> "$RAW"
    done
    reset_bench
fi

# ---------------------------------------------------------------- dedupe keys
if want dedupe; then
    log "canonical JSON + SHA-256 speed (1 KB and 100 KB commands)"
    for rep in 1 2 3; do
        for size in 1k 100k; do
            n=$DEDUPE_1K; [ "$size" = 100k ] && n=$DEDUPE_100K
            for fn in dedupe canonical; do
                if [ "$fn" = dedupe ]; then
                    call="verist_dedupe_key('bench-wf', i::text, 'extract', c.cmd)"
                else
                    call="verist_canonical_json(c.cmd)"
                fi
                # the command is an in-memory value (not a toasted column), and
                # i varies, so nothing is folded or cached
                rate=$(bench_psql -d bench -v cmd="$(j cmd_$size)" <<EOF
SELECT clock_timestamp() AS t0 \gset
SELECT count($call) FROM generate_series(1, $n) AS i, (SELECT :'cmd'::jsonb AS cmd OFFSET 0) AS c \g /dev/null
SELECT round($n / extract(epoch FROM clock_timestamp() - :'t0'::timestamptz));
EOF
)
                echo "dedupe,,,$size,1,$fn,$rep,$rate,,,,$n,0,ok,$(wc -c < "$DATA/cmd_$size.json")," >> "$RAW"
            done
        done
    done
fi

# ---------------------------------------------------------------- lease throughput
if want lease; then
    log "leasing throughput: batch 1/10/100, 1 and 4 dispatchers"
    bench_set synchronous_commit on
    for b in 1 10 100; do
        {
            echo "-- lease a batch of $b, then finalise each entry with its own call (round trip)"
            echo -n "SELECT "
            for i in $(seq 1 "$b"); do echo -n "ids[$i] AS id$i"; ((i < b)) && echo -n ", "; done
            echo " FROM (SELECT array_agg(id ORDER BY id) AS ids FROM verist_lease_outbox(:client_id, $b)) AS l"
            echo "\\gset"
            for i in $(seq 1 "$b"); do echo "SELECT verist_mark_dispatched(:id$i, :client_id);"; done
        } > "$WORK/lease_each_$b.sql"
        {
            echo "-- lease a batch of $b, then finalise them with one verist_mark_dispatched_batch"
            echo "SELECT array_agg(id) AS ids FROM verist_lease_outbox(:client_id, $b)"
            echo "\\gset"
            echo "SELECT count(*) FROM verist_mark_dispatched_batch(:ids, :client_id);"
        } > "$WORK/lease_batch_$b.sql"
    done
    lease_fill() {   # lease_fill DB N: an outbox of N pending rows and nothing else
        bench_psql -d "$1" -v cmd1="$(j cmd1)" >/dev/null <<EOF
TRUNCATE verist_outbox;
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status)
SELECT 'bench-wf', 'lease-' || (i / 2), 'extract', :'cmd1'::jsonb, md5('p' || i) || md5('P' || i), 'pending'
FROM generate_series(1, $2) AS i;
VACUUM ANALYZE verist_outbox;
CHECKPOINT;
EOF
    }
    for rep in $(seq 1 "$LEASE_REPS"); do
        for b in 1 10 100; do
            for d in 1 4; do
                for how in each batch; do
                    fill=$(( b * d * 6000 )); ((fill < 20000)) && fill=20000; ((fill > 400000)) && fill=400000
                    ((quick)) && ((fill > 100000)) && fill=100000
                    lease_fill lease "$fill"
                    r=$(run_pgbench "lease-$how-$b-$d-$rep" lease extended "$d" -T "$T" -f "$WORK/lease_${how}_$b.sql")
                    set -- $r
                    got=$(bench_psql -d lease -c "SELECT count(*) FROM verist_outbox WHERE status = 'dispatched'")
                    left=$(bench_psql -d lease -c "SELECT count(*) FROM verist_outbox WHERE status = 'pending'")
                    chk=ok
                    [ "$got" = $(( $5 * b )) ] || chk="dispatched=$got,expected=$(( $5 * b ))"
                    [ "$left" -gt 0 ] || chk="$chk,ran_dry"
                    echo "lease,extended,on,$how,$d,batch$b,$rep,$1,$2,$3,$4,$5,$6,$chk,$b,$8" >> "$RAW"
                done
            done
        done
    done
fi

# ---------------------------------------------------------------- growth + lease latency
if want growth; then
    log "generating history: $HIST_RUNS runs, $((HIST_RUNS * HIST_EVENTS_PER_RUN)) events, $((HIST_RUNS * (HIST_EVENTS_PER_RUN / 3 > 1 ? HIST_EVENTS_PER_RUN / 3 : 1))) ledger entries, $HIST_DISPATCHED dispatched outbox rows"
    t0=$(date +%s)
    bench_psql -d growthh -v runs="$HIST_RUNS" -v per_run="$HIST_EVENTS_PER_RUN" \
        -v dispatched="$HIST_DISPATCHED" -v output="$(j output)" -v e1payload="$(j e1payload)" \
        -v cmd1="$(j cmd1)" -f lib/history.sql >/dev/null
    bench_psql -d growthh -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
    hist_max=$(bench_psql -d growthh -c "SELECT max(id) FROM verist_outbox")
    sizes=$(bench_psql -d growthh -c "SELECT format('state %s rows, events %s rows, ledger %s rows, outbox %s rows, database %s',
        (SELECT count(*) FROM verist_state), (SELECT count(*) FROM verist_events),
        (SELECT count(*) FROM verist_ledger), (SELECT count(*) FROM verist_outbox),
        pg_size_pretty(pg_database_size(current_database())))")
    log "history generated in $(( $(date +%s) - t0 )) s: $sizes"
    echo "$sizes (generated in $(( $(date +%s) - t0 )) s)" > "$OUT/history.txt"

    cat > "$WORK/growth_create.sql" <<'EOF'
-- a new run with a random 64-bit id (the seed changes with every pgbench run)
\set n :n + 1
\set rid hash(:n)
SELECT * FROM verist_commit('bench-wf', :rid, 'extract', 0, :output, :events, :commands);
EOF
    cat > "$WORK/lease_latency.sql" <<'EOF'
SELECT array_agg(id) AS ids FROM verist_lease_outbox(:client_id, 10)
\gset
SELECT count(*) FROM verist_mark_dispatched_batch(:ids, :client_id);
EOF
    for rep in $(seq 1 "$GROWTH_REPS"); do
        # growth0 starts empty every repetition; growthh keeps its history
        bench_psql -d growth0 -c "DROP EXTENSION verist" -c "CREATE EXTENSION verist" -c "CHECKPOINT" >/dev/null
        for sync in off on; do
            bench_set synchronous_commit "$sync"
            for db in growth0 growthh; do
                bench_psql -d "$db" -c "CHECKPOINT" >/dev/null
                r=$(run_pgbench "growth-$db-$sync-$rep" "$db" extended 1 -T "$T" "${DEFS[@]}" \
                      -f "$WORK/growth_create.sql")
                set -- $r
                echo "growth,extended,$sync,create,1,$db,$rep,$1,$2,$3,$4,$5,$6,ok,,$8" >> "$RAW"
            done
        done
        # lease latency: the same pending rows, with 0 or $HIST_DISPATCHED dispatched ones
        bench_set synchronous_commit off
        for db in growth0 growthh; do
            keep=0; [ "$db" = growthh ] && keep=$hist_max
            bench_psql -d "$db" -v cmd1="$(j cmd1)" >/dev/null <<EOF
DELETE FROM verist_outbox WHERE id > $keep;
VACUUM verist_outbox;
INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status)
SELECT 'bench-wf', 'lease-' || (i / 2), 'extract', :'cmd1'::jsonb, md5('p' || i) || md5('P' || i), 'pending'
FROM generate_series(1, 200000) AS i;
ANALYZE verist_outbox;
CHECKPOINT;
EOF
        done
        for db in growth0 growthh; do
            r=$(run_pgbench "leaselat-$db-$rep" "$db" extended 1 -T "$T" -r -f "$WORK/lease_latency.sql")
            cp "$WORK/runs/leaselat-$db-$rep/stdout" "$OUT/leaselat-$db.pgbench.txt"
            set -- $r
            lease_ms=$(awk '$1 ~ /^[0-9.]+$/ && /verist_lease_outbox/ {print $1; exit}' "$WORK/runs/leaselat-$db-$rep/stdout")
            left=$(bench_psql -d "$db" -c "SELECT count(*) FROM verist_outbox WHERE status = 'pending'")
            chk=ok; [ "$left" -gt 0 ] || chk=ran_dry
            echo "leaselat,extended,off,lease10,1,$db,$rep,$1,$2,$3,$4,$5,$6,$chk,$lease_ms,$8" >> "$RAW"
        done
    done
    # the plan the lease statement gets with the history in place
    bench_psql -d growthh >"$OUT/lease_plan.txt" 2>&1 <<'EOF' || true
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET client_min_messages = log;
BEGIN;
SELECT count(*) FROM verist_lease_outbox('plan-check', 10);
ROLLBACK;
EOF
    bench_set synchronous_commit on
fi

# ---------------------------------------------------------------- memory
if want memory; then
    log "memory: $MEM_COMMITS commits in one session"
    bench_set synchronous_commit off
    bench_psql -d mem -c "CREATE TABLE IF NOT EXISTS mem_probe (at text, n int, status text, contexts bigint)" >/dev/null
    first=1000
    last=$((first + MEM_COMMITS))
    cat > "$WORK/memory.sql" <<EOF
\\set n :n + 1
\\set rid 3000000000 + :n
SELECT * FROM verist_commit('bench-wf', :rid, 'extract', 0, :output, :events, :commands);
\\if :n = $first
INSERT INTO mem_probe SELECT 'before', :n, pg_read_file('/proc/self/status'), (SELECT sum(total_bytes) FROM pg_backend_memory_contexts);
\\elif :n = $last
INSERT INTO mem_probe SELECT 'after', :n, pg_read_file('/proc/self/status'), (SELECT sum(total_bytes) FROM pg_backend_memory_contexts);
\\endif
EOF
    r=$(run_pgbench "memory" mem extended 1 -t "$last" "${DEFS[@]}" -f "$WORK/memory.sql")
    set -- $r
    mem=$(bench_psql -d mem -F' ' <<'EOF'
SELECT at,
       (regexp_match(status, 'VmRSS:\s+(\d+)'))[1],
       (regexp_match(status, 'RssAnon:\s+(\d+)'))[1],
       (regexp_match(status, 'RssShmem:\s+(\d+)'))[1],
       contexts / 1024
FROM mem_probe ORDER BY n;
EOF
)
    echo "$mem" | while read -r at rss anon shmem ctx; do
        echo "memory,extended,off,create,1,$at,1,$1,$2,$3,$4,$5,$6,ok,vmrss_kb=$rss;rssanon_kb=$anon;rssshmem_kb=$shmem;contexts_kb=$ctx,$8" >> "$RAW"
    done
    bench_set synchronous_commit on
fi

# ---------------------------------------------------------------- report
so_now="verist.so: $(md5sum "$(pg_config --pkglibdir)/verist.so" | cut -c1-12) $(stat -c %y "$(pg_config --pkglibdir)/verist.so" | cut -c1-19)"
if ! grep -qxF "$so_now" "$OUT/env.txt"; then
    echo "WARNING: verist.so was replaced during this run (now $so_now): the figures mix two builds" |
        tee -a "$OUT/env.txt"
fi
log "writing the report"
$PY lib/report.py "$OUT" "$( ((quick)) && echo quick || echo full )" "$(( $(date +%s) - t_start ))"
log "done: $OUT/results.txt"
