#!/usr/bin/env bash
# Profile one commit with callgrind: a single backend (postgres --single, no
# network, no other process) runs N commits of each variant; the instruction
# count per commit is (I(N2) - I(N1)) / (N2 - N1), so start-up, catalog
# loading and the first (planning) calls cancel out.
#
#   bash test/bench/profile.sh [OUTDIR]      (default test/bench/out/profile)
#   PROFILE_COUNTERS=1 bash test/bench/profile.sh   only verist.counters on vs off, and the
#                                                    outbox's 0.5.0 index priced (0.5.0)
#
# Environment: PROFILE_N1, PROFILE_N2 (commits per file, default 300 and
# 1300; 1 <= N1 < N2): a quick check of the script runs e.g. PROFILE_N1=10
# PROFILE_N2=30 (N1 past the five custom plans of a prepared statement; its
# counts are rougher than the defaults').  PROFILE_PORT (default 5519): the
# server that generates the statement files.
#
# Every variant writes the rows verist_commit writes (state with its chain
# and ledger heads, 3 events, 2 outbox rows, the ledger entry); before any
# callgrind run (not with PROFILE_COUNTERS=1), each variant's N1 files run
# once without valgrind and a digest of their rows (lib/digest.sql) is
# compared: the script stops unless every variant of a path wrote the same
# rows and verist_verify_all() finds no broken run.
#
# Writes OUTDIR/instructions.txt (instructions per commit per variant, simple
# and prepared protocol), OUTDIR/same_rows.txt, OUTDIR/inside_verist_*.txt
# (callgrind_annotate of the verist commit: inclusive and self cost) and
# OUTDIR/canonical_100k_self.txt.  About 6 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out/profile}
mkdir -p "$out"
out=$(cd "$out" && pwd)
N1=${PROFILE_N1:-300}
N2=${PROFILE_N2:-1300}
PORT=${PROFILE_PORT:-5519}
if ! [[ "$N1" =~ ^[0-9]+$ && "$N2" =~ ^[0-9]+$ ]] || [ "$N1" -lt 1 ] || [ "$N2" -le "$N1" ]; then
    echo "profile: PROFILE_N1=$N1, PROFILE_N2=$N2: need 1 <= N1 < N2" >&2; exit 1
fi

. "$here/../lib.sh"    # as_pg

root=$(mktemp -d /tmp/verist-prof.XXXXXX)
chmod 755 "$root"
[ "$(id -u)" = 0 ] && chown postgres: "$root"
trap 'as_pg "$PGBIN/pg_ctl -D $root/data -m immediate -w stop" >/dev/null 2>&1 || true; rm -rf "$root"' EXIT
as_pg "$PGBIN/initdb -D $root/data --auth=trust --username=postgres -E UTF8 --no-locale" >/dev/null
cat >> "$root/data/postgresql.conf" <<EOF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$root'
fsync = on
synchronous_commit = off
shared_buffers = 256MB
EOF

python3 "$here/lib/gen_data.py" "$root/json" >/dev/null
chmod -R a+rX "$root/json"

