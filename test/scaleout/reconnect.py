#!/usr/bin/env python3
"""What the call after an error costs, with and without PgBouncer.

    reconnect.py ROUTER_DSN POOLED_CONNSTR... -- DIRECT_CONNSTR...

After any remote error PL/Proxy drops its connection to that shard, so the
next call connects again: to a new backend of the shard (which also loads
verist's library and warms its caches) when the router connects directly,
to PgBouncer (which keeps its server connection) when a pooler is between.
Measured in one router session: the median time of verist_load right after
a refused commit (VRC01), and of verist_load alone, with the shards'
connection strings pointed at PgBouncer, then directly at the shards (then
put back).  Prints the figures and one "ok - " line: the call after an error
is cheaper through PgBouncer.
"""
import statistics
import sys
import time

import psycopg

N = 25


def measure(conn):
    after, plain = [], []
    for _ in range(5):
        conn.execute("SELECT * FROM verist_load('rc', 'r')").fetchall()
    for _ in range(N):
        try:
            # not the creating commit itself: from verist 0.4.0 on, its
            # identical retry returns the stored result instead of VRC01
            conn.execute("SELECT * FROM verist_commit('rc', 'r', 's', 0, '{\"again\": true}')")
        except psycopg.Error as e:
            assert e.sqlstate == "VRC01", e.sqlstate
        t = time.perf_counter()
        conn.execute("SELECT * FROM verist_load('rc', 'r')").fetchall()
        after.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        conn.execute("SELECT * FROM verist_load('rc', 'r')").fetchall()
        plain.append((time.perf_counter() - t) * 1000)
    return statistics.median(after), statistics.median(plain)


def point(conn, connstrs):
    for k, cs in enumerate(connstrs, 1):
        conn.execute("SELECT verist_proxy_set_connstr(%s, %s)", (k, cs))


def main(argv):
    router = argv[0]
    sep = argv.index("--")
    pooled, direct = argv[1:sep], argv[sep + 1:]
    conn = psycopg.connect(router, autocommit=True, options="-c client_min_messages=warning")
    conn.execute("SELECT verist_commit('rc', 'r', 's', 0, '{}')") if not conn.execute(
        "SELECT * FROM verist_load('rc', 'r')").fetchall() else None
    try:
        point(conn, pooled)
        pa, pp = measure(conn)
        point(conn, direct)
        da, dp = measure(conn)
    finally:
        point(conn, pooled)
    print("# call after a remote error (median of %d): %.2f ms through PgBouncer, %.2f ms direct;"
          " a call without an error before it: %.2f ms through PgBouncer, %.2f ms direct" % (N, pa, da, pp, dp))
    ok = da > pa
    print(("ok - " if ok else "not ok - ")
          + "after an error the next call costs %.2f ms through PgBouncer against %.2f ms direct (a new backend)"
          % (pa, da))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
