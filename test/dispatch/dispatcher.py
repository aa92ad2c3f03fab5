#!/usr/bin/env python3
"""
An example verist dispatcher: LISTEN for wake-ups, lease a batch, send each
command, finalise the batch in one statement, retry failures with backoff.

  dispatcher.py --owner d1 [--batch 50] [--lease-seconds 10] [--poll-seconds 5]
                [--max-attempts 5] [--sink FILE] [--fail-rate 0.0] [--seed N]
                [--idle-exit SECONDS] [--mode oldest|per_run|fair|fair_per_run]

The loop:
  1. lease up to --batch pending rows (verist_lease_outbox; with --mode, in
     that lease mode of 0.5.0: per_run hands out each run's commands one at a
     time in commit order, fair shares the batch out between workflows);
  2. send each command (here: append a JSON line to --sink; a real dispatcher
     calls a queue or a webhook).  A send that fails is reported with
     verist_mark_retry: the row comes back after an exponential backoff, or
     becomes a dead letter at its --max-attempts-th failure;
  3. finalise the sent rows with verist_mark_dispatched_batch;
  4. a full batch means more work may wait: lease again at once; so does, in
     the per_run modes, any finalised row (it may be what held its run's next
     command back, and finalising sends no NOTIFY).  Otherwise
     wait for a NOTIFY on verist_outbox (sent by commits and resolutions when
     verist.notify is on) -- but no longer than until its own earliest retry
     is due, and at most --poll-seconds, because work also comes back without
     a notification: rows whose lease expired (their dispatcher died) and rows
     whose backoff another dispatcher set.

Commands whose payload says {"poison": true} always fail (to make dead
letters); --fail-rate makes first attempts fail at random (transient errors).  The PG* environment
variables name the database.
"""
import argparse
import json
import random
import select
import signal
import sys
import time
from datetime import timedelta

import psycopg

stop = False


def on_signal(signum, frame):
    global stop
    stop = True


def send(sink, owner, row, rnd, fail_rate):
    """Deliver one command; return None on success or an error message."""
    command = row["command"]
    payload = command.get("payload") if isinstance(command.get("payload"), dict) else {}
    # Simulated transient errors hit first attempts only, so that only poison
    # ends as a dead letter and a test can tell lost from given up.
    transient = row["failures"] == 0 and rnd.random() < fail_rate
    ok = not payload.get("poison") and not transient
    sink.write(json.dumps({"id": row["id"], "key": row["dedupe_key"], "owner": owner,
                           "ok": ok, "at": time.time()}) + "\n")
    sink.flush()
    return None if ok else ("poison command" if payload.get("poison") else "simulated failure")


class Wakeups:
    """Notifications on verist_outbox, however they arrive."""

    def __init__(self, conn):
        self.conn = conn
        self.pending = False
        # psycopg hands notifications that arrive during a query to handlers
        conn.add_notify_handler(self.note)

    def note(self, notify):
        self.pending = True

    def wait(self, seconds):
        """Block until a NOTIFY arrives or the polling interval ends."""
        pgconn = self.conn.pgconn
        deadline = time.time() + seconds
        while not stop and not self.pending:
            left = deadline - time.time()
            if left <= 0:
                break
            ready, _, _ = select.select([self.conn.fileno()], [], [], min(left, 0.5))
            if ready:
                pgconn.consume_input()
                while pgconn.notifies() is not None:
                    self.pending = True
        woken, self.pending = self.pending, False
        return woken


def run(a):
    rnd = random.Random(a.seed)
    lease = timedelta(seconds=a.lease_seconds)
    last_work = time.time()
    next_retry = float("inf")      # when the earliest of our retries is due
    with psycopg.connect(autocommit=True) as conn, open(a.sink, "a") as sink:
        wakeups = Wakeups(conn)
        conn.execute("LISTEN verist_outbox")
        while not stop:
            if a.mode is None:      # the three-argument form: 0.1.0's oldest first
                cur = conn.execute("SELECT id, command, dedupe_key, failures"
                                   " FROM verist_lease_outbox(%s, %s, %s)",
                                   (a.owner, a.batch, lease))
            else:
                cur = conn.execute("SELECT id, command, dedupe_key, failures"
                                   " FROM verist_lease_outbox(%s, %s, %s, %s)",
                                   (a.owner, a.batch, lease, a.mode))
            cols = [c.name for c in cur.description]
            rows = [dict(zip(cols, r)) for r in cur.fetchall()]
            sent = []
            for row in rows:
                error = send(sink, a.owner, row, rnd, a.fail_rate)
                if error is None:
                    sent.append(row["id"])
                    continue
                # Back to pending after a backoff (or a dead letter); remember
                # when it comes back, since no NOTIFY will say so.
                status, again = conn.execute(
                    "SELECT status, extract(epoch FROM lease_expires_at)"
                    " FROM verist_mark_retry(%s, %s, %s, %s, %s, %s)",
                    (row["id"], a.owner, error, a.max_attempts,
                     timedelta(milliseconds=a.base_delay_ms),
                     timedelta(milliseconds=a.max_delay_ms))).fetchone()
                if status == "pending":
                    next_retry = min(next_retry, float(again))
            if sent:
                conn.execute("SELECT verist_mark_dispatched_batch(%s, %s)", (sent, a.owner))
            if rows:
                last_work = time.time()
            if len(rows) == a.batch or (rows and a.mode in ("per_run", "fair_per_run")):
                continue
            if a.idle_exit and time.time() - last_work > a.idle_exit:
                break
            wakeups.wait(max(0.0, min(a.poll_seconds, next_retry - time.time())))
            next_retry = float("inf") if next_retry <= time.time() else next_retry


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--owner", required=True)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--lease-seconds", type=float, default=10)
    p.add_argument("--poll-seconds", type=float, default=5)
    p.add_argument("--max-attempts", type=int, default=5)
    p.add_argument("--base-delay-ms", type=float, default=100)
    p.add_argument("--max-delay-ms", type=float, default=2000)
    p.add_argument("--sink", default="/dev/stdout")
    p.add_argument("--fail-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--idle-exit", type=float, default=0, help="exit after this long without work (0: never)")
    p.add_argument("--mode", choices=("oldest", "per_run", "fair", "fair_per_run"), default=None,
                   help="lease mode (0.5.0); default: the three-argument form")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
