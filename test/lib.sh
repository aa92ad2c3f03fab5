# Sourced by the test suites and cluster helpers under test/: what each of
# them needs to run servers and Python clients on this machine.

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
