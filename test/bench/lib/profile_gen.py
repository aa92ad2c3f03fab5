#!/usr/bin/env python3
"""Write the statement files that profile.sh feeds to a single-user backend.

    profile_gen.py JSONDIR OUTDIR CONNINFO N...

For each N, variant (verist, client, floor), path (create, update) and
protocol (simple: every statement parsed and planned each time, as the
extended protocol with unnamed statements does; prepared: PREPARE once, then
EXECUTE) one file OUTDIR/VARIANT-PATH-PROTO-N.sql, one statement per line.
Commit g uses the same run, step and version as in the pgbench scripts.  The
client pattern's and the floor's dedupe keys and event hashes are read from
bench.keys (lib/keys.sql) and written as literals: unlike under pgbench, no
lookup is needed, so these counts are the variants' own cost.
"""
import os
import re
import sys

import psycopg

jsondir, outdir, conninfo = sys.argv[1:4]
counts = [int(n) for n in sys.argv[4:]]
d = {}
for name in ["output", "events", "commands", "e1type", "e1payload", "e2type", "e2payload",
             "e2trace", "e3type", "e3payload", "cmd1", "cmd2"]:
    with open(os.path.join(jsondir, name + ".json")) as f:
        d[name] = f.read()
TS = "2025-01-01 00:00:00+00"


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def ident(g, path):
    """run, step, expected version of commit g"""
    if path == "create":
        return str(1000000000 + g), "extract", 0
    return str(2000000000 + g % 240), str(g // 240 + 2), g // 240 + 1


conn = psycopg.connect(conninfo, autocommit=True)
packed = {g: (c.split(" "), u.split(" ")) for g, c, u in
          conn.execute("SELECT g, c, u FROM bench.keys ORDER BY g").fetchall()}
conn.close()

STATE_CREATE = ("INSERT INTO verist_state AS s (workflow_id, run_id, version, computed, overlay, created_at,"
                " updated_at, chain_seq, chain_hash) VALUES ('bench-wf', {run}, 1, {output}::jsonb, '{{}}'::jsonb,"
                " now(), now(), 3, {h3})")
STATE_UPDATE = ("UPDATE verist_state AS s SET version = s.version + 1, computed = s.computed || {output}::jsonb,"
                " updated_at = now(), chain_seq = {seq3}, chain_hash = {h3}"
                " WHERE s.workflow_id = 'bench-wf' AND s.run_id = {run}{vercheck} RETURNING s.*")
EVENTS = ("INSERT INTO verist_events (workflow_id, run_id, step_id, type, payload, llm_trace, created_at, seq, hash)"
          " VALUES ('bench-wf', {run}, {step}, {e1type}, {e1payload}::jsonb, NULL, {ts}, {seq1}, {h1}),"
          " ('bench-wf', {run}, {step}, {e2type}, {e2payload}::jsonb, {e2trace}::jsonb, {ts}, {seq2}, {h2}),"
          " ('bench-wf', {run}, {step}, {e3type}, {e3payload}::jsonb, NULL, {ts}, {seq3}, {h3})")
OUTBOX = ("INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status, created_at)"
          " VALUES ('bench-wf', {run}, {step}, {cmd1}::jsonb, {k1}, 'pending', now()),"
          " ('bench-wf', {run}, {step}, {cmd2}::jsonb, {k2}, 'pending', now())")
VERIST = "SELECT * FROM verist_commit('bench-wf', {run}, {step}, {ver}, {output}, {events}, {commands})"
PLACEHOLDERS = ["run", "step", "ver", "k1", "k2", "h1", "h2", "h3", "seq1", "seq2", "seq3", "ts", "vercheck"] + list(d)


# What-if variants (create path): the client pattern's statements without
# ON CONFLICT (and without the outbox RETURNING it needs), with the events and
# commands passed as arrays and inserted FROM ROWS FROM (unnest(...)), the way
# verist's own statements do, and with the outbox status CHECK written as
# "= ANY (array constant)".  Their differences to "client" price those choices.
EVENTS_UNNEST = ("INSERT INTO verist_events (workflow_id, run_id, step_id, type, payload, llm_trace, created_at, seq, hash)"
                 " SELECT 'bench-wf', {run}, {step}, e.type, e.payload, e.llm_trace, {ts}, e.seq, e.hash"
                 " FROM ROWS FROM (unnest(ARRAY[{e1type}, {e2type}, {e3type}]::text[]),"
                 " unnest(ARRAY[{e1payload}, {e2payload}, {e3payload}]::jsonb[]),"
                 " unnest(ARRAY[NULL, {e2trace}, NULL]::jsonb[]),"
                 " unnest(ARRAY[{seq1}, {seq2}, {seq3}]::int[]),"
                 " unnest(ARRAY[{h1}, {h2}, {h3}]::text[])) AS e(type, payload, llm_trace, seq, hash)")
OUTBOX_UNNEST = ("INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status, created_at)"
                 " SELECT 'bench-wf', {run}, {step}, c.command, c.dedupe_key, 'pending', now()"
                 " FROM ROWS FROM (unnest(ARRAY[{cmd1}, {cmd2}]::jsonb[]), unnest(ARRAY[{k1}, {k2}]::text[]))"
                 " AS c(command, dedupe_key) ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key")


def statements(variant, path, v):
    """one commit's statements, with v mapping placeholder names to SQL text"""
    if variant == "verist":
        return [VERIST.format(**v)]
    if path == "create":
        state = STATE_CREATE.format(**v)
        if variant in ("client", "client_unnest"):
            state += " ON CONFLICT (workflow_id, run_id) DO NOTHING"
        state += " RETURNING s.*"
    else:
        state = STATE_UPDATE.format(**v)
    if variant in ("client", "client_check"):
        return ["BEGIN", state, EVENTS.format(**v),
                OUTBOX.format(**v) + " ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key", "COMMIT"]
    if variant == "client_nooc":
        return ["BEGIN", state, EVENTS.format(**v), OUTBOX.format(**v), "COMMIT"]
    if variant == "client_unnest":
        return ["BEGIN", state, EVENTS_UNNEST.format(**v), OUTBOX_UNNEST.format(**v), "COMMIT"]
    return ["WITH s AS (" + state + "), e AS (" + EVENTS.format(**v) + "), o AS ("
            + OUTBOX.format(**v) + ") SELECT * FROM s"]


def values(g, path, variant):
    run, step, ver = ident(g, path)
    k1, k2, h1, h2, h3 = packed[g][0 if path == "create" else 1]
    seq0 = 0 if path == "create" else 3 * (ver - 1)
    v = {"run": lit(run), "step": lit(step), "ver": str(ver), "k1": lit(k1), "k2": lit(k2),
         "h1": lit(h1), "h2": lit(h2), "h3": lit(h3), "seq1": str(seq0 + 1), "seq2": str(seq0 + 2),
         "seq3": str(seq0 + 3), "ts": lit(TS),
         "vercheck": " AND s.version = %d" % ver if variant == "client" else ""}
    v.update({name: lit(val) for name, val in d.items()})
    return v


PREFIX_UPDATE = ("INSERT INTO verist_state (workflow_id, run_id, version, computed, overlay, chain_seq, chain_hash)"
                 " SELECT 'bench-wf', (2000000000 + r)::text, 1, {output}::jsonb, '{{}}', 0,"
                 " verist_chain_genesis('bench-wf', (2000000000 + r)::text) FROM generate_series(0, 239) r")

jobs = [(v, p, pr) for v in ("verist", "client", "floor") for p in ("create", "update")
        for pr in ("simple", "prepared")]
jobs += [("client_nooc", "create", "prepared"), ("client_unnest", "create", "prepared"),
         ("client_check", "create", "prepared")]
for n in counts:
    for variant, path, proto in jobs:
        if True:
            if True:
                lines = []
                if variant == "client_check":
                    # the outbox status CHECK written with one array constant
                    lines.append("ALTER TABLE verist_outbox DROP CONSTRAINT verist_outbox_status_check,"
                                 " ADD CONSTRAINT verist_outbox_status_check CHECK (status ="
                                 " ANY ('{pending,deferred,leased,dispatched,rejected,failed}'::text[]))")
                if path == "update":
                    lines.append(PREFIX_UPDATE.format(output=lit(d["output"])))
                if proto == "prepared":
                    # PREPARE each statement with its parameters numbered in order
                    # of first use; their types are inferred, as for pgbench -M prepared
                    prepared = []
                    marks = {k: "\x01%s\x02" % k for k in PLACEHOLDERS}
                    if variant == "client" and path == "update":
                        marks["vercheck"] = " AND s.version = \x01ver\x02"
                    else:
                        marks["vercheck"] = ""
                    for i, s in enumerate(statements(variant, path, marks)):
                        if s in ("BEGIN", "COMMIT"):
                            prepared.append((s, []))
                            continue
                        numbered = {}

                        def number(m):
                            return numbered.setdefault(m.group(1), "$%d" % (len(numbered) + 1))
                        text = re.sub("\x01(\\w+)\x02", number, s)
                        lines.append("PREPARE p%d AS %s" % (i, text))
                        prepared.append(("p%d" % i, list(numbered)))
                for g in range(n):
                    v = values(g, path, variant)
                    if proto == "simple":
                        lines.extend(statements(variant, path, v))
                    else:
                        for name, used in prepared:
                            if not used:
                                lines.append(name)
                            else:
                                lines.append("EXECUTE %s(%s)" % (name, ", ".join(v[u] for u in used)))
                with open(os.path.join(outdir, "%s-%s-%s-%d.sql" % (variant, path, proto, n)), "w") as f:
                    f.write("\n".join(lines) + "\n")
