#!/usr/bin/env python3
"""Fairness between workflows (0.5.0 lease modes): do a few small workflows
still drain quickly behind one workflow with a large backlog?

    fairness.py [--batch 10] [--dispatchers 4] [--big-runs 1000]
                [--big-per-run 100] [--repeats 3] [--timeout 30]
                [--oldest-timeout 15] [--lease-duration '30 seconds']

The server is found through the libpq environment (PGHOST, PGPORT, ...); the
database must have the extension, and the user must be a superuser (the
outbox is emptied with TRUNCATE between phases).

Load: workflow 'big' with big_runs x big_per_run pending commands (one
verist_commit per run, all in one statement), committed FIRST so that its ids
are the oldest; then 'small-1'..'small-9' with 10 runs of 10 commands each.

Each phase starts DISPATCHERS processes, each with its own autocommit
connection, that loop verist_lease_outbox(owner, batch, '30 seconds', mode)
then verist_mark_dispatched_batch(ids, owner), and note, per small workflow,
the wall-clock time (time.monotonic, after the mark call returned) at which
its commands were marked dispatched.  A phase ends as soon as every small
command has been marked (the big backlog is not drained), or at the timeout.
A small workflow's drain time is the time from the common start to its last
command marked.

Phases:
  alone    fair mode, the nine small workflows and nothing else (x repeats)
  fair     fair mode, behind the big backlog (x repeats; fresh small rows,
           the backlog is reloaded every time)
  oldest   oldest mode, behind the big backlog (once; it has to drain the
           backlog first, so it is cut short after --oldest-timeout seconds
           and its times are then lower bounds, marked "(>)")

The small workflows' drain times are a few tenths of a second, so each is
the median over the repeats.  Last, a per_run sanity check: leasing the nine
small workflows' 90 runs in mode per_run gives at most one command per run
per call, in id order.

For each workflow the median over the repeats is compared.  Prints "ok - " /
"not ok - " lines and a table; the suite counts them.
"""
import argparse
import multiprocessing
import statistics
import sys
import time

import psycopg

SMALL = ["small-%d" % i for i in range(1, 10)]
SMALL_RUNS = 10
SMALL_PER_RUN = 10
SMALL_TOTAL = len(SMALL) * SMALL_RUNS * SMALL_PER_RUN
TARGET = 2.0
TAG = "t%x" % int(time.time() * 1000)     # run ids unique to this invocation

LOAD = """
SELECT count(*) FROM pg_catalog.generate_series(1, %(runs)s) AS r,
LATERAL verist_commit(%(wf)s, %(prefix)s || r, 'emit', 0, '{}', '[]',
    (SELECT jsonb_agg(jsonb_build_object('type', 'emit', 'topic', 't',
                                          'payload', jsonb_build_object('run', r, 'i', i)))
     FROM pg_catalog.generate_series(1, %(per_run)s) AS i)) AS c
"""


def connect():
    return psycopg.connect(autocommit=True, connect_timeout=10,
                           options="-c statement_timeout=60000")


def load(conn, wf, prefix, runs, per_run):
    conn.execute(LOAD, {"wf": wf, "prefix": prefix, "runs": runs, "per_run": per_run})


def reset(conn, phase, big_runs, big_per_run):
    """Empty the outbox, then load big (unless phase is 'alone') and the smalls.
    Run ids carry this invocation's tag and the phase name: verist_state
    keeps the runs of earlier phases, and a repeated create of the same run
    would be answered as an identical retry (0.4.0), writing nothing."""
    conn.execute("TRUNCATE verist_outbox")
    phase = "%s-%s" % (TAG, phase)
    if big_runs > 0:
        load(conn, "big", "%s-big-" % phase, big_runs, big_per_run)
    for wf in SMALL:
        load(conn, wf, "%s-%s-" % (phase, wf), SMALL_RUNS, SMALL_PER_RUN)
    conn.execute("ANALYZE verist_outbox")
    n = conn.execute("SELECT count(*) FROM verist_outbox WHERE status = 'pending'").fetchone()[0]
    if n != big_runs * big_per_run + SMALL_TOTAL:
        raise SystemExit("load: %d pending commands, expected %d"
                         % (n, big_runs * big_per_run + SMALL_TOTAL))
    return n


def dispatcher(owner, mode, batch, lease, start_at, deadline, done, marked_total, out):
    """One dispatcher: lease, mark, note times, until the smalls are drained."""
    leased_small = []          # every small id this dispatcher leased
    marked_small = []          # every small id this dispatcher marked
    last = {}                  # small workflow -> monotonic time of its last mark
    calls = [0, 0]             # lease calls, of which empty
    error = None
    try:
        conn = connect()
        while time.monotonic() < start_at:
            time.sleep(0.001)
        lease_and_mark(conn, owner, mode, batch, lease, deadline, done, marked_total,
                       leased_small, marked_small, last, calls)
        conn.close()
    except Exception as exc:   # reported by the parent as a failure
        error = "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        done.set()
    out.put({"owner": owner, "leased": leased_small, "marked": marked_small,
             "last": last, "calls": calls[0], "empty": calls[1], "error": error})


