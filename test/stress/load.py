#!/usr/bin/env python3
"""Load generator for verist: concurrent clients racing on a few runs.

    load.py run   --logdir DIR --clients N --seconds S [--runs R] [--seed X]
    load.py drain --logdir DIR [--timeout S]
    load.py hold  --logdir DIR --owner NAME [--max N] [--lease-ms MS]

The server is found through the libpq environment (PGHOST, PGPORT, ...).

Every client is its own process with its own connection in autocommit mode, so
each verist call is one transaction.  Each client appends to its own JSON-lines
log in DIR: a "begin" record (k="b") with the call's arguments before the
call, and an "end" record (k="e") after it with the outcome:

    r="ok"   acknowledged: the call returned, so its transaction committed;
    r="err"  refused with SQLSTATE "s" (nothing may have been written);
    r="unk"  outcome unknown: the connection was lost mid-call.

A begin record without an end record (a client killed mid-call) is unknown
too.  check.py compares these logs with the database.  Step ids are unique per
commit ("s-<client>-<seq>"), and every commit's output is {step_id: the
version it produces}: since a commit only ever adds keys to `computed`, the
run's state keeps a record of exactly which commits succeeded.
"""
import argparse
import datetime
import json
import multiprocessing
import os
import random
import sys
import time

import psycopg
from psycopg.types.json import Jsonb

# SQLSTATE classes that mean the connection (not the call) failed: the call's
# outcome is unknown.  57014 (statement timeout) is deliberately not here: a
# call that hangs is a finding, not a crash.
LOST_STATES = ("57P01", "57P02", "57P03")

WORKFLOW = "stress"


def lost_connection(exc, conn):
    state = getattr(exc, "sqlstate", None)
    if conn is None or conn.broken or conn.closed:
        return True
    return state is None or state.startswith("08") or state in LOST_STATES


def connect(deadline):
    """Connect, retrying while the server is down, until the deadline."""
    while True:
        try:
            return psycopg.connect(autocommit=True, connect_timeout=3,
                                   options="-c statement_timeout=60000")
        except psycopg.Error:
            if time.time() > deadline:
                return None
            time.sleep(0.2)


class Logger:
    """Append-only JSON-lines log, one line per record, flushed at once."""

    def __init__(self, path, name):
        self.f = open(path, "a", buffering=1)
        self.name = name
        self.seq = 0

    def write(self, rec):
        self.f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self.f.flush()


class Session:
    """One connection that survives server restarts; logs every call."""

    def __init__(self, log, deadline):
        self.log = log
        self.deadline = deadline
        self.conn = None

    def ensure(self):
        if self.conn is None or self.conn.closed or self.conn.broken:
            if self.conn is not None:
                try:
                    self.conn.close()
                except psycopg.Error:
                    pass
            self.conn = connect(self.deadline + 30)
        return self.conn is not None

    def read(self, sql, params):
        """A read whose outcome matters to nobody: None if it failed."""
        if not self.ensure():
            return None
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        except psycopg.Error:
            return None

    def call(self, op, sql, params, **args):
        """Run one logged call; return (outcome, rows-or-sqlstate)."""
        self.log.seq += 1
        n = self.log.seq
        self.log.write(dict(k="b", c=self.log.name, n=n, op=op, t=time.time(), **args))
        if not self.ensure():
            self.log.write(dict(k="e", c=self.log.name, n=n, r="unk", msg="no connection"))
            return "unk", None
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, params)
                rows = cur.fetchall()
        except psycopg.Error as exc:
            state = getattr(exc, "sqlstate", None)
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if lost_connection(exc, self.conn):
                self.log.write(dict(k="e", c=self.log.name, n=n, r="unk", s=state, msg=msg))
                return "unk", None
            self.log.write(dict(k="e", c=self.log.name, n=n, r="err", s=state, msg=msg))
            return "err", state
        return "ok", (n, rows)

    def done(self, n, **result):
        self.log.write(dict(k="e", c=self.log.name, n=n, r="ok", t=time.time(), **result))


def iso(ts):
    return ts.isoformat()


