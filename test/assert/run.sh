#!/usr/bin/env bash
# verist on an assert-enabled PostgreSQL 15 (0.3.1).
#
# 1. test/assert/build.sh: a server built from Debian's own postgresql-15
#    source package with --enable-cassert --enable-debug (cached outside the
#    clone; built from scratch, about 8 minutes on 2 cores, when absent);
# 2. verist built against that server's pg_config with -Werror and installed
#    into its prefix (the system's PostgreSQL is not touched);
# 3. a throwaway cluster of the asserting server;
# 4. the pg_regress suite and the isolation specs, then a short fuzz run:
#    assertions inside PostgreSQL check what verist hands it (tuple
#    descriptors, memory contexts, locks, snapshots), and CLOBBER_FREED_MEMORY
#    overwrites freed memory, so a value used after SPI_finish shows;
# 5. the pg_regress suite again with debug_discard_caches = 1: every cache is
#    thrown away at every chance, so any state verist keeps across a
#    catalog invalidation (0.3.0's schema OID) is exercised on every call.
#    Everything is 10 to 100 times slower then, so the default run leaves out
#    the files that call no C code of verist's that the others do not
#    (schema: the catalog; privileges and search_path: roles and GRANTs;
#    append_only: the trigger; bad_input: refusals before any statement;
#    upgrade: the install scripts; hardening: loops and a 12,000-level
#    document, minutes alone): about 4 minutes instead of 15.  VERIST_LONG=1
#    runs them all;
# 6. a server log with no failed assertion (TRAP) or crash.
#
#   bash test/assert/run.sh                 20,000 fuzz calls
#   VERIST_LONG=1 bash test/assert/run.sh   100,000 fuzz calls
#   ASSERT_PORT=N / ASSERT_FUZZ_COUNT=N / ASSERT_FUZZ_SEED=N override
# Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
. test/fuzz/cluster.sh      # fz_cluster_init, fz_free_port, psycopg_python, as_pg

if [ "${VERIST_LONG:-0}" = 1 ]; then count=${ASSERT_FUZZ_COUNT:-100000}
else count=${ASSERT_FUZZ_COUNT:-20000}; fi
seed=${ASSERT_FUZZ_SEED:-$RANDOM}
outdir=$REPO/test/out/assert
rm -rf "$outdir"; mkdir -p "$outdir"

pass=0; fail=0
result() {   # result OK|FAIL description
    if [ "$1" = OK ]; then pass=$((pass + 1)); echo "ok - $2"
    else fail=$((fail + 1)); echo "not ok - $2"; fi
}
work=
cleanup() { fz_cluster_destroy; [ -n "$work" ] && rm -rf "$work"; }
finish() {
    [ -n "${FZ_LOG:-}" ] && [ -f "$FZ_LOG" ] && cp "$FZ_LOG" "$outdir/server.log"
    cleanup
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}
trap 'cleanup; exit 130' INT TERM

PY=$(psycopg_python) || { result FAIL "python3 with psycopg (apt-get install python3-psycopg)"; finish; }

# -- 1: the server ---------------------------------------------------------------
start=$(date +%s)
if ! bin=$(bash test/assert/build.sh 2>"$outdir/build-server.log" | tail -1) || [ ! -x "$bin/postgres" ]; then
    tail -30 "$outdir/build-server.log"; result FAIL "assert-enabled PostgreSQL built"; finish
fi
A_CONFIG=$bin/pg_config
result OK "assert-enabled server: $("$bin/postgres" --version) at $bin ($(( $(date +%s) - start )) s: $(tail -1 "$outdir/build-server.log" | sed 's/^assert-build: //'))"

# -- 2: verist against it ------------------------------------------------------------
work=$(mktemp -d /tmp/verist-assert.XXXXXX)
chmod 755 "$work"
tar -C "$REPO" --exclude=.git --exclude=test/out --exclude=results --exclude=output_iso --exclude=node_modules \
    --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$work" -xf -
if make -C "$work" -s WERROR=1 PG_CONFIG="$A_CONFIG" >"$outdir/build.log" 2>&1 &&
   make -C "$work" -s PG_CONFIG="$A_CONFIG" install >>"$outdir/build.log" 2>&1; then
    result OK "verist built with -Werror against the assert-enabled server and installed in its prefix"
else
    cat "$outdir/build.log"; result FAIL "verist built against the assert-enabled server"; finish
fi

# -- 3: the cluster ------------------------------------------------------------------
FZ_PGBIN=$bin
port=${ASSERT_PORT:-$(fz_free_port 5591 5610)}
if fz_cluster_init "$port" "max_prepared_transactions = 4" &&
   [ "$("$bin/psql" -XAtc 'SHOW debug_assertions')" = on ]; then
    result OK "cluster of the assert-enabled server on port $port (debug_assertions = on)"
