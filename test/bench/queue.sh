#!/usr/bin/env bash
# Leasing against a pgmq-style queue (issue "Performance 2"): the same
# consumer loop on both, side by side on one cluster, fsync on -- claim a
# batch in one round trip, finalise it in a second:
#
#   verist     verist_lease_outbox(owner, B)  then  verist_mark_dispatched_batch(ids, owner)
#   reference  refq.read(B, 30)               then  refq.archive(ids)
#
# The reference is queue/reference.sql: pgmq's published design in our own
# words (pgmq is not packaged for Debian 12; the differences are listed
# there).  Batches 1, 10, 100; 1 and 4 dispatchers; repetitions interleaved
# (the order of the two alternates); medians.  Then both again with
# 1,000,000 finished rows present (verist: dispatched rows in the outbox;
# reference: archived messages), and the size of each on disk after a
# million commands went through (drained by 4 dispatchers, batch 100, then
# VACUUM).  Nothing is asserted: the table has a verdict column for the
# target (verist >= 1.0x the reference) and the run exits non-zero only if
# something broke (a failed transaction, rows lost or finalised twice, a
# queue that ran dry mid-measurement).
#
#   bash test/bench/queue.sh            about 25 minutes on 2 cores (1,492 s measured, 0.6.0)
#   bash test/bench/queue.sh --quick    about 3 minutes (1 repetition, 3 s, 200k rows)
#   options: --reps N  --duration S
#
# Output: test/bench/out/queue/results.txt (also printed), raw.csv, sizes.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
. "$here/../lib.sh"   # PG_CONFIG, PGBIN on PATH, as_pg
PY=/usr/bin/python3
BENCH_PORT=${BENCH_PORT:-5513}
source lib/cluster.sh

quick=0
reps=""
duration=""
while (($#)); do
    case "$1" in
        --quick) quick=1 ;;
        --reps) reps=$2; shift ;;
        --duration) duration=$2; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "queue.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if ((quick)); then
    REPS=${reps:-1}; T=${duration:-3}; FINISHED=200000; SIZE_N=200000
else
    REPS=${reps:-3}; T=${duration:-5}; FINISHED=1000000; SIZE_N=1000000
fi
# The most claimable rows a measurement starts with: enough for 5 s at
# 100,000 rows/s (0.6.0 without two of its indexes ran 300,000 dry).
FULL=$(( T * 120000 ))

