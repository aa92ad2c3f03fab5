#!/usr/bin/env python3
"""Turn test/bench/out/raw.csv (one line per measured run) into the report:
results.txt (printed), results.csv (medians, ratios, targets) and the plot
commits_vs_clients.png (gnuplot).

    report.py OUTDIR MODE ELAPSED_SECONDS
"""
import csv
import os
import statistics
import subprocess
import sys
from collections import defaultdict

out, mode, elapsed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = list(csv.DictReader(open(os.path.join(out, "raw.csv"))))
lines = []
csv_rows = []


def emit(s=""):
    lines.append(s)


def med(values):
    out = []
    for v in values:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            pass
    values = out
    return statistics.median(values) if values else float("nan")


def group(section, keys):
    g = defaultdict(list)
    for r in rows:
        if r["section"] == section:
            g[tuple(r[k] for k in keys)].append(r)
    return g


def verdict(value, target, higher_is_better=True):
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "MISS"


env = open(os.path.join(out, "env.txt")).read().rstrip("\n")
emit("verist benchmark (issue 4)")
emit("=" * 26)
for line in env.splitlines():
    emit("  " + line)
emit("  wall time of this run: %d min %d s" % (elapsed // 60, elapsed % 60))
same = os.path.join(out, "same_rows.txt")
if os.path.exists(same):
    emit("  " + open(same).read().strip())
emit()

# ------------------------------------------------------------------ commit
main = group("main", ["protocol", "path", "sync", "clients", "variant"])
sweep = group("sweep", ["protocol", "path", "sync", "clients", "variant"])
TARGET = {"client": 1.6, "floor": 0.9}
PROTO_NOTE = {
    "extended": "extended protocol, unnamed statements: every statement is parsed and planned on each "
                "execution (what node-postgres and the TypeScript adapter send)",
    "prepared": "extended protocol, named prepared statements: parsed once, plans cached by the server "
                "(what a client with statement caching sends; psycopg does this after 5 executions)",
}
misses = []
if main:
    emit("1. Commit throughput and latency: verist vs the client pattern vs the floor")
    emit("   commits/s, p50, p99: median of the runs.  verist/x: verist's commits/s divided by the")
    emit("   variant's in the same repetition (they ran back to back), median over repetitions,")
    emit("   with the range over repetitions;")
    emit("   targets: verist >= 1.6x client pattern and >= 0.9x floor.  failed = failed or")
    emit("   aborted transactions over all runs (must be 0); check = rows written per commit")
    emit("   (3 events + 2 outbox rows + 1 ledger entry) and commits counted by the database =")
    emit("   pgbench's log.  All three write the same rows, ledger entries included (same rows check).")
    for proto in ("extended", "prepared"):
        keys = sorted(k for k in main if k[0] == proto)
        if not keys:
            continue
        emit()
        emit("   protocol: " + PROTO_NOTE[proto])
        emit("   %-6s %-4s %7s  %-7s %10s %8s %8s %8s %-10s %6s  %-6s %6s  %s" % (
            "path", "sync", "clients", "variant", "commits/s", "p50 ms", "p99 ms", "verist/x",
            "(range)", "target", "result", "failed", "runs/check"))
        for path in ("create", "update"):
            for sync in ("on", "off"):
                for clients in ("1", "8"):
                    base = main.get((proto, path, sync, clients, "verist"))
                    if not base:
                        continue
                    vt_by_rep = {r["rep"]: float(r["tps"]) for r in base}
                    for v in ("verist", "client", "floor"):
                        rs = main.get((proto, path, sync, clients, v), [])
                        if not rs:
                            continue
                        tps = med(r["tps"] for r in rs)
                        p50 = med(r["p50_ms"] for r in rs)
                        p99 = med(r["p99_ms"] for r in rs)
                        failed = sum(int(r["failed"] or 0) for r in rs)
                        checks = sorted(set(r["check"] for r in rs))
                        # paired by repetition: the variants of one repetition ran
                        # back to back, under the same load
                        pairs = [vt_by_rep[r["rep"]] / float(r["tps"]) for r in rs
                                 if r["rep"] in vt_by_rep and float(r["tps"]) > 0]
                        ratio = statistics.median(pairs) if pairs else float("nan")
                        spread = "%.2f-%.2f" % (min(pairs), max(pairs)) if pairs and v != "verist" else ""
                        target = TARGET.get(v)
                        res = verdict(ratio, target) if target else ""
                        if res == "MISS":
                            misses.append("%s %s sync=%s clients=%s: verist/%s = %.2f (target %.1f)" % (
                                proto, path, sync, clients, v, ratio, target))
                        emit("   %-6s %-4s %7s  %-7s %10.0f %8.3f %8.3f %8.3f %-10s %6s  %-6s %6d  %d/%s" % (
                            path, sync, clients, v, tps, p50, p99, ratio, spread,
                            (">=%.1f" % target) if target else "", res, failed, len(rs), ",".join(checks)))
                        csv_rows.append(["commit", proto, path, sync, clients, v, len(rs), "%.1f" % tps,
                                         "%.3f" % p50, "%.3f" % p99, "%.3f" % ratio,
                                         (">=%.1f" % target) if target else "", res, failed])
                    emit()
    kf = group("keyfetch", ["protocol", "variant"])
    if kf:
        parts = []
        for proto in ("extended", "prepared"):
            w, wo = kf.get((proto, "with")), kf.get((proto, "without"))
            if w and wo:
                d = (med(r["mean_ms"] for r in w) - med(r["mean_ms"] for r in wo)) * 1000
                parts.append("%s %.0f us" % (proto, d))
                csv_rows.append(["keyfetch", proto, "", "", "1", "", len(w), "", "", "", "", "", "", "",
                                 "overhead_us=%.1f" % d])
        emit("   The client pattern and the floor get their precomputed dedupe keys, event hashes and")
        emit("   ledger entry (input fingerprint, hash)")
        emit("   from bench.kc(g), a PL/pgSQL index lookup, inside a statement they send anyway (pgbench")
        emit("   cannot compute SHA-256).  The lookup alone costs about " + ", ".join(parts) + " per commit")
        emit("   (1 client; the difference of two noisy latencies, so only indicative), which is NOT")
        emit("   subtracted above: it lowers the client pattern and the floor by about that much.")
        emit("   profile.sh counts instructions without any probe (literal keys).")
        emit()

# ------------------------------------------------------------------ sweep/plot
allc = {}
for k, rs in list(main.items()) + list(sweep.items()):
    proto, path, sync, clients, v = k
    if proto == "extended" and path == "create":
        allc[(sync, int(clients), v)] = med(r["tps"] for r in rs)
if any(k[1] not in (1, 8) for k in allc):
    emit("2. Commits/s against clients (create path, extended protocol), plotted in")
    emit("   commits_vs_clients.png")
    clients = sorted(set(k[1] for k in allc))
    emit("   %-4s %-7s " % ("sync", "variant") + " ".join("%8s" % ("c=%d" % c) for c in clients))
    for sync in ("on", "off"):
        for v in ("verist", "client", "floor"):
            emit("   %-4s %-7s " % (sync, v) + " ".join(
                "%8.0f" % allc[(sync, c, v)] if (sync, c, v) in allc else "%8s" % "-" for c in clients))
            for c in clients:
                if (sync, c, v) in allc:
                    csv_rows.append(["sweep", "extended", "create", sync, c, v, "", "%.1f" % allc[(sync, c, v)]])
    emit()
    for sync in ("on", "off"):
        with open(os.path.join(out, "sweep_%s.dat" % sync), "w") as f:
            f.write("# clients verist client floor\n")
            for c in clients:
                f.write("%d %s\n" % (c, " ".join("%.1f" % allc.get((sync, c, v), float("nan"))
                                                  for v in ("verist", "client", "floor"))))
    gp = """
set terminal pngcairo size 1200,520 font 'sans,10' noenhanced
set output '{out}/commits_vs_clients.png'
set multiplot layout 1,2 title 'verist_commit vs client pattern vs floor: new run, 3 events, 2 commands ({mode} run, median of the repetitions, pgbench -M extended, TCP loopback, 2 cores)'
set logscale x 2
set xrange [0.85:19]
set xtics (1,2,4,8,16)
set xlabel 'clients'
set ylabel 'commits/s'
set yrange [0:*]
set key bottom right
set grid
do for [s in 'on off'] {{
  set title 'synchronous_commit = '.s
  plot '{out}/sweep_'.s.'.dat' using 1:2 with linespoints lw 2 pt 7 title 'verist (1 round trip)', \\
       '' using 1:3 with linespoints lw 2 pt 5 title 'client pattern (5 round trips)', \\
       '' using 1:4 with linespoints lw 2 pt 9 title 'floor (1 writable CTE, no checks)'
}}
unset multiplot
""".format(out=out, mode=mode)
    with open(os.path.join(out, "commits_vs_clients.gp"), "w") as f:
        f.write(gp)
    try:
        subprocess.run(["gnuplot", os.path.join(out, "commits_vs_clients.gp")], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        emit("   (plot failed: %s)" % e)

# ------------------------------------------------------------------ leasing
lease = group("lease", ["path", "clients", "variant"])
if lease:
    emit("3. Leasing throughput (synchronous_commit on): verist_lease_outbox, then the leased entries")
    emit("   finalised with one verist_mark_dispatched call (one round trip, one commit) per entry,")
    emit("   or with one verist_mark_dispatched_batch; entries/s = leased and dispatched per second")
    emit("   %-6s %-11s %12s %12s %14s %14s  %s" % ("batch", "dispatchers", "each: ent/s", "batch: ent/s",
                                                   "each: cycle p50", "batch: cycle p50", "check"))
    for b in ("1", "10", "100"):
        for d in ("1", "4"):
            cells = []
            chk = set()
            for how in ("each", "batch"):
                rs = lease.get((how, d, "batch" + b), [])
                tps = med(r["tps"] for r in rs) * int(b)
                p50 = med(r["p50_ms"] for r in rs)
                cells.append((tps, p50))
                chk |= set(r["check"] for r in rs)
                csv_rows.append(["lease", "extended", how, "on", d, "batch" + b, len(rs), "%.1f" % tps,
                                 "%.3f" % p50, "", "", "", "", sum(int(r["failed"] or 0) for r in rs)])
            emit("   %-6s %-11s %12.0f %12.0f %12.3f ms %12.3f ms  %s" % (
                b, d, cells[0][0], cells[1][0], cells[0][1], cells[1][1], ",".join(sorted(chk))))
    emit()

leaselat = group("leaselat", ["variant"])
if leaselat:
    emit("4. Lease latency with and without history (synchronous_commit off, 1 dispatcher, batch 10,")
    emit("   lease then verist_mark_dispatched_batch; 200,000 pending rows in both databases)")
    hist = open(os.path.join(out, "history.txt")).read().strip() if os.path.exists(
        os.path.join(out, "history.txt")) else "?"
    vals = {}
    for db, label in (("growth0", "0 dispatched rows"), ("growthh", "with history")):
        rs = leaselat.get((db,), [])
        lease_ms = med(r["extra"] for r in rs)
        vals[db] = (lease_ms, med(r["p50_ms"] for r in rs), med(r["p99_ms"] for r in rs), med(r["tps"] for r in rs))
        emit("   %-20s lease call %.3f ms avg; cycle p50 %.3f ms, p99 %.3f ms; %.0f cycles/s  %s" % (
            label, vals[db][0], vals[db][1], vals[db][2], vals[db][3], ",".join(sorted(set(r["check"] for r in rs)))))
    if "growth0" in vals and "growthh" in vals:
        ratio = vals["growthh"][0] / vals["growth0"][0]
        ratio50 = vals["growthh"][1] / vals["growth0"][1]
        res = verdict(ratio, 1.2, higher_is_better=False)
        if res == "MISS":
            misses.append("lease latency with history: %.2fx (target <= 1.2)" % ratio)
        emit("   history: " + hist)
        emit("   lease call with history / without: %.2fx (cycle p50 %.2fx); target <= 1.2x: %s" % (ratio, ratio50, res))
        csv_rows.append(["leaselat", "extended", "lease10", "off", "1", "history/none", "", "", "", "",
                         "%.3f" % ratio, "<=1.2", res])
    emit()

growth = group("growth", ["sync", "variant"])
if growth:
    emit("5. Growth: commit latency (verist, new run with a random id, 1 client) with an empty")
    emit("   database vs with the stored history")
    for sync in ("off", "on"):
        v0 = growth.get((sync, "growth0"))
        vh = growth.get((sync, "growthh"))
        if not v0 or not vh:
            continue
        a = [med(r[k] for r in v0) for k in ("tps", "p50_ms", "p99_ms", "mean_ms")]
        b = [med(r[k] for r in vh) for k in ("tps", "p50_ms", "p99_ms", "mean_ms")]
        ratio = b[3] / a[3]
        res = verdict(ratio, 1.3, higher_is_better=False)
        if res == "MISS":
            misses.append("growth sync=%s: mean latency x%.2f (target <= 1.3)" % (sync, ratio))
        emit("   sync=%-3s empty:   %7.0f commits/s, p50 %.3f ms, p99 %.3f ms, mean %.3f ms" % (sync, *a))
        emit("   sync=%-3s history: %7.0f commits/s, p50 %.3f ms, p99 %.3f ms, mean %.3f ms" % (sync, *b))
        emit("   sync=%-3s mean latency with history / empty: %.2fx (p50 %.2fx); target <= 1.3x: %s" % (
            sync, ratio, b[1] / a[1], res))
        csv_rows.append(["growth", "extended", "create", sync, "1", "history/empty", "", "", "", "",
                         "%.3f" % ratio, "<=1.3", res])
    emit()

memory = group("memory", ["variant"])
if memory and ("before",) in memory and ("after",) in memory:
    def kv(r):
        return dict(x.split("=") for x in r["extra"].split(";"))
    b, a = kv(memory[("before",)][0]), kv(memory[("after",)][0])
    n = int(memory[("after",)][0]["txns"]) - 1000
    emit("6. Memory: one backend, %d commits in one session (after 1,000 warm-up commits)" % n)
    for key, label in (("vmrss_kb", "VmRSS (all resident)"), ("rssanon_kb", "RssAnon (private)"),
                       ("rssshmem_kb", "RssShmem (shared buffers touched)"),
                       ("contexts_kb", "memory contexts (palloc)")):
        emit("   %-36s before %8d kB  after %8d kB  growth %+8d kB" % (
            label, int(b[key]), int(a[key]), int(a[key]) - int(b[key])))
    growth_mb = (int(a["rssanon_kb"]) - int(b["rssanon_kb"])) / 1024.0
    res = verdict(growth_mb, 10, higher_is_better=False)
    if res == "MISS":
        misses.append("memory: private RSS grew %.1f MB (target < 10 MB)" % growth_mb)
    emit("   private memory growth %.1f MB; target < 10 MB: %s  (shared-buffer pages the backend" % (growth_mb, res))
    emit("   touches count in VmRSS but are the cache, not growth)")
    csv_rows.append(["memory", "extended", "create", "off", "1", "rssanon_growth_mb", n, "", "", "",
                     "%.2f" % growth_mb, "<10", res])
    emit()

dedupe = group("dedupe", ["path", "variant"])
if dedupe:
    emit("7. Canonical JSON + SHA-256 (one backend, calls/s, median of 3)")
    for size in ("1k", "100k"):
        d = dedupe.get((size, "dedupe"), [])
        c = dedupe.get((size, "canonical"), [])
        if not d:
            continue
        nbytes = int(d[0]["extra"])
        rate, crate = med(r["tps"] for r in d), med(r["tps"] for r in c)
        emit("   %-5s command (%6d bytes of JSON): verist_dedupe_key %9.0f calls/s (%6.1f MB/s); "
             "verist_canonical_json alone %9.0f calls/s" % (size, nbytes, rate, rate * nbytes / 1e6, crate))
        csv_rows.append(["dedupe", "", size, "", "1", "verist_dedupe_key", len(d), "%.1f" % rate])
        csv_rows.append(["dedupe", "", size, "", "1", "verist_canonical_json", len(c), "%.1f" % crate])
    emit()

def rep_ratio(runs, num, den):
    """Median over repetitions of num's rate / den's rate in the same repetition."""
    by_rep = defaultdict(dict)
    for r in runs:
        by_rep[r["rep"]][r["variant"]] = float(r["tps"])
    ratios = [v[num] / v[den] for v in by_rep.values() if num in v and den in v and v[den]]
    return (statistics.median(ratios), min(ratios), max(ratios)) if ratios else (float("nan"),) * 3


chain = group("chain", ["sync", "path", "clients"])
if chain:
    commit = next((r["extra"][:7] for rs in chain.values() for r in rs if r["extra"]), "?")
    emit("8. The audit chain's cost (issue 5): the same workload (section 1's, extended protocol),")
    emit("   interleaved, on verist 0.1.0 as released (built from %s, loaded in a database of" % commit)
    emit("   its own), and on this build with the 0.1.0 schema (no chain) and with this version.")
    emit("   Target: with the chain at most 5% slower than 0.1.0 (current/release >= 0.95).")
    emit("   current/nochain isolates the chain's own cost within one build (no target).")
    emit("   sync path   clients  release c/s  nochain c/s  current c/s  current/release (range)  target result  current/nochain  check")
    for key in sorted(chain, key=lambda k: (k[0] != "on", k[1], int(k[2]))):
        runs = chain[key]
        rel = med(r["tps"] for r in runs if r["variant"] == "release")
        noc = med(r["tps"] for r in runs if r["variant"] == "nochain")
        cur = med(r["tps"] for r in runs if r["variant"] == "current")
        ratio, lo, hi = rep_ratio(runs, "current", "release")
        own = rep_ratio(runs, "current", "nochain")[0]
        res = verdict(ratio, 0.95)
        ok = "ok" if all(r["check"] == "ok" for r in runs) and \
            sum(int(r["failed"] or 0) for r in runs) == 0 else "BAD"
        emit("   %-4s %-6s %7s %12.0f %12.0f %12.0f %9.3f %5.2f-%-5.2f     >=0.95 %-6s %9.3f        %s" % (
            key[0], key[1], key[2], rel, noc, cur, ratio, lo, hi, res, own, ok))
        csv_rows.append(["chain", "extended", key[1], key[0], key[2], "current/release_0.1.0",
                         len(runs), "%.1f" % cur, "", "", "%.3f" % ratio, ">=0.95", res])
        csv_rows.append(["chain", "extended", key[1], key[0], key[2], "current/nochain",
                         len(runs), "%.1f" % cur, "", "", "%.3f" % own, "", ""])
        if res == "MISS":
            misses.append("chain %s sync=%s clients=%s: current/release 0.1.0 = %.3f (target 0.95)"
                          % (key[1], key[0], key[2], ratio))
    emit()

notify = group("notify", ["sync", "clients"])
if notify:
    emit("9. The cost of wake-ups (issue 6): the create path with verist.notify off (the default)")
    emit("   and on; a notifying commit takes PostgreSQL's cluster-wide notify lock at commit")
    emit("   sync clients   off c/s    on c/s   on/off (range)   p99 ms off / on")
    for key in sorted(notify, key=lambda k: (k[0] != "on", int(k[1]))):
        runs = notify[key]
        off = [r for r in runs if r["variant"] == "notify_off"]
        on = [r for r in runs if r["variant"] == "notify_on"]
        ratio, lo, hi = rep_ratio(runs, "notify_on", "notify_off")
        emit("   %-4s %7s %9.0f %9.0f %7.3f %5.2f-%-5.2f %7.3f / %.3f" % (
            key[0], key[1], med(r["tps"] for r in off), med(r["tps"] for r in on), ratio, lo, hi,
            med(r["p99_ms"] for r in off), med(r["p99_ms"] for r in on)))
        csv_rows.append(["notify", "extended", "create", key[0], key[1], "on/off", len(runs),
                         "%.1f" % med(r["tps"] for r in on), "", "", "%.3f" % ratio, "", ""])
    emit()

purge = group("purge", ["variant"])
if purge:
    w, wo = purge.get(("with_purge",), []), purge.get(("without_purge",), [])
    rate = med(r["tps"] for r in w)
    during = med(r["extra"].split(";")[0] for r in w)
    secs = med(r["extra"].split(";")[1] for r in w)
    alone = med(r["tps"] for r in wo)
    ok = "ok" if all(r["check"] == "ok" for r in w) else ", ".join(r["check"] for r in w)
    emit("10. Retention (issue 6): verist_purge_outbox('30 days', 10000) in a loop over %s dispatched"
         % (w[0]["txns"] if w else "?"))
    emit("   rows, one transaction per batch, while 4 clients commit (create path, sync on)")
    emit("   purge: %.0f rows/s (%.1f s); commits during the purge %.0f/s, the same load alone %.0f/s"
         " (%.2fx)  %s" % (rate, secs, during, alone, during / alone if alone else float("nan"), ok))
    csv_rows.append(["purge", "extended", "purge", "on", "4", "rows_per_s", len(w), "%.1f" % rate,
                     "", "", "%.3f" % (during / alone if alone else float("nan")), "", ""])
    emit()

fl = [float(r["foreign_cores"]) for r in rows
      if r.get("foreign_cores") not in (None, "", "?") and r["section"] in ("main", "sweep")]
if fl:
    busy = sum(1 for x in fl if x > 0.25)
    emit("Noise: other processes and kernel threads (not the benchmark's cluster or pgbench) kept")
    emit("   %.2f cores busy during the median commit run (max %.2f of 2 cores); %d of %d runs saw more" % (
        statistics.median(fl), max(fl), busy, len(fl)))
    emit("   than 0.25 cores of such load (raw.csv, column foreign_cores).  Medians over interleaved")
    emit("   repetitions absorb some of it; figures from a loaded machine are lower and noisier.")
    emit()

emit("Targets missed: %d" % len(misses))
for m in misses:
    emit("   MISS " + m)

text = "\n".join(lines) + "\n"
with open(os.path.join(out, "results.txt"), "w") as f:
    f.write(text)
with open(os.path.join(out, "results.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["section", "protocol", "path", "sync", "clients", "variant", "runs", "per_s_median",
                "p50_ms", "p99_ms", "ratio", "target", "result", "failed"])
    for r in csv_rows:
        w.writerow(r)
print(text, end="")
