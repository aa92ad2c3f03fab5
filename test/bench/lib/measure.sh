# Sourced by the benchmark scripts (test/bench/lib/cluster.sh, ledger/cluster.sh,
# run.sh, ledger.sh): what every benchmark cluster and measurement shares.
#
#   bench_settings PORT SOCKET_DIR SHARED_BUFFERS
#                       the postgresql.conf lines of every benchmark cluster
#   machine_busy        CPU jiffies the whole machine spent busy so far
#   pgdata_cpu PGDATA   CPU jiffies of one cluster: its postmaster, its live
#                       children, and the children it has reaped

# Durable (fsync on, full_page_writes on, synchronous_commit on unless a phase
# says otherwise); checkpoints only when the benchmark asks, so none lands in
# the middle of a measurement.
bench_settings() {
    cat <<EOF2
port = $1
listen_addresses = '127.0.0.1'
unix_socket_directories = '$2'
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
shared_buffers = $3
max_connections = 50
max_wal_size = 16GB
min_wal_size = 1GB
checkpoint_timeout = 1h
work_mem = 64MB
maintenance_work_mem = 512MB
logging_collector = off
log_min_messages = warning
log_checkpoints = off
EOF2
}

machine_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

pgdata_cpu() {
    local pm
    pm=$(head -1 "$1/postmaster.pid")
    { sed 's/^.*) //' "/proc/$pm/stat" | awk '{print $12 + $13 + $14 + $15}'
      for c in $(cat /proc/"$pm"/task/*/children 2>/dev/null); do
          sed 's/^.*) //' "/proc/$c/stat" 2>/dev/null | awk '{print $12 + $13}'
      done; } | awk '{s += $1} END {print s}'
}
