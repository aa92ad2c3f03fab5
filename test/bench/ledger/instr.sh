#!/usr/bin/env bash
# Instructions per commit, verist 0.3.1 against 0.4.0, with callgrind: one
# backend (postgres --single: no network, no other process, no noise from
# the machine's other work) runs N1 and N2 commits of each path; per commit
# = (I(N2) - I(N1)) / (N2 - N1), so start-up, catalog loading and the first
# (planning) calls cancel out.  The same commits as ledger.sh (output ~1 KB,
# 2 events, 1 emit command), simple protocol (each statement parsed and
# planned), synchronous_commit off.  Valgrind hides the CPU's SHA extensions
# from OpenSSL, so SHA-256 weighs more here than on the real CPU.
#
#   bash test/bench/ledger/instr.sh      (about 6 minutes; needs valgrind)
#
# Writes test/bench/out/ledger/instr/instructions.txt, where-{create,update}.txt
# (functions by the difference in inclusive instructions per commit,
# ledger/instr_diff.py) and VERSION-PATH-self.txt (self cost, N2 run).
# Uses the 0.3.1 build test/bench/ledger.sh caches (builds it if missing).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)    # test/bench
cd "$here"
. ../lib.sh
N1=${INSTR_N1:-300}
N2=${INSTR_N2:-1300}
V031_COMMIT=07d5f10
V031=/tmp/verist-bench-ledger-build-$V031_COMMIT
OUT=$here/out/ledger/instr
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "instr.sh: valgrind is not installed" >&2; exit 1; }
root=$(cd "$here/../.." && pwd)
if [ ! -f "$V031/stamp" ]; then
    rm -rf "$V031"; mkdir -p "$V031/src"
    git -C "$root" archive "$V031_COMMIT" | tar -x -C "$V031/src"
    make -s -C "$V031/src" PG_CONFIG="$PG_CONFIG" >"$V031/build.log" 2>&1 &&
        make -s -C "$V031/src" install DESTDIR="$V031/inst" PG_CONFIG="$PG_CONFIG" >>"$V031/build.log" 2>&1
    chmod -R a+rX "$V031"
    date -u +%FT%TZ > "$V031/stamp"
fi

W=$(mktemp -d /tmp/verist-bench-ledger-instr-XXXXXX)
chmod 755 "$W"
trap 'rm -rf "$W"' EXIT
/usr/bin/python3 ledger/instr.py ledger/data "$W/sql" "$N1" "$N2"
chmod -R a+rX "$W/sql"
[ "$(id -u)" = 0 ] && chown postgres: "$W"
as_pg "$PGBIN/initdb -D $W/base --auth=trust --username=postgres -E UTF8 --no-locale" >/dev/null
cat >> "$W/base/postgresql.conf" <<EOF
synchronous_commit = off
shared_buffers = 256MB
max_wal_size = 4GB
EOF
single() {  # single DATADIR INPUT OUTPUT [prefix command...]
    local d=$1 in=$2 o=$3
    shift 3
    as_pg "$* $PGBIN/postgres --single -D $d postgres < $in > $o 2>&1"
}
for v in v031 v040; do
    as_pg "cp -a $W/base $W/clean-$v"
    [ "$v" = v031 ] && echo "extension_destdir = '$V031/inst'" >> "$W/clean-$v/postgresql.conf"
    single "$W/clean-$v" "$W/sql/setup.sql" "$W/setup-$v.out"
    want=0.4.0; [ "$v" = v031 ] && want=0.3.1
    grep -q "extversion = \"$want\"" "$W/setup-$v.out" ||
        { cat "$W/setup-$v.out" >&2; echo "instr.sh: $v is not verist $want" >&2; exit 1; }
done

{
    echo "instructions per commit (callgrind, postgres --single, simple protocol, $N1 and $N2 commits)"
    echo "0.4.0: $(md5sum "$("$PG_CONFIG" --pkglibdir)/verist.so" | cut -c1-12), tree $(git -C "$root" rev-parse --short HEAD)"
    echo "0.3.1: $V031_COMMIT"
} > "$OUT/instructions.txt"
declare -A I
for path in create update; do
    for v in v031 v040; do
        for n in $N1 $N2; do
            as_pg "rm -rf $W/run; cp -a $W/clean-$v $W/run"
            single "$W/run" "$W/sql/${path}_$n.sql" "$W/$v-$path-$n.out" \
                valgrind --tool=callgrind --trace-children=no --callgrind-out-file="$W/cg-$v-$path-$n"
            if grep -q "ERROR" "$W/$v-$path-$n.out"; then
                grep -m3 ERROR "$W/$v-$path-$n.out" >&2
                echo "instr.sh: $v $path $n failed" >&2; exit 1
            fi
            I[$v-$path-$n]=$(awk '/^summary:/ {print $2}' "$W/cg-$v-$path-$n")
        done
        per=$(( (I[$v-$path-$N2] - I[$v-$path-$N1]) / (N2 - N1) ))
        I[$v-$path]=$per
        echo "$(date +%T) $v $path: $per instructions per commit"
    done
    a=${I[v031-$path]} b=${I[v040-$path]}
    printf '%-7s 0.3.1 %9d   0.4.0 %9d   diff %+9d (%+.1f%%)\n' "$path" "$a" "$b" $((b - a)) \
        "$(awk -v a="$a" -v b="$b" 'BEGIN {print (b / a - 1) * 100}')" >> "$OUT/instructions.txt"
    for v in v031 v040; do
        for n in $N1 $N2; do
            callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$W/cg-$v-$path-$n" > "$W/inc-$v-$path-$n" 2>/dev/null || true
        done
        callgrind_annotate "$W/cg-$v-$path-$N2" > "$W/ann" 2>/dev/null || true
        head -80 "$W/ann" > "$OUT/$v-$path-self.txt"
    done
    /usr/bin/python3 ledger/instr_diff.py "$N1" "$N2" "$W/inc-v031-$path-$N1" "$W/inc-v031-$path-$N2" \
        "$W/inc-v040-$path-$N1" "$W/inc-v040-$path-$N2" > "$OUT/where-$path.txt"
done
cat "$OUT/instructions.txt"
echo "where the difference goes: $OUT/where-{create,update}.txt"