def lease_and_mark(conn, owner, mode, batch, lease, deadline, done, marked_total,
                   leased_small, marked_small, last, calls):
    while not done.is_set() and time.monotonic() < deadline:
        rows = conn.execute(
            "SELECT id, workflow_id FROM verist_lease_outbox(%s, %s, %s::interval, %s)",
            (owner, batch, lease, mode)).fetchall()
        calls[0] += 1
        if not rows:
            calls[1] += 1
            time.sleep(0.002)
            continue
        wf_of = {r[0]: r[1] for r in rows}
        leased_small.extend(i for i, w in rows if w != "big")
        ids = conn.execute("SELECT * FROM verist_mark_dispatched_batch(%s, %s)",
                           ([r[0] for r in rows], owner)).fetchall()
        now = time.monotonic()
        n_small = 0
        for (i,) in ids:
            w = wf_of.get(i)
            if w is not None and w != "big":
                marked_small.append(i)
                last[w] = now
                n_small += 1
        if n_small:
            with marked_total.get_lock():
                marked_total.value += n_small
                if marked_total.value >= SMALL_TOTAL:
                    done.set()


def run_phase(mode, args, timeout=None):
    """Start the dispatchers, wait, and return (drain seconds per workflow, facts)."""
    timeout = args.timeout if timeout is None else timeout
    ctx = multiprocessing.get_context("fork")
    done = ctx.Event()
    marked_total = ctx.Value("i", 0)
    out = ctx.Queue()
    start_at = time.monotonic() + 0.5     # after every process has connected
    deadline = start_at + timeout
    procs = [ctx.Process(target=dispatcher,
                         args=("d%d" % k, mode, args.batch, args.lease_duration,
                               start_at, deadline, done, marked_total, out))
             for k in range(args.dispatchers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=timeout + 60) for _ in procs]
    for p in procs:
        p.join()
    last = {}
    for r in results:
        for w, t in r["last"].items():
            last[w] = max(last.get(w, 0), t)
    drain = {w: (last[w] - start_at if w in last else None) for w in SMALL}
    leased = [i for r in results for i in r["leased"]]
    marked = [i for r in results for i in r["marked"]]
    facts = {"leased": leased, "marked": marked,
             "calls": sum(r["calls"] for r in results),
             "empty": sum(r["empty"] for r in results),
             "timed_out": not done.is_set(),
             "errors": [r["owner"] + ": " + r["error"] for r in results if r["error"]],
             "elapsed": max(last.values()) - start_at if last else None}
    return drain, facts


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, text):
        if cond:
            self.passed += 1
            print("ok - " + text, flush=True)
        else:
            self.failed += 1
            print("not ok - " + text, flush=True)


def exactly_once(conn, rep, phase, facts, expect_ids, partial=False):
    """Every small command leased once and marked once, across all dispatchers
    (partial: the phase was cut short, so only 'at most once')."""
    leased, marked = facts["leased"], facts["marked"]
    dup_leased = len(leased) - len(set(leased))
    dup_marked = len(marked) - len(set(marked))
    rep.check(dup_leased == 0 and dup_marked == 0 and set(marked) <= expect_ids
              and (partial or set(marked) == expect_ids),
              "%s: every small command dispatched %s (%d distinct of %d marked, "
              "%d duplicate leases, %d duplicate marks)"
              % (phase, "at most once (cut short)" if partial else "exactly once",
                 len(set(marked) & expect_ids), len(expect_ids), dup_leased, dup_marked))


