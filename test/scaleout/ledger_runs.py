#!/usr/bin/env python3
"""Runs with whole ledgers through the router, and what a partition move keeps.

    ledger_runs.py make  --router DSN --state FILE [--runs N] SHARD_DSN...
    ledger_runs.py check --router DSN --state FILE SHARD_DSN...

make: N runs of workflow "lg" through the router, each with a ledger of every
kind of entry -- a commit opening a review or a suspension (as an actor), an
overlay, the resolution (approve, reject, resume), a commit with events and a
command, numbers beyond a double's digits -- and every third run retired
(a seal on the shard that holds it).  FILE records, per run, what must not
change: its ledger head (verist_run_digest), its history's hashes, its state
and overlay as exact text, and for a retired run the shard its seal is on.

check (after partitions moved, shards given in shard order): through the
router every live run has the same head, history, state and overlay and
verifies; each seal is still on the shard that retired it and is the only one
of its run; verist_verify_all() on every shard is empty (runs, ledgers, seal
chains); a retired run whose partition moved is answered by the router with
not_found (the seal stayed behind, README), by its shard with "retired".
Prints "ok - " / "not ok - " lines.
"""
import argparse
import json
import sys

import psycopg

W = "lg"


def history(conn, run):
    return [list(r) for r in conn.execute(
        "SELECT seq, kind, hash, actor FROM verist_run_history(%s, %s) ORDER BY seq", (W, run))]


def make(args, rc, shards):
    state = {"runs": {}}
    for i in range(args.runs):
        run = "lg-%d" % i
        retire = i % 3 == 1         # review runs (a suspension leaves a resume command)
        block = ([{"type": "suspend", "reason": "wait", "checkpoint": {"at": i}, "resumeStep": "go"}] if i % 3 == 0
                 else [{"type": "review", "reason": "look", "payload": {"n": i}}])
        with rc.transaction():
            rc.execute("SET LOCAL verist.actor = %s" % psycopg.sql.quote("runner-%d" % i))
            rc.execute("SELECT verist_commit(%s, %s, 's1', 0, %s::jsonb, %s::jsonb, %s::jsonb)",
                       (W, run, '{"n": 1.000000000000000000001, "i": %d}' % i,
                        json.dumps([{"type": "started", "payload": {"i": i}}]), json.dumps(block)))
        with rc.transaction():
            rc.execute("SET LOCAL verist.actor = 'reviewer@example.com'")
            rc.execute("SELECT verist_set_overlay(%s, %s, '{\"fixed\": 12345678901234567890.5}')", (W, run))
            resolution = ({"resumeData": {"ok": True}} if i % 3 == 0
                          else {"approved": i % 2 == 0})
            rc.execute("SELECT verist_resolve_block(%s, %s, %s::jsonb)", (W, run, json.dumps(resolution)))
        commands = [] if retire else [{"type": "emit", "topic": "lg", "payload": {"i": i}}]
        rc.execute("SELECT verist_commit(%s, %s, 's2', 1, '{\"done\": true}', %s::jsonb, %s::jsonb)",
                   (W, run, json.dumps([{"type": "ev", "payload": {"i": i}}]), json.dumps(commands)))
        k = rc.execute("SELECT verist_proxy_shard_of_run(%s, %s)", (W, run)).fetchone()[0]
        rec = {"shard": k}
        if retire:
            rec["digest"] = list(rc.execute("SELECT seq, hash FROM verist_run_digest(%s, %s)", (W, run)).fetchone())
            rc.execute("SELECT verist_retire_run(%s, %s)", (W, run))
            rec["retired"] = True
        else:
            rec["digest"] = list(rc.execute("SELECT seq, hash FROM verist_run_digest(%s, %s)", (W, run)).fetchone())
            rec["history"] = history(rc, run)
            rec["state"] = list(rc.execute("SELECT version, computed::text, overlay::text FROM verist_load(%s, %s)",
                                           (W, run)).fetchone())
        state["runs"][run] = rec
    with open(args.state, "w") as f:
        json.dump(state, f)
    seals = {k: conn.execute("SELECT count(*) FROM verist_retired").fetchone()[0] for k, conn in enumerate(shards, 1)}
    entries = sum(len(r.get("history", [])) for r in state["runs"].values())
    print("ok - %d runs with ledgers made through the router (%d entries, every kind), %d retired (seals per shard: %s)"
          % (args.runs, entries, sum(1 for r in state["runs"].values() if r.get("retired")),
             json.dumps(seals, sort_keys=True)))
    return 0


