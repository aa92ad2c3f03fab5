# Sourced by test/bench/run.sh: a throwaway PostgreSQL 15 cluster for the
# benchmark, under /tmp, TCP on 127.0.0.1:$BENCH_PORT (5500-5519), fsync on.
#
#   bench_cluster_init   initdb + settings + start + CREATE EXTENSION verist
#   bench_set GUC VALUE  ALTER SYSTEM + reload (synchronous_commit between phases)
#   bench_cluster_destroy
#
# As root the server runs as "postgres" (it refuses to run as root).

BENCH_PORT=${BENCH_PORT:-5512}
BENCH_SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-1GB}
. "$(dirname "${BASH_SOURCE[0]}")/../../lib.sh"    # as_pg
. "$(dirname "${BASH_SOURCE[0]}")/measure.sh"      # bench_settings

bench_cluster_init() {
    case "$BENCH_PORT" in
        55[01][0-9]) ;;
        *) echo "bench: BENCH_PORT must be in 5500-5519" >&2; return 1 ;;
    esac
    if as_pg "$PGBIN/pg_isready -q -h 127.0.0.1 -p $BENCH_PORT" 2>/dev/null; then
        echo "bench: something already listens on port $BENCH_PORT" >&2; return 1
    fi
    BENCH_ROOT=$(mktemp -d /tmp/verist-bench.XXXXXX)
    chmod 755 "$BENCH_ROOT"
    BENCH_PGDATA=$BENCH_ROOT/data
    BENCH_LOG=$BENCH_ROOT/server.log
    [ "$(id -u)" = 0 ] && chown postgres: "$BENCH_ROOT"
    as_pg "$PGBIN/initdb -D $BENCH_PGDATA --auth=trust --username=postgres -E UTF8 --no-locale" >/dev/null || return 1
    bench_settings "$BENCH_PORT" "$BENCH_ROOT" "$BENCH_SHARED_BUFFERS" >> "$BENCH_PGDATA/postgresql.conf"
    export PGHOST=127.0.0.1 PGPORT=$BENCH_PORT PGUSER=postgres PGDATABASE=postgres
    unset PGPASSWORD PGSERVICE PGOPTIONS
    as_pg "$PGBIN/pg_ctl -D $BENCH_PGDATA -l $BENCH_LOG -w -t 120 start" >/dev/null || return 1
    "$PGBIN/psql" -qX -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION verist' >/dev/null
}

bench_psql() {
    "$PGBIN/psql" -qXAt -v ON_ERROR_STOP=1 "$@"
}

bench_set() {
    bench_psql -c "ALTER SYSTEM SET $1 = '$2'" -c "SELECT pg_reload_conf()" >/dev/null
    # a reload is asynchronous: wait until a new session sees the value
    local i
    for i in $(seq 1 50); do
        [ "$(bench_psql -c "SHOW $1")" = "$2" ] && return 0
        sleep 0.1
    done
    echo "bench: $1 did not become $2" >&2
    return 1
}

bench_backend_pids() {
    bench_psql -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$1'"
}

bench_cluster_destroy() {
    [ -n "${BENCH_PGDATA:-}" ] || return 0
    if [ -f "$BENCH_PGDATA/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl -D $BENCH_PGDATA -m fast -w -t 60 stop" >/dev/null 2>&1 ||
            as_pg "$PGBIN/pg_ctl -D $BENCH_PGDATA -m immediate -w stop" >/dev/null 2>&1
    fi
    rm -rf "$BENCH_ROOT"
    BENCH_PGDATA=
}