class Client:
    def __init__(self, idx, args, deadline):
        self.idx = idx
        self.name = "c%d" % idx
        self.rng = random.Random(args.seed * 7919 + idx)
        self.runs = ["run-%d" % i for i in range(args.runs)]
        self.log = Logger(os.path.join(args.logdir, "client-%d.jsonl" % idx), self.name)
        self.s = Session(self.log, deadline)
        self.deadline = deadline
        self.acked_plain = []       # (run, step, events, commands) to replay
        self.seen_ids = []          # outbox ids this client has leased
        self.ops = [
            (30, self.op_commit_fresh),
            (8, self.op_commit_race),
            (6, self.op_commit_stale),
            (2, self.op_commit_create),
            (3, self.op_commit_retry),
            (8, self.op_overlay),
            (10, self.op_resolve),
            (30, self.op_lease),
            (3, self.op_intruder),
        ]

    def run(self):
        total = sum(w for w, _ in self.ops)
        while time.time() < self.deadline:
            pick = self.rng.uniform(0, total)
            for w, fn in self.ops:
                pick -= w
                if pick <= 0:
                    fn()
                    break

    # ---- commits -------------------------------------------------------

    def version_of(self, run):
        rows = self.s.read("SELECT version FROM verist_load(%s, %s)", (WORKFLOW, run))
        if rows is None:
            return None
        return rows[0][0] if rows else 0

    def make_events(self, step):
        events = []
        for i in range(self.rng.choice([0, 1, 1, 2, 3])):
            e = {"type": "ev%d" % i}
            r = self.rng.random()
            if r < 0.6:
                e["payload"] = {"step": step, "i": i}
            elif r < 0.7:
                e["payload"] = None
            if self.rng.random() < 0.3:
                e["llmTrace"] = {
                    "model": "stress-model", "inputHash": "in-%s-%d" % (step, i),
                    "outputHash": "out-%s-%d" % (step, i),
                    "promptTokens": self.rng.randint(0, 500),
                    "completionTokens": self.rng.randint(0, 500),
                    "durationMs": round(self.rng.uniform(0, 900), 3)}
                if self.rng.random() < 0.5:
                    e["llmTrace"]["input"] = {"prompt": "p%d" % i}
                    e["llmTrace"]["output"] = "answer %d" % i
            events.append(e)
        return events

    def make_commands(self, step):
        cmds = []
        for j in range(self.rng.choice([0, 0, 1, 1, 2, 3])):
            r = self.rng.random()
            if r < 0.4:
                cmds.append({"type": "invoke", "step": "next",
                             "input": {"from": step, "j": j, "x": 1.5e3, "t": "ünï ☃"}})
            elif r < 0.5:
                cmds.append({"type": "fanout", "step": "many",
                             "inputs": [{"from": step, "j": j}, j, None]})
            else:
                cmds.append({"type": "emit", "topic": "topic-%d" % (j % 2),
                             "payload": {"from": step, "j": j}})
        r = self.rng.random()
        if r < 0.09:
            review = {"type": "review", "reason": "check %s" % step}
            if self.rng.random() < 0.7:
                review["payload"] = {"step": step}
            cmds.insert(self.rng.randrange(len(cmds) + 1), review)
        elif r < 0.15:
            suspend = {"type": "suspend", "reason": "wait %s" % step}
            if self.rng.random() < 0.7:
                suspend["checkpoint"] = {"step": step, "at": self.rng.randint(0, 9)}
            if self.rng.random() < 0.5:
                suspend["resumeStep"] = "resume-%s" % step
            cmds.insert(self.rng.randrange(len(cmds) + 1), suspend)
        return cmds

    def commit(self, mode, run, expected, step=None, events=None, commands=None):
        """mode: fresh/race/create (may succeed), stale/retry (must fail)."""
        if step is None:
            step = "s-%s-%d" % (self.name, self.log.seq + 1)
            events = self.make_events(step)
            commands = self.make_commands(step)
        output = {step: expected + 1}
        out, res = self.s.call(
            "commit",
            "SELECT version FROM verist_commit(%s, %s, %s, %s, %s, %s, %s)",
            (WORKFLOW, run, step, expected, Jsonb(output), Jsonb(events), Jsonb(commands)),
            mode=mode, run=run, step=step, expected=expected,
            events=events, commands=commands)
        if out == "ok":
            n, rows = res
            self.s.done(n, version=rows[0][0])
            blocking = any(c["type"] in ("review", "suspend") for c in commands)
            if commands and not blocking and mode != "retry":
                self.acked_plain.append((run, step, events, commands))

    def op_commit_fresh(self):
        run = self.rng.choice(self.runs)
        v = self.version_of(run)
        if v is not None:
            self.commit("fresh", run, v)

    def op_commit_race(self):
        # Read, then dawdle so that another client commits in between.
        run = self.rng.choice(self.runs[:2])
        v = self.version_of(run)
        if v is not None:
            time.sleep(self.rng.uniform(0, 0.02))
            self.commit("race", run, v)

    def op_commit_stale(self):
        run = self.rng.choice(self.runs)
        v = self.version_of(run)
        if v is not None and v >= 2:
            self.commit("stale", run, v - self.rng.randint(1, min(v - 1, 3)))

    def op_commit_create(self):
        self.commit("create", self.rng.choice(self.runs), 0)

    def op_commit_retry(self):
        # A runner retrying an acknowledged step: its commands are already
        # in the outbox, so the commit must be refused as a whole.
        if not self.acked_plain:
            return
        run, step, events, commands = self.rng.choice(self.acked_plain)
        v = self.version_of(run)
        if v:
            self.commit("retry", run, v, step, events, commands)

    # ---- overlay and blocks --------------------------------------------

    def op_overlay(self):
        run = self.rng.choice(self.runs)
        key = "o-%s" % self.name
        value = self.log.seq + 1
        out, res = self.s.call(
            "overlay", "SELECT version FROM verist_set_overlay(%s, %s, %s)",
            (WORKFLOW, run, Jsonb({key: value})), run=run, key=key, value=value)
        if out == "ok":
            self.s.done(res[0], version=res[1][0][0])

    def op_resolve(self):
        run = self.rng.choice(self.runs)
        # Both keys: whichever block type is active by the time the call
        # runs, the resolution is valid (extra keys are dropped).
        resolution = {"approved": self.rng.random() < 0.6,
                      "resumeData": {"by": self.name, "n": self.log.seq + 1}}
        out, res = self.s.call(
            "resolve",
            "SELECT id, type, step_id, resolution FROM verist_resolve_block(%s, %s, %s)",
            (WORKFLOW, run, Jsonb(resolution)), run=run, resolution=resolution)
        if out == "ok":
            n, rows = res
            self.s.done(n, blocks=[dict(id=r[0], type=r[1], step=r[2], resolution=r[3])
                                   for r in rows])

    # ---- outbox --------------------------------------------------------

    def lease(self, owner, max_entries, ms):
        out, res = self.s.call(
            "lease",
            "SELECT id, step_id, lease_expires_at FROM verist_lease_outbox(%s, %s, %s)",
            (owner, max_entries, datetime.timedelta(milliseconds=ms)),
            owner=owner, max=max_entries, ms=ms)
        if out != "ok":
            return []
        n, rows = res
        self.s.done(n, rows=[[r[0], r[1], iso(r[2])] for r in rows])
        return [r[0] for r in rows]

    def mark(self, op, oid, owner):
        if op == "dispatched":
            sql, params = "SELECT verist_mark_dispatched(%s, %s)", (oid, owner)
        else:
            sql = "SELECT verist_mark_failed(%s, %s, %s)"
            params = (oid, owner, "failure by %s" % owner)
        out, res = self.s.call(op, sql, params, id=oid, owner=owner)
        if out == "ok":
            self.s.done(res[0])

    def batch(self, ids, owner):
        out, res = self.s.call(
            "batch", "SELECT * FROM verist_mark_dispatched_batch(%s, %s)",
            (ids, owner), ids=ids, owner=owner)
        if out == "ok":
            n, rows = res
            self.s.done(n, done=[r[0] for r in rows])

    def op_lease(self):
        owner = "d-%s-%d" % (self.name, self.log.seq + 1)
        ms = self.rng.choice([100, 200, 400, 800, 1500])
        ids = self.lease(owner, self.rng.randint(1, 4), ms)
        if not ids:
            return
        self.seen_ids.extend(ids)
        del self.seen_ids[:-200]
        # Sometimes finish only after the lease ran out: the mark then
        # succeeds unless somebody else leased the row in between.
        r = self.rng.random()
        if r < 0.15:
            time.sleep(ms / 1000.0 + 0.05)
        else:
            time.sleep(self.rng.uniform(0, 0.05))
        r = self.rng.random()
        if r < 0.45:
            for oid in ids:
                self.mark("dispatched", oid, owner)
        elif r < 0.7:
            extra = [self.rng.choice(self.seen_ids)] if self.rng.random() < 0.5 else []
            self.batch(ids + extra, owner)
        elif r < 0.85:
            self.mark("failed", ids[0], owner)
            for oid in ids[1:]:
                self.mark("dispatched", oid, owner)
        # else: abandon the lease; it expires and someone else takes over.

    def op_intruder(self):
        # Finalising a row one never leased must always be refused.
        if not self.seen_ids:
            return
        oid = self.rng.choice(self.seen_ids)
        owner = "intruder-%s-%d" % (self.name, self.log.seq + 1)
        if self.rng.random() < 0.7:
            self.mark("dispatched", oid, owner)
        else:
            self.mark("failed", oid, owner)


