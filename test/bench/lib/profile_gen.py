#!/usr/bin/env python3
"""Write the statement files that profile.sh feeds to a single-user backend.

    profile_gen.py JSONDIR OUTDIR CONNINFO N...

For each N, variant (verist, client, floor), path (create, update) and
protocol (simple: every statement parsed and planned each time, as the
extended protocol with unnamed statements does; prepared: PREPARE once, then
EXECUTE) one file OUTDIR/VARIANT-PATH-PROTO-N.sql, one statement per line.
Commit g uses the same run, step and version as in the pgbench scripts.  The
client pattern's and the floor's dedupe keys, event hashes and (verist 0.4.0)
ledger entry -- its hash and input fingerprint -- are read from bench.keys
(lib/keys.sql, run with output, events and commands) and written as literals:
unlike under pgbench, no lookup is needed, so these counts are the variants'
own cost.  As in scripts/client_*.sql and floor_*.sql, every variant writes
the rows verist_commit writes: the state row with its chain and ledger heads,
3 events, 2 outbox rows and the ledger entry, which the client pattern and
the floor stamp with the fixed time and roles their precomputed hash covers
(the entry is part of the state statement, a data-modifying WITH, so the
client pattern still sends five statements).  The update files start with
the 240 update runs at version 1 written as lib/reset.sql writes them (entry
1 and both heads), which is what bench.keys's update entries chain onto.
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
# the input fingerprint of lib/reset.sql's entry 1 (verist_commit(..., '1', 0, output))
init_input = conn.execute("SELECT input FROM bench.inputs WHERE step = '1'").fetchone()
conn.close()
if init_input is None or any(len(c) != 7 or len(u) != 7 for c, u in packed.values()):
    sys.exit("profile_gen.py: bench.keys has no ledger entries (run lib/keys.sql with output, events, commands)")
init_input = init_input[0]

# The state statement, with the commit's ledger entry in the same statement
# (scripts/client_*.sql, floor_*.sql).  k holds the output, which both the
# state row and the entry (its change) take.  LEDGER_CLIENT reads the new
# state row, as the client pattern's scripts do; LEDGER_FLOOR only literals.
STATE_CREATE = ("WITH k AS (SELECT {output}::jsonb AS output), s AS ("
                "INSERT INTO verist_state AS s (workflow_id, run_id, version, computed, overlay, created_at,"
                " updated_at, chain_seq, chain_hash, ledger_seq, ledger_hash) SELECT 'bench-wf', {run}, 1,"
                " k.output, '{{}}'::jsonb, now(), now(), 3, {h3}, 1, {lh} FROM k{conflict} RETURNING s.*)")
STATE_UPDATE = ("WITH k AS (SELECT {output}::jsonb AS output), s AS ("
                "UPDATE verist_state AS s SET version = s.version + 1, computed = s.computed || k.output,"
                " updated_at = now(), chain_seq = {seq3}, chain_hash = {h3}, ledger_seq = {lseqset},"
                " ledger_hash = {lh} FROM k"
                " WHERE s.workflow_id = 'bench-wf' AND s.run_id = {run}{vercheck} RETURNING s.*)")
LEDGER_COLS = ("INSERT INTO verist_ledger (workflow_id, run_id, seq, kind, version, step_id, block, change,"
               " input, role, session_role, actor, events_seq, events_hash, created_at, hash)")
LEDGER_CLIENT = (", l AS (" + LEDGER_COLS + " SELECT s.workflow_id, s.run_id, s.ledger_seq, 'commit',"
                 " s.version, {step}, NULL, k.output, {input}, 'postgres', 'postgres', NULL, s.chain_seq,"
                 " s.chain_hash, {ts}, s.ledger_hash FROM s, k)")
LEDGER_FLOOR = (", l AS (" + LEDGER_COLS + " SELECT 'bench-wf', {run}, {lseq}, 'commit', {lseq}, {step},"
                " NULL, k.output, {input}, 'postgres', 'postgres', NULL, {seq3}, {h3}, {ts}, {lh} FROM k)")
EVENTS = ("INSERT INTO verist_events (workflow_id, run_id, step_id, type, payload, llm_trace, created_at, seq, hash)"
          " VALUES ('bench-wf', {run}, {step}, {e1type}, {e1payload}::jsonb, NULL, {ts}, {seq1}, {h1}),"
          " ('bench-wf', {run}, {step}, {e2type}, {e2payload}::jsonb, {e2trace}::jsonb, {ts}, {seq2}, {h2}),"
          " ('bench-wf', {run}, {step}, {e3type}, {e3payload}::jsonb, NULL, {ts}, {seq3}, {h3})")
OUTBOX = ("INSERT INTO verist_outbox (workflow_id, run_id, step_id, command, dedupe_key, status, created_at)"
          " VALUES ('bench-wf', {run}, {step}, {cmd1}::jsonb, {k1}, 'pending', now()),"
          " ('bench-wf', {run}, {step}, {cmd2}::jsonb, {k2}, 'pending', now())")
VERIST = "SELECT * FROM verist_commit('bench-wf', {run}, {step}, {ver}, {output}, {events}, {commands})"
PLACEHOLDERS = ["run", "step", "ver", "k1", "k2", "h1", "h2", "h3", "lh", "input", "lseq", "seq1", "seq2",
                "seq3", "ts", "vercheck"] + list(d)


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
    floor = variant == "floor"
    if path == "create":
        conflict = " ON CONFLICT (workflow_id, run_id) DO NOTHING" if variant in ("client", "client_unnest") else ""
        state = STATE_CREATE.format(conflict=conflict, **v)
    else:
        # the client pattern moves the head it read, the floor writes v + 1 (floor_update.sql)
        state = STATE_UPDATE.format(lseqset=v["lseq"] if floor else "s.ledger_seq + 1", **v)
    state += (LEDGER_FLOOR if floor else LEDGER_CLIENT).format(**v)
    if floor:
        return [state + ", e AS (" + EVENTS.format(**v) + "), o AS (" + OUTBOX.format(**v) + ") SELECT s.* FROM s"]
    state += " SELECT s.* FROM s"
    if variant in ("client", "client_check"):
        return ["BEGIN", state, EVENTS.format(**v),
                OUTBOX.format(**v) + " ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key", "COMMIT"]
    if variant == "client_nooc":
        return ["BEGIN", state, EVENTS.format(**v), OUTBOX.format(**v), "COMMIT"]
    assert variant == "client_unnest"
    return ["BEGIN", state, EVENTS_UNNEST.format(**v), OUTBOX_UNNEST.format(**v), "COMMIT"]


def values(g, path, variant):
    run, step, ver = ident(g, path)
    k1, k2, h1, h2, h3, lh, inp = packed[g][0 if path == "create" else 1]
    seq0 = 0 if path == "create" else 3 * (ver - 1)
    # ledger entry ver + 1 makes version ver + 1 (the update runs' entry 1 is lib/reset.sql's)
    v = {"run": lit(run), "step": lit(step), "ver": str(ver), "k1": lit(k1), "k2": lit(k2),
         "h1": lit(h1), "h2": lit(h2), "h3": lit(h3), "lh": lit(lh), "input": lit(inp),
         "lseq": str(ver + 1), "seq1": str(seq0 + 1), "seq2": str(seq0 + 2),
         "seq3": str(seq0 + 3), "ts": lit(TS),
         "vercheck": " AND s.version = %d" % ver if variant == "client" else ""}
    v.update({name: lit(val) for name, val in d.items()})
    return v


def update_runs():
    """lib/update_runs.sql (the 240 update runs at version 1, exactly as
    lib/reset.sql writes them, so that bench.keys's update entries chain onto
    their heads) as one-line statements, its psql variables as literals."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "update_runs.sql")) as f:
        sql = "\n".join(line for line in f if not line.lstrip().startswith("--"))
    sql = sql.replace(":'output'", lit(d["output"])).replace(":'init_input'", lit(init_input))
    return [" ".join(q.split()) for q in sql.split(";") if q.strip()]


PREFIX_UPDATE = update_runs()


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
                    lines.extend(PREFIX_UPDATE)
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
