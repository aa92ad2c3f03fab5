#!/usr/bin/env python3
"""
An upgrade must take whatever an older version accepted (0.3.1, the class of
defect 4: ALTER EXTENSION UPDATE from 0.1.0 aborted on event payloads 0.1.0
had stored).

A database at 0.1.0 is fed generated commits -- the fuzzer's JSON (numbers
at and beyond the double range, "__proto__" keys, every Unicode edge, wide
and long values) plus nesting up to near what jsonb itself accepts -- and
keeps every one 0.1.0 accepts.  Then ALTER EXTENSION verist UPDATE must
succeed, every run's chain must verify (verist_verify_all returns nothing),
and commits must go on extending the upgraded chains.

    upgrade_fuzz.py --dsn "host=... port=..." [--commits N] [--seed S]
Prints "ok - " / "not ok - " lines; exits 1 on any failure.
"""
import argparse
import json
import os
import random
import sys

import psycopg
from psycopg.conninfo import make_conninfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jsgen import Gen, Obj, Raw  # noqa: E402

DB = "verist_upgrade_fuzz"
failures = []


def check(ok, what):
    print(("ok - " if ok else "not ok - ") + what, flush=True)
    if not ok:
        failures.append(what)


def deep_text(rng):
    """Nesting from modest to near jsonb's own limit (about 13,000 levels)."""
    n = rng.choice([50, 2100, 3000, 8000, 12000])
    kind = rng.random()
    if kind < 0.4:
        return '{"a":' * n + "1" + "}" * n
    if kind < 0.8:
        return "[" * n + '"x"' + "]" * n
    return '{"k":[' * (n // 2) + "null" + "]}" * (n // 2)


def payload_text(g, rng):
    r = rng.random()
    if r < 0.15:
        return deep_text(rng)
    if r < 0.2:
        return g.dump(g.huge())
    value = g.value(4)
    if not isinstance(value, Obj):
        value = Obj([("v", value)])
    return g.dump(value)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", default="")
    ap.add_argument("--commits", type=int, default=400)
    ap.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    g = Gen(rng)
    print("# upgrade fuzz: %d commits at 0.1.0, seed %d" % (args.commits, args.seed), flush=True)

    with psycopg.connect(args.dsn, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS %s" % DB)
        admin.execute("CREATE DATABASE %s" % DB)
    conn = psycopg.connect(make_conninfo(args.dsn, dbname=DB), autocommit=True)
    conn.execute("SET client_min_messages = warning")
    conn.execute("CREATE EXTENSION verist VERSION '0.1.0'")

    accepted = refused = 0
    versions = {}
    for i in range(args.commits):
        run = "run-%d" % rng.randrange(40)
        version = versions.get(run, 0)
        events = []
        for j in range(rng.choice([0, 1, 1, 2, 3])):
            text = payload_text(g, rng)
            events.append('{"type": "e%d", "payload": %s}' % (j, text))
        try:
            conn.execute("SELECT verist_commit('upfuzz', %s, %s, %s, '{}', %s::jsonb)",
                         (run, "step-%d" % i, version, "[" + ",".join(events) + "]"))
            versions[run] = version + 1
            accepted += 1
        except psycopg.Error:
            refused += 1      # what 0.1.0 refuses is not stored: nothing to upgrade
    events = conn.execute("SELECT count(*) FROM verist_events").fetchone()[0]
    check(accepted > args.commits // 2, "0.1.0 stored %d commits (%d events; %d refused)"
          % (accepted, events, refused))

    try:
        conn.execute("ALTER EXTENSION verist UPDATE")
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'verist'").fetchone()[0]
        check(True, "ALTER EXTENSION verist UPDATE from 0.1.0 to %s over that data" % version)
    except psycopg.Error as e:
        check(False, "ALTER EXTENSION verist UPDATE from 0.1.0: %s %s"
              % (e.sqlstate, (e.diag.message_primary or "")[:200]))
        return 1
    broken = conn.execute("SELECT workflow_id, run_id, first_broken_seq, reason"
                          " FROM verist_verify_all()").fetchall()
    check(not broken, "every upgraded chain verifies (%d broken: %s)" % (len(broken), broken[:3]))

    extended = 0
    for run, version in sorted(versions.items()):
        conn.execute("SELECT verist_commit('upfuzz', %s, 'after', %s, '{}',"
                     " '[{\"type\": \"after-upgrade\", \"payload\": {\"x\": 1e400}}]')", (run, version))
        extended += 1
    broken = conn.execute("SELECT count(*) FROM verist_verify_all()").fetchone()[0]
    check(broken == 0, "commits extend all %d upgraded chains, which still verify" % extended)
    conn.close()
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        admin.execute("DROP DATABASE %s" % DB)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
