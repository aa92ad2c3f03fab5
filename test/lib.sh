# Sourced by the test suites and cluster helpers under test/: what each of
# them needs to run servers and Python clients on this machine.

# The PostgreSQL to build and test against: $PG_CONFIG if set, else the
# pg_config on PATH (on Debian, /usr/bin/pg_config answers for the newest
# postgresql-server-dev installed), else PostgreSQL 15's.  Its bin directory
# comes first on PATH, so psql, pg_ctl and initdb are that server's.
if [ -z "${PG_CONFIG:-}" ]; then
    PG_CONFIG=$(command -v pg_config || echo /usr/lib/postgresql/15/bin/pg_config)
fi
export PG_CONFIG
if [ -x "$PG_CONFIG" ] || command -v "$PG_CONFIG" >/dev/null; then
    PGBIN=$("$PG_CONFIG" --bindir)
    export PGBIN
    case ":$PATH:" in *":$PGBIN:"*) ;; *) export PATH="$PGBIN:$PATH" ;; esac
fi

# Run a shell command as "postgres" when we are root (the server refuses to
# run as root), as ourselves otherwise.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/bash -c "$*"
    else
        bash -c "$*"
    fi
}

# Print a Python 3 that has psycopg 3, or fail.  Debian's python3-psycopg
# serves /usr/bin/python3; a python3 earlier on PATH (pyenv, a venv) may lack it.
psycopg_python() {
    local py
    for py in /usr/bin/python3 python3; do
        if command -v "$py" >/dev/null && "$py" -c 'import psycopg' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    return 1
}

# Count pg_regress results in a file: "PASSED FAILED".  PostgreSQL 15 prints
# "test NAME ... ok" / "... FAILED"; 16 and later print TAP, "ok N - NAME" /
# "not ok N - NAME".  Both are counted, so a newer server's run is not read as
# having run nothing.
regress_counts() {
    local p f
    p=$(grep -cE '\.\.\. ok|^ok [0-9]+ ' "$1")
    f=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ ' "$1")
    echo "$p $f"
}