else
    result FAIL "cluster of the assert-enabled server"; finish
fi
export PATH="$bin:$PATH"
PGXS_SRC=$(dirname "$(dirname "$("$A_CONFIG" --pgxs)")")

# Read a variable of the Makefile as make itself sees it.
make_var() {
    make -s -C "$work" -f Makefile -f - PG_CONFIG="$A_CONFIG" print-var VAR="$1" <<'EOF' 2>/dev/null
print-var:
	@echo $($(VAR))
EOF
}

# pg_regress over tests of REGRESS; PGOPTIONS as given.
regress() {   # regress LABEL OUTDIR PGOPTIONS TEST...
    local label=$1 dir=$2 opts=$3 t0 rc ok bad
    shift 3
    t0=$(date +%s)
    PGOPTIONS="$opts" "$PGXS_SRC/test/regress/pg_regress" --inputdir="$work" --outputdir="$dir" \
        --bindir="$bin" --load-extension=verist --host=127.0.0.1 --port="$port" \
        --user=postgres --dbname=contrib_regression "$@" >"$dir.out" 2>&1
    rc=$?
    cat "$dir.out"
    [ -s "$dir/regression.diffs" ] && head -c 20000 "$dir/regression.diffs"
    read -r ok bad < <(regress_counts "$dir.out")
    if [ $rc -eq 0 ] && [ "$bad" -eq 0 ] && [ "$ok" -gt 0 ]; then
        result OK "$label: $ok tests ($(( $(date +%s) - t0 )) s)"
    else
        result FAIL "$label: $ok ok, $bad failed (rc $rc)"
    fi
}

# -- 4: regress, isolation, fuzz ---------------------------------------------------------
# pg_regress runs psql in this directory: the tests include test/regress/helpers.sql.
cd "$work"
regress "pg_regress on the assert-enabled server" "$outdir/regress" "" $(make_var REGRESS)

iso_in=$(make_var ISOLATION_OPTS | grep -oE -- '--inputdir=[^ ]+' | head -1 | cut -d= -f2)
t0=$(date +%s)
"$PGXS_SRC/test/isolation/pg_isolation_regress" --inputdir="$work/${iso_in:-.}" \
    --outputdir="$outdir/isolation" --bindir="$bin" --load-extension=verist \
    --host=127.0.0.1 --port="$port" --user=postgres --dbname=isolation_regression \
    $(make_var ISOLATION) >"$outdir/isolation.out" 2>&1
rc=$?
cat "$outdir/isolation.out"
[ -s "$outdir/isolation/regression.diffs" ] && head -c 20000 "$outdir/isolation/regression.diffs"
[ $rc -eq 0 ] && result OK "isolation specs on the assert-enabled server ($(( $(date +%s) - t0 )) s)" \
    || result FAIL "isolation specs on the assert-enabled server (rc $rc)"
cd "$REPO"

echo "assert: fuzzing, $count calls, seed $seed"
fuzz_args=(--count "$count" --seed "$seed" --server-log "$FZ_LOG" --outdir "$outdir/fuzz")
command -v node >/dev/null && fuzz_args+=(--node node)
t0=$(date +%s)
"$PY" test/fuzz/fuzz.py "${fuzz_args[@]}" | tee "$outdir/fuzz.out" | sed 's/^/    /'
rc=${PIPESTATUS[0]}
nok=$(grep -c '^not ok' "$outdir/fuzz.out")
if [ $rc -eq 0 ] && [ "$nok" -eq 0 ]; then
    result OK "fuzzer on the assert-enabled server ($count calls, seed $seed, $(( $(date +%s) - t0 )) s)"
else
    result FAIL "fuzzer on the assert-enabled server: exit status $rc, $nok criteria failed (seed $seed)"
fi

# -- 5: every cache discarded at every chance ------------------------------------------
discard=()
for t in $(make_var REGRESS); do
    case " schema privileges search_path append_only upgrade hardening bad_input " in
        *" $t "*) [ "${VERIST_LONG:-0}" = 1 ] && discard+=("$t") ;;
        *) discard+=("$t") ;;
    esac
done
cd "$work"
regress "pg_regress with debug_discard_caches = 1 (${discard[*]})" "$outdir/regress-discard" \
    "-c debug_discard_caches=1" "${discard[@]}"
cd "$REPO"

# -- 6: the log -----------------------------------------------------------------------------
reports=$(grep -nE 'TRAP:|terminated by signal|PANIC' "$FZ_LOG")
if [ -z "$reports" ]; then
    result OK "server log free of failed assertions and crashes"
else
    echo "$reports" | head -20
    result FAIL "server log free of failed assertions and crashes"
fi
finish