# Generate the statement files with a running server (lib/profile_gen.py).
as_pg "$PGBIN/pg_ctl -D $root/data -l $root/server.log -w start" >/dev/null
psql_() { "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qXAt -v ON_ERROR_STOP=1 "$@"; }
psql_ -c 'CREATE EXTENSION verist'
# The keys, event hashes and ledger entries (hash, input fingerprint) of the
# client pattern and the floor, as run.sh computes them (lib/keys.sql with
# output, events and commands; it writes lib/reset.sql's 240 update runs to
# chain the update path's entries onto).  Then a fresh extension: the clean
# copy holds no runs, and the update files write those 240 runs themselves.
vars=()
for f in cmd1 cmd2 e1type e1payload e2type e2payload e2trace e3type e3payload output events commands; do
    vars+=(-v "$f=$(cat "$root/json/$f.json")")
done
psql_ -v G="$N2" "${vars[@]}" -f "$here/lib/keys.sql" >/dev/null
psql_ -c 'DROP EXTENSION verist' -c 'CREATE EXTENSION verist'
/usr/bin/python3 "$here/lib/profile_gen.py" "$root/json" "$root" \
    "host=127.0.0.1 port=$PORT user=postgres dbname=postgres" "$N1" "$N2"
as_pg "$PGBIN/pg_ctl -D $root/data -m fast -w stop" >/dev/null
# lib/digest.sql as one line (a single-user backend ends a statement at a newline)
grep -v '^[[:space:]]*--' "$here/lib/digest.sql" | tr '\n' ' ' > "$root/digest.sql"
echo >> "$root/digest.sql"
chmod a+r "$root"/*.sql

# A clean copy of the cluster (extension, no runs) for every callgrind run.
cp -a "$root/data" "$root/clean"

instr() {  # total instructions of one callgrind run
    awk '/^summary:/ {print $2}' "$1"
}

# The same rows: each variant's N1 files (both paths, both protocols) without
# valgrind, then lib/digest.sql; every digest of a path must be the same, with
# no broken chain.  The backend's stdout and stderr both go to the log, so
# that an error is seen.
if [ "${PROFILE_COUNTERS:-0}" != 1 ]; then
    : > "$out/same_rows.txt"
    for p in create update; do
        runs=(verist-simple verist-prepared client-simple client-prepared floor-simple floor-prepared)
        [ "$p" = create ] && runs+=(client_nooc-prepared client_unnest-prepared client_check-prepared)
        declare -A dg=()
        for r in "${runs[@]}"; do
            v=${r%-*} proto=${r#*-}
            rm -rf "$root/data" && cp -a "$root/clean" "$root/data"
            as_pg "cat $root/$v-$p-$proto-$N1.sql $root/digest.sql | $PGBIN/postgres --single -D $root/data -c synchronous_commit=off postgres" >"$root/same.log" 2>&1
            if grep -q ERROR "$root/same.log"; then
                echo "profile: $v $p $proto failed:"; grep -m3 ERROR "$root/same.log"; exit 1
            fi
            d=$(grep -o '?column? = "[^"]*"' "$root/same.log" | tail -1 | sed 's/.*= "//; s/"$//')
            [ -n "$d" ] || { echo "profile: no digest from $v $p $proto"; tail -5 "$root/same.log"; exit 1; }
            dg[$r]=$d
            echo "$p $v $proto ($N1 commits): $d" >> "$out/same_rows.txt"
        done
        if [ "$(printf '%s\n' "${dg[@]}" | sort -u | wc -l)" != 1 ] || [[ "${dg[verist-simple]}" != *" broken_chains=0" ]]; then
            echo "profile: the variants do not write the same rows ($p path):"; grep "^$p " "$out/same_rows.txt"; exit 1
        fi
        echo "profile: same rows, $p path: ${dg[verist-simple]}"
        unset dg
    done
fi

# PROFILE_COUNTERS=1 (0.5.0): only the price of the counters -- verist's
# commit, create and update, prepared, with verist preloaded and
# verist.counters on vs off -- into OUTDIR/counters.txt.  Instructions, not
# time: the difference is far below what commits/s can resolve.
if [ "${PROFILE_COUNTERS:-0}" = 1 ]; then
    printf '%-7s %-9s %14s %14s %10s\n' path config instr/commit delta "" > "$out/counters.txt"
    for p in create update; do
        declare -A per=()
        for c in off on; do
            declare -A tot=()
            for n in $N1 $N2; do
                rm -rf "$root/data" && cp -a "$root/clean" "$root/data"
                f="$root/cg.counters-$c-$p-$n"
                as_pg "valgrind --tool=callgrind --log-file=$f.vg --callgrind-out-file=$f $PGBIN/postgres --single -D $root/data -c synchronous_commit=off -c shared_preload_libraries=verist -c verist.counters=$c postgres < $root/verist-$p-prepared-$n.sql" >"$root/single.log" 2>&1 || {
                    tail -20 "$f.vg"; exit 1; }
                if grep -q ERROR "$root/single.log"; then
                    echo "profile: counters $c $p failed:"; grep -m3 ERROR "$root/single.log"; exit 1
                fi
                tot[$n]=$(instr "$f")
            done
            per[$c]=$(( (tot[$N2] - tot[$N1]) / (N2 - N1) ))
        done
        # and the price of 0.5.0's verist_outbox_workflow_ready_idx: the same, counters
        # off, with that index dropped (the outbox as 0.4.0 indexed it)
        declare -A tot=()
        for n in $N1 $N2; do
            rm -rf "$root/data" && cp -a "$root/clean" "$root/data"
            as_pg "echo 'DROP INDEX verist_outbox_workflow_ready_idx' | $PGBIN/postgres --single -D $root/data postgres" >/dev/null 2>&1
            f="$root/cg.noidx-$p-$n"
            as_pg "valgrind --tool=callgrind --log-file=$f.vg --callgrind-out-file=$f $PGBIN/postgres --single -D $root/data -c synchronous_commit=off -c shared_preload_libraries=verist -c verist.counters=off postgres < $root/verist-$p-prepared-$n.sql" >"$root/single.log" 2>&1
            grep -q ERROR "$root/single.log" && { echo "profile: no-index $p failed"; exit 1; }
            tot[$n]=$(instr "$f")
        done
        noidx=$(( (tot[$N2] - tot[$N1]) / (N2 - N1) ))
        d=$(( per[off] - noidx ))
        printf '%-7s %-9s %14d %14s %9s\n' "$p" "no-widx" "$noidx" "" "" | tee -a "$out/counters.txt"
        printf '%-7s %-9s %14d %14d %9.3f%%   (the workflow index, vs no-widx)\n' "$p" "off" "${per[off]}" "$d" \
            "$(echo "scale=6; 100 * $d / $noidx" | bc)" | tee -a "$out/counters.txt"
        d=$(( per[on] - per[off] ))
        printf '%-7s %-9s %14d %14d %9.3f%%\n' "$p" "on" "${per[on]}" "$d" \
            "$(echo "scale=6; 100 * $d / ${per[off]}" | bc)" | tee -a "$out/counters.txt"
    done
    exit 0
fi

printf '%-13s %-7s %-9s %12s\n' variant path protocol instr/commit > "$out/instructions.txt"
for v in verist client floor; do
    for p in create update; do
        for proto in simple prepared; do
            declare -A tot=()
            for n in $N1 $N2; do
                rm -rf "$root/data" && cp -a "$root/clean" "$root/data"
                f="$root/cg.$v-$p-$proto-$n"
                as_pg "valgrind --tool=callgrind --log-file=$f.vg --callgrind-out-file=$f $PGBIN/postgres --single -D $root/data -c synchronous_commit=off postgres < $root/$v-$p-$proto-$n.sql" >"$root/single.log" 2>&1 || {
                    tail -20 "$f.vg"; exit 1; }
                if grep -q ERROR "$root/single.log"; then
                    echo "profile: $v $p $proto failed:"; grep -m3 ERROR "$root/single.log"; exit 1
                fi
                tot[$n]=$(instr "$f")
            done
            per=$(( (tot[$N2] - tot[$N1]) / (N2 - N1) ))
            printf '%-13s %-7s %-9s %12d\n' "$v" "$p" "$proto" "$per" | tee -a "$out/instructions.txt"
        done
    done
done

# What-if: the price of ON CONFLICT, of inserting FROM ROWS FROM (unnest())
# instead of VALUES, and of the outbox's CHECK as written, as differences to
# the client pattern (create, prepared).
for v in client_nooc client_unnest client_check; do
    declare -A tot=()
    for n in $N1 $N2; do
        rm -rf "$root/data" && cp -a "$root/clean" "$root/data"
        f="$root/cg.$v-$n"
        as_pg "valgrind --tool=callgrind --log-file=$f.vg --callgrind-out-file=$f $PGBIN/postgres --single -D $root/data -c synchronous_commit=off postgres < $root/$v-create-prepared-$n.sql" >"$root/single.log" 2>&1
        if grep -q ERROR "$root/single.log"; then
            echo "profile: $v failed:"; grep -m3 ERROR "$root/single.log"; exit 1
        fi
        tot[$n]=$(instr "$f")
    done
    per=$(( (tot[$N2] - tot[$N1]) / (N2 - N1) ))
    printf '%-13s %-7s %-9s %12d\n' "$v" create prepared "$per" | tee -a "$out/instructions.txt"
done

# Where a verist commit spends its instructions: callgrind collecting only
# inside the verist_commit call (fmgr_security_definer: the SQL function is
# SECURITY DEFINER, and nothing else in these files is), N2 commits, prepared
# protocol: validation, dedupe keys, chain hashes, the SPI statements.
for p in create update; do
    rm -rf "$root/data" && cp -a "$root/clean" "$root/data"
    f="$root/cg.inside-$p"
    as_pg "valgrind --tool=callgrind --log-file=$f.vg --toggle-collect=fmgr_security_definer --callgrind-out-file=$f $PGBIN/postgres --single -D $root/data -c synchronous_commit=off postgres < $root/verist-$p-prepared-$N2.sql" >"$root/single.log" 2>&1
    grep -q ERROR "$root/single.log" && { echo "profile: inside $p failed:"; grep -m3 ERROR "$root/single.log"; exit 1; }
    total=$(awk '/^summary:/ {print $2}' "$f")
    for kind in inclusive self; do
        incl=yes; [ "$kind" = self ] && incl=no
        callgrind_annotate --inclusive=$incl "$f" > "$root/ann" 2>/dev/null
        {
            echo "# callgrind, inside verist_commit only ($kind cost), $N2 commits, $p path, prepared;"
            echo "# $total Ir in all = $(( total / N2 )) Ir per commit.  Ir/commit = first column / $N2."
            awk '/^Ir/ {p = 1} p && n++ < 70' "$root/ann"
        } > "$out/inside_verist_${p}_$kind.txt"
    done
    cp "$f" "$out/callgrind.inside_verist_$p"
done
# Canonical JSON of the 100 KB command (section 7 of the benchmark): where
# verist_canonical_json spends its instructions, 20 calls.
rm -rf "$root/data" && cp -a "$root/clean" "$root/data"
{
    printf "SELECT count(verist_canonical_json(c.cmd)) FROM generate_series(1, 20) AS i, (SELECT '%s'::jsonb AS cmd OFFSET 0) AS c\n" \
        "$(sed "s/'/''/g" "$root/json/cmd_100k.json")"
} > "$root/canon.sql"
chmod a+r "$root/canon.sql"
f="$root/cg.canon"
as_pg "valgrind --tool=callgrind --log-file=$f.vg --toggle-collect=verist_canonical_json --callgrind-out-file=$f $PGBIN/postgres --single -D $root/data postgres < $root/canon.sql" >"$root/single.log" 2>&1
grep -q ERROR "$root/single.log" && { echo "profile: canonical JSON failed:"; grep -m3 ERROR "$root/single.log"; exit 1; }
total=$(awk '/^summary:/ {print $2}' "$f")
callgrind_annotate --inclusive=no "$f" > "$root/ann" 2>/dev/null
{
    echo "# callgrind, inside verist_canonical_json only (self cost), 20 calls on the 100 KB command;"
    echo "# $total Ir in all = $(( total / 20 )) Ir per call = $(( total / 20 / 102400 )) Ir per byte of JSON."
    awk '/^Ir/ {p = 1} p && n++ < 40' "$root/ann"
} > "$out/canonical_100k_self.txt"
cp "$f" "$out/callgrind.canonical_100k"

echo "profile: written to $out"
