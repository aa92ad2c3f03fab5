# Sourced by the scaleout and failover suites and the scale-out benchmark:
# several throwaway PostgreSQL servers and PgBouncers on loopback, all under
# one directory, all stopped by one call (also on failure).
#
#   so_begin                         make the root directory ($SO_ROOT)
#   so_server NAME PORT [CONF]       initdb + start; CONF is appended to postgresql.conf
#   so_start NAME / so_stop NAME / so_kill9 NAME
#   so_pgbouncer NAME PORT INI_DBS   start a PgBouncer (transaction mode) whose
#                                    [databases] section is INI_DBS
#   so_end                           stop every server and PgBouncer started, remove $SO_ROOT
#   so_need_packages PKG...          apt-get install the missing ones (dpkg-query first)
#   so_port VAR LO HI                set VAR to the first port of LO..HI that nobody
#                                    listens on and no earlier so_port call took
#
# Servers run as "postgres" when we are root (as_pg of test/lib.sh).

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"     # as_pg, psycopg_python, PGBIN on PATH

SO_ROOT=
SO_SERVERS=()
SO_BOUNCERS=()
SO_PORTS_TAKEN=" "

so_need_packages() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    echo "# installing ${missing[*]}"
    local SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1
}

# VAR = the first port of LO..HI that nobody listens on and this script has
# not handed out yet (in this shell: not from a $(...) subshell).
so_port() {
    local p
    for p in $(seq "$2" "$3"); do
        case "$SO_PORTS_TAKEN" in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            SO_PORTS_TAKEN="$SO_PORTS_TAKEN$p "
            printf -v "$1" '%s' "$p"; return 0
        fi
    done
    return 1
}

so_begin() {
    SO_ROOT=$(mktemp -d /tmp/verist-scaleout.XXXXXX)
    chmod 755 "$SO_ROOT"
    [ "$(id -u)" = 0 ] && chown postgres: "$SO_ROOT"
    export PGUSER=postgres PGHOST=127.0.0.1
    unset PGPASSWORD PGSERVICE PGDATABASE PGPORT
}

so_server() {   # NAME PORT [CONF]
    local name=$1 port=$2 conf=${3:-}
    local dir=$SO_ROOT/$name
    as_pg "mkdir -p $dir && $PGBIN/initdb -D $dir/data --auth=trust --username=postgres -E UTF8 --no-locale --no-sync" \
        >"$SO_ROOT/$name.initdb.log" 2>&1 || { cat "$SO_ROOT/$name.initdb.log"; return 1; }
    as_pg "cat >> $dir/data/postgresql.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 60
shared_buffers = 32MB
logging_collector = off
log_min_messages = warning
log_min_error_statement = panic
$conf
EOF
    SO_SERVERS+=("$name")
    so_start "$name"
}

so_data() { echo "$SO_ROOT/$1/data"; }

so_start() {
    as_pg "$PGBIN/pg_ctl -D $SO_ROOT/$1/data -l $SO_ROOT/$1.log -w -t 120 start" >/dev/null ||
        { tail -20 "$SO_ROOT/$1.log"; return 1; }
}

so_stop() {
    as_pg "$PGBIN/pg_ctl -D $SO_ROOT/$1/data -m fast -w -t 60 stop" >/dev/null 2>&1
}

# SIGKILL the postmaster and its children at once: the machine is gone.
so_kill9() {
    local pm
    pm=$(head -1 "$SO_ROOT/$1/data/postmaster.pid" 2>/dev/null) || return 1
    [ -n "$pm" ] || return 1
    local kids
    kids=$(ps -o pid= --ppid "$pm" | tr -d ' ')
    kill -9 "$pm" $kids 2>/dev/null
    local i
    for i in $(seq 1 100); do
        kill -0 "$pm" 2>/dev/null || break
        sleep 0.05
    done
}

# A PgBouncer in transaction mode: NAME PORT and the lines of its
# [databases] section.  Trust auth on loopback, as the servers.
so_pgbouncer() {
    local name=$1 port=$2 dbs=$3
    local dir=$SO_ROOT/$name
    as_pg "mkdir -p $dir"
    as_pg "cat > $dir/pgbouncer.ini" <<EOF
[databases]
$dbs
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
max_client_conn = 400
default_pool_size = 20
server_reset_query =
server_check_delay = 0
server_login_retry = 1
query_wait_timeout = ${SO_QUERY_WAIT:-5}
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = postgres
EOF
    as_pg "echo '\"postgres\" \"\"' > $dir/users.txt"
    as_pg "pgbouncer -d $dir/pgbouncer.ini" >/dev/null 2>&1 || { cat "$dir/pgbouncer.log"; return 1; }
    SO_BOUNCERS+=("$name")
    local i
    for i in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$dir/pgbouncer.log"; return 1
}

so_end() {
    [ -n "$SO_ROOT" ] || return 0
    local b s pid
    for b in "${SO_BOUNCERS[@]}"; do
        pid=$(cat "$SO_ROOT/$b/pgbouncer.pid" 2>/dev/null) && kill "$pid" 2>/dev/null
    done
    for s in "${SO_SERVERS[@]}"; do
        [ -f "$SO_ROOT/$s/data/postmaster.pid" ] &&
            as_pg "$PGBIN/pg_ctl -D $SO_ROOT/$s/data -m immediate -w -t 30 stop" >/dev/null 2>&1
    done
    rm -rf "$SO_ROOT"
    SO_ROOT=; SO_SERVERS=(); SO_BOUNCERS=()
}
