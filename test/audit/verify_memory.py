#!/usr/bin/env python3
"""
verist_verify_all's memory stays bounded, whatever the number of runs.

    python3 verify_memory.py [--runs N] [--limit-mb M]

Commits N runs (two steps each, events and a command), then runs
verist_verify_all() on one connection while sampling, from /proc, the
private memory (RssAnon) of that connection's backend: shared buffers are
not counted, so what grows is what the call keeps.  0.3.x kept every run's
statement results until the call ended (about 8 kB a run); 0.4.0's first
draft about 48 kB (2.4 GB for 50,000 runs).  Fails if the peak passes
--limit-mb, or if nothing was sampled.  Uses the libpq environment (PG*).
Prints "ok - ..." / "not ok - ..." lines.
"""
import argparse
import sys
import threading
import time

import psycopg


def rss_anon_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--limit-mb", type=int, default=64)
    args = ap.parse_args()

    with psycopg.connect(autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("""
            SELECT count(verist_commit('mem-wf', 'm' || i, 'a', 0,
                       jsonb_build_object('text', repeat('x', 500), 'i', i),
                       '[{"type": "e", "payload": {"p": 1}}, {"type": "f"}]',
                       '[{"type": "emit", "topic": "t"}]'))
            FROM generate_series(1, %s) AS i""", (args.runs,))
        conn.execute("""
            SELECT count(verist_commit('mem-wf', 'm' || i, 'b', 1, jsonb_build_object('j', i)))
            FROM generate_series(1, %s) AS i""", (args.runs,))

        with psycopg.connect(autocommit=True) as verifier:
            pid = verifier.execute("SELECT pg_backend_pid()").fetchone()[0]
            base = rss_anon_kb(pid)
            samples = []
            done = threading.Event()

            def sample():
                while not done.is_set():
                    samples.append(rss_anon_kb(pid))
                    time.sleep(0.05)

            t = threading.Thread(target=sample)
            t.start()
            start = time.time()
            broken = verifier.execute("SELECT count(*) FROM verist_verify_all()").fetchone()[0]
            done.set()
            t.join()
            took = time.time() - start

    peak = max(samples, default=0)
    grew_mb = (peak - base) / 1024.0
    ok = True
    for good, what in (
            (broken == 0, "verist_verify_all over %d runs: nothing broken (%d)" % (args.runs, broken)),
            (len(samples) >= 3, "backend memory sampled (%d samples in %.1f s)" % (len(samples), took)),
            (grew_mb < args.limit_mb,
             "verist_verify_all's private memory stays bounded: grew %.1f MB over %d runs"
             " (limit %d MB)" % (grew_mb, args.runs, args.limit_mb))):
        print(("ok - " if good else "not ok - ") + what, flush=True)
        ok = ok and good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
