#!/usr/bin/env python3
"""
End to end: test/dispatch/dispatcher.py against a live workload.

Two dispatchers run as separate processes with a 10 s polling interval, so
only NOTIFY can make them fast: d1 fails a third of its first attempts
(retry policy: 4 attempts, 50 ms base, 400 ms cap), d2 never fails.  A
producer commits runs with verist.notify on (set per database): plain
commands, commands held by a review and then approved, and poison commands
that always fail.  When all is quiet an operator re-queues one dead letter,
and a third owner leases a batch committed without a wake-up and "dies"
holding it: its rows come back when the lease expires, through the polling
fallback alone.

Checks: every command that can succeed was delivered exactly once and is
dispatched; every poison command is a dead letter after exactly 4 attempts;
the held rows were taken over after their lease expired; the requeued dead
letter was delivered; most commands were delivered well before the polling
interval could have woken anyone (median latency printed).

  e2e.py --seconds 8 --outdir DIR      (PG* variables name the database)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_ATTEMPTS = 4


def start_dispatcher(outdir, owner, fail_rate, seed, mode):
    return subprocess.Popen(
        [sys.executable, os.path.join(HERE, "dispatcher.py"), "--owner", owner] +
        (["--mode", mode] if mode else []) + [
         "--batch", "20", "--lease-seconds", "3", "--poll-seconds", "10",
         "--max-attempts", str(MAX_ATTEMPTS), "--base-delay-ms", "50", "--max-delay-ms", "400",
         "--fail-rate", str(fail_rate), "--seed", str(seed),
         "--sink", os.path.join(outdir, f"sink-{owner}.jsonl")])


def produce(conn, seconds):
    """Commit runs for a while; return {dedupe_key: time it became pending} and poison keys."""
    committed, poison = {}, set()
    n = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        n += 1
        run = f"run-{n}"
        commands = [{"type": "emit", "topic": "t", "payload": {"n": n, "i": i}} for i in range(2)]
        if n % 10 == 7:
            commands.append({"type": "emit", "topic": "t", "payload": {"n": n, "poison": True}})
        if n % 10 == 3:
            commands.append({"type": "review", "reason": "look"})
        conn.execute("SELECT verist_commit('e2e', %s, 's', 0, '{}', '[]', %s::jsonb)",
                     (run, json.dumps(commands)))
        if n % 10 == 3:       # held by the review until approved, a moment later
            time.sleep(0.01)
            conn.execute("SELECT verist_resolve_block('e2e', %s, '{\"approved\": true}')", (run,))
        t = time.time()
        for key, command in conn.execute(
                "SELECT dedupe_key, command FROM verist_outbox WHERE run_id = %s", (run,)):
            committed[key] = t
            if command.get("payload", {}).get("poison"):
                poison.add(key)
        time.sleep(0.005)
    return committed, poison


def read_sinks(outdir):
    sends = []
    for name in os.listdir(outdir):
        if name.startswith("sink-"):
            with open(os.path.join(outdir, name)) as f:
                sends += [json.loads(line) for line in f]
    return sends


def wait_quiet(conn, timeout):
    """Until nothing is pending or leased (backoffs and expired leases included)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        left = conn.execute("SELECT count(*) FROM verist_outbox WHERE status IN ('pending', 'leased')"
                            ).fetchone()[0]
        if left == 0:
            return True
        time.sleep(0.2)
    return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--outdir", required=True)
    p.add_argument("--mode", default=None, help="the dispatchers' lease mode (0.5.0)")
    p.add_argument("--check-order", action="store_true",
                   help="check per-run order even if --mode is not a per_run mode (to see it fail)")
    a = p.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    for name in os.listdir(a.outdir):
        os.remove(os.path.join(a.outdir, name))

    fails = 0

    def check(ok, what):
        nonlocal fails
        print(("ok - " if ok else "not ok - ") + what)
        fails += 0 if ok else 1

    with psycopg.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS verist")
        conn.execute("TRUNCATE verist_outbox")
        db = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(f'ALTER DATABASE "{db}" SET verist.notify = on')

    dispatchers = [start_dispatcher(a.outdir, "d1", 0.33, 1, a.mode),
                   start_dispatcher(a.outdir, "d2", 0.0, 2, a.mode)]
    time.sleep(1)       # let them LISTEN
    with psycopg.connect(autocommit=True) as conn:
        committed, poison = produce(conn, a.seconds)
        quiet = wait_quiet(conn, 30)
        check(quiet, "the outbox settled: nothing pending or leased")
        for row in conn.execute("SELECT id, run_id, status, lease_owner, lease_expires_at, failures"
                                " FROM verist_outbox WHERE status IN ('pending', 'leased') LIMIT 5"):
            print("#   still open:", row)

        # The operator re-queues one dead letter.
        dead = conn.execute("SELECT id, dedupe_key, failures FROM verist_outbox WHERE status = 'failed'"
                            " ORDER BY id").fetchall()
        requeued_key = None
        if dead:
            rid, requeued_key, _ = dead[0]
            conn.execute("SELECT verist_requeue(%s)", (rid,))
        # Poison stays poison: it goes out MAX_ATTEMPTS more times and is a
        # dead letter again.
        wait_quiet(conn, 30)

        # Now that all is quiet, rows that a dispatcher leases and never
        # finishes (it "died"), committed without a wake-up: nothing but the
        # dispatchers' polling fallback can find them once the lease expires.
        conn.execute("SET verist.notify = off")
        conn.execute("SELECT verist_commit('e2e', 'held', 's', 0, '{}', '[]', %s::jsonb)",
                     (json.dumps([{"type": "emit", "topic": "held", "payload": {"i": i}} for i in range(3)]),))
        held = [r[0] for r in conn.execute(
            "SELECT dedupe_key FROM verist_outbox WHERE run_id = 'held'")]
        taken = conn.execute("SELECT count(*) FROM verist_lease_outbox('dead', 3, %s)",
                             (timedelta(seconds=2),)).fetchone()[0]
        held_at = time.time()
        wait_quiet(conn, 30)
        status = dict(conn.execute("SELECT dedupe_key, status FROM verist_outbox").fetchall())
        run_of = dict(conn.execute("SELECT id, run_id FROM verist_outbox").fetchall())
        failures = dict(conn.execute("SELECT dedupe_key, failures FROM verist_outbox").fetchall())

    for d in dispatchers:
        d.terminate()
    for d in dispatchers:
        d.wait(10)

    sends = read_sinks(a.outdir)
    ok_sends = {}
    for s in sends:
        if s["ok"]:
            ok_sends.setdefault(s["key"], []).append(s)
    attempts = {}
    for s in sends:
        attempts[s["key"]] = attempts.get(s["key"], 0) + 1

    good = [k for k in committed if k not in poison] + held
    check(len(committed) > 100, f"{len(committed)} commands committed ({len(poison)} poison), 2 dispatchers")
    lost = [k for k in good if k not in ok_sends]
    dup = [k for k, v in ok_sends.items() if len(v) > 1]
    check(not lost and not dup, f"every deliverable command delivered exactly once "
          f"(lost {len(lost)}, duplicated {len(dup)}, of {len(good)})")
    for k in (lost + dup)[:5]:
        print(f"#   {k[:12]}: status {status.get(k)}, failures {failures.get(k)}, "
              f"sends {[(s['owner'], s['ok']) for s in sends if s['key'] == k]}")
    check(all(status.get(k) == "dispatched" for k in good), "and each is dispatched in the outbox")
    retried = [k for k in good if attempts.get(k, 0) > 1]
    check(len(retried) > 10, f"{len(retried)} commands were delivered after failed attempts (retry policy)")
    dead_ok = all(status.get(k) == "failed" and failures.get(k) == MAX_ATTEMPTS
                  for k in poison if k != requeued_key)
    check(poison and dead_ok, f"all {len(poison)} poison commands are dead letters after exactly "
          f"{MAX_ATTEMPTS} attempts")
    if requeued_key:
        check(attempts.get(requeued_key) == 2 * MAX_ATTEMPTS and status.get(requeued_key) == "failed",
              f"the re-queued dead letter went out again ({attempts.get(requeued_key)} attempts in all)")
    took_over = [s["at"] - held_at for k in held for s in ok_sends.get(k, [])]
    check(taken == 3 and len(took_over) == 3 and all(1.9 <= t <= 13 for t in took_over),
          "rows leased by a dispatcher that died were found by polling after their 2 s lease "
          f"expired (delivered after {min(took_over or [0]):.1f}-{max(took_over or [0]):.1f} s, "
          "10 s polling interval, no wake-up)")
    latencies = sorted(v[0]["at"] - committed[k] for k, v in ok_sends.items()
                       if k in committed and attempts.get(k) == 1)
    median = statistics.median(latencies) if latencies else 99
    check(median < 1.0, f"NOTIFY wake-ups: median commit-to-delivery {median * 1000:.0f} ms "
          f"(p90 {latencies[int(len(latencies) * 0.9)] * 1000:.0f} ms) with a 10 s polling interval")
    if a.mode in ("per_run", "fair_per_run") or a.check_order:
        # Per-run order: within a run, no attempt of a command comes after an
        # attempt of a later one (a retry keeps its run's turn; with two
        # commands of a run in flight at once, a retry would interleave).
        # Re-queueing a dead letter (done once above, on a run's last command)
        # is the operator's explicit exception, so that run is left out.
        by_run = {}
        requeued_run = next((run_of[s["id"]] for s in sends if s["key"] == requeued_key), None)
        for s in sorted(sends, key=lambda s: s["at"]):
            if run_of.get(s["id"]) != requeued_run:
                by_run.setdefault(run_of.get(s["id"]), []).append(s["id"])
        backwards = {r: ids for r, ids in by_run.items()
                     if any(b < a_ for a_, b in zip(ids, ids[1:]))}
        multi = sum(1 for ids in by_run.values() if len(set(ids)) > 1)
        check(not backwards and multi > 50,
              f"{a.mode}: in each of {len(by_run)} runs ({multi} with several commands) every "
              f"attempt followed the run's commit order, retries included "
              f"({len(backwards)} runs out of order)")
        for r, ids in list(backwards.items())[:3]:
            print(f"#   {r}: attempts in the order {ids}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
