#!/usr/bin/env python3
"""Crash retry: a commit whose acknowledgement was lost, retried after a crash.

    crash_retry.py --port P --pgdata DIR --pgbin DIR --log FILE
                   [--proxy-ports 5920-5949] [--cycles 2] [--seed N] [--plant NAME]

Each client talks to the server through its own proxy (proxy.py).  In each
cycle, at once:

  acked   a create (expected 0) and three updates (events with emit and
          invoke commands; a review with a deferred emit; a suspend) are
          sent with the proxy armed: the server runs each commit to the end
          -- CommandComplete and ReadyForQuery "idle" seen by the proxy --
          but the client never gets a byte of it
  blocked an update waits on the run's row, locked FOR UPDATE by another
          session, and a create waits at the primary key behind another
          session's uncommitted create of the same run: neither commits

Then the postmaster is killed with SIGKILL (fsync and synchronous_commit
on), every client must see its connection fail without an answer, and the
cluster is restarted.  The clients reconnect and retry exactly the same
verist_commit:

  acked    the commit survived the crash; the retry returns the stored row
           (version, computed, overlay, ledger_seq, chain_seq as stored) and
           writes nothing (row counts and an md5 of the state, events,
           ledger, outbox and blocks tables unchanged); a different commit
           for that expected version is a conflict (VRC02 for an update,
           VRC01 run_exists for a create) and writes nothing; the run
           verifies
  blocked  the commit is not there after the crash; the retry commits
           normally: the version moves once, exactly one ledger entry, its
           events and its outbox rows are written; a second retry is then
           answered from the ledger

A later cycle also retries a commit of an earlier cycle (the run has moved
on since): still the stored row.

--plant NAME breaks the client or the scenario so each check can be seen to
fail (see PLANTS).  Prints "ok - " / "not ok - " lines, then "N passed, M
failed".  The cluster must be one this test may kill and restart.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proxy import bind_free  # noqa: E402

PLANTS = {
    "no-swallow": "the proxy is never armed: the clients get their answers",
    "in-transaction": "the acked commits are sent inside BEGIN, never committed",
    "retry-other": "the retry sends another output",
    "other-same": "the 'different' commit is the stored one again",
    "sneak": "another session commits between the digests around a retry",
    "second-other": "the second retry of a blocked commit sends another output",
    "tamper": "the state row of each run is edited after its retry",
    "no-restart": "the cluster is not restarted (pg_ctl is given another directory)",
    "no-lock": "the blocked scenarios hold no lock: their commits go through",
}

WF = "ledger-crash"


def loads(text):
    return json.loads(text, parse_float=Decimal)


def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, Decimal)) and isinstance(b, (int, Decimal)):
        return Decimal(a) == Decimal(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


class Report:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, text, detail=None):
        if ok:
            self.passed += 1
            print("ok - " + text, flush=True)
        else:
            self.failed += 1
            print("not ok - " + text, flush=True)
            if detail:
                for line in str(detail).splitlines()[:6]:
                    print("#   " + line, flush=True)
        return ok


class Cluster:
    def __init__(self, args):
        self.pgdata, self.pgbin, self.log = args.pgdata, args.pgbin, args.log
        self.plant = args.plant

    def as_pg(self, cmd):
        if os.getuid() == 0:
            return subprocess.run(["su", "postgres", "-s", "/bin/bash", "-c", cmd],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return subprocess.run(["bash", "-c", cmd], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)

    def pm(self):
        with open(os.path.join(self.pgdata, "postmaster.pid")) as f:
            return int(f.readline())

    def kill9(self):
        """SIGKILL the postmaster alone, as the OOM killer would; wait for
        its backends to notice and exit (SIGKILL those that linger)."""
        pm = self.pm()
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pm)],
                             capture_output=True, text=True).stdout
        children = [int(x) for x in out.split()]
        os.kill(pm, signal.SIGKILL)
        for _ in range(100):
            alive = []
            for p in [pm] + children:
                try:
                    os.kill(p, 0)
                    alive.append(p)
                except ProcessLookupError:
                    pass
            if not alive:
                return
            time.sleep(0.1)
        for p in children:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)

    def start(self):
        pgdata = self.pgdata + ("-elsewhere" if self.plant == "no-restart" else "")
        for _ in range(5):
            r = self.as_pg("%s/pg_ctl -D %s -l %s -w -t 60 start" % (
                self.pgbin, pgdata, self.log))
            if r.returncode == 0:
                return True
            time.sleep(1)
        return False


class Scenario:
    """One client, its proxy and its commit."""

    def __init__(self, name, kind, run, args, expect_outbox):
        self.name, self.kind, self.run = name, kind, run
        self.args = args                  # step, expected, output, events, commands (texts)
        self.expect_outbox = expect_outbox
        self.proxy = None
        self.conn = None
        self.pid = None
        self.thread = None
        self.result = None                # ("row", row) or ("error", exc)
        self.holder = None                # the lock holder's connection
        self.stored = None                # the state row right after the commit

    @property
    def expected(self):
        return self.args["expected"]


class Test:
    def __init__(self, args):
        self.args = args
        self.plant = args.plant
        self.rng = random.Random(args.seed)
        self.report = Report()
        self.cluster = Cluster(args)
        self.direct = "host=127.0.0.1 port=%d user=postgres dbname=postgres" \
                      " sslmode=disable gssencmode=disable connect_timeout=10" % args.port
        lo, hi = (int(x) for x in args.proxy_ports.split("-"))
        self.ports = (lo, hi)
        self.nonce = "%d-%x" % (args.seed, random.SystemRandom().randrange(16 ** 6))
        self.history = []                 # (scenario, stored row) of earlier cycles
        self.checker = None

    # -- connections
    def connect(self, port=None, tries=1):
        dsn = self.direct if port is None else self.direct.replace(
            "port=%d" % self.args.port, "port=%d" % port)
        for i in range(tries):
            try:
                c = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)
                set_json_loads(loads, c)
                return c
            except psycopg.OperationalError:
                if i == tries - 1:
                    raise
                time.sleep(0.5)

    def q(self, sql, params=None):
        """A query on the checker's own direct connection (reopened after a crash)."""
        if self.checker is None or self.checker.closed:
            self.checker = self.connect(tries=20)
        try:
            return self.checker.execute(sql, params).fetchall()
        except psycopg.OperationalError:
            self.checker = self.connect(tries=20)
            return self.checker.execute(sql, params).fetchall()

    def digest(self):
        """Row counts and an md5 of every verist table: 'nothing written'."""
        return self.q(
            "SELECT (SELECT count(*) FROM verist_ledger) AS ledger,"
            " (SELECT count(*) FROM verist_events) AS events,"
            " (SELECT count(*) FROM verist_outbox) AS outbox,"
            " (SELECT count(*) FROM verist_blocks) AS blocks,"
            " md5((SELECT string_agg(t::text, '|' ORDER BY workflow_id, run_id) FROM verist_state t)"
            "  || (SELECT coalesce(string_agg(t::text, '|' ORDER BY id), '') FROM verist_events t)"
            "  || (SELECT coalesce(string_agg(t::text, '|' ORDER BY workflow_id, run_id, seq), '') FROM verist_ledger t)"
            "  || (SELECT coalesce(string_agg(t::text, '|' ORDER BY id), '') FROM verist_outbox t)"
            "  || (SELECT coalesce(string_agg(t::text, '|' ORDER BY id), '') FROM verist_blocks t)) AS md5"
        )[0]

    def state(self, run):
        rows = self.q("SELECT * FROM verist_state WHERE workflow_id = %s AND run_id = %s",
                      (WF, run))
        return rows[0] if rows else None

    def commit(self, conn, run, a):
        return conn.execute(
            "SELECT * FROM verist_commit(%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)",
            (WF, run, a["step"], a["expected"], a["output"], a["events"],
             a["commands"])).fetchone()

    # -- scenarios
    def value(self):
        return self.rng.choice([
            {"nested": {"deep": [1, {"x": "ünï 😀"}], "n": 12345678901234567890123}},
            [0.1, -2.5e-300, True, None, "q\"uote\n"], "日本語", 9007199254740993,
            {"__proto__": {"a": []}, "": "empty key"}, "\u2028"])

    def commit_args(self, run_version, commands, n_events=2):
        u = self.rng.randrange(10 ** 9)
        out = {"step_%d" % u: self.value(), "shared": self.value(), "cycle_u": u}
        events = [{"type": "crash-ev-%d" % i, "payload": {"v": self.value(), "u": u}}
                  for i in range(n_events)]
        return {"step": "step-%d" % u, "expected": run_version,
                "output": json.dumps(out, ensure_ascii=False),
                "events": json.dumps(events), "commands": json.dumps(commands)}

    def cmds(self, kinds):
        out = []
        for k in kinds:
            u = self.rng.randrange(10 ** 9)
            if k == "emit":
                out.append({"type": "emit", "topic": "t-%d" % u, "payload": {"u": u}})
            elif k == "invoke":
                out.append({"type": "invoke", "step": "next-%d" % u, "input": [u, "ü"]})
            elif k == "review":
                out.append({"type": "review", "reason": "check %d" % u, "payload": {"u": u}})
            elif k == "suspend":
                out.append({"type": "suspend", "reason": "wait %d" % u,
                            "checkpoint": {"u": u}, "resumeStep": "after-%d" % u})
        return out

    def ensure_run(self, run, min_version):
        """The run exists, has no active block and is at min_version at least."""
        with self.connect() as c:
            for b in c.execute("SELECT type FROM verist_get_block(%s, %s)", (WF, run)).fetchall():
                c.execute("SELECT verist_resolve_block(%s, %s, %s::jsonb)", (
                    WF, run, '{"approved": true}' if b["type"] == "review" else '{"resumeData": 1}'))
            st = self.state(run)
            v = st["version"] if st else 0
            while v < min_version:
                self.commit(c, run, self.commit_args(v, self.cmds(["emit"]), 1))
                v += 1
            return v

    def scenarios(self, cycle):
        sc = []
        create = "create-%s-c%d" % (self.nonce, cycle)
        sc.append(Scenario("acked create (expected 0, 2 events, emit + invoke)", "acked", create,
                           self.commit_args(0, self.cmds(["emit", "invoke"])), 2))
        for name, run, kinds, n_out in (
                ("acked update (2 events, emit + invoke)", "update", ["emit", "invoke"], 2),
                ("acked update with a review (and a deferred emit)", "review", ["emit", "review"], 1),
                ("acked update with a suspend (its emit discarded)", "suspend", ["suspend", "emit"], 0)):
            run = "%s-%s" % (run, self.nonce)
            v = self.ensure_run(run, self.rng.randint(1, 3))
            sc.append(Scenario(name, "acked", run, self.commit_args(v, self.cmds(kinds)), n_out))
        run = "blocked-%s" % self.nonce
        v = self.ensure_run(run, 1)
        sc.append(Scenario("blocked update (row locked by another session)", "blocked", run,
                           self.commit_args(v, self.cmds(["emit", "invoke"])), 2))
        run = "blocked-create-%s-c%d" % (self.nonce, cycle)
        sc.append(Scenario("blocked create (another session's create uncommitted)", "blocked",
                           run, self.commit_args(0, self.cmds(["emit"])), 1))
        return sc

    def free_proxy(self):
        return bind_free(self.args.port, *self.ports)

    # -- one cycle
    def start_client(self, s):
        s.proxy = self.free_proxy()
        s.conn = self.connect(s.proxy.port)
        s.pid = s.conn.info.backend_pid
        if s.kind == "blocked" and self.plant != "no-lock":
            s.holder = self.connect()
            s.holder.autocommit = False
            if s.expected == 0:
                s.holder.execute("SELECT verist_commit(%s, %s, 'holder', 0, '{\"holder\": 1}')",
                                 (WF, s.run))
            else:
                s.holder.execute("SELECT 1 FROM verist_state WHERE workflow_id = %s"
                                 " AND run_id = %s FOR UPDATE", (WF, s.run))
        if self.plant != "no-swallow":
            s.proxy.arm(b"verist_commit")

        def client():
            try:
                if s.kind == "acked" and self.plant == "in-transaction":
                    s.conn.execute("BEGIN")
                s.result = ("row", self.commit(s.conn, s.run, s.args))
            except Exception as e:        # the connection fails: outcome unknown
                s.result = ("error", e)

        s.thread = threading.Thread(target=client, daemon=True)
        s.thread.start()

    def wait_for(self, cond, seconds=15):
        end = time.time() + seconds
        while time.time() < end:
            if cond():
                return True
            time.sleep(0.05)
        return cond()

    def swallowed_conn(self, s):
        with s.proxy.lock:
            return next((c for c in s.proxy.conns if c.swallowing), None)

    def cycle(self, cycle):
        rep = self.report
        scen = self.scenarios(cycle)
        print("# cycle %d: %s" % (cycle, ", ".join(
            "%s %s@%d" % (s.kind, s.run, s.expected) for s in scen)), flush=True)
        before_states = {s.run: self.state(s.run) for s in scen}
        for s in scen:
            self.start_client(s)

        # the acked commits ran to the end on the server; the clients saw nothing
        for s in scen:
            if s.kind == "acked":
                self.wait_for(lambda: (c := self.swallowed_conn(s)) is not None
                              and "Z" in c.kinds(), 10)
                c = self.swallowed_conn(s)
                kinds = c.kinds() if c else ""
                z = [b for k, b in (c.swallowed if c else []) if k == "Z"]
                rep.check(c is not None and "C" in kinds and "E" not in kinds
                          and z[-1:] == [b"I"] and s.result is None,
                          "cycle %d, %s: the server completed and acknowledged the commit"
                          " (CommandComplete, ReadyForQuery idle), the client got none of it"
                          % (cycle, s.name),
                          "swallowed messages %r, ReadyForQuery status %r, client result %r"
                          % (kinds, z, s.result and s.result[0]))
                s.stored = self.state(s.run)
            else:
                waiting = self.wait_for(lambda: self.q(
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = %s"
                    " AND wait_event_type = 'Lock'", (s.pid,))[0]["n"] == 1, 10)
                rep.check(waiting and s.result is None,
                          "cycle %d, %s: the commit is waiting on a lock" % (cycle, s.name),
                          "client result %r" % (s.result,))

        t_kill = time.time()
        self.cluster.kill9()
        print("# cycle %d: postmaster killed with SIGKILL" % cycle, flush=True)
        for s in scen:
            s.thread.join(15)
        for s in scen:
            rep.check(s.result is not None and s.result[0] == "error"
                      and isinstance(s.result[1], psycopg.OperationalError),
                      "cycle %d, %s: the client's call failed without an answer" % (cycle, s.name),
                      "result %r" % (s.result,))
            s.proxy.close()
            if s.holder is not None:
                try:
                    s.holder.close()
                except Exception:
                    pass
        ok = self.cluster.start()
        rep.check(ok, "cycle %d: the cluster restarted after SIGKILL (%.1f s)" % (
            cycle, time.time() - t_kill))
        if not ok:
            return False

        for s in scen:
            if s.kind == "acked":
                self.check_acked(cycle, s)
            else:
                self.check_blocked(cycle, s, before_states[s.run])
        if self.history:
            self.check_old_retry(cycle)
        for s in scen:
            if s.stored is not None:
                self.history.append((s, s.stored))
        return True

    def retry(self, s, args, identical=True):
        """The client reconnects (through a fresh, unarmed proxy) and retries."""
        if identical and self.plant == "retry-other":
            args = dict(args, output=args["output"][:-1] + ', "other": 1}')
        p = self.free_proxy()
        try:
            with self.connect(p.port, tries=20) as c:
                try:
                    return ("row", self.commit(c, s.run, args))
                except psycopg.Error as e:
                    return ("error", e)
        finally:
            p.close()

    def check_acked(self, cycle, s):
        rep = self.report
        now = self.state(s.run)
        rep.check(s.stored is not None and now is not None
                  and now["version"] == s.expected + 1 and now["ledger_hash"] == s.stored["ledger_hash"],
                  "cycle %d, %s: the commit survived the crash (version %d)" % (
                      cycle, s.name, s.expected + 1),
                  "before the crash %r, after %r" % (
                      s.stored and s.stored["version"], now and now["version"]))
        before = self.digest()
        res = self.retry(s, s.args)
        if self.plant == "sneak":
            with self.connect() as c:
                self.commit(c, "sneak-%s-%d" % (self.nonce, self.rng.randrange(10 ** 9)),
                            self.commit_args(0, []))
        after = self.digest()
        row = res[1] if res[0] == "row" else None
        st = s.stored or {}
        rep.check(row is not None and all(same(row[k], st.get(k)) for k in
                                          ("version", "computed", "overlay", "ledger_seq",
                                           "chain_seq", "ledger_hash", "chain_hash")),
                  "cycle %d, %s: the identical retry returns the stored row (version %d)" % (
                      cycle, s.name, s.expected + 1),
                  "retry got %r; stored version %r" % (
                      res[1] if res[0] == "error" else {k: row[k] for k in ("version", "ledger_seq")},
                      st.get("version")))
        rep.check(before == after, "cycle %d, %s: the retry wrote nothing (%s)" % (
            cycle, s.name, ", ".join("%s %s" % (k, before[k]) for k in ("ledger", "events", "outbox", "blocks"))),
            "before %r\nafter  %r" % (dict(before), dict(after)))

        other = dict(s.args, output=json.dumps({"different": self.rng.randrange(10 ** 9)}))
        if self.plant == "other-same":
            other = dict(s.args)
        code = "VRC01" if s.expected == 0 else "VRC02"
        before = self.digest()
        res = self.retry(s, other, identical=False)
        after = self.digest()
        got = res[1].sqlstate if res[0] == "error" else "a row (version %s)" % res[1]["version"]
        rep.check(got == code and before == after,
                  "cycle %d, %s: a different commit for expected version %d gets %s and writes nothing"
                  % (cycle, s.name, s.expected, code), "got %s; wrote: %s" % (got, before != after))
        self.verify(cycle, s)

    def check_blocked(self, cycle, s, before_state):
        rep = self.report
        now = self.state(s.run)
        was = before_state["version"] if before_state else None
        rep.check((now["version"] if now else None) == was,
                  "cycle %d, %s: the commit is not there after the crash (version %s)" % (
                      cycle, s.name, was), "version now %r" % (now and now["version"]))
        before = self.digest()
        res = self.retry(s, s.args)
        after = self.digest()
        row = res[1] if res[0] == "row" else None
        n_events = len(loads(s.args["events"]))
        want = {"ledger": 1, "events": n_events, "outbox": s.expect_outbox, "blocks": 0}
        got = {k: after[k] - before[k] for k in want}
        out = loads(s.args["output"])
        exp_computed = out if s.expected == 0 else {**before_state["computed"], **out}
        rep.check(row is not None and row["version"] == s.expected + 1
                  and same(row["computed"], exp_computed) and got == want,
                  "cycle %d, %s: the retry commits normally: version %d, one ledger entry,"
                  " %d events, %d outbox rows" % (cycle, s.name, s.expected + 1, n_events,
                                                  s.expect_outbox),
                  "retry got %r; written %r, wanted %r" % (
                      res[1] if row is None else row["version"], got, want))
        before = self.digest()
        a = s.args
        if self.plant == "second-other":
            a = dict(a, output=a["output"][:-1] + ', "other": 1}')
        res2 = self.retry(s, a)
        rep.check(res2[0] == "row" and row is not None and res2[1]["version"] == row["version"]
                  and res2[1]["ledger_hash"] == row["ledger_hash"] and before == self.digest(),
                  "cycle %d, %s: a second retry is answered from the ledger" % (cycle, s.name),
                  "got %r" % (res2[1] if res2[0] == "error" else res2[1]["version"]))
        self.verify(cycle, s)

    def verify(self, cycle, s):
        if self.plant == "tamper":
            self.q("UPDATE verist_state SET computed = computed || '{\"tampered\": 1}'"
                   " WHERE workflow_id = %s AND run_id = %s RETURNING 1", (WF, s.run))
        v = self.q("SELECT * FROM verist_verify_run(%s, %s)", (WF, s.run))[0]
        self.report.check(v["valid"], "cycle %d, %s: the run verifies" % (cycle, s.name), dict(v))

    def check_old_retry(self, cycle):
        s, stored = self.rng.choice(self.history)
        before = self.digest()
        res = self.retry(s, s.args)
        row = res[1] if res[0] == "row" else None
        self.report.check(
            row is not None and row["version"] == stored["version"]
            and row["ledger_hash"] == stored["ledger_hash"] and before == self.digest(),
            "cycle %d: a retry of a cycle-%d commit (%s, run moved on to version %d) still"
            " returns its stored row" % (cycle, cycle - 1, s.name, self.state(s.run)["version"]),
            "got %r" % (res[1] if row is None else row["version"]))

    def run(self):
        print("# crash_retry: seed %d, %d cycles%s" % (
            self.args.seed, self.args.cycles,
            ", planted: " + PLANTS[self.plant] if self.plant else ""), flush=True)
        for i in range(1, self.args.cycles + 1):
            if not self.cycle(i):
                break
        rows = self.q("SELECT s.run_id, v.valid FROM verist_state s,"
                      " verist_verify_run(s.workflow_id, s.run_id) v WHERE s.workflow_id = %s", (WF,))
        self.report.check(rows and all(r["valid"] for r in rows),
                          "every run of the test verifies after %d crashes (%d runs)" % (
                              self.args.cycles, len(rows)),
                          [r["run_id"] for r in rows if not r["valid"]])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pgdata", required=True)
    ap.add_argument("--pgbin", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--proxy-ports", default="5920-5949")
    ap.add_argument("--cycles", type=int, default=2)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--plant", choices=sorted(PLANTS), default=None)
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10 ** 9)
    t = Test(args)
    t0 = time.time()
    try:
        t.run()
    except Exception as e:
        import traceback
        traceback.print_exc()
        t.report.check(False, "crash_retry ran to the end: %r" % e)
    print("# %.1f s" % (time.time() - t0))
    print("%d passed, %d failed" % (t.report.passed, t.report.failed))
    return 1 if t.report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
