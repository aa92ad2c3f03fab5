# Sourced by the fuzz and sanitize suites: a throwaway PostgreSQL 15 cluster
# under /tmp whose log file and postmaster we know (the fuzzer scans the log
# and checks the postmaster never changed).
#
#   fz_cluster_init PORT [EXTRA_CONF]   initdb and start; sets FZ_ROOT, FZ_DATA,
#                                       FZ_LOG and the PG* variables
#   fz_cluster_destroy                  stop it and remove the directory
#
# FZ_SERVER_ENV, if set, is put in the postmaster's environment (the sanitizer
# build sets LD_PRELOAD and ASAN_OPTIONS this way); FZ_EXTRA_CONF, if set, is
# appended to postgresql.conf (e.g. extension_destdir, to run another build).  As root, the server runs
# as "postgres": it refuses to run as root.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"    # as_pg, psycopg_python, PGBIN
FZ_PGBIN=${FZ_PGBIN:-$PGBIN}

# The first port of a range nobody listens on.
fz_free_port() {
    local p
    for p in $(seq "$1" "$2"); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"; return 0
        fi
    done
    return 1
}

fz_cluster_init() {
    local port=$1 extra=${2:-}
    FZ_ROOT=$(mktemp -d /tmp/verist-fuzz.XXXXXX)
    chmod 755 "$FZ_ROOT"
    FZ_DATA=$FZ_ROOT/data
    FZ_LOG=$FZ_ROOT/server.log
    [ "$(id -u)" = 0 ] && chown postgres: "$FZ_ROOT"
    as_pg "$FZ_PGBIN/initdb -D $FZ_DATA --auth=trust --username=postgres -E UTF8 --no-locale" \
        >"$FZ_ROOT/initdb.log" 2>&1 || { cat "$FZ_ROOT/initdb.log"; return 1; }
    cat >> "$FZ_DATA/postgresql.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$FZ_ROOT'
fsync = off
max_connections = 20
shared_buffers = 64MB
logging_collector = off
log_min_messages = warning
log_min_error_statement = panic
$extra
${FZ_EXTRA_CONF:-}
EOF
    export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
    unset PGPASSWORD PGSERVICE
    as_pg "${FZ_SERVER_ENV:+env $FZ_SERVER_ENV} $FZ_PGBIN/pg_ctl -D $FZ_DATA -l $FZ_LOG -w -t 120 start" \
        >/dev/null || { cat "$FZ_LOG"; return 1; }
}

fz_cluster_destroy() {
    [ -n "${FZ_DATA:-}" ] || return 0
    if [ -f "$FZ_DATA/postmaster.pid" ]; then
        as_pg "$FZ_PGBIN/pg_ctl -D $FZ_DATA -m fast -w -t 60 stop" >/dev/null 2>&1 ||
            as_pg "$FZ_PGBIN/pg_ctl -D $FZ_DATA -m immediate -w stop" >/dev/null 2>&1
    fi
    rm -rf "$FZ_ROOT"
    FZ_DATA=
}
