#!/usr/bin/env python3
"""Counters (0.5.0): each counter moves by exactly what the calls made here
should move it, refusals included, per database, and nowhere else.

    counters.py             the server preloads verist (counters available)
    counters.py --absent    it does not: the view says so, verist still works

The server is found through the libpq environment (PGHOST, PGPORT, ...); the
role must be a superuser (it creates a second database and switches
verist.counters).  Prints "ok"/"not ok" lines and a final "N passed, M failed".
"""
import re
import sys

import psycopg
from psycopg.types.json import Jsonb

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"not ok - {what}" + (f": {detail}" if detail else ""))


def sqlstate_of(conn, sql, params=()):
    """Run a statement; return None or the SQLSTATE it raised."""
    try:
        conn.execute(sql, params)
        return None
    except psycopg.Error as e:
        return e.sqlstate


def counters(conn):
    rows = conn.execute("SELECT counter, reason, value FROM verist_counters").fetchall()
    return {(c if r is None else f"{c}:{r}"): v for c, r, v in rows}


def commit(conn, wf, run, step, expected, commands=()):
    return conn.execute(
        "SELECT version FROM verist_commit(%s, %s, %s, %s, '{}', '[]', %s)",
        (wf, run, step, expected, Jsonb(list(commands)))).fetchone()[0]


def emit(topic):
    return {"type": "emit", "topic": topic}


def make_calls(conn, expect):
    """Every kind of call once or more, adding to expect what each counts."""
    def bump(key, n=1):
        expect[key] = expect.get(key, 0) + n

    def refused(sql, params, state, key):
        got = sqlstate_of(conn, sql, params)
        check(got == state, f"{sql.split('(')[0]} refused with {state}", f"got {got}")
        bump(key)

    commit(conn, "c-wf", "r1", "s1", 0, [emit("a"), emit("b"), emit("c")]); bump("creates")
    commit(conn, "c-wf", "r1", "s2", 1, [emit("d")]); bump("commits")
    commit(conn, "c-wf", "r1", "s2", 1, [emit("d")]); bump("replays")    # identical retry
    commit(conn, "c-wf", "r2", "s1", 0, [{"type": "review", "reason": "look"}]); bump("creates")
    refused("SELECT verist_commit('c-wf', 'r1', 's1', 0, '{}', '[]', '[]')", (),
            "VRC01", "conflicts:run_exists")
    refused("SELECT verist_commit('c-wf', 'r1', 's9', 1, '{}', '[]', '[]')", (),
            "VRC02", "conflicts:version_mismatch")
    refused("SELECT verist_commit('c-wf', 'r2', 's2', 1, '{}', '[]', '[{\"type\": \"review\", \"reason\": \"x\"}]')", (),
            "VRC03", "conflicts:active_block")
    refused("SELECT verist_commit('c-wf', 'r1', 's3', 2, '{}', '[]', %s)", (Jsonb([emit("a")]),),
            None, "commits")   # a new step: same command, another key -- accepted
    refused("SELECT verist_mark_dispatched(1, 'nobody')", (), "VRC05", "conflicts:lease_mismatch")
    refused("SELECT verist_requeue(1)", (), "VRC06", "conflicts:not_failed")
    refused("SELECT verist_retire_run('c-wf', 'r2')", (), "VRC07", "conflicts:run_active")
    refused("SELECT verist_commit('c-wf', 'nope', 's1', 3, '{}', '[]', '[]')", (),
            "VRN01", "not_found")
    refused("SELECT verist_requeue(999999)", (), "VRN01", "not_found")
    refused("SELECT verist_commit('c-wf', 'r1', 's1', -1, '{}', '[]', '[]')", (),
            "VRS01", "serialization_errors")
    refused("SELECT verist_lease_outbox('d', 1, '1 minute', 'fifo')", (),
            "VRS01", "serialization_errors")
    refused("SELECT verist_dispatch_latency('-1 day')", (), "VRS01", "serialization_errors")

    # A refusal inside a transaction that is rolled back still happened.
    with conn.transaction(force_rollback=True):
        got = sqlstate_of(conn, "SELECT verist_commit('c-wf', 'r1', 's1', 0, '{}', '[]', '[]')")
    check(got == "VRC01", "a refusal in a rolled-back transaction is raised", f"got {got}")
    bump("conflicts:run_exists")

    # Leasing and finalising: 5 pending rows (a, b, c, d, a').
    rows = conn.execute("SELECT id FROM verist_lease_outbox('d1', 2, '1 minute', 'per_run')").fetchall()
    bump("leases"); bump("rows_leased", len(rows))
    more = conn.execute("SELECT id FROM verist_lease_outbox('d1', 10, '1 minute', 'oldest')").fetchall()
    bump("leases"); bump("rows_leased", len(more))
    none = conn.execute("SELECT id FROM verist_lease_outbox('d1', 10, '1 minute', 'fair')").fetchall()
    bump("leases"); bump("rows_leased", len(none))
    ids = sorted(r[0] for r in rows + more)
    check(len(ids) == 5 and not none, "five rows leased over three calls", f"{ids} then {none}")
    conn.execute("SELECT verist_mark_dispatched(%s, 'd1')", (ids[0],)); bump("dispatched")
    got = conn.execute("SELECT count(*) FROM verist_mark_dispatched_batch(%s, 'd1')",
                       (ids[1:3] + [ids[0]],)).fetchone()[0]     # ids[0] is done: not counted
    check(got == 2, "the batch finalises the two still leased", f"got {got}")
    bump("dispatched", got)
    st = conn.execute("SELECT status FROM verist_mark_retry(%s, 'd1', 'down', 2, "
                      "'1 millisecond', '1 millisecond')", (ids[3],)).fetchone()[0]
    check(st == "pending", "a first failure under a policy goes back to pending", st)
    bump("retried")
    conn.execute("SELECT pg_sleep(0.01)")
    again = conn.execute("SELECT id FROM verist_lease_outbox('d1', 10, '1 minute')").fetchall()
    bump("leases"); bump("rows_leased", len(again))
    st = conn.execute("SELECT status FROM verist_mark_retry(%s, 'd1', 'down', 2, "
                      "'1 millisecond', '1 millisecond')", (ids[3],)).fetchone()[0]
    check(st == "failed", "the second failure at max_attempts 2 is a dead letter", st)
    bump("dead_lettered")
    conn.execute("SELECT verist_mark_failed(%s, 'd1', 'gone')", (ids[4],)); bump("dead_lettered")
    conn.execute("SELECT verist_requeue(%s)", (ids[4],))   # counted nowhere