def client_main(idx, args, deadline):
    Client(idx, args, deadline).run()


def cmd_run(args):
    os.makedirs(args.logdir, exist_ok=True)
    start = time.time()
    deadline = start + args.seconds
    with open(os.path.join(args.logdir, "meta-run.json"), "w") as f:
        json.dump(dict(workflow=WORKFLOW, runs=args.runs, clients=args.clients,
                       seconds=args.seconds, seed=args.seed, start=start), f)
    procs = [multiprocessing.Process(target=client_main, args=(i, args, deadline))
             for i in range(args.clients)]
    for p in procs:
        p.start()
    status = 0
    for p in procs:
        # A client stuck in a call past this point is a hang: kill it, and
        # its open call shows up in the log as unknown.
        p.join(max(1, deadline + 90 - time.time()))
        if p.is_alive():
            print("load: client pid %d hung, killing it" % p.pid, file=sys.stderr)
            p.kill()
            p.join()
            status = 1
        elif p.exitcode != 0:
            print("load: client pid %d exited with %s" % (p.pid, p.exitcode), file=sys.stderr)
            status = 1
    with open(os.path.join(args.logdir, "meta-run-end.json"), "w") as f:
        json.dump(dict(end=time.time(), status=status), f)
    return status


def cmd_drain(args):
    """Lease everything with fresh owners until nothing is pending or leased."""
    tag = "drain-%d" % os.getpid()
    log = Logger(os.path.join(args.logdir, tag + ".jsonl"), tag)
    deadline = time.time() + args.timeout
    s = Session(log, deadline)
    k = 0
    while time.time() < deadline:
        k += 1
        owner = "%s-%d" % (tag, k)
        out, res = s.call(
            "lease",
            "SELECT id, step_id, lease_expires_at FROM verist_lease_outbox(%s, %s, %s)",
            (owner, 100, datetime.timedelta(seconds=5)), owner=owner, max=100, ms=5000)
        if out != "ok":
            time.sleep(0.2)
            continue
        n, rows = res
        s.done(n, rows=[[r[0], r[1], iso(r[2])] for r in rows])
        if rows:
            ids = [r[0] for r in rows]
            out, res = s.call("batch", "SELECT * FROM verist_mark_dispatched_batch(%s, %s)",
                              (ids, owner), ids=ids, owner=owner)
            if out == "ok":
                s.done(res[0], done=[r[0] for r in res[1]])
            continue
        left = s.read("SELECT count(*) FILTER (WHERE status = 'pending'),"
                      " count(*) FILTER (WHERE status = 'leased'),"
                      " extract(epoch FROM min(lease_expires_at) FILTER (WHERE status = 'leased')"
                      "   - clock_timestamp())"
                      " FROM verist_outbox", ())
        if left is None:
            time.sleep(0.2)
            continue
        pending, leased, wait = left[0]
        if pending == 0 and leased == 0:
            print("drain: outbox settled after %d leases" % k)
            return 0
        time.sleep(min(max(float(wait or 0) + 0.02, 0.02), 5))
    print("drain: timed out with work left", file=sys.stderr)
    return 1


