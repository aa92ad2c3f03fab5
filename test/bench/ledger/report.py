#!/usr/bin/env python3
"""The report of test/bench/ledger.sh, from the CSV files it wrote.

    report.py OUTDIR MODE SECONDS

Prints the tables (ledger.sh also saves them as results.txt) and writes
commit_medians.csv.  Never judges timing beyond the PASS/MISS column.
"""
import csv
import os
import statistics
import sys

out, mode, secs = sys.argv[1], sys.argv[2], int(sys.argv[3])


def rows(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def med(vals):
    vals = [float(v) for v in vals if v not in ("", "?")]
    return statistics.median(vals) if vals else float("nan")


def kb(v):
    return "%.2f" % (v / 1024.0)


print("verist 0.4.0 (ledger) against 0.3.1 -- test/bench/ledger.sh, %s run, %d min %d s"
      % (mode, secs // 60, secs % 60))
print()
with open(os.path.join(out, "env.txt")) as f:
    for line in f:
        print("  " + line.rstrip())
print()

# ---------------------------------------------------------------- 1
raw = rows("commit_raw.csv")
if raw:
    reps = max(int(r["rep"]) for r in raw)
    print("1. Commit path: commits/s, median of %d run%s per cell (-M extended, one verist_commit per"
          % (reps, "s" if reps > 1 else ""))
    print("   transaction; target 0.4.0/0.3.1 >= 0.90)")
    print()
    hdr = ("path", "clients", "sync", "0.3.1 tps", "0.4.0 tps", "ratio", "target", "result",
           "per-rep ratios", "p50 ms 0.3.1", "p50 ms 0.4.0", "foreign cores")
    fmt = "%-7s %7s %5s %10s %10s %6s %7s %6s %-20s %12s %12s %13s"
    print("   " + fmt % hdr)
    med_rows = []
    bad = 0
    for path in ("create", "update"):
        for clients in ("1", "8"):
            for sync in ("on", "off"):
                cell = [r for r in raw if r["path"] == path and r["clients"] == clients and r["sync"] == sync]
                if not cell:
                    continue
                a = [r for r in cell if r["version"] == "0.3.1"]
                b = [r for r in cell if r["version"] == "0.4.0"]
                ta, tb = med(r["tps"] for r in a), med(r["tps"] for r in b)
                ratio = tb / ta if ta else float("nan")
                res = "PASS" if ratio >= 0.90 else "MISS"
                fc = med(r["foreign_cores"] for r in cell)
                bad += sum(1 for r in cell if r["check"] != "ok" or r["failed"] != "0")
                # the two versions of one repetition ran back to back: their ratio
                pairs = []
                for rep in sorted({r["rep"] for r in cell}, key=int):
                    x = [float(r["tps"]) for r in a if r["rep"] == rep]
                    y = [float(r["tps"]) for r in b if r["rep"] == rep]
                    if x and y and x[0]:
                        pairs.append(y[0] / x[0])
                pr = " ".join("%.2f" % p for p in pairs)
                print("   " + fmt % (path, clients, sync, "%.0f" % ta, "%.0f" % tb, "%.3f" % ratio, ">=0.90",
                                     res, pr, "%.3f" % med(r["p50_ms"] for r in a),
                                     "%.3f" % med(r["p50_ms"] for r in b), "%.2f" % fc))
                med_rows.append([path, clients, sync, "%.1f" % ta, "%.1f" % tb, "%.4f" % ratio, "0.90", res])
    with open(os.path.join(out, "commit_medians.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "clients", "sync", "tps_031", "tps_040", "ratio", "target", "result"])
        w.writerows(med_rows)
    print()
    print("   ratio = median 0.4.0 / median 0.3.1; per-rep ratios: each repetition's 0.4.0 run over the")
    print("   0.3.1 run next to it; foreign cores: median cores other processes of the machine kept busy")
    print("   every run: %d, failed or mismatched: %d; per-run figures in commit_raw.csv" % (len(raw), bad))
    print()

# ---------------------------------------------------------------- 2
by = rows("bytes.csv")
if by:
    n = by[0]["commits"]
    print("2. Bytes per commit: %s commits per path and version, 1 client, synchronous_commit off," % n)
    print("   autovacuum off, after a CHECKPOINT (so full-page images of first touches count); WAL from")
    print("   pg_current_wal_lsn (records + FPI split by pg_walinspect), tables = pg_total_relation_size")
    print("   of verist's tables (heap + indexes + toast) after minus before; server µs = CPU time of")
    print("   all the cluster's processes per commit during the run (exited backends included)")
    print()
    fmt = "%-7s %-8s %11s %10s %9s %11s %11s %9s %9s %9s %9s %10s"
    print("   " + fmt % ("path", "version", "WAL B", "records B", "FPI B", "WAL recs", "tables B",
                         "state B", "events B", "outbox B", "ledger B", "server µs"))
    for path in ("create", "update"):
        vals = {}
        for r in by:
            if r["path"] != path:
                continue
            c = float(r["commits"])
            d = {
                "wal": float(r["wal_bytes"]) / c,
                "rec": float(r["wal_record_bytes"]) / c,
                "fpi": float(r["wal_fpi_bytes"]) / c,
                "nrec": float(r["wal_records"]) / c,
                "tab": (float(r["rel_after"]) - float(r["rel_before"])) / c,
                "state": (float(r["state_after"]) - float(r["state_before"])) / c,
                "events": (float(r["events_after"]) - float(r["events_before"])) / c,
                "outbox": (float(r["outbox_after"]) - float(r["outbox_before"])) / c,
                "ledger": (float(r["ledger_after"]) - float(r["ledger_before"])) / c,
                "cpu": float(r.get("server_cpu_us") or "nan"),
            }
            vals[r["version"]] = d
            print("   " + fmt % (path, r["version"], "%.0f" % d["wal"], "%.0f" % d["rec"], "%.0f" % d["fpi"],
                                 "%.1f" % d["nrec"], "%.0f" % d["tab"], "%.0f" % d["state"],
                                 "%.0f" % d["events"], "%.0f" % d["outbox"], "%.0f" % d["ledger"],
                                 "%.0f" % d["cpu"]))
        if "0.3.1" in vals and "0.4.0" in vals:
            a, b = vals["0.3.1"], vals["0.4.0"]

            def diff(k, digits=0):
                dv = b[k] - a[k]
                return ("%+." + str(digits) + "f") % dv

            def pct(k):
                return "(%+.0f%%)" % ((b[k] / a[k] - 1) * 100) if a[k] else ""
            print("   " + fmt % (path, "diff", diff("wal"), diff("rec"), diff("fpi"), diff("nrec", 1),
                                 diff("tab"), diff("state"), diff("events"), diff("outbox"), diff("ledger"),
                                 diff("cpu")))
            print("   " + fmt % ("", "0.4/0.3", pct("wal"), pct("rec"), pct("fpi"), pct("nrec"), pct("tab"),
                                 pct("state"), pct("events"), pct("outbox"), "", pct("cpu")))
        print()
    checks = ["%s %s: %s, verify_all broken %s" % (r["version"], r["path"], r["check"], r["verify_broken"])
              for r in by]
    print("   checks: " + "; ".join(checks))
    print("   WAL by resource manager: wal_by_rmgr-VERSION-PATH.csv")
    print()

# ---------------------------------------------------------------- 3
sa = rows("stateat.csv")
if sa:
    desc = open(os.path.join(out, "stateat_run.txt")).read().split()
    print("3. Reading the past (0.4.0): one run of 1,000 commits (~1 KB output each, 2 events, 1 emit)")
    print("   and 10 overlays; 1 client, one call per transaction, -M extended, latency at the client")
    print("   (includes the loopback round trip); the first 3 calls left out")
    print("   run: version %s, ledger entries %s, computed %s B; %s" % (desc[0], desc[1], desc[2], " ".join(desc[3:])))
    print()
    fmt = "%-18s %6s %9s %9s %9s %9s %9s"
    print("   " + fmt % ("call", "calls", "p50 ms", "p95 ms", "p99 ms", "mean ms", "max ms"))
    for r in sa:
        print("   " + fmt % (r["call"], r["calls"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["mean_ms"], r["max_ms"]))
    print()

# ---------------------------------------------------------------- 4
ret = rows("retire.csv")
if ret:
    fill = open(os.path.join(out, "retire_fill.txt")).read().strip()
    check = open(os.path.join(out, "retire_check.txt")).read().strip()
    print("4. Retirement under load (0.4.0): one session retires finished runs (verist_retire_run,")
    print("   COMMIT every 1,000) while 2 clients commit new runs (create path, synchronous_commit on)")
    print("   " + fill)
    print()
    fmt = "%-24s %8s %7s %8s %11s %12s %7s %9s %9s %8s %8s"
    print("   " + fmt % ("phase", "retired", "secs", "runs/s", "1st batch/s", "last batch/s", "doc kB",
                         "outbox", "commits/s", "vs alone", "foreign"))
    alone = None
    for r in ret:
        if r["phase"] == "load alone":
            alone = float(r["load_tps"])
    for r in ret:
        vs = ""
        if alone and r["load_tps"]:
            vs = "%.2f" % (float(r["load_tps"]) / alone)
        print("   " + fmt % (r["phase"], r["runs_retired"], r["secs"], r["runs_per_s"], r["first_batch_rps"],
                             r["last_batch_rps"], r["doc_kb_per_run"], r["outbox_rows_at_start"],
                             r["load_tps"], vs, r["foreign_cores"]))
    print()
    print("   " + check)
    print()
