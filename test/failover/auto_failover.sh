# Sourced by test/suites/failover.sh with VERIST_LONG=1: the managed recipe.
# A pg_auto_failover monitor and two nodes (pg_autoctl, postgresql-15-auto-
# failover) form one shard; the router connects to the nodes with a
# multi-host connection string and target_session_attrs=read-write, so after
# a failover PL/Proxy's next connection finds the new primary by itself.
# Under load the primary node's machine is killed (its pg_autoctl and its
# postgres, -9); pg_auto_failover notices and promotes the other node; the
# clients carry on.  Then the same checks: no acknowledged commit lost,
# chains verify in and outside the database against the anchors.
# Uses: so_* (test/scaleout/lib.sh), result, count, bad, $PY, $ROUTER,
# $mirrored, $logdir of the suite.

paf_root=
paf_pids=()

paf() {   # run pg_autoctl as postgres with PostgreSQL 15's tools first on PATH
    as_pg "PATH=$PGBIN:\$PATH PG_CONFIG=$PG_CONFIG XDG_CONFIG_HOME=$paf_root/config XDG_DATA_HOME=$paf_root/data pg_autoctl $*"
}

paf_start() {   # NAME: pg_autoctl run in the background, its pid recorded
    as_pg "PATH=$PGBIN:\$PATH PG_CONFIG=$PG_CONFIG XDG_CONFIG_HOME=$paf_root/config XDG_DATA_HOME=$paf_root/data \
        nohup pg_autoctl run --pgdata $paf_root/$1 >$paf_root/$1.log 2>&1 & echo \$! > $paf_root/$1.pid"
    paf_pids+=("$1")
}

paf_kill() {    # NAME: the machine is gone -- pg_autoctl and postgres, -9
    local pid pm
    pid=$(cat "$paf_root/$1.pid" 2>/dev/null)
    pm=$(head -1 "$paf_root/$1/postmaster.pid" 2>/dev/null)
    [ -n "$pid" ] && kill -9 $(ps -o pid= --ppid "$pid") "$pid" 2>/dev/null
    [ -n "$pm" ] && { kill -9 $(ps -o pid= --ppid "$pm") "$pm" 2>/dev/null; }
}

paf_stop() {
    local n pid
    for n in "${paf_pids[@]}"; do
        pid=$(cat "$paf_root/$n.pid" 2>/dev/null)
        [ -n "$pid" ] && kill "$pid" 2>/dev/null
    done
    sleep 2
    for n in "${paf_pids[@]}"; do
        paf_kill "$n"
    done
    rm -rf "$paf_root"
    paf_root=
}

paf_state() {   # the monitor's view: "host:port state" per node
    psql -qXAt "host=127.0.0.1 port=$mp dbname=pg_auto_failover user=autoctl_node" \
        -c "SELECT nodeport || ':' || reportedstate FROM pgautofailover.node ORDER BY nodeid" 2>/dev/null | tr '\n' ' '
}

