#!/usr/bin/env python3
"""Latency figures of one pgbench run from its per-transaction logs.

    lat.py LOGDIR [SKIP]

Reads LOGDIR/log.* (pgbench -l), leaves out the first SKIP transactions
(default 0: warm-up, a first call that plans), and prints
"n p50_ms p95_ms p99_ms mean_ms max_ms".
"""
import glob
import os
import sys

logdir = sys.argv[1]
skip = int(sys.argv[2]) if len(sys.argv) > 2 else 0
rows = []
for path in sorted(glob.glob(os.path.join(logdir, "log.*"))):
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 6 or p[2] in ("failed", "skipped"):
                continue
            rows.append((int(p[4]) * 1000000 + int(p[5]), int(p[2])))
rows.sort()
lat = sorted(l for _, l in rows[skip:])
if not lat:
    print("0 0 0 0 0 0")
    sys.exit(0)


def pct(q):
    i = min(len(lat) - 1, max(0, int(round(q * len(lat) + 0.5)) - 1))
    return lat[i] / 1000.0


print("%d %.3f %.3f %.3f %.3f %.3f" % (len(lat), pct(0.50), pct(0.95), pct(0.99),
                                       sum(lat) / len(lat) / 1000.0, lat[-1] / 1000.0))
