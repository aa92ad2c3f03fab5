#!/usr/bin/env python3
"""Load on a sharded verist, every acknowledged call logged, and its checker.

    load.py run   --router DSN --logdir DIR --seconds S [--clients N] [--runs R]
                  [--shard DSN ...] [--router-dispatcher] [--router-tailer] [--notify]
    load.py check --router DSN --logdir DIR --shard DSN ... [--dispatch] [--tail]
                  [--expect-loss]

run: N committer processes commit through the router (each its own runs, R
of them, so it knows every expected version), one event or two and one emit
command per commit.  Every commit is logged before it is sent ("b") and
after it returns ("e"): r="ok" with the returned chain head (an anchor),
r="err" with a SQLSTATE verist refuses with (nothing written), or
r="doubt" -- the connection dropped, the server went read-only (25006), or
the commit returned with PostgreSQL's WARNING that its wait for the
synchronous standby was cancelled: it may or may not be there.  After a
doubt the committer reloads the run and goes on from what it finds.  With
--shard, one dispatcher per shard connected directly (LISTEN verist_outbox,
lease, verist_mark_dispatched_batch) and one tailer per shard
(verist_read_events from the shard's own cursor) run too; --router-dispatcher
and --router-tailer add a dispatcher and a tailer through the router (its
verist_lease_outbox shares max_entries between the shards, its
verist_mark_dispatched_batch splits the ids; its verist_read_events is routed
by the cursor, one cursor per shard).  Each process writes its own
JSON-lines log in DIR.

check: proves from the logs and the shards (DSNs of their current primaries,
in shard order):
  * every acknowledged commit is there: its step in the run's state at its
    version, its events, its outbox row; no run is half-committed (version =
    number of steps) -- with --expect-loss this must fail (a control run);
  * every run is on the shard the router says, every id names its shard;
  * every chain verifies on every shard (verist_verify_all);
  * --dispatch: every outbox row was delivered exactly once, by whichever
    dispatcher, and is dispatched;
  * --tail: every tailer saw every event of its shard exactly once, ids
    increasing per cursor, seq increasing per run.
Writes anchors.csv (workflow_id, run_id, seq, hash of every acknowledged
commit: the event chain's head it returned) and, with verist 0.4.0,
ledger-anchors.csv (the ledger's head it returned) for verify_shards.py.  Prints "ok - ..." / "not ok - ..." lines.
"""
import argparse
import csv
import glob
import json
import multiprocessing
import os
import random
import select
import sys
import time

import psycopg

WORKFLOW = "scale"
REFUSALS = {"VRC01", "VRC02", "VRC03", "VRC04", "VRN01", "VRS01", "VRP01"}
SYNC_CANCELLED = "canceling wait for synchronous replication"


def log_open(logdir, name):
    f = open(os.path.join(logdir, name + ".jsonl"), "a", buffering=1)

    def write(**rec):
        f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        f.flush()
    return write


def connect(dsn, deadline, **kw):
    while True:
        try:
            return psycopg.connect(dsn, autocommit=True, connect_timeout=3, **kw)
        except psycopg.Error:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


# ---------------------------------------------------------------- committers