paf_scenario() {
    so_need_packages postgresql-15-auto-failover || bad "apt-get install postgresql-15-auto-failover"
    so_port mp 5800 5899 && so_port n1 5800 5899 && so_port n2 5800 5899 || bad "free ports in 5800-5899"
    paf_root=$SO_ROOT/paf
    as_pg "mkdir -p $paf_root"
    local common="--hostname 127.0.0.1 --auth trust --no-ssl --pgctl $PGBIN/pg_ctl"
    paf create monitor --pgdata "$paf_root/monitor" --pgport "$mp" $common >"$SO_ROOT/paf-create.log" 2>&1 ||
        { tail -20 "$SO_ROOT/paf-create.log"; bad "pg_auto_failover: monitor created"; }
    paf_start monitor
    local mon="postgres://autoctl_node@127.0.0.1:$mp/pg_auto_failover?sslmode=disable"
    local i
    for i in $(seq 1 100); do psql -qXAt "$mon" -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
    paf create postgres --pgdata "$paf_root/node1" --pgport "$n1" --dbname verist --monitor "'$mon'" $common \
        >>"$SO_ROOT/paf-create.log" 2>&1 || { tail -20 "$SO_ROOT/paf-create.log"; bad "pg_auto_failover: node 1 created"; }
    paf_start node1
    for i in $(seq 1 300); do
        [[ "$(paf_state)" == *"$n1:single"* ]] && pg_isready -q -h 127.0.0.1 -p "$n1" && break
        sleep 0.2
    done
    psql -qX "host=127.0.0.1 port=$n1 dbname=verist user=postgres" \
        -c "CREATE EXTENSION verist VERSION '$mirrored'" >/dev/null || bad "pg_auto_failover: verist on node 1"
    paf create postgres --pgdata "$paf_root/node2" --pgport "$n2" --dbname verist --monitor "'$mon'" $common \
        >>"$SO_ROOT/paf-create.log" 2>&1 || { tail -20 "$SO_ROOT/paf-create.log"; bad "pg_auto_failover: node 2 created"; }
    paf_start node2
    for i in $(seq 1 300); do [[ "$(paf_state)" == *"$n1:primary"*"$n2:secondary"* ]] && break; sleep 0.2; done
    [[ "$(paf_state)" == *"$n1:primary"*"$n2:secondary"* ]] &&
        result OK "pg_auto_failover: a monitor, node 1 primary, node 2 secondary ($(paf_state))" ||
        { tail -5 "$paf_root"/*.log; bad "pg_auto_failover: node 1 primary, node 2 secondary ($(paf_state))"; }
    local ssn
    ssn=$(psql -qXAt "host=127.0.0.1 port=$n1 dbname=verist user=postgres" -c 'SHOW synchronous_standby_names')
    [ -n "$ssn" ] && result OK "pg_auto_failover: the primary waits for the secondary (synchronous_standby_names = $ssn)" ||
        result FAIL "pg_auto_failover: synchronous_standby_names set"

    local cs="host=127.0.0.1,127.0.0.1 port=$n1,$n2 dbname=verist target_session_attrs=read-write connect_timeout=2"
    psql -qXAt "$ROUTER" -c 'DROP EXTENSION IF EXISTS verist_proxy' -c 'DROP SERVER IF EXISTS verist_cluster CASCADE' \
        -c 'CREATE EXTENSION verist_proxy CASCADE' \
        -c "SELECT count(*) FROM verist_proxy_init(ARRAY['$cs'], 16)" >/dev/null || bad "pg_auto_failover: router"
    local dir=$logdir/auto
    "$PY" test/scaleout/load.py run --router "$ROUTER" --logdir "$dir" --seconds 60 --clients 4 --runs 6 \
        >"$dir.load.out" 2>&1 &
    load_pid=$!
    sleep 6
    paf_kill node1
    echo "# pg_auto_failover: node 1's machine killed at $(date +%T.%N | cut -c1-12)"
    for i in $(seq 1 600); do [[ "$(paf_state)" == *"$n2:"*primary* || "$(paf_state)" == *"$n2:wait_primary"* ]] && break; sleep 0.2; done
    echo "# pg_auto_failover: $(paf_state)at $(date +%T.%N | cut -c1-12)"
    [[ "$(paf_state)" == *"$n2:"*primary* ]] && result OK "pg_auto_failover: node 2 promoted by the monitor ($(paf_state))" ||
        result FAIL "pg_auto_failover: node 2 promoted ($(paf_state))"
    wait "$load_pid"; local rc=$?; load_pid=
    [ $rc = 0 ] && result OK "pg_auto_failover: the load went on through the failover ($(tail -1 "$dir.load.out"))" ||
        { cat "$dir.load.out"; result FAIL "pg_auto_failover: the load finished"; }
    local S="host=127.0.0.1 port=$n2 dbname=verist user=postgres"
    out=$("$PY" test/scaleout/load.py check --router "$ROUTER" --logdir "$dir" --shard "$S" 2>&1)
    echo "$out" | sed 's/^\(not \)\?ok - /&pg_auto_failover: /'; count "$out" "pg_auto_failover: load.py check"
    out=$("$PY" test/scaleout/verify_shards.py --router "$ROUTER" --anchors "$dir/anchors.csv" --ledger-anchors "$dir/ledger-anchors.csv" "$S" 2>&1)
    echo "$out" | sed 's/^\(not \)\?ok - /&pg_auto_failover: /'; count "$out" "pg_auto_failover: verify_shards.py"
    paf_stop
}