def main():
    absent = "--absent" in sys.argv
    conn = psycopg.connect(autocommit=True)
    conn.execute("SET client_min_messages = warning")
    conn.execute("DROP EXTENSION IF EXISTS verist CASCADE")
    conn.execute("CREATE EXTENSION verist")

    if absent:
        got = sqlstate_of(conn, "SELECT * FROM verist_counters")
        check(got == "55000", "without shared_preload_libraries the view raises 55000", f"got {got}")
        got = sqlstate_of(conn, "SELECT verist_reset_counters()")
        check(got == "55000", "... and so does the reset", f"got {got}")
        text = conn.execute("SELECT verist_metrics()").fetchone()[0]
        check(re.search(r"(?m)^verist_counters_enabled 0$", text) is not None,
              "verist_metrics says counting is off", text[:200])
        check(commit(conn, "c-wf", "r1", "s1", 0, [emit("a")]) == 1, "commits work without counters")
        return

    since0 = conn.execute("SELECT verist_reset_counters()").fetchone()[0]
    c0 = counters(conn)
    check(len(c0) == 17 and all(v == 0 for v in c0.values()),
          "after a reset every counter is 0", str(c0))
    since = conn.execute("SELECT DISTINCT since FROM verist_counters").fetchall()
    check(since == [(since0,)], "the view's since is the time of the reset", f"{since} vs {since0}")

    expect = {}
    make_calls(conn, expect)
    c1 = counters(conn)
    want = {k: expect.get(k, 0) for k in c1}
    check(set(expect) <= set(c1), "every counter the calls move exists", str(set(expect) - set(c1)))
    for k in sorted(c1):
        check(c1[k] == want[k], f"counter {k} = {want[k]}", f"view says {c1[k]}")

    # The Prometheus text carries the same numbers.
    text = conn.execute("SELECT verist_metrics()").fetchone()[0]
    for k, v in sorted(c1.items()):
        name, _, reason = k.partition(":")
        sample = f"verist_{name}_total" + (f'{{reason="{reason}"}}' if reason else "")
        check(re.search(r"(?m)^" + re.escape(sample) + r" " + str(v) + "$", text) is not None,
              f"metrics line {sample} {v}")
    check(re.search(r"(?m)^verist_counters_enabled 1$", text) is not None, "metrics: counting is on")

    # verist.counters = off: nothing moves.
    conn.execute("SET verist.counters = off")
    commit(conn, "c-wf", "r3", "s1", 0, [])
    sqlstate_of(conn, "SELECT verist_commit('c-wf', 'r3', 's1', 0, '{}', '[]', '[]')")
    conn.execute("RESET verist.counters")
    check(counters(conn) == c1, "with verist.counters off nothing is counted")

    # Per database: another database counts apart.
    conn.execute("DROP DATABASE IF EXISTS verist_counters_other")
    conn.execute("CREATE DATABASE verist_counters_other")
    other = psycopg.connect(autocommit=True, dbname="verist_counters_other")
    other.execute("CREATE EXTENSION verist")
    commit(other, "o-wf", "r1", "s1", 0, [])
    sqlstate_of(other, "SELECT verist_commit('o-wf', 'r1', 's2', 0, '{}', '[]', '[]')")
    oc = counters(other)
    check(oc["creates"] == 1 and oc["conflicts:run_exists"] == 1 and sum(oc.values()) == 2,
          "the other database counts its own calls only", str({k: v for k, v in oc.items() if v}))
    check(counters(conn) == c1, "this database's counters do not see the other's calls")
    other.execute("SELECT verist_reset_counters()")
    check(counters(conn) == c1, "resetting the other database leaves this one's alone")
    other.close()
    conn.execute("DROP DATABASE verist_counters_other")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:          # a crash is a failure, never a pass
        check(False, "counters.py ran to the end", repr(e))
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
