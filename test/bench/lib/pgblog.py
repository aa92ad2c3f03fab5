#!/usr/bin/env python3
"""Summarise one pgbench run from its per-transaction logs (pgbench -l).

    pgblog.py LOGDIR WARMUP_SECONDS

Reads LOGDIR/log.* (lines "client_id transaction_no time script_no epoch us"),
drops the transactions that ended in the first WARMUP_SECONDS of the run, and
prints: tps p50_ms p99_ms mean_ms transactions failed, where tps counts the
transactions that ended in [start + warmup, last end].
"""
import glob
import os
import sys

logdir, warmup = sys.argv[1], float(sys.argv[2])
rows = []
failed = 0
for path in glob.glob(os.path.join(logdir, "log.*")):
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 6:
                continue
            if p[2] in ("failed", "skipped"):
                failed += 1
                continue
            lat = int(p[2])
            end = int(p[4]) + int(p[5]) / 1e6
            rows.append((end, lat))
if not rows:
    print("0 0 0 0 0 %d" % failed)
    sys.exit(0)
start = min(end - lat / 1e6 for end, lat in rows)
last = max(end for end, _ in rows)
cut = start + warmup
if last - cut < 0.5:          # a very short run: keep everything
    cut = start
kept = sorted(lat for end, lat in rows if end >= cut)
span = last - cut


def pct(q):
    i = min(len(kept) - 1, max(0, int(round(q * len(kept) + 0.5)) - 1))
    return kept[i] / 1000.0


print("%.1f %.3f %.3f %.3f %d %d" % (len(kept) / span if span > 0 else 0.0, pct(0.50), pct(0.99),
                                     sum(kept) / len(kept) / 1000.0, len(rows), failed))
