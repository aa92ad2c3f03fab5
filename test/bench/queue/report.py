"""The report of test/bench/queue.sh: medians of raw.csv side by side.

    python3 queue/report.py RAW.csv SIZES.txt "MACHINE AND SETTINGS"
"""
import csv
import statistics
import sys
from collections import defaultdict


def load(raw):
    rate = defaultdict(list)
    wal = defaultdict(list)
    for row in csv.DictReader(open(raw)):
        kind = row["name"].split("-")[0]
        key = (kind, row["system"], int(row["batch"]), int(row["dispatchers"]))
        rate[key].append(float(row["rows_per_s"]))
        wal[key].append(float(row["wal_bytes_per_row"]))
    return rate, wal


def side_by_side(rate, wal):
    print("| finished rows | batch | dispatchers | verist rows/s | reference rows/s | ratio | each repetition | WAL B/row verist / reference | target 1.0 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, finished in (("lease", "0"), ("history", "1,000,000")):
        for b, d in sorted({(b, d) for (k, s, b, d) in rate if k == kind}):
            v, r = rate[(kind, "verist", b, d)], rate[(kind, "reference", b, d)]
            if not v or not r:
                continue
            mv, mr = statistics.median(v), statistics.median(r)
            ratio = mv / mr if mr else 0.0
            each = " ".join(f"{a / c:.2f}" for a, c in zip(v, r) if c)
            wv = statistics.median(wal[(kind, "verist", b, d)])
            wr = statistics.median(wal[(kind, "reference", b, d)])
            verdict = "PASS" if ratio >= 1.0 else "MISS"
            print(f"| {finished} | {b} | {d} | {mv:,.0f} | {mr:,.0f} | {ratio:.2f} | {each} | {wv:,.0f} / {wr:,.0f} | {verdict} |")


def what_if(rate, wal):
    variants = ("shipped", "no_dedupe", "no_run", "no_both")
    label = {"shipped": "as shipped (4 indexes)", "no_dedupe": "without verist_outbox_dedupe_idx",
             "no_run": "without verist_outbox_run_idx", "no_both": "without both"}
    print("| verist's outbox (batch 100) | dispatchers | rows/s | vs as shipped | vs reference | WAL B/row |")
    print("|---|---|---|---|---|---|")
    for d in (1, 4):
        base = rate.get(("whatif_shipped", "verist", 100, d))
        ref = rate.get(("lease", "reference", 100, d))
        for v in variants:
            got = rate.get((f"whatif_{v}", "verist", 100, d))
            if not got or not base:
                continue
            m = statistics.median(got)
            vs_ref = f"{m / statistics.median(ref):.2f}" if ref else "-"
            w = statistics.median(wal[(f"whatif_{v}", "verist", 100, d)])
            print(f"| {label[v]} | {d} | {m:,.0f} | {m / statistics.median(base):.2f} | {vs_ref} | {w:,.0f} |")


def main(raw, sizes, machine):
    rate, wal = load(raw)
    print(f"Leasing, verist against a pgmq-style queue ({machine})")
    print()
    side_by_side(rate, wal)
    print()
    print("What the outbox's indexes cost (not a supported configuration):")
    print()
    what_if(rate, wal)
    print()
    print("Size on disk (queue/fill.sql, then drained):")
    print()
    for line in open(sizes):
        print(line.rstrip())


if __name__ == "__main__":
    main(*sys.argv[1:4])
