#!/usr/bin/env bash
# verist under AddressSanitizer + UndefinedBehaviorSanitizer.
#
# 1. copy the source tree to /tmp and build it there with
#    -fsanitize=address,undefined -fno-omit-frame-pointer
#    -fno-sanitize-recover=undefined (gcc; the runtimes come with Debian's gcc);
# 2. install the copy with DESTDIR into that directory: the system-installed
#    verist.so is never touched;
# 3. start a throwaway cluster whose postmaster runs with libasan preloaded
#    (ASAN_OPTIONS=detect_leaks=0:abort_on_error=1: PostgreSQL frees whole
#    memory contexts at exit, leak reports would be noise) and with Debian's
#    extension_destdir GUC pointing at the install directory, so CREATE
#    EXTENSION and '$libdir/verist' resolve to the sanitized build first.
#    A stub swift_demangle is preloaded too (swift_stub.c): without it every
#    PostgreSQL binary hangs at start under a preloaded libasan;
# 4. run the pg_regress suite (the REGRESS list read from the Makefile at run
#    time; only the tests whose sql/NAME.sql exists) and, if the Makefile
#    names ISOLATION specs, the isolation suite; then the fuzzer;
# 5. require a server log with no "AddressSanitizer", "runtime error:", crash
#    or PANIC line;
# 6. positive control: call two planted bugs (test/sanitize/probe.c: a heap
#    overflow for ASan, an out-of-range shift for UBSan) and require their
#    reports in the log, proving the sanitizers were live.
#
#   bash test/sanitize/run.sh                 30,000 fuzz calls (under 2 minutes in all)
#   VERIST_LONG=1 bash test/sanitize/run.sh   200,000 fuzz calls
#   make sanitize                             the same as the first line
#   SANITIZE_FUZZ_COUNT=N / SANITIZE_FUZZ_SEED=N / SANITIZE_PORT=N override
#   SANITIZE_KEEP=1                           keep the /tmp build directory
#
# Ends with "N passed, M failed"; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
. test/fuzz/cluster.sh

PGXS_SRC=$(dirname "$(dirname "$($PG_CONFIG --pgxs)")")     # .../lib/pgxs/src
SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g"
if [ "${VERIST_LONG:-0}" = 1 ]; then count=${SANITIZE_FUZZ_COUNT:-200000}
else count=${SANITIZE_FUZZ_COUNT:-30000}; fi
seed=${SANITIZE_FUZZ_SEED:-$RANDOM}
outdir=$REPO/test/out/sanitize
rm -rf "$outdir"; mkdir -p "$outdir"

pass=0; fail=0
result() {   # result OK|FAIL description
    if [ "$1" = OK ]; then pass=$((pass + 1)); echo "ok - $2"
    else fail=$((fail + 1)); echo "not ok - $2"; fi
}
work=
cleanup() {
    fz_cluster_destroy
    if [ -n "$work" ] && [ "${SANITIZE_KEEP:-0}" != 1 ]; then rm -rf "$work"; fi
}
finish() {
    [ -n "${FZ_LOG:-}" ] && [ -f "$FZ_LOG" ] && cp "$FZ_LOG" "$outdir/server.log"
    cleanup
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}
trap 'cleanup; exit 130' INT TERM

PY=$(psycopg_python) || { result FAIL "python3 with psycopg (apt-get install python3-psycopg)"; finish; }
libasan=$(gcc -print-file-name=libasan.so)
if [ ! -e "$libasan" ]; then result FAIL "libasan found (gcc -print-file-name=libasan.so)"; finish; fi