def small_ids(conn):
    return {r[0] for r in conn.execute(
        "SELECT id FROM verist_outbox WHERE workflow_id <> 'big'").fetchall()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--dispatchers", type=int, default=4)
    ap.add_argument("--big-runs", type=int, default=1000)
    ap.add_argument("--big-per-run", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--oldest-timeout", type=float, default=15,
                    help="mode oldest must first drain the whole backlog: cut it "
                         "short after this many seconds (its times are then lower bounds)")
    ap.add_argument("--lease-duration", default="30 seconds",
                    help="lease duration (a lease shorter than a lease+mark round "
                         "trip lets dispatchers take each other's rows)")
    ap.add_argument("--fair-mode", default="fair",
                    help="mode measured as 'fair' (for seeing the assertions fail: oldest)")
    args = ap.parse_args()
    rep = Report()
    conn = connect()
    print("# batch %d, %d dispatchers, big backlog %d x %d commands, %d small commands, "
          "%d repeats" % (args.batch, args.dispatchers, args.big_runs, args.big_per_run,
                          SMALL_TOTAL, args.repeats), flush=True)

    samples = {"alone": {w: [] for w in SMALL}, "fair": {w: [] for w in SMALL}}
    for k in range(args.repeats):
        for phase in ("alone", "fair"):
            big = args.big_runs if phase == "fair" else 0
            t = time.monotonic()
            n = reset(conn, "%s%d" % (phase, k), big, args.big_per_run)
            loaded = time.monotonic() - t
            expect = small_ids(conn)
            drain, facts = run_phase(args.fair_mode, args)
            for w in SMALL:
                samples[phase][w].append(drain[w])
            print("# %s #%d: %d pending loaded in %.1f s; smalls drained in %s s, "
                  "%d lease calls (%d empty)"
                  % (phase, k + 1, n, loaded,
                     "%.3f" % facts["elapsed"] if facts["elapsed"] is not None else "-",
                     facts["calls"], facts["empty"]), flush=True)
            rep.check(not facts["timed_out"] and not facts["errors"],
                      "%s #%d: every small workflow drained within %g s%s"
                      % (phase, k + 1, args.timeout,
                         "; dispatcher errors: " + "; ".join(facts["errors"])
                         if facts["errors"] else ""))
            exactly_once(conn, rep, "%s #%d" % (phase, k + 1), facts, expect)

    # oldest, once, behind the same backlog.
    t = time.monotonic()
    n = reset(conn, "oldest", args.big_runs, args.big_per_run)
    loaded = time.monotonic() - t
    expect = small_ids(conn)
    drain_oldest, facts = run_phase("oldest", args, args.oldest_timeout)
    print("# oldest: %d pending loaded in %.1f s; smalls drained in %s s, %d lease calls%s"
          % (n, loaded, "%.3f" % facts["elapsed"] if facts["elapsed"] is not None else "-",
             facts["calls"], " (timed out)" if facts["timed_out"] else ""), flush=True)
    if facts["errors"]:
        rep.check(False, "oldest: dispatcher errors: " + "; ".join(facts["errors"]))
    exactly_once(conn, rep, "oldest", facts, expect, partial=facts["timed_out"])

    def med(xs):
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if xs else None

    def fmt(x):
        return "%9.3f" % x if x is not None else "        -"

    print()
    print("workflow    alone s   fair+backlog s   ratio   oldest+backlog s   ratio")
    fair_ratios, oldest_ratios = [], []
    for w in SMALL:
        a, f = med(samples["alone"][w]), med(samples["fair"][w])
        o = drain_oldest[w]
        if o is None and facts["timed_out"]:
            o = args.oldest_timeout        # not drained yet: a lower bound
        rf = f / a if a and f is not None else None
        ro = o / a if a and o is not None else None
        if rf is not None:
            fair_ratios.append(rf)
        if ro is not None:
            oldest_ratios.append(ro)
        print("%-9s %9s %16s %7s %18s %7s"
              % (w, fmt(a).strip(), fmt(f).strip(),
                 "%.2f" % rf if rf is not None else "-",
                 ("%.3f" % o if o is not None else "-")
                 + (" (>)" if drain_oldest[w] is None else ""),
                 "%.1f" % ro if ro is not None else "-"))
    max_fair = max(fair_ratios) if len(fair_ratios) == len(SMALL) else None
    max_oldest = max(oldest_ratios) if len(oldest_ratios) == len(SMALL) else None
    print("max ratio: fair %s, oldest %s (target for fair: <= %.1f)"
          % ("%.2f" % max_fair if max_fair is not None else "-",
             "%.1f" % max_oldest if max_oldest is not None else "-", TARGET))
    print()

    rep.check(max_fair is not None and max_fair <= TARGET,
              "fair mode: every small workflow drains within %.1fx its time alone behind "
              "the backlog (max ratio %s)"
              % (TARGET, "%.2f" % max_fair if max_fair is not None else "-"))
    rep.check(max_fair is not None and max_oldest is not None and max_oldest > max_fair
              and min(oldest_ratios) > max_fair,
              "oldest mode is worse than fair behind the same backlog (oldest ratios %.1f..%.1f, "
              "fair max %s): the measurement tells the modes apart"
              % (min(oldest_ratios) if oldest_ratios else 0,
                 max(oldest_ratios) if oldest_ratios else 0,
                 "%.2f" % max_fair if max_fair is not None else "-"))

    # per_run sanity: a run's commands come out in commit order, one at a time.
    reset(conn, "perrun", 0, 0)
    seen = {}
    ordered = True
    while True:
        rows = conn.execute("SELECT id, workflow_id, run_id FROM "
                            "verist_lease_outbox('p', 100, '30 seconds', 'per_run')").fetchall()
        if not rows:
            break
        runs = [(w, r) for _, w, r in rows]
        if len(runs) != len(set(runs)):
            ordered = False
        for i, w, r in rows:
            if seen.get((w, r), 0) > i:
                ordered = False
            seen[(w, r)] = i
        conn.execute("SELECT verist_mark_dispatched_batch(%s, 'p')", ([r[0] for r in rows],))
    left = conn.execute("SELECT count(*) FROM verist_outbox WHERE status <> 'dispatched'").fetchone()[0]
    rep.check(ordered and left == 0,
              "per_run: at most one command per run per lease, in id order, all %d dispatched "
              "(%d left)" % (SMALL_TOTAL, left))

    conn.execute("TRUNCATE verist_outbox")
    conn.close()
    print("# fairness.py: %d passed, %d failed" % (rep.passed, rep.failed))
    return 0 if rep.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
