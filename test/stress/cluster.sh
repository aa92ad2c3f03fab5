# Sourced by the stress and crash suites: a throwaway PostgreSQL 15 cluster
# under /tmp that the suite can stop, kill and restart at will (pg_virtualenv
# cannot be killed mid-run and brought back with the same data).
#
#   cluster_init PORT     initdb + verist (preloaded, so that its counters
#                         exist: the stress suite compares them with the
#                         clients' logs), fsync on; sets PGDATA_DIR and PG* env
#   cluster_start         start and wait until it accepts connections
#   cluster_stop_immediate / cluster_kill9
#   cluster_destroy       stop whatever runs and remove the directory
#
# As root the server runs as "postgres" (it refuses to run as root).

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"    # as_pg, psycopg_python

cluster_init() {
    local port=$1
    CLUSTER_ROOT=$(mktemp -d /tmp/verist-cluster.XXXXXX)
    chmod 755 "$CLUSTER_ROOT"
    PGDATA_DIR=$CLUSTER_ROOT/data
    CLUSTER_LOG=$CLUSTER_ROOT/server.log
    [ "$(id -u)" = 0 ] && chown postgres: "$CLUSTER_ROOT"
    as_pg "$PGBIN/initdb -D $PGDATA_DIR --auth=trust --username=postgres -E UTF8 --no-locale" >/dev/null || return 1
    cat >> "$PGDATA_DIR/postgresql.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$CLUSTER_ROOT'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 60
shared_buffers = 32MB
logging_collector = off
log_min_messages = warning
shared_preload_libraries = 'verist'
EOF
    export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
    unset PGPASSWORD PGSERVICE
    cluster_start || return 1
    "$PGBIN/psql" -qX -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION verist' >/dev/null
}

cluster_start() {
    as_pg "$PGBIN/pg_ctl -D $PGDATA_DIR -l $CLUSTER_LOG -w -t 60 start" >/dev/null
}

cluster_pid() {
    head -1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null
}

cluster_stop_immediate() {
    as_pg "$PGBIN/pg_ctl -D $PGDATA_DIR -m immediate -w stop" >/dev/null
}

# SIGKILL the postmaster alone, as the OOM killer would.  Its backends notice
# and exit by themselves; a new postmaster refuses to start while any of them
# still holds the old shared memory, so wait for them (and SIGKILL those we
# recorded as its children if they linger).
cluster_kill9() {
    local pm children i
    pm=$(cluster_pid)
    [ -n "$pm" ] || return 1
    children=$(ps -o pid= --ppid "$pm" | tr -d ' ')
    kill -9 "$pm"
    for i in $(seq 1 100); do
        local alive=0
        for c in $pm $children; do kill -0 "$c" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && return 0
        sleep 0.1
    done
    for c in $children; do kill -9 "$c" 2>/dev/null; done
    sleep 0.5
}

cluster_destroy() {
    [ -n "${PGDATA_DIR:-}" ] || return 0
    if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl -D $PGDATA_DIR -m immediate -w stop" >/dev/null 2>&1
    fi
    rm -rf "$CLUSTER_ROOT"
}