def committer(idx, args, deadline):
    rng = random.Random(args.seed * 1000 + idx)
    write = log_open(args.logdir, "commit-%d" % idx)
    runs = {"%sc%d-r%d" % (args.tag, idx, j): 0 for j in range(args.runs)}
    warnings = []
    conn = None
    n = 0
    while time.time() < deadline:
        if conn is None or conn.closed or conn.broken:
            try:
                conn = connect(args.router, deadline + 20)
                conn.add_notice_handler(lambda d: warnings.append(d.message_primary or ""))
                # after a doubt: what does each run hold now?
                for run in runs:
                    row = conn.execute("SELECT version FROM verist_load(%s, %s)", (WORKFLOW, run)).fetchone()
                    runs[run] = row[0] if row else 0
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
                if time.time() > deadline + 20:
                    break
                time.sleep(0.2)
                continue
        run = rng.choice(list(runs))
        v = runs[run]
        n += 1
        step = "s-%d-%d" % (idx, n)
        events = [{"type": "ev", "payload": {"step": step, "i": i}} for i in range(rng.choice([1, 1, 2]))]
        command = {"type": "emit", "topic": "t", "payload": {"step": step}}
        write(k="b", n=n, run=run, step=step, v=v + 1, ne=len(events))
        del warnings[:]
        try:
            # (verist 0.4.0: also the ledger's head, the anchor of the whole run)
            row = conn.execute(
                "SELECT c.version, c.chain_seq, c.chain_hash, to_jsonb(c)->>'ledger_seq', to_jsonb(c)->>'ledger_hash'"
                " FROM verist_commit(%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb) AS c",
                (WORKFLOW, run, step, v, json.dumps({step: v + 1}), json.dumps(events),
                 json.dumps([command]))).fetchone()
        except psycopg.Error as e:
            state = e.sqlstate
            if state in REFUSALS and not conn.broken:
                write(k="e", n=n, r="err", s=state)
                if state in ("VRC01", "VRC02"):
                    row = conn.execute("SELECT version FROM verist_load(%s, %s)", (WORKFLOW, run)).fetchone()
                    runs[run] = row[0] if row else 0
            else:
                write(k="e", n=n, r="doubt", s=state, msg=str(e).splitlines()[0][:200] if str(e) else "")
                try:
                    conn.close()
                except psycopg.Error:
                    pass
                conn = None
                time.sleep(0.05)
            continue
        if any(SYNC_CANCELLED in w for w in warnings):
            write(k="e", n=n, r="doubt", s="01000", msg="sync wait cancelled")
            runs[run] = row[0]
            continue
        write(k="e", n=n, r="ok", ver=row[0], seq=row[1], hash=row[2],
              **({"ls": int(row[3]), "lh": row[4]} if row[3] is not None else {}))
        runs[run] = row[0]
        if args.pause:
            time.sleep(args.pause)


# --------------------------------------------------------------- dispatchers

def dispatcher(name, dsn, via_router, args, deadline, stop_at):
    write = log_open(args.logdir, "dispatch-" + name)
    conn = connect(dsn, deadline)
    owner = "d-" + name
    if not via_router:
        conn.execute("LISTEN verist_outbox")
    idle_since = None
    while True:
        try:
            rows = conn.execute("SELECT id, command FROM verist_lease_outbox(%s, %s, '60 seconds')",
                                (owner, 40)).fetchall()
            if rows:
                ids = [r[0] for r in rows]
                for r in rows:
                    write(id=r[0], step=(r[1].get("payload") or {}).get("step"))
                done = [r[0] for r in conn.execute(
                    "SELECT * FROM verist_mark_dispatched_batch(%s, %s)", (ids, owner)).fetchall()]
                if sorted(done) != sorted(ids):
                    write(error="batch finalised %d of %d" % (len(done), len(ids)))
                idle_since = None
                continue
        except psycopg.Error as e:
            write(error="%s %s" % (e.sqlstate, str(e).splitlines()[0][:200]))
            time.sleep(0.2)
            try:
                conn.close()
            except psycopg.Error:
                pass
            conn = connect(dsn, deadline + 30)
            if not via_router:
                conn.execute("LISTEN verist_outbox")
            continue
        # nothing leasable: after the load has stopped, stop once idle 2 s
        now = time.time()
        if now > stop_at.value:
            idle_since = idle_since or now
            if now - idle_since > 2:
                return
        if via_router:
            time.sleep(0.1)
        else:
            # a wake-up (or 0.5 s) and lease again; the lease reads the notification
            select.select([conn.fileno()], [], [], 0.5)


# ------------------------------------------------------------------- tailers

