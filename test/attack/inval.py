"""An unrelated session must never make a commit fail (0.3.1, defect 1).

A role with default privileges (LOGIN, no grant on anything of verist's)
floods the shared invalidation queue while a runner commits steps whose
events are a few hundred KB each:

  * temporary tables created and dropped in a loop: every catalog change is
    an invalidation message, and a backend that falls behind the queue gets a
    whole-cache reset;
  * GRANT and REVOKE on a schema the attacker owns: a pg_namespace
    invalidation, the very cache verist 0.3.0 keyed its schema on.

0.3.0 forgot its schema when either arrived in the middle of a commit and
failed with XX000 ("relation verist_events_id_seq ... does not exist")
between the state update and the events' insert.  Every commit must succeed
and every chain verify.

    python3 inval.py [--seconds N] [--payload-kb K]

Connection: the libpq environment (PGHOST, PGPORT, PGDATABASE) as a
superuser that may create roles.  Prints TAP-like "ok - " / "not ok - "
lines.
"""
import argparse
import json
import os
import sys
import threading
import time

import psycopg

failures = []


def check(ok, what):
    print(("ok - " if ok else "not ok - ") + what, flush=True)
    if not ok:
        failures.append(what)


def setup(conn):
    conn.execute("DROP ROLE IF EXISTS verist_attacker")
    conn.execute("DROP ROLE IF EXISTS verist_runner_a")
    conn.execute("CREATE EXTENSION IF NOT EXISTS verist")
    conn.execute("CREATE ROLE verist_attacker LOGIN")
    conn.execute("CREATE SCHEMA attacker_own AUTHORIZATION verist_attacker")
    conn.execute("CREATE ROLE verist_runner_a LOGIN")
    conn.execute("GRANT EXECUTE ON FUNCTION verist_commit(text, text, text, integer, jsonb,"
                 " jsonb, jsonb) TO verist_runner_a")


def teardown(conn):
    conn.execute("DROP SCHEMA IF EXISTS attacker_own CASCADE")
    conn.execute("REVOKE ALL ON FUNCTION verist_commit(text, text, text, integer, jsonb,"
                 " jsonb, jsonb) FROM verist_runner_a")
    conn.execute("DROP ROLE IF EXISTS verist_attacker")
    conn.execute("DROP ROLE IF EXISTS verist_runner_a")


def churn_temp(stop, counter):
    """Create and drop temporary tables as fast as possible."""
    with psycopg.connect(user="verist_attacker", autocommit=True) as c:
        while not stop.is_set():
            c.execute("CREATE TEMP TABLE churn (a int, b text, c jsonb)")
            c.execute("DROP TABLE churn")
            counter[0] += 1


def churn_grants(stop, counter):
    """GRANT and REVOKE on the attacker's own schema: pg_namespace invalidations."""
    with psycopg.connect(user="verist_attacker", autocommit=True) as c:
        while not stop.is_set():
            c.execute("GRANT USAGE ON SCHEMA attacker_own TO PUBLIC")
            c.execute("REVOKE USAGE ON SCHEMA attacker_own FROM PUBLIC")
            counter[0] += 1


def big_events(kb, n):
    """n events whose payloads hold about kb KB of varied text each."""
    chunk = "".join(chr(0x41 + (i * 7) % 26) for i in range(1024))
    return [{"type": "big", "payload": {"i": i, "blob": [chunk] * kb}} for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--payload-kb", type=int, default=300)
    args = ap.parse_args()

    with psycopg.connect(autocommit=True) as admin:
        setup(admin)
    stop = threading.Event()
    temps, grants = [0], [0]
    attackers = [threading.Thread(target=churn_temp, args=(stop, temps)),
                 threading.Thread(target=churn_grants, args=(stop, grants))]
    for t in attackers:
        t.start()
    time.sleep(0.5)   # the attack is running before the first commit

    events = json.dumps(big_events(args.payload_kb, 2))
    commits, errors = 0, {}
    deadline = time.monotonic() + args.seconds
    with psycopg.connect(user="verist_runner_a", autocommit=True) as runner:
        run = 0
        while time.monotonic() < deadline:
            run += 1
            rid = "inval-%d-%d" % (os.getpid(), run)
            for version in range(0, 3):
                try:
                    runner.execute(
                        "SELECT version FROM verist_commit('inval', %s, %s, %s, '{}'::jsonb,"
                        " %s::jsonb, '[]'::jsonb)", (rid, "step-%d" % version, version, events))
                    commits += 1
                except psycopg.Error as e:
                    errors[e.sqlstate] = errors.get(e.sqlstate, 0) + 1
                    if len(errors) == 1 and errors[e.sqlstate] == 1:
                        print("# first failure: %s %s" % (e.sqlstate, e.diag.message_primary),
                              flush=True)
                    break
    stop.set()
    for t in attackers:
        t.join()

    print("# %d commits of %d KB events; attacker: %d temp tables, %d grant/revoke pairs"
          % (commits, args.payload_kb * 2, temps[0], grants[0]), flush=True)
    check(temps[0] > 100 and grants[0] > 100, "the attack ran during the commits")
    check(commits > 0, "commits ran (%d)" % commits)
    check(not errors, "no commit failed while an unrelated role churned invalidations"
          " (failures by SQLSTATE: %s)" % (errors or "none"))
    with psycopg.connect(autocommit=True) as admin:
        broken = admin.execute("SELECT count(*) FROM verist_verify_all()").fetchone()[0]
        check(broken == 0, "every chain verifies (%d broken)" % broken)
        teardown(admin)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
