#!/usr/bin/env python3
"""Statement files for test/bench/ledger/instr.sh (postgres --single input).

    instr.py DATADIR OUTDIR N1 N2

Writes OUTDIR/setup.sql (the 240 runs of the update path, created by
verist_commit) and OUTDIR/{create,update}_{N1,N2}.sql: N commits of the path,
one statement per line (single-user mode ends a statement at a newline), the
JSON as literals, the same commits as ledger.sh's pgbench scripts.
"""
import os
import sys

data, out, n1, n2 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def lit(name):
    with open(os.path.join(data, name + ".json")) as f:
        return "'" + f.read().strip().replace("'", "''") + "'"


output, events, commands = lit("output"), lit("events"), lit("commands")
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "setup.sql"), "w") as f:
    f.write("CREATE EXTENSION verist\n")
    f.write("SELECT count(verist_commit('bench-wf', (2000000000 + r)::text, '1', 0, %s, %s, %s))"
            " FROM generate_series(0, 239) AS r\n" % (output, events, commands))
    f.write("SELECT extversion FROM pg_extension WHERE extname = 'verist'\n")
    f.write("CHECKPOINT\n")
for n in (n1, n2):
    with open(os.path.join(out, "create_%d.sql" % n), "w") as f:
        for g in range(n):
            f.write("SELECT (verist_commit('bench-wf', '%d', 'extract', 0, %s, %s, %s)).version\n"
                    % (1000000000 + g, output, events, commands))
    with open(os.path.join(out, "update_%d.sql" % n), "w") as f:
        for g in range(n):
            v = g // 240 + 1
            f.write("SELECT (verist_commit('bench-wf', '%d', '%d', %d, %s, %s, %s)).version\n"
                    % (2000000000 + g % 240, v + 1, v, output, events, commands))