def cmd_hold(args):
    """Lease rows and walk away (the crash run holds leases across a crash)."""
    log = Logger(os.path.join(args.logdir, "hold.jsonl"), "hold-" + args.owner)
    s = Session(log, time.time() + 10)
    out, res = s.call(
        "lease", "SELECT id, step_id, lease_expires_at FROM verist_lease_outbox(%s, %s, %s)",
        (args.owner, args.max, datetime.timedelta(milliseconds=args.lease_ms)),
        owner=args.owner, max=args.max, ms=args.lease_ms, hold=True)
    if out == "ok":
        s.done(res[0], rows=[[r[0], r[1], iso(r[2])] for r in res[1]])
        print("hold: %s leased %d rows for %d ms" % (args.owner, len(res[1]), args.lease_ms))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--logdir", required=True)
    r.add_argument("--clients", type=int, default=4)
    r.add_argument("--seconds", type=float, default=20)
    r.add_argument("--runs", type=int, default=3)
    r.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    d = sub.add_parser("drain")
    d.add_argument("--logdir", required=True)
    d.add_argument("--timeout", type=float, default=60)
    h = sub.add_parser("hold")
    h.add_argument("--logdir", required=True)
    h.add_argument("--owner", required=True)
    h.add_argument("--max", type=int, default=5)
    h.add_argument("--lease-ms", type=int, default=3000)
    args = ap.parse_args()
    return {"run": cmd_run, "drain": cmd_drain, "hold": cmd_hold}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
