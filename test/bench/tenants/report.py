#!/usr/bin/env python3
"""The report of test/bench/tenants.sh: medians over the repetitions.

    report.py OUTDIR ENV_TEXT

Reads OUTDIR/lease_raw.csv and OUTDIR/counters_raw.csv (either may be
missing), prints the two tables.
"""
import csv
import os
import statistics
import sys

out, env = sys.argv[1], sys.argv[2]
MODES = ["default", "per_run", "fair", "fair_per_run"]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def read(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return list(csv.DictReader(f))


print("verist 0.5.0: lease modes and counters (test/bench/tenants.sh)")
print(env)
print()

lease = read("lease_raw.csv")
if lease:
    reps = max(int(r["name"].rsplit("-", 1)[1]) for r in lease)
    print("1. Leasing throughput: rows leased + finalised per second (median of %d), "
          "ratio to the default" % reps)
    print("   loop: verist_lease_outbox(owner, B, '30 seconds'[, mode]) then "
          "verist_mark_dispatched_batch(ids, owner); pgbench -M prepared")
    print("   default = the 3-argument form (mode 'oldest'); 10 workflows, runs of 5 commands, "
          "no verist_workflow_limits rows")
    print()
    cols = ["batch", "disp"] + MODES
    print("| batch | dispatchers | " + " | ".join(MODES) + " |")
    print("|---:|---:|" + "---:|" * len(MODES))
    cells = {}
    for r in lease:
        cells.setdefault((int(r["batch"]), int(r["dispatchers"]), r["mode"]), []).append(r)
    notes = []
    for b in sorted({k[0] for k in cells}):
        for d in sorted({k[1] for k in cells if k[0] == b}):
            base = med([float(r["rows_per_s"]) for r in cells.get((b, d, "default"), [])])
            row = []
            for m in MODES:
                rs = cells.get((b, d, m), [])
                v = med([float(r["rows_per_s"]) for r in rs])
                if not rs:
                    row.append("-")
                    continue
                pl = med([float(r["rows_per_lease"]) for r in rs])
                s = "%.0f" % v
                if m != "default":
                    s += " (%.2fx)" % (v / base if base else float("nan"))
                if pl < b - 0.005:
                    s += " *"
                    notes.append("batch %d, %d dispatcher(s), %s: %.2f rows per lease on average"
                                 % (b, d, m, pl))
                row.append(s)
            print("| %d | %d | %s |" % (b, d, " | ".join(row)))
    print()
    for n in notes:
        print("   * " + n + " (short batches)")
    fc = [float(r["foreign_cores"]) for r in lease if r["foreign_cores"] not in ("", "?")]
    bad = [r["name"] + ": " + r["check"] for r in lease if r["check"] != "ok"]
    print("   other processes kept %.2f cores busy (median over %d runs, max %.2f)"
          % (med(fc), len(fc), max(fc) if fc else float("nan")))
    print("   checks: " + ("all %d runs ok (no failure, nothing left leased, counters = rows "
                          "finalised, never ran dry)" % len(lease) if not bad else "; ".join(bad)))
    print()

cnt = read("counters_raw.csv")
if cnt:
    reps = max(int(r["rep"]) for r in cnt)
    print("2. verist_commit with verist.counters on and off: commits/s (median of %d), "
          "on/off (target >= 0.98, a cost <= 2%%)" % reps)
    print("   ledger.sh's create/update scripts, pgbench -M prepared, warm-up dropped")
    print()
    print("| synchronous_commit | path | clients | on | off | on/off | cost | p50 on / off (ms) | <= 2% |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    cells = {}
    for r in cnt:
        cells.setdefault((r["sync"], r["path"], int(r["clients"]), r["counters"]), []).append(r)
    for sync in ("on", "off"):
        for cl in sorted({k[2] for k in cells}):
            for path in ("create", "update"):
                on = cells.get((sync, path, cl, "on"), [])
                off = cells.get((sync, path, cl, "off"), [])
                if not on or not off:
                    continue
                t_on = med([float(r["tps"]) for r in on])
                t_off = med([float(r["tps"]) for r in off])
                ratio = t_on / t_off if t_off else float("nan")
                p_on = med([float(r["p50_ms"]) for r in on])
                p_off = med([float(r["p50_ms"]) for r in off])
                print("| %s | %s | %d | %.0f | %.0f | %.3f | %+.1f%% | %.3f / %.3f | %s |"
                      % (sync, path, cl, t_on, t_off, ratio, (1 - ratio) * 100, p_on, p_off,
                         "yes" if ratio >= 0.98 else "NO"))
    print()
    fc = [float(r["foreign_cores"]) for r in cnt if r["foreign_cores"] not in ("", "?")]
    bad = ["%s-%s-%s-%s-%s: %s" % (r["counters"], r["path"], r["clients"], r["sync"], r["rep"],
                                   r["check"]) for r in cnt if r["check"] != "ok" or r["failed"] != "0"]
    print("   other processes kept %.2f cores busy (median over %d runs, max %.2f)"
          % (med(fc), len(fc), max(fc) if fc else float("nan")))
    print("   checks: " + ("all %d runs ok (rows as logged; counted = commits with counters on, "
                          "0 with them off)" % len(cnt) if not bad else "; ".join(bad)))