def tailer(name, dsn, cursors, args, deadline, stop_at):
    """cursors: {shard: first cursor}; one cursor per shard, all on one connection."""
    write = log_open(args.logdir, "tail-" + name)
    conn = connect(dsn, deadline)
    cur = dict(cursors)
    idle = {k: 0 for k in cur}
    while True:
        got_any = False
        for k in cur:
            try:
                rows = conn.execute("SELECT id, run_id, seq FROM verist_read_events(%s, 200)",
                                    (cur[k],)).fetchall()
            except psycopg.Error as e:
                write(error="%s %s" % (e.sqlstate, str(e).splitlines()[0][:200]))
                time.sleep(0.2)
                try:
                    conn.close()
                except psycopg.Error:
                    pass
                conn = connect(dsn, deadline + 30)
                continue
            for r in rows:
                write(shard=k, id=r[0], run=r[1], seq=r[2])
            if rows:
                cur[k] = rows[-1][0]
                got_any = True
        if not got_any:
            if time.time() > stop_at.value + 2:
                return
            time.sleep(0.1)


def shard_cursor(k):
    return k << 48


def cmd_run(args):
    os.makedirs(args.logdir, exist_ok=True)
    start = time.time()
    deadline = start + args.seconds
    stop_at = multiprocessing.Value("d", deadline + 3600)
    procs = [multiprocessing.Process(target=committer, args=(i, args, deadline)) for i in range(args.clients)]
    side = []
    for k, dsn in enumerate(args.shard, 1):
        side.append(multiprocessing.Process(target=dispatcher, args=("shard%d" % k, dsn, False, args, deadline, stop_at)))
        side.append(multiprocessing.Process(target=tailer, args=("shard%d" % k, dsn, {k: shard_cursor(k)}, args, deadline, stop_at)))
    if args.router_dispatcher:
        side.append(multiprocessing.Process(target=dispatcher, args=("router", args.router, True, args, deadline, stop_at)))
    if args.router_tailer:
        cursors = {k: shard_cursor(k) for k in range(1, len(args.shard) + 1)}
        side.append(multiprocessing.Process(target=tailer, args=("router", args.router, cursors, args, deadline, stop_at)))
    for p in procs + side:
        p.start()
    for p in procs:
        p.join()
    stop_at.value = time.time()
    for p in side:
        p.join(120)
        if p.is_alive():
            p.terminate()
            print("load.py: a dispatcher or tailer did not finish", file=sys.stderr)
            return 1
    bad = [p for p in procs + side if p.exitcode != 0]
    print("# load: %d committers, %d dispatchers/tailers, %.1f s" % (len(procs), len(side), time.time() - start))
    return 1 if bad else 0


# ------------------------------------------------------------------- checker

def read_logs(logdir, prefix):
    out = []
    for path in sorted(glob.glob(os.path.join(logdir, prefix + "*.jsonl"))):
        name = os.path.basename(path)[len(prefix):-len(".jsonl")]
        with open(path) as f:
            for line in f:
                try:
                    out.append((name, json.loads(line)))
                except ValueError:
                    pass
    return out


def commits_of(logdir):
    calls = {}
    for name, rec in read_logs(logdir, "commit-"):
        key = (name, rec["n"])
        if rec["k"] == "b":
            calls[key] = dict(rec, r="doubt")
        elif key in calls:
            calls[key].update(rec)
    return list(calls.values())


class Report:
    def __init__(self):
        self.failed = 0

    def check(self, ok, what, problems=()):
        print(("ok - " if ok else "not ok - ") + what, flush=True)
        for p in list(problems)[:5]:
            print("#   " + str(p))
        if not ok:
            self.failed += 1


