#!/usr/bin/env python3
"""
Gap-free reading under load: writers commit events in transactions of random
length while two consumers tail verist_events by id, one naively
(SELECT ... WHERE id > last ORDER BY id) and one with verist_read_events.
At the end every committed event must have reached the verist_read_events
consumer exactly once and in ascending id order; the naive consumer's misses
are counted to show the problem is real under this load.

  tail_check.py --writers 4 --seconds 10      (PG* variables name the server)
Prints "ok - ..." / "not ok - ..." lines and exits 1 on failure.
"""
import argparse
import random
import sys
import threading
import time

import psycopg


def writer(n, seconds, stop, errors):
    rnd = random.Random(n)
    try:
        with psycopg.connect() as conn:
            run = 0
            deadline = time.time() + seconds
            while time.time() < deadline and not stop.is_set():
                run += 1
                with conn.transaction():
                    conn.execute("SELECT verist_commit(%s, %s, 's', 0, '{}', %s::jsonb)",
                                 ("tail", f"w{n}-{run}",
                                  '[{"type": "a"}, {"type": "b"}]'))
                    # hold the transaction open: later ids commit meanwhile
                    time.sleep(rnd.choice([0, 0, 0.001, 0.005, 0.02]))
                    if rnd.random() < 0.1:
                        raise psycopg.Rollback()
    except Exception as e:  # reported by the main thread
        errors.append(f"writer {n}: {e!r}")


def consume(query, seen, stop, errors, name):
    try:
        with psycopg.connect(autocommit=True) as conn:
            last = 0
            idle_after_stop = 0
            while idle_after_stop < 3:
                rows = conn.execute(query, (last,)).fetchall()
                for (i,) in rows:
                    seen.append(i)
                    last = max(last, i)
                if stop.is_set():
                    idle_after_stop = idle_after_stop + 1 if not rows else 0
                time.sleep(0.002)
    except Exception as e:
        errors.append(f"{name}: {e!r}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10)
    a = p.parse_args()

    with psycopg.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS verist")
        start_id = conn.execute("SELECT coalesce(max(id), 0) FROM verist_events").fetchone()[0]

    stop = threading.Event()
    errors = []
    naive, safe = [], []
    consumers = [
        threading.Thread(target=consume, args=(
            "SELECT id FROM verist_events WHERE id > greatest(%s, " + str(start_id) + ") ORDER BY id LIMIT 500",
            naive, stop, errors, "naive")),
        threading.Thread(target=consume, args=(
            "SELECT id FROM verist_read_events(greatest(%s, " + str(start_id) + "), 500)",
            safe, stop, errors, "verist_read_events")),
    ]
    writers = [threading.Thread(target=writer, args=(n, a.seconds, stop, errors))
               for n in range(a.writers)]
    for t in consumers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in consumers:
        t.join()

    with psycopg.connect() as conn:
        committed = [r[0] for r in conn.execute(
            "SELECT id FROM verist_events WHERE id > %s ORDER BY id", (start_id,))]

    fails = 0

    def check(ok, what):
        nonlocal fails
        print(("ok - " if ok else "not ok - ") + what)
        fails += 0 if ok else 1

    check(not errors, "writers and consumers ran without errors" + (f": {errors[:3]}" if errors else ""))
    check(len(committed) > 100, f"{len(committed)} events committed by {a.writers} writers in {a.seconds:g} s")
    check(safe == committed,
          f"verist_read_events delivered every committed event once, in id order "
          f"({len(safe)} of {len(committed)}; missing {len(set(committed) - set(safe))}, "
          f"out of order {sum(1 for x, y in zip(safe, safe[1:]) if y <= x)})")
    missed = len(set(committed) - set(naive))
    print(f"# naive 'id > last' consumer missed {missed} of {len(committed)} events")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