# -- 1, 2: build and install a sanitized copy ---------------------------------
work=$(mktemp -d /tmp/verist-asan.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/src" "$work/install" "$work/probe"
tar -C "$REPO" --exclude=.git --exclude=test/out --exclude=results --exclude=output_iso --exclude=node_modules \
    --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$work/src" -xf -
echo "sanitize: building a copy in $work/src with $SANFLAGS"
# COPT reaches both the compile and the link (PGXS Makefile.global); no LLVM
# bitcode: the JIT is not what is being tested.
if make -C "$work/src" -s PG_CONFIG=$PG_CONFIG with_llvm=no COPT="$SANFLAGS" \
        >"$outdir/build.log" 2>&1 &&
   make -C "$work/src" -s PG_CONFIG=$PG_CONFIG with_llvm=no COPT="$SANFLAGS" \
        DESTDIR="$work/install" install >>"$outdir/build.log" 2>&1; then
    so=$(find "$work/install" -name verist.so | head -1)
    syms=$(nm -D "$so" 2>/dev/null)
    if grep -q '__asan_report' <<<"$syms" && grep -q '__ubsan_handle' <<<"$syms"; then
        result OK "sanitized build installed under $work/install (instrumented for ASan and UBSan)"
    else
        result FAIL "sanitized build carries ASan and UBSan instrumentation"; finish
    fi
else
    cat "$outdir/build.log"; result FAIL "sanitized build"; finish
fi

# Why the stub: PostgreSQL binaries load libgpg-error (libsystemd ->
# libgcrypt), whose constructor runs before libasan's and calls malloc while
# holding glibc's gettext lock.  That malloc initialises ASan, whose symbolizer
# looks up swift_demangle and, failing, calls dlerror(), which translates the
# message through gettext and releases the lock it does not own: the next
# bindtextdomain() in main() waits forever.  A swift_demangle that resolves
# (and demangles nothing) leaves no error to translate.
gcc -shared -fPIC -o "$work/swift_stub.so" test/sanitize/swift_stub.c >>"$outdir/build.log" 2>&1 ||
    { cat "$outdir/build.log"; result FAIL "swift_demangle stub build"; finish; }

# The planted bugs, built the same way (a module of their own).
cp test/sanitize/probe.c "$work/probe/verist_sanitize_probe.c"
printf 'MODULES = verist_sanitize_probe\nPGXS := $(shell $(PG_CONFIG) --pgxs)\ninclude $(PGXS)\n' \
    >"$work/probe/Makefile"
make -C "$work/probe" -s PG_CONFIG=$PG_CONFIG with_llvm=no COPT="$SANFLAGS" \
    >>"$outdir/build.log" 2>&1 || { cat "$outdir/build.log"; result FAIL "probe build"; finish; }

# -- 3: the cluster ----------------------------------------------------------
port=${SANITIZE_PORT:-$(fz_free_port 5475 5479)}
export FZ_SERVER_ENV="LD_PRELOAD=$libasan:$work/swift_stub.so ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:print_stacktrace=1 UBSAN_OPTIONS=print_stacktrace=1:abort_on_error=1"
if fz_cluster_init "$port" "extension_destdir = '$work/install'"; then
    result OK "cluster on port $port with libasan preloaded and extension_destdir"
else
    result FAIL "cluster with libasan preloaded"; finish
fi
psql_() { "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 "$@"; }

# The backend that runs verist must map libasan and the sanitized verist.so.
psql_ -d postgres -c 'CREATE EXTENSION verist' &&
maps=$(psql_ -d postgres -c "SELECT verist_canonical_json('{}');
    SELECT string_agg(DISTINCT substring(l from '(/\S+)$'), ' ')
    FROM regexp_split_to_table(pg_read_file('/proc/self/maps'), E'\n') AS l
    WHERE l ~ '(libasan|libubsan|verist\.so)'") && psql_ -d postgres -c 'DROP EXTENSION verist'
if grep -q "$work/install/.*verist.so" <<<"$maps" && grep -q libasan <<<"$maps"; then
    result OK "backends load the sanitized verist.so and libasan"
else
    echo "mapped: $maps"
    result FAIL "backends load the sanitized verist.so and libasan"
fi

# -- 4: pg_regress, isolation, fuzzer ------------------------------------------
# Read a variable of the Makefile as make itself sees it.
make_var() {
    make -s -C "$work/src" -f Makefile -f - PG_CONFIG=$PG_CONFIG with_llvm=no \
        print-var VAR="$1" <<'EOF' 2>/dev/null
print-var:
	@echo $($(VAR))
EOF
}
regress_all=$(make_var REGRESS)
tests=(); missing=()
for t in $regress_all; do
    if [ -f "$work/src/sql/$t.sql" ]; then tests+=("$t"); else missing+=("$t"); fi
done
if ((${#missing[@]})); then
    echo "sanitize: REGRESS names tests without sql/NAME.sql, skipped: ${missing[*]}"
fi
if ((${#tests[@]})); then
    "$PGXS_SRC/test/regress/pg_regress" --inputdir="$work/src" --outputdir="$outdir/regress" \
        --bindir="$PGBIN" --load-extension=verist --host=127.0.0.1 --port="$port" \
        --user=postgres --dbname=contrib_regression "${tests[@]}" >"$outdir/regress.out" 2>&1
    rc=$?
    cat "$outdir/regress.out"
    [ -s "$outdir/regress/regression.diffs" ] && head -c 20000 "$outdir/regress/regression.diffs"
    read -r ok bad < <(regress_counts "$outdir/regress.out")
    [ $rc -eq 0 ] && [ "$bad" -eq 0 ] && result OK "pg_regress on the sanitized build: $ok tests" \
        || result FAIL "pg_regress on the sanitized build: $ok ok, $bad failed (rc $rc)"
else
    result FAIL "pg_regress on the sanitized build: no test of REGRESS ($regress_all) exists"
fi

isolation=$(make_var ISOLATION)
if [ -n "$isolation" ]; then
    iso_in=$(make_var ISOLATION_OPTS | grep -oE -- '--inputdir=[^ ]+' | head -1 | cut -d= -f2)
    "$PGXS_SRC/test/isolation/pg_isolation_regress" --inputdir="$work/src/${iso_in:-.}" \
        --outputdir="$outdir/isolation" --bindir="$PGBIN" --load-extension=verist \
        --host=127.0.0.1 --port="$port" --user=postgres --dbname=isolation_regression \
        $isolation >"$outdir/isolation.out" 2>&1
    rc=$?
    cat "$outdir/isolation.out"
    [ $rc -eq 0 ] && result OK "isolation specs on the sanitized build" \
        || result FAIL "isolation specs on the sanitized build (rc $rc)"
fi

echo "sanitize: fuzzing, $count calls, seed $seed"
fuzz_args=(--count "$count" --seed "$seed" --server-log "$FZ_LOG" --outdir "$outdir/fuzz")
command -v node >/dev/null && fuzz_args+=(--node node)
# (indented: its own ok / not ok lines are details of one result here)
"$PY" test/fuzz/fuzz.py "${fuzz_args[@]}" | tee "$outdir/fuzz.out" | sed 's/^/    /'
rc=${PIPESTATUS[0]}
nok=$(grep -c '^not ok' "$outdir/fuzz.out")
if [ $rc -eq 0 ] && [ "$nok" -eq 0 ]; then
    result OK "fuzzer on the sanitized build ($count calls, seed $seed)"
else
    result FAIL "fuzzer on the sanitized build: exit status $rc, $nok criteria failed (seed $seed, inputs in $outdir/fuzz)"
fi

# -- 5: the log ----------------------------------------------------------------
reports=$(grep -nE 'AddressSanitizer|runtime error:|terminated by signal|PANIC|TRAP:' "$FZ_LOG")
if [ -z "$reports" ]; then
    result OK "server log free of sanitizer reports and crashes"
else
    grep -nE -B2 -A30 'AddressSanitizer|runtime error:' "$FZ_LOG" | head -200
    echo "$reports" | head -20
    result FAIL "server log free of sanitizer reports and crashes"
fi

# -- 6: positive control ----------------------------------------------------------
probe=$work/probe/verist_sanitize_probe.so
psql_ -d postgres -c "
    CREATE FUNCTION sanitize_probe_heap(int) RETURNS int AS '$probe' LANGUAGE C STRICT;
    CREATE FUNCTION sanitize_probe_shift(int) RETURNS int AS '$probe' LANGUAGE C STRICT;"
psql_ -d postgres -c 'SELECT sanitize_probe_heap(8)' >/dev/null 2>&1
for i in $(seq 1 60); do psql_ -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
psql_ -d postgres -c 'SELECT sanitize_probe_shift(40)' >/dev/null 2>&1
for i in $(seq 1 60); do psql_ -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
if grep -q 'ERROR: AddressSanitizer: heap-buffer-overflow' "$FZ_LOG" &&
   grep -q 'runtime error: shift exponent 40' "$FZ_LOG"; then
    result OK "sanitizers live: a planted heap overflow and a planted bad shift were reported"
else
    tail -50 "$FZ_LOG"
    result FAIL "sanitizers live: a planted heap overflow and a planted bad shift were reported"
fi
finish
