#!/usr/bin/env python3
"""Throughput of verist direct, through the router, with and without PgBouncer.

    scaleout_bench.py --seconds S --direct DSN --router-direct DSN --router-pooled DSN
                      [--shards-router DSN ...] --pids NAME=PIDFILE ...

Run by test/bench/scaleout.sh, which starts the servers.  Measures, for 1 and
8 clients, commits/s (each client its own runs, one event and one command per
commit) and verist_load calls/s, against:
  direct          the shard itself
  router          the router, PL/Proxy connecting to the shard directly
  router+bouncer  the router, PL/Proxy connecting through PgBouncer
and the CPU seconds each server spent per call (from /proc: the postmaster
and all its processes).  --shards-router DSN... (routers over 1, 2, 4 shards)
adds the aggregate commits/s with 8 clients for each.  Prints a table and an
estimate for separate machines from the measured per-call CPU costs.
"""
import argparse
import json
import multiprocessing
import os
import time

import psycopg

TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pidfile):
    """CPU seconds of a postmaster and all its processes, reaped ones included."""
    try:
        pm = int(open(pidfile).readline())
    except (OSError, ValueError):
        return 0.0
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid = int(f[1])
        if int(pid) == pm:
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        elif ppid == pm:
            total += int(f[11]) + int(f[12])
    return total / TICK


def worker(dsn, op, seconds, idx, tag, out):
    conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=None)
    run = "%s-%d" % (tag, idx)
    v = 0
    if op == "load":
        conn.execute("SELECT verist_commit('bench', %s, 's0', 0, '{\"a\": 1}')", (run,))
    n = 0
    ev = json.dumps([{"type": "done", "payload": {"i": 1}}])
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        if op == "commit":
            conn.execute("SELECT version FROM verist_commit('bench', %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)",
                         (run, "s%d" % n, v, json.dumps({"n": n}), ev,
                          json.dumps([{"type": "emit", "topic": "t", "payload": {"n": n}}])))
            v += 1
        else:
            conn.execute("SELECT * FROM verist_load('bench', %s)", (run,)).fetchall()
        n += 1
    out.put(n / (time.perf_counter() - start))


def measure(dsn, op, clients, seconds, tag):
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=worker, args=(dsn, op, seconds, i, tag, q)) for i in range(clients)]
    for p in ps:
        p.start()
    rates = [q.get() for _ in ps]
    for p in ps:
        p.join()
    return sum(rates)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--direct", required=True)
    ap.add_argument("--router-direct", required=True)
    ap.add_argument("--router-pooled", required=True)
    ap.add_argument("--shards-router", action="append", default=[])
    ap.add_argument("--pids", action="append", default=[])
    args = ap.parse_args()
    pids = dict(p.split("=", 1) for p in args.pids)
    targets = [("direct", args.direct), ("router", args.router_direct), ("router+bouncer", args.router_pooled)]
    rows = []
    k = 0
    for op in ("commit", "load"):
        for clients in (1, 8):
            for name, dsn in targets:
                k += 1
                before = {n: cpu_of(f) for n, f in pids.items()}
                t0 = time.perf_counter()
                rate = measure(dsn, op, clients, args.seconds, "%s%d" % (op, k))
                wall = time.perf_counter() - t0
                calls = rate * args.seconds
                cpu = {n: (cpu_of(f) - before[n]) / calls * 1000 for n, f in pids.items()}
                rows.append(dict(op=op, clients=clients, target=name, rate=rate, cpu=cpu, wall=wall))
                print("# %-6s %d client%s %-15s %8.0f calls/s   CPU ms/call: %s" % (
                    op, clients, " " if clients == 1 else "s", name, rate,
                    ", ".join("%s %.3f" % (n, c) for n, c in sorted(cpu.items()) if c > 0.0005)), flush=True)
    agg = []
    for i, dsn in enumerate(args.shards_router):
        rate = measure(dsn, "commit", 8, args.seconds, "agg%d" % i)
        agg.append(rate)
        print("# commit 8 clients router over %d shard%s: %8.0f commits/s" % (
            [1, 2, 4][i] if i < 3 else i + 1, "" if i == 0 else "s", rate), flush=True)

    print()
    print("| operation | clients | direct | router | router + PgBouncer |")
    print("|---|---|---|---|---|")
    for op in ("commit", "load"):
        for clients in (1, 8):
            r = {x["target"]: x["rate"] for x in rows if x["op"] == op and x["clients"] == clients}
            print("| %s | %d | %.0f/s | %.0f/s (%.2f×) | %.0f/s (%.2f×) |" % (
                "verist_commit" if op == "commit" else "verist_load", clients, r["direct"],
                r["router"], r["router"] / r["direct"], r["router+bouncer"], r["router+bouncer"] / r["direct"]))
    if agg:
        print()
        print("| shards behind the router (one machine) | 1 | 2 | 4 |")
        print("|---|---|---|---|")
        print("| commits/s, 8 clients | %s |" % " | ".join("%.0f" % a for a in agg))
    # Per-call costs, and what they say about separate machines.
    one = {x["target"]: x for x in rows if x["op"] == "commit" and x["clients"] == 1}
    eight = {x["target"]: x for x in rows if x["op"] == "commit" and x["clients"] == 8}
    lat = {t: 1000 / one[t]["rate"] for t in one}
    rb = eight["router+bouncer"]["cpu"]
    shard_cpu = rb.get("shard", 0)
    router_cpu = rb.get("router", 0)
    bouncer_cpu = rb.get("bouncer", 0)
    print()
    print("latency of one commit (1 client): direct %.2f ms, router %.2f ms (+%.2f), router + PgBouncer %.2f ms (+%.2f)"
          % (lat["direct"], lat["router"], lat["router"] - lat["direct"], lat["router+bouncer"],
             lat["router+bouncer"] - lat["direct"]))
    print("CPU per commit at 8 clients through router + PgBouncer: shard %.3f ms, router %.3f ms, PgBouncer %.3f ms"
          % (shard_cpu, router_cpu, bouncer_cpu))
    if shard_cpu and router_cpu:
        fwd = router_cpu + bouncer_cpu
        print("estimate for separate machines of C cores each: a shard commits up to ~C x %.0f/s if CPU-bound"
              " (its disk may bound it first); a router with its PgBouncer forwards ~C x %.0f calls/s; so S shard"
              " machines give ~S x one shard's rate while routers have about %.1f core per shard core"
              " (routers share nothing: add routers)" % (1000 / shard_cpu, 1000 / fwd, fwd / shard_cpu))


if __name__ == "__main__":
    main()