def check(args, rc, shards):
    state = json.load(open(args.state))
    failed = 0

    def report(ok, what, problems=()):
        nonlocal failed
        print(("ok - " if ok else "not ok - ") + what, flush=True)
        for p in list(problems)[:5]:
            print("#   " + str(p))
        failed += not ok

    live = {r: v for r, v in state["runs"].items() if not v.get("retired")}
    retired = {r: v for r, v in state["runs"].items() if v.get("retired")}
    moved = {r for r, v in state["runs"].items()
             if rc.execute("SELECT verist_proxy_shard_of_run(%s, %s)", (W, r)).fetchone()[0] != v["shard"]}
    changed = []
    for run, v in sorted(live.items()):
        try:
            digest = list(rc.execute("SELECT seq, hash FROM verist_run_digest(%s, %s)", (W, run)).fetchone())
            hist = history(rc, run)
            st = list(rc.execute("SELECT version, computed::text, overlay::text FROM verist_load(%s, %s)",
                                 (W, run)).fetchone())
            ver = rc.execute("SELECT valid, reason FROM verist_verify_run(%s, %s)", (W, run)).fetchone()
        except psycopg.Error as e:
            changed.append("%s: %s" % (run, str(e).splitlines()[0]))
            continue
        if digest != v["digest"] or hist != v["history"] or st != v["state"] or not ver[0]:
            changed.append("%s: head %s -> %s, %d -> %d entries, state %s -> %s, verify %s"
                           % (run, v["digest"], digest, len(v["history"]), len(hist), v["state"], st, ver))
    n_moved = len(moved & set(live))
    report(not changed and n_moved > 0,
           "through the router every run keeps its ledger head, history, exact state and overlay, and verifies"
           " (%d runs, %d of them moved to another shard)" % (len(live), n_moved), changed)

    misplaced = []
    for run, v in sorted(retired.items()):
        where = [k for k, conn in enumerate(shards, 1)
                 if conn.execute("SELECT count(*) FROM verist_retired WHERE workflow_id = %s AND run_id = %s",
                                 (W, run)).fetchone()[0]]
        if where != [v["shard"]]:
            misplaced.append("%s: sealed on shard %d, seals now on %s" % (run, v["shard"], where))
    report(not misplaced, "every seal stayed on the shard that retired its run (%d seals; the seal chain is per"
           " database)" % len(retired), misplaced)

    broken = []
    for k, conn in enumerate(shards, 1):
        broken += ["shard %d: %r" % (k, tuple(r)) for r in conn.execute("SELECT * FROM verist_verify_all()")]
    report(not broken, "verist_verify_all() on every shard is empty after the moves: runs, ledgers, seal chains"
           " (%d shards)" % len(shards), broken)

    answers = []
    for run in sorted(retired):
        v = retired[run]
        home = shards[v["shard"] - 1]
        try:
            src = tuple(home.execute("SELECT valid, reason FROM verist_verify_run(%s, %s)", (W, run)).fetchone())
            digest = list(home.execute("SELECT seq, hash FROM verist_run_digest(%s, %s)", (W, run)).fetchone())
        except psycopg.Error as e:
            src, digest = e.sqlstate, None
        try:
            got = tuple(rc.execute("SELECT valid, reason FROM verist_verify_run(%s, %s)", (W, run)).fetchone())
        except psycopg.Error as e:
            got = e.sqlstate
        want = "VRN01" if run in moved else (True, "retired")
        if src != (True, "retired") or digest != v["digest"] or got != want:
            answers.append("%s (%s): router %r, its shard %r, digest %s (was %s)"
                           % (run, "moved" if run in moved else "not moved", got, src, digest, v["digest"]))
    report(not answers and (moved & set(retired)),
           "a retired run: its shard says 'retired' with the sealed head; through the router, 'retired' while its"
           " partition stays, not_found (VRN01) once it moved (%d of %d moved)"
           % (len(moved & set(retired)), len(retired)), answers)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["make", "check"])
    ap.add_argument("--router", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("shards", nargs="+")
    args = ap.parse_args()
    rc = psycopg.connect(args.router, autocommit=True)
    shards = [psycopg.connect(d, autocommit=True) for d in args.shards]
    return make(args, rc, shards) if args.mode == "make" else check(args, rc, shards)


if __name__ == "__main__":
    sys.exit(main())
