#!/usr/bin/env python3
"""Where 0.4.0's extra instructions per commit go (test/bench/ledger/instr.sh).

    instr_diff.py N1 N2 A_N1 A_N2 B_N1 B_N2 [TOP]

A_* and B_* are `callgrind_annotate --inclusive=yes --threshold=100` outputs
of version A (0.3.1) and B (0.4.0) at N1 and N2 commits.  For every function
(file base name and function, the object left out, so both builds match):
inclusive instructions per commit = (I(N2) - I(N1)) / (N2 - N1); prints the
TOP functions by the difference B - A.  Inclusive: a caller's figure holds
its callees', so the lines overlap (read them as a call tree's levels).
"""
import os
import re
import sys

n1, n2 = int(sys.argv[1]), int(sys.argv[2])
top = int(sys.argv[7]) if len(sys.argv) > 7 else 45
line_re = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+(.*?)(?: \[(.*)\])?$")


def load(path):
    out = {}
    with open(path) as f:
        for line in f:
            m = line_re.match(line)
            if not m:
                continue
            n = int(m.group(1).replace(",", ""))
            name = m.group(2)
            if "???:0x" in name or name.endswith("PROGRAM TOTALS"):
                continue
            fil, _, fn = name.rpartition(":")
            fn = re.sub(r"'\d+$", "", fn)           # recursion levels
            key = "%s:%s" % (os.path.basename(fil), fn) if fil not in ("???", "") else fn
            out[key] = max(out.get(key, 0), n)       # the outermost level of a recursion
    return out


def per_commit(a1, a2):
    keys = set(a1) | set(a2)
    return {k: (a2.get(k, 0) - a1.get(k, 0)) / (n2 - n1) for k in keys}


a = per_commit(load(sys.argv[3]), load(sys.argv[4]))
b = per_commit(load(sys.argv[5]), load(sys.argv[6]))
keys = set(a) | set(b)
rows = sorted(keys, key=lambda k: -abs(b.get(k, 0) - a.get(k, 0)))
print("%12s %12s %12s  %s" % ("0.3.1", "0.4.0", "diff", "function (inclusive instructions per commit)"))
for k in rows[:top]:
    print("%12.0f %12.0f %+12.0f  %s" % (a.get(k, 0), b.get(k, 0), b.get(k, 0) - a.get(k, 0), k))