OUT=$here/out/queue
mkdir -p "$OUT"
RAW=$OUT/raw.csv
WORK=$(mktemp -d /tmp/verist-bench-queue.XXXXXX)
chmod 755 "$WORK"
cleanup() { bench_cluster_destroy; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
t_start=$(date +%s)
log() { printf '[%4ds] %s\n' $(( $(date +%s) - t_start )) "$*"; }
broken=0
die_later() { echo "queue.sh: $*" >&2; broken=1; }

if [ ! -f "$(pg_config --pkglibdir)/verist.so" ]; then
    echo "queue.sh: verist is not installed; run bash test/setup.sh first" >&2
    exit 1
fi
$PY lib/gen_data.py "$WORK/data"
CMD=$(cat "$WORK/data/cmd1.json")

log "cluster on 127.0.0.1:$BENCH_PORT (fsync on, synchronous_commit on)"
bench_cluster_init
bench_psql -f queue/reference.sql >/dev/null
cluster_cpu() { pgdata_cpu "$BENCH_PGDATA"; }

# One pgbench script per system and batch: claim, then finalise what was claimed.
for b in 1 10 100; do
    cat > "$WORK/verist_$b.sql" <<EOF
SELECT array_agg(id) AS ids FROM verist_lease_outbox('d' || :client_id, $b)
\\gset
SELECT count(*) FROM verist_mark_dispatched_batch(:ids, 'd' || :client_id);
EOF
    # The reference's statements as pgmq sends them (its functions build
    # them with format() and run them with EXECUTE: planned with the batch
    # size as a constant), read and archive of queue/reference.sql inlined.
    cat > "$WORK/reference_$b.sql" <<EOF
WITH claimed AS (SELECT msg_id FROM refq.q WHERE vt <= clock_timestamp() ORDER BY msg_id LIMIT $b FOR UPDATE SKIP LOCKED), read AS (UPDATE refq.q AS m SET vt = clock_timestamp() + interval '30 seconds', read_ct = m.read_ct + 1 FROM claimed WHERE m.msg_id = claimed.msg_id RETURNING m.*) SELECT array_agg(msg_id) AS ids FROM read
\\gset
WITH gone AS (DELETE FROM refq.q WHERE msg_id = ANY (:ids) RETURNING msg_id, read_ct, enqueued_at, vt, message), moved AS (INSERT INTO refq.a (msg_id, read_ct, enqueued_at, vt, message) SELECT msg_id, read_ct, enqueued_at, vt, message FROM gone RETURNING msg_id) SELECT count(*) FROM moved;
EOF
done

fill() {   # fill N FINISHED: N claimable rows in each queue over FINISHED done ones
    bench_psql -v n="$1" -v finished="$2" -v cmd="$CMD" -f queue/fill.sql >/dev/null
}

done_rows() {   # done_rows SYSTEM: rows finalised so far (finished filler excluded)
    if [ "$1" = verist ]; then
        bench_psql -c "SELECT count(*) FROM verist_outbox WHERE status = 'dispatched' AND run_id LIKE 'queue-%'"
    else
        bench_psql -c "SELECT count(*) FROM refq.a WHERE msg_id > 0"
    fi
}

left_rows() {
    if [ "$1" = verist ]; then
        bench_psql -c "SELECT count(*) FROM verist_outbox WHERE status = 'pending'"
    else
        bench_psql -c "SELECT count(*) FROM refq.q WHERE vt <= now()"
    fi
}

# measure NAME SYSTEM BATCH DISPATCHERS FINISHED pgbench-duration-args...
# Appends one line to raw.csv: rows/s and the checks.
measure() {
    local name=$1 sys=$2 b=$3 d=$4 finished=$5
    shift 5
    local dir=$WORK/runs/$name threads=1 b0 c0 t0 b1 c1 t1 tps tx failed got left chk foreign lsn0 wal
    rm -rf "$dir"; mkdir -p "$dir"
    ((d > 1)) && threads=2
    lsn0=$(bench_psql -c "SELECT pg_current_wal_insert_lsn()")
    b0=$(machine_busy); c0=$(cluster_cpu); t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$dir/time" \
        pgbench -n -M prepared -c "$d" -j "$threads" "$@" -f "$WORK/${sys}_$b.sql" \
        > "$dir/stdout" 2>&1 || { cp "$dir/stdout" "$OUT/failed-$name.txt"; die_later "$name: pgbench failed"; }
    b1=$(machine_busy); c1=$(cluster_cpu); t1=$(date +%s.%N)
    foreign=$(awk -v b="$((b1 - b0))" -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" \
        '{printf "%.2f", (b - c - 100 * ($1 + $2)) / 100 / (t1 - t0)}' "$dir/time" 2>/dev/null || echo "?")
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$dir/stdout")
    tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$dir/stdout")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/stdout")
    wal=$(bench_psql -c "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn0')")
    got=$(done_rows "$sys"); left=$(left_rows "$sys")
    # the check is one CSV field: its parts are joined with ';'
    chk=ok
    [ "${failed:-0}" = 0 ] || chk="failed=$failed"
    [ "$got" = $(( ${tx:-0} * b )) ] || chk="$chk;finalised=$got;expected=$(( ${tx:-0} * b ))"
    ((got > 0)) || chk="$chk;nothing_finalised"
    [ "$left" -gt 0 ] || [ "$name" != "${name#size}" ] || chk="$chk;ran_dry"
    [ "$chk" = ok ] || die_later "$name: $chk"
    echo "$name,$sys,$b,$d,$finished,${tps:-0},$(awk -v t="${tps:-0}" -v b="$b" 'BEGIN {printf "%.0f", t * b}'),${tx:-0},$chk,$foreign,$(( ${wal%.*} / (got > 0 ? got : 1) ))" >> "$RAW"
    echo "$(awk -v t="${tps:-0}" -v b="$b" 'BEGIN {printf "%.0f", t * b}')"
}

echo "name,system,batch,dispatchers,finished,tps,rows_per_s,transactions,check,foreign_cores,wal_bytes_per_row" > "$RAW"

log "throughput: batch 1/10/100 x 1/4 dispatchers x $REPS repetitions of ${T} s, interleaved"
for rep in $(seq 1 "$REPS"); do
    for b in 1 10 100; do
        for d in 1 4; do
            order="verist reference"; ((rep % 2 == 0)) && order="reference verist"
            for sys in $order; do
                n=$(( b * d * 6000 )); ((n < 30000)) && n=30000; ((n > FULL)) && n=$FULL
                fill "$n" 0
                r=$(measure "lease-$sys-$b-$d-$rep" "$sys" "$b" "$d" 0 -T "$T")
                log "  rep $rep batch $b, $d dispatcher(s), $sys: $r rows/s"
            done
        done
    done
done

log "with $FINISHED finished rows present: batch 100, 1 and 4 dispatchers"
for rep in $(seq 1 "$REPS"); do
    for d in 1 4; do
        order="verist reference"; ((rep % 2 == 0)) && order="reference verist"
        for sys in $order; do
            fill "$FULL" "$FINISHED"
            r=$(measure "history-$sys-100-$d-$rep" "$sys" 100 "$d" "$FINISHED" -T "$T")
            log "  rep $rep, $d dispatcher(s), $sys: $r rows/s"
        done
    done
done

log "size after $SIZE_N commands went through (4 dispatchers, batch 100, then VACUUM)"
fill "$SIZE_N" 0
sizes() {   # the queue's tables and indexes, bytes, and the same per million commands
    bench_psql -v n="$SIZE_N" <<'EOF'
SELECT format('%s | %s | %s | %s | %s', label,
              pg_size_pretty(heap), pg_size_pretty(idx),
              pg_size_pretty(((heap + idx) * 1000000 / :n)::bigint), detail)
FROM (SELECT 'verist_outbox' AS label,
             pg_table_size('verist_outbox') AS heap,
             pg_indexes_size('verist_outbox') AS idx,
             (SELECT string_agg(format('%s %s', c.relname, pg_size_pretty(pg_relation_size(c.oid))), ', ' ORDER BY c.relname)
              FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
              WHERE x.indrelid = 'verist_outbox'::regclass) AS detail
      UNION ALL
      SELECT 'refq.q + refq.a',
             pg_table_size('refq.q') + pg_table_size('refq.a'),
             pg_indexes_size('refq.q') + pg_indexes_size('refq.a'),
             (SELECT string_agg(format('%s %s', c.relname, pg_size_pretty(pg_relation_size(c.oid))), ', ' ORDER BY c.relname)
              FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
              WHERE x.indrelid IN ('refq.q'::regclass, 'refq.a'::regclass))) AS s;
EOF
}
{
    echo "queue | table | indexes | total per million commands | indexes"
    echo "-- filled, nothing claimed yet ($SIZE_N commands)"
    sizes
    per_client=$(( SIZE_N / 400 ))
    for sys in verist reference; do
        r=$(measure "size-$sys" "$sys" 100 4 0 -t "$per_client")
        log "  drained $sys: $r rows/s"
    done
    bench_psql -c "VACUUM verist_outbox" -c "VACUUM refq.q" -c "VACUUM refq.a" >/dev/null
    echo "-- all $SIZE_N finalised, after VACUUM"
    sizes
} > "$OUT/sizes.txt"

# What-if: the same loop on verist's outbox without the indexes leasing does
# not read (the dedupe key's, used by commits; the run index, used by review
# resolution and retirement), to measure what each index costs the two
# updates every command goes through.  Not a supported configuration.
log "what-if: verist without verist_outbox_dedupe_idx and/or verist_outbox_run_idx (batch 100)"
for rep in $(seq 1 "$REPS"); do
    for variant in shipped no_dedupe no_run no_both; do
        drop=""
        case $variant in
            no_dedupe) drop="DROP INDEX verist_outbox_dedupe_idx;" ;;
            no_run) drop="DROP INDEX verist_outbox_run_idx;" ;;
            no_both) drop="DROP INDEX verist_outbox_dedupe_idx; DROP INDEX verist_outbox_run_idx;" ;;
        esac
        bench_psql -c "SET client_min_messages = warning" \
            -c "CREATE UNIQUE INDEX IF NOT EXISTS verist_outbox_dedupe_idx ON verist_outbox (dedupe_key)" \
            -c "CREATE INDEX IF NOT EXISTS verist_outbox_run_idx ON verist_outbox (workflow_id, run_id, step_id)" \
            ${drop:+-c "$drop"} >/dev/null
        for d in 1 4; do
            fill "$FULL" 0
            r=$(measure "whatif_$variant-verist-100-$d-$rep" verist 100 "$d" 0 -T "$T")
            log "  rep $rep $variant, $d dispatcher(s): $r rows/s"
        done
    done
done

$PY queue/report.py "$RAW" "$OUT/sizes.txt" "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $($PGBIN/postgres --version), fsync on, synchronous_commit on, pgbench -M prepared, ${T} s x $REPS" \
    | tee "$OUT/results.txt"
log "done"
exit "$broken"
