# Sourced by test/bench/ledger.sh: throwaway PostgreSQL 15 clusters, one per
# verist version, with the settings of test/bench/lib/cluster.sh (fsync on,
# full_page_writes on, shared_buffers 1GB, no checkpoint inside a
# measurement), under $LEDGER_ROOT (/tmp/verist-bench-ledger-*), TCP on
# 127.0.0.1, ports 5950-5999.
#
#   lc_init NAME PORT [DESTDIR]  initdb + settings + start; with DESTDIR, the
#                                cluster loads verist from there first
#                                (extension_destdir, a Debian patch)
#   lc_psql NAME [psql args...]  psql -qXAt on that cluster, ON_ERROR_STOP
#   lc_set NAME GUC VALUE        ALTER SYSTEM + reload, waits until it shows
#   lc_destroy_all               stop and remove every cluster started here
#
# As root the servers run as "postgres" (PostgreSQL refuses to run as root).

. "$(dirname "${BASH_SOURCE[0]}")/../../lib.sh"    # PGBIN, as_pg
. "$(dirname "${BASH_SOURCE[0]}")/../lib/measure.sh"   # bench_settings (lib/cluster.sh's)

LC_NAMES=()
declare -A LC_PORT LC_DATA

lc_init() {
    local name=$1 port=$2 destdir=${3:-}
    if ((port < 5950 || port > 5999)); then
        echo "ledger bench: port $port is outside 5950-5999" >&2; return 1
    fi
    if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
        echo "ledger bench: something already listens on port $port" >&2; return 1
    fi
    local dir=$LEDGER_ROOT/$name
    mkdir -p "$dir"
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_pg "$PGBIN/initdb -D $dir/data --auth=trust --username=postgres -E UTF8 --no-locale" >/dev/null || return 1
    bench_settings "$port" "$dir" "${BENCH_SHARED_BUFFERS:-1GB}" >> "$dir/data/postgresql.conf"
    if [ -n "$destdir" ]; then
        echo "extension_destdir = '$destdir'" >> "$dir/data/postgresql.conf"
    fi
    as_pg "$PGBIN/pg_ctl -D $dir/data -l $dir/server.log -w -t 120 start" >/dev/null || return 1
    LC_NAMES+=("$name")
    LC_PORT[$name]=$port
    LC_DATA[$name]=$dir/data
}

lc_psql() {
    local name=$1
    shift
    PGHOST=127.0.0.1 PGPORT=${LC_PORT[$name]} PGUSER=postgres PGDATABASE=${LC_DB:-postgres} \
        "$PGBIN/psql" -qXAt -v ON_ERROR_STOP=1 "$@"
}

lc_set() {
    local name=$1 guc=$2 value=$3 i
    lc_psql "$name" -c "ALTER SYSTEM SET $guc = '$value'" -c "SELECT pg_reload_conf()" >/dev/null
    # a reload is asynchronous: wait until a new session sees the value
    for i in $(seq 1 50); do
        [ "$(lc_psql "$name" -c "SHOW $guc")" = "$value" ] && return 0
        sleep 0.1
    done
    echo "ledger bench: $guc did not become $value on $name" >&2
    return 1
}

lc_destroy_all() {
    local name data
    for name in "${LC_NAMES[@]}"; do
        data=${LC_DATA[$name]}
        if [ -f "$data/postmaster.pid" ]; then
            as_pg "$PGBIN/pg_ctl -D $data -m fast -w -t 60 stop" >/dev/null 2>&1 ||
                as_pg "$PGBIN/pg_ctl -D $data -m immediate -w stop" >/dev/null 2>&1
        fi
    done
    LC_NAMES=()
}