def cmd_check(args):
    rep = Report()
    calls = commits_of(args.logdir)
    acked = [c for c in calls if c["r"] == "ok"]
    doubt = [c for c in calls if c["r"] == "doubt"]
    print("# commits: %d acknowledged, %d refused, %d in doubt"
          % (len(acked), sum(c["r"] == "err" for c in calls), len(doubt)))
    with open(os.path.join(args.logdir, "anchors.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workflow_id", "run_id", "seq", "hash"])
        for c in acked:
            w.writerow([WORKFLOW, c["run"], c["seq"], c["hash"]])
    with open(os.path.join(args.logdir, "ledger-anchors.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workflow_id", "run_id", "seq", "hash"])
        for c in acked:
            if "ls" in c:
                w.writerow([WORKFLOW, c["run"], c["ls"], c["lh"]])

    router = psycopg.connect(args.router, autocommit=True)
    shards = [psycopg.connect(d, autocommit=True) for d in args.shard]
    state, events, outbox, where = {}, {}, {}, {}
    bad_ids = []
    for k, conn in enumerate(shards, 1):
        for run, version, computed in conn.execute(
                "SELECT run_id, version, computed FROM verist_state WHERE workflow_id = %s", (WORKFLOW,)):
            state[run] = (version, computed)
            where.setdefault(run, []).append(k)
        for eid, run, step in conn.execute(
                "SELECT id, run_id, step_id FROM verist_events WHERE workflow_id = %s", (WORKFLOW,)):
            events.setdefault((run, step), []).append(eid)
            if eid >> 48 != k:
                bad_ids.append("event %d on shard %d" % (eid, k))
        for oid, run, step, status in conn.execute(
                "SELECT id, run_id, step_id, status FROM verist_outbox WHERE workflow_id = %s", (WORKFLOW,)):
            outbox[oid] = (run, step, status, k)
            if oid >> 48 != k:
                bad_ids.append("outbox %d on shard %d" % (oid, k))

    lost = []
    for c in acked:
        s = state.get(c["run"])
        if s is None or s[0] < c["ver"] or s[1].get(c["step"]) != c["ver"]:
            lost.append("commit %s of %s (version %d) is not in the state" % (c["step"], c["run"], c["ver"]))
        elif len(events.get((c["run"], c["step"]), [])) != c["ne"]:
            lost.append("commit %s of %s: %d events, %d acknowledged"
                        % (c["step"], c["run"], len(events.get((c["run"], c["step"]), [])), c["ne"]))
        elif not any(o[0] == c["run"] and o[1] == c["step"] for o in outbox.values()):
            lost.append("commit %s of %s: its command is not in the outbox" % (c["step"], c["run"]))
    if args.expect_loss:
        rep.check(len(lost) > 0, "the control detects lost acknowledged commits (%d of %d lost)"
                  % (len(lost), len(acked)), lost[:3])
    else:
        rep.check(not lost and len(acked) > 0, "no acknowledged commit lost (%d acknowledged, %d in doubt)"
                  % (len(acked), len(doubt)), lost)

    half = []
    for run, (version, computed) in state.items():
        steps = {k for k in computed}
        if len(steps) != version:
            half.append("run %s: version %d, %d steps" % (run, version, len(steps)))
        for step in steps:
            if (run, step) not in events or not any(o[0] == run and o[1] == step for o in outbox.values()):
                half.append("run %s: step %s without its events or command" % (run, step))
    rep.check(not half, "no run is half-committed (%d runs, %d events, %d outbox rows)"
              % (len(state), sum(len(v) for v in events.values()), len(outbox)), half)

    misplaced = []
    for run, ks in where.items():
        want = router.execute("SELECT verist_proxy_shard_of_run(%s, %s)", (WORKFLOW, run)).fetchone()[0]
        if ks != [want]:
            misplaced.append("run %s on shards %s, router says %d" % (run, ks, want))
    rep.check(not misplaced and len({k for ks in where.values() for k in ks}) == len(shards),
              "every run is on the shard the router names, and every shard holds runs", misplaced)
    rep.check(not bad_ids, "every outbox and event id names its shard (id >> 48)", bad_ids)

    broken = []
    for k, conn in enumerate(shards, 1):
        for row in conn.execute("SELECT * FROM verist_verify_all()"):
            broken.append("shard %d: %r" % (k, row))
    rep.check(not broken, "every chain verifies on every shard (verist_verify_all)", broken)

    if args.dispatch:
        delivered = {}
        errors = []
        for name, rec in read_logs(args.logdir, "dispatch-"):
            if "error" in rec:
                errors.append("%s: %s" % (name, rec["error"]))
                continue
            delivered.setdefault(rec["id"], []).append(name)
        twice = ["outbox %d delivered by %s" % (i, by) for i, by in delivered.items() if len(by) > 1]
        missing = ["outbox %d (%s) never delivered" % (i, o[2]) for i, o in outbox.items() if i not in delivered]
        notdone = ["outbox %d is %s" % (i, o[2]) for i, o in outbox.items() if o[2] != "dispatched"]
        by = {}
        for i, names in delivered.items():
            by[names[0]] = by.get(names[0], 0) + 1
        print("# deliveries by dispatcher: %s" % json.dumps(by, sort_keys=True))
        rep.check(not twice and not missing and not notdone and not errors,
                  "every command delivered exactly once and dispatched (%d rows, per-shard and router dispatchers)"
                  % len(outbox), twice + missing + notdone + errors)
        rep.check(len(by) >= 2 and all(v > 0 for v in by.values()),
                  "every dispatcher delivered some commands (%s)" % ", ".join(sorted(by)))

    if args.tail:
        per_shard_events = {}
        for k, conn in enumerate(shards, 1):
            per_shard_events[k] = {r[0]: (r[1], r[2]) for r in conn.execute(
                "SELECT id, run_id, seq FROM verist_events")}
        tails = {}
        errors = []
        for name, rec in read_logs(args.logdir, "tail-"):
            if "error" in rec:
                errors.append("%s: %s" % (name, rec["error"]))
                continue
            tails.setdefault(name, {}).setdefault(rec["shard"], []).append(rec)
        for name in sorted(tails):
            problems = list(errors)
            for k, recs in sorted(tails[name].items()):
                ids = [r["id"] for r in recs]
                if ids != sorted(ids) or len(set(ids)) != len(ids):
                    problems.append("shard %d: ids not strictly increasing (a repeat or a step back)" % k)
                if set(ids) != set(per_shard_events[k]):
                    problems.append("shard %d: %d events read, %d on the shard, %d missed"
                                    % (k, len(set(ids)), len(per_shard_events[k]),
                                       len(set(per_shard_events[k]) - set(ids))))
                last = {}
                for r in recs:
                    if r["seq"] <= last.get(r["run"], 0):
                        problems.append("run %s: seq %d after %d" % (r["run"], r["seq"], last[r["run"]]))
                    last[r["run"]] = r["seq"]
            rep.check(not problems and set(tails[name]) <= set(per_shard_events),
                      "tailer %s read every event of %s exactly once, in id order, seq increasing per run (%d events)"
                      % (name, "shards " + ",".join(map(str, sorted(tails[name]))),
                         sum(len(v) for v in tails[name].values())), problems)
        expected = {"shard%d" % k for k in range(1, len(shards) + 1)}
        rep.check(expected <= set(tails), "a tailer ran for every shard (%s)" % ", ".join(sorted(tails)))
    return 1 if rep.failed else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["run", "check"])
    ap.add_argument("--router", required=True)
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--shard", action="append", default=[])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pause", type=float, default=0)
    ap.add_argument("--tag", default="", help="prefix of the run ids")
    ap.add_argument("--router-dispatcher", action="store_true")
    ap.add_argument("--router-tailer", action="store_true")
    ap.add_argument("--dispatch", action="store_true")
    ap.add_argument("--tail", action="store_true")
    ap.add_argument("--expect-loss", action="store_true")
    args = ap.parse_args()
    return cmd_run(args) if args.mode == "run" else cmd_check(args)


if __name__ == "__main__":
    sys.exit(main())
