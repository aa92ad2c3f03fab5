#!/usr/bin/env python3
"""Compare verist's counters (0.5.0) with the calls load.py logged.

    counters.py --logdir DIR [--save FILE | --from FILE]

Reads SELECT * FROM verist_counters in the database of the libpq environment
(or, with --from, a copy saved earlier with --save), computes from the logs
of DIR what each counter must read, and prints one "ok N - ..." / "not ok N
- ..." line per counter with both numbers, then "N passed, M failed".

The comparison is exact, so it holds only if
  - the counters started at zero with the cluster, and nobody but the logged
    calls (clients and drain) ran a verist function in that database before
    they were read: the stress suite reads them right after the drain, before
    check.py (which calls verist_dedupe_key and verist_verify_all), and saves
    them in the log directory;
  - every call's outcome is known.  A call with no end record or r=unk may or
    may not have been counted, so with any such call this prints a failure
    and compares nothing (there is none in a run without crashes).

What each counter must read, from the logs:
  commits / creates     ok commit calls with expected_version > 0 / = 0
  replays               0: every commit load.py sends is new (step ids are
                        unique per commit; a "retry" repeats an acknowledged
                        step at the run's current version, which is not the
                        version its stored entry answers, so the call must be
                        refused -- check.py requires that).  An answer
                        wrongly replayed shows here and in commits/creates.
  conflicts/REASON      refusals with SQLSTATE VRC01..VRC07
  not_found             refusals with VRN01
  serialization_errors  refusals with VRS01
  leases                ok lease calls (a refused lease call is not counted:
                        verist counts it when it returns)
  rows_leased           rows returned by ok lease calls
  dispatched            ok mark_dispatched calls + rows returned by ok batches
  retried               ok mark_retry calls that returned a pending row
  dead_lettered         ok mark_failed calls + ok mark_retry calls that
                        returned a failed row
"""
import argparse
import json
import sys

from check import load_calls

# SQLSTATE of a refusal -> the counter that counts it (src/counters.c).
REFUSALS = {
    "VRC01": "conflicts/run_exists",
    "VRC02": "conflicts/version_mismatch",
    "VRC03": "conflicts/active_block",
    "VRC04": "conflicts/command_exists",
    "VRC05": "conflicts/lease_mismatch",
    "VRC06": "conflicts/not_failed",
    "VRC07": "conflicts/run_active",
    "VRN01": "not_found",
    "VRS01": "serialization_errors",
}

COUNTERS = ["commits", "creates", "replays"] + list(REFUSALS.values()) + [
    "leases", "rows_leased", "dispatched", "retried", "dead_lettered"]


def expected_counts(calls):
    want = dict.fromkeys(COUNTERS, 0)
    for c in calls:
        op, r = c["op"], c["r"]
        if r == "err":
            name = REFUSALS.get(c.get("s"))
            if name:
                want[name] += 1
            continue
        if r != "ok":
            continue
        if op == "commit":
            want["creates" if c["expected"] == 0 else "commits"] += 1
        elif op == "lease":
            want["leases"] += 1
            want["rows_leased"] += len(c["rows"])
        elif op == "dispatched":
            want["dispatched"] += 1
        elif op == "batch":
            want["dispatched"] += len(c["done"])
        elif op == "failed":
            want["dead_lettered"] += 1
        elif op == "retry":
            want["retried" if c["status"] == "pending" else "dead_lettered"] += 1
    return want


def read_counters():
    import psycopg
    with psycopg.connect(autocommit=True) as conn:
        rows = conn.execute("SELECT counter, reason, value FROM verist_counters").fetchall()
    return {c + ("/" + r if r else ""): v for c, r, v in rows}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logdir", required=True)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--save", help="also write the counters read to FILE (JSON)")
    g.add_argument("--from", dest="source", help="compare with counters saved in FILE")
    args = ap.parse_args()

    if args.source:
        with open(args.source) as f:
            have = json.load(f)
    else:
        have = read_counters()
        if args.save:
            with open(args.save, "w") as f:
                json.dump(have, f, indent=1, sort_keys=True)
    calls = load_calls(args.logdir)

    n = failed = 0

    def line(good, text):
        nonlocal n, failed
        n += 1
        failed += not good
        print("%s %d - %s" % ("ok" if good else "not ok", n, text))

    unknown = [c for c in calls if c["r"] not in ("ok", "err")]
    line(not unknown, "counters: no call has an unknown outcome, so every counter can be"
         " compared exactly (%d calls logged, %d unknown)" % (len(calls), len(unknown)))
    for c in unknown[:5]:
        print("#   %s #%d %s: %s" % (c["c"], c["n"], c["op"], c.get("msg", "no end record")))
    if unknown:
        print("# counters not compared")
    else:
        want = expected_counts(calls)
        for name in COUNTERS:
            line(have.get(name) == want[name],
                 "counter %s: logs %d, verist_counters %s" % (name, want[name], have.get(name)))
        extra = sorted(set(have) - set(COUNTERS))
        line(not extra, "verist_counters has no counter this check does not know%s" % (
            ": " + ", ".join(extra) if extra else ""))
    print("%d passed, %d failed" % (n - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
