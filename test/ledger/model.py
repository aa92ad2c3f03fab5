#!/usr/bin/env python3
"""Model test of verist's ledger (0.4.0) against an independent Python model.

    model.py [--dsn DSN] [--seed N] [--runs R] [--commits C] [--plant NAME]

Generates a random history of R interleaved runs (C successful commits in
all, with overlays, review and suspend blocks and their resolutions, some
actions grouped in one transaction under a verist.actor), applies it through
verist's SQL functions, and keeps its own model of every run: computed,
overlay, effective, version, events, outbox, blocks and ledger entries.  The
model follows the README's contract, not verist's code:

  commit    version 0 creates (computed = output, overlay = {}), otherwise
            computed = computed || output (shallow; JSON null is a value)
  overlay   overlay = overlay || patch (shallow; JSON null is a value, no
            key is ever removed); the version does not move
  resolve   writes no state; the entry's change is the cleaned resolution,
            {"approved": b} or {"resumeData": v}
  state_at(v)    the run right after the commit that produced v: overlays
                 made after that commit (before the next one) are NOT in it
  state_as_of(t) every entry at or before t; entries of one transaction
                 share its time

Checks, each an "ok - " / "not ok - " line, then "N passed, M failed":
every call's returned row; identical retries (same or jsonb-equal text)
return the stored row and write nothing; stale commits (VRC01/VRC02) and a
blocking command while blocked (VRC03) write nothing; verist_state_at for
every version; verist_run_history entry by entry (kind, version, step,
block, change, actor, events_seq, input); verist_state_as_of at a moment
between every two transactions; verify_run; the final state row, events,
outbox and blocks; and that a commit differing from the stored one only in
a number JavaScript cannot tell apart is not taken for a retry.

JSON values are tricky on purpose: nested objects and arrays, unicode (NFC
and NFD forms as different keys, emoji, U+2028, control characters),
"__proto__" and array-index keys, the empty key, integers beyond 2^53 and
up to 10^40, long decimals, 1e+300, repeated keys in the text (the last
wins), \\u escapes and raw UTF-8.  JSON is read back with Decimal so numbers
compare exactly.

--plant NAME plants a mistake in the model or the client (see PLANTS) so
that the checks can be seen to fail.
"""
import argparse
import json
import random
import re
import sys
import time
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

MAX_SHOWN = 5

PLANTS = {
    "deep-merge": "the model merges nested objects of an output deeply",
    "null-removes": "the model removes overlay keys patched with null",
    "state-at-later": "the model's state_at includes overlays made after the commit",
    "raw-resolution": "the model expects a resolution as given, extra keys included",
    "no-block-row": "a resolution without an active block is expected to return a row",
    "asof-first": "as_of before a run's first entry is asked at the moment after it",
    "retry-different": "identical retries send another output",
    "retry-text": "jsonb-equal retries send another output",
    "stale-same": "stale commits send exactly the stored commit (a retry)",
    "stale-count": "the 'nothing written' count of refused calls expects one more ledger entry",
    "asof-early": "as_of moments are taken 1 ms earlier than captured",
    "events-seq": "the model counts one event too many per commit with events",
    "actor": "the model forgets the actor of grouped transactions",
    "block-payload": "the model stores a review block without its payload",
    "outbox-approve": "the model leaves approved deferred commands deferred",
    "missing-version": "state_at past the last version is expected to answer",
    "verify": "verify_run is expected to be invalid",
    "final-version": "the model's final version is one more",
    "event-type": "the model records every event type in upper case",
    "near": "the near-identical commit differs in a key, not a number",
}


def loads(text):
    return json.loads(text, parse_float=Decimal)


# ---------------------------------------------------------------- JSON values

KEYS = (["a", "b", "c", "n", "x", "items", "status", "ключ", "名前", "😀", 'q"uote',
         "back\\slash", "line\nbreak", "tab\tkey", "", " ", "__proto__", "constructor",
         "0", "1", "10", "4294967295", "-1", "1.5", "caf\u00e9", "cafe\u0301", "\u2028",
         "\u0001ctl", "ℌ𝔢𝔩𝔩𝔬"] + ["k%d" % i for i in range(16)])

STRINGS = ["", "plain", "ünïcödé", "日本語テキスト", "emoji 😀👍🏽", "RTL עברית", 'q"uote',
           "back\\slash", "new\nline", "\t\r\b\f", "\u0001\u001f", "\u2028\u2029",
           "</script>", "caf\u00e9", "cafe\u0301", "\ud7ff\ue000\uffff", "null", "1e400",
           "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"]

NUMBERS = [0, 1, -1, 42, 2 ** 31, 2 ** 53, 2 ** 53 + 1, -(2 ** 53) - 3, 2 ** 63, 2 ** 64 + 7,
           10 ** 21, 10 ** 40 + 1, -(10 ** 30), Decimal("0.1"), Decimal("-0.5"),
           Decimal("3.141592653589793238462643383279502884197"), Decimal("1e-7"),
           Decimal("1.5e300"), Decimal("-2.5E-300"), Decimal("0.10000000000000000000001"),
           Decimal("100.000"), 1e21, 0.1, 2.5e-8, -0.0, 123456789.125]


def gen_value(rng, depth=0):
    r = rng.random()
    if depth < 4 and r < 0.18:
        return {rng.choice(KEYS): gen_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 4 and r < 0.32:
        return [gen_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if r < 0.45:
        return rng.choice(NUMBERS)
    if r < 0.55:
        return rng.randint(-10 ** 6, 10 ** 6)
    if r < 0.60:
        return rng.random() * 10 ** rng.randint(-5, 5)
    if r < 0.65:
        return rng.choice([True, False])
    if r < 0.72:
        return None
    if r < 0.73:
        return "long ✓ " * rng.randint(20, 200)
    return rng.choice(STRINGS)


def dump(v, rng, dup_keys=False):
    """JSON text of v, written differently each time: key order, escapes,
    spacing; with dup_keys, some objects repeat a key (earlier decoy value)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=rng.random() < 0.5)
    sp = rng.choice(["", " ", "\n  "])
    if isinstance(v, list):
        return "[" + ("," + sp).join(dump(x, rng, dup_keys) for x in v) + "]"
    items = list(v.items())
    rng.shuffle(items)
    parts = []
    for k, x in items:
        if dup_keys and rng.random() < 0.15:
            parts.append(dump(k, rng) + ":" + sp + dump(gen_value(rng, 3), rng))
        parts.append(dump(k, rng) + ":" + sp + dump(x, rng, dup_keys))
    return "{" + ("," + sp).join(parts) + "}"


def same(a, b):
    """Strict JSON equality: numbers by exact value, true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, Decimal, float)) and isinstance(b, (int, Decimal, float)):
        return Decimal(repr(a) if isinstance(a, float) else a) == \
            Decimal(repr(b) if isinstance(b, float) else b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is None and b is None
    return type(a) is type(b) and a == b


def short(v, n=160):
    s = json.dumps(v, default=str, ensure_ascii=True)
    return s if len(s) <= n else s[:n] + "..."


# ---------------------------------------------------------------- the model

class Run:
    def __init__(self, wf, run):
        self.wf, self.run = wf, run
        self.version = 0
        self.computed = None
        self.overlay = None
        self.events = []            # (step_id, type, payload)
        self.outbox = []            # [step_id, command, status]
        self.entries = []           # expected ledger entries
        self.at_version = {}        # version -> snapshot right after its commit
        self.commits = []           # (args, snapshot) of each successful commit
        self.block = None           # active block (dict, with "step")
        self.blocks = []            # every block as created (verist_get_block rows)

    def snapshot(self):
        return {"version": self.version, "computed": dict(self.computed),
                "overlay": dict(self.overlay), "ledger_seq": len(self.entries),
                "chain_seq": len(self.events)}


def merge(base, change, plant):
    out = dict(base)
    for k, v in change.items():
        if plant == "deep-merge" and isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v, plant)
        else:
            out[k] = v
    return out


class Test:
    def __init__(self, conn, rng, args):
        self.conn, self.rng, self.args = conn, rng, args
        self.plant = args.plant
        self.problems = {}          # check name -> list of problems
        self.counts = {}
        self.counter = 0
        self.checkpoints = []       # (time, {run key: snapshot or None}, touched keys)
        # the seed and a nonce: runs of an earlier invocation are left alone
        tag = "%d-%x" % (args.seed, random.SystemRandom().randrange(16 ** 6))
        self.tag = tag
        ids = [("ledger-model", "run-" + tag), ("ledger-model-ü", "run-" + tag),
               ("ledger-model", "r'2 ✓ " + tag), ("ledger \"wf\"", "run-" + tag + "-4")]
        while len(ids) < args.runs:
            ids.append(("ledger-model", "run-%s-%d" % (tag, len(ids))))
        self.runs = [Run(w, r) for w, r in ids[:args.runs]]
        self.role = conn.execute("SELECT current_user AS u").fetchone()["u"]

    # -- bookkeeping
    def problem(self, check, text):
        self.problems.setdefault(check, []).append(text)

    def count(self, check, n=1):
        self.counts[check] = self.counts.get(check, 0) + n
        self.problems.setdefault(check, [])

    def uniq(self):
        self.counter += 1
        return self.counter

    def totals(self):
        return self.conn.execute(
            "SELECT (SELECT count(*) FROM verist_ledger) AS ledger,"
            " (SELECT count(*) FROM verist_events) AS events,"
            " (SELECT count(*) FROM verist_outbox) AS outbox,"
            " (SELECT count(*) FROM verist_blocks) AS blocks,"
            " (SELECT md5(string_agg(s::text, '|' ORDER BY workflow_id, run_id))"
            "  FROM verist_state s) AS state").fetchone()

    # -- generation
    def gen_commands(self, run, allow_block):
        cmds = []
        for _ in range(self.rng.choice([0, 0, 1, 1, 2])):
            n = self.uniq()
            if self.rng.random() < 0.5:
                c = {"type": "emit", "topic": "topic-%d" % n}
                if self.rng.random() < 0.5:
                    c["payload"] = gen_value(self.rng, 2)
            else:
                c = {"type": "invoke", "step": "next-%d" % n}
                if self.rng.random() < 0.5:
                    c["input"] = gen_value(self.rng, 2)
            cmds.append(c)
        if allow_block:
            if self.rng.random() < 0.5:
                c = {"type": "review", "reason": self.rng.choice(["look", "check ✓", "why?"])}
                if self.rng.random() < 0.7:
                    c["payload"] = gen_value(self.rng, 2)
            else:
                c = {"type": "suspend", "reason": "wait %d" % self.uniq()}
                if self.rng.random() < 0.7:
                    c["checkpoint"] = gen_value(self.rng, 2)
                if self.rng.random() < 0.5:
                    c["resumeStep"] = "resume-%d" % self.uniq()
            cmds.insert(self.rng.randint(0, len(cmds)), c)
        return cmds

    def gen_commit(self, run, blocking=None):
        rng = self.rng
        out = {}
        if not (run.version > 0 and rng.random() < 0.04):     # sometimes {}
            for _ in range(rng.randint(1, 4)):
                out[rng.choice(KEYS)] = gen_value(rng)
        events = []
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            e = {"type": rng.choice(["extracted", "checked", "ü-event", "llm"])}
            if rng.random() < 0.7:
                e["payload"] = gen_value(rng, 2) if rng.random() < 0.5 else \
                    {"k": gen_value(rng, 2)}
                if not isinstance(e["payload"], (dict, type(None))):
                    e["payload"] = {"v": e["payload"]}
            events.append(e)
        if blocking is None:
            blocking = run.block is None and rng.random() < 0.12
        cmds = self.gen_commands(run, blocking)
        step = rng.choice(["extract", "check", "step-%d" % self.uniq(), "ステップ"])
        return {"step": step, "expected": run.version,
                "output": dump(out, rng, dup_keys=True), "events": dump(events, rng),
                "commands": dump(cmds, rng)}

    # -- actions
    def call_commit(self, run, a):
        return self.conn.execute(
            "SELECT * FROM verist_commit(%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)",
            (run.wf, run.run, a["step"], a["expected"], a["output"], a["events"],
             a["commands"])).fetchone()

    def apply_commit(self, run, a, actor):
        """A commit expected to succeed: call it, check its row, advance the model."""
        out, events, cmds = loads(a["output"]), loads(a["events"]), loads(a["commands"])
        row = self.call_commit(run, a)
        if run.version == 0:
            run.computed, run.overlay = dict(out), {}
        else:
            run.computed = merge(run.computed, out, self.plant)
        run.version += 1
        for e in events:
            run.events.append((a["step"], e["type"], e.get("payload")))
        if self.plant == "events-seq" and events:
            run.events.append(("x", "x", None))
        blocking = [c for c in cmds if c["type"] in ("review", "suspend")]
        block_entry = None
        if blocking:
            b = blocking[0]
            got = self.conn.execute("SELECT * FROM verist_get_block(%s, %s)",
                                    (run.wf, run.run)).fetchone()
            bid = got["id"] if got else -1
            if b["type"] == "review":
                block_entry = {"id": bid, "type": "review", "reason": b["reason"],
                               "payload": None if self.plant == "block-payload"
                               else b.get("payload"), "resumeStep": None}
            else:
                block_entry = {"id": bid, "type": "suspend", "reason": b["reason"],
                               "payload": b.get("checkpoint"),
                               "resumeStep": b.get("resumeStep", a["step"])}
            run.block = dict(block_entry, step=a["step"])
            run.blocks.append((run.block, got))
        for c in cmds:
            if c["type"] in ("review", "suspend"):
                continue
            if blocking and blocking[0]["type"] == "suspend":
                continue                      # a suspend discards the others
            run.outbox.append([a["step"], c, "deferred" if blocking else "pending"])
        run.entries.append({"kind": "commit", "version": run.version, "step_id": a["step"],
                            "block": block_entry, "change": out, "actor": actor,
                            "events_seq": len(run.events), "input": True})
        snap = run.snapshot()
        run.at_version[run.version] = snap
        run.commits.append((a, snap))
        self.expect_row("every commit returned the model's new state row", run, row, snap,
                        "commit %s v%d" % (a["step"], run.version))

    def expect_row(self, check, run, row, snap, what):
        self.count(check)
        if row is None:
            self.problem(check, "%s/%s %s: no row" % (run.wf, run.run, what))
            return
        for k in ("version", "computed", "overlay", "ledger_seq", "chain_seq"):
            if k in snap and not same(row[k], snap[k]):
                self.problem(check, "%s/%s %s: %s is %s, model %s" % (
                    run.wf, run.run, what, k, short(row[k]), short(snap[k])))

    def apply_overlay(self, run, actor, text=None):
        rng = self.rng
        if text is None:
            patch = {}
            for _ in range(rng.randint(0, 3)):
                k = rng.choice(list(run.computed) + list(run.overlay) + KEYS) \
                    if rng.random() < 0.7 else rng.choice(KEYS)
                patch[k] = None if rng.random() < 0.3 else gen_value(rng)
            text = dump(patch, rng, dup_keys=True)
        patch = loads(text)
        row = self.conn.execute("SELECT * FROM verist_set_overlay(%s, %s, %s::jsonb)",
                                (run.wf, run.run, text)).fetchone()
        if self.plant == "null-removes":
            run.overlay = {k: v for k, v in merge(run.overlay, patch, None).items()
                           if v is not None}
        else:
            run.overlay = merge(run.overlay, patch, None)
        run.entries.append({"kind": "overlay", "version": run.version, "step_id": None,
                            "block": None, "change": patch, "actor": actor,
                            "events_seq": len(run.events), "input": False})
        if self.plant == "state-at-later":
            run.at_version[run.version]["overlay"] = dict(run.overlay)
        self.expect_row("every overlay returned the model's state row", run, row,
                        run.snapshot(), "overlay at v%d" % run.version)

    def apply_resolve(self, run, actor):
        rng = self.rng
        b = run.block
        if b["type"] == "review":
            approved = rng.random() < 0.6
            res = {"approved": approved}
            clean = {"approved": approved}
        else:
            rd = gen_value(rng, 1)
            res = {"resumeData": rd}
            clean = {"resumeData": rd}
        if rng.random() < 0.4:
            res["note"] = gen_value(rng, 2)           # not kept
        text = dump(res, rng)
        res = loads(text)
        clean = {k: res[k] for k in clean}
        rows = self.conn.execute("SELECT * FROM verist_resolve_block(%s, %s, %s::jsonb)",
                                 (run.wf, run.run, text)).fetchall()
        check = "every resolution returned the block with its cleaned resolution"
        self.count(check)
        want = res if self.plant == "raw-resolution" else clean
        if len(rows) != 1 or rows[0]["id"] != b["id"] or not same(rows[0]["resolution"], want):
            self.problem(check, "%s/%s block %s: got %s, model %s" % (
                run.wf, run.run, b["id"], short([dict(r) for r in rows]), short(want)))
        if b["type"] == "review":
            for o in run.outbox:
                if o[0] == b["step"] and o[2] == "deferred" and self.plant != "outbox-approve":
                    o[2] = "pending" if clean["approved"] else "rejected"
        else:
            run.outbox.append(["resume:%d" % b["id"],
                               {"type": "invoke", "step": b["resumeStep"],
                                "input": {"checkpoint": b["payload"],
                                          "resumeData": clean["resumeData"]}}, "pending"])
        run.entries.append({"kind": "resolve", "version": run.version, "step_id": b["step"],
                            "block": {"id": b["id"]},
                            "change": res if self.plant == "raw-resolution" else clean,
                            "actor": actor, "events_seq": len(run.events), "input": False})
        run.block = None

    def expect_refusal(self, check, run, a, codes):
        before = self.totals()
        try:
            row = self.call_commit(run, a)
            got = "a row (version %s)" % row["version"]
        except psycopg.Error as e:
            got = e.sqlstate
        after = self.totals()
        self.count(check)
        if got not in codes:
            self.problem(check, "%s/%s expected %d step %s: %s, wanted %s" % (
                run.wf, run.run, a["expected"], a["step"], got, "/".join(codes)))
        if self.plant == "stale-count":
            before = dict(before, ledger=before["ledger"] + 1)
        if dict(before) != dict(after):
            self.problem(check, "%s/%s: refused commit wrote: %s -> %s" % (
                run.wf, run.run, dict(before), dict(after)))

    def retry(self, run, jsonb_equal):
        a, snap = self.rng.choice(run.commits)
        a = dict(a)
        if jsonb_equal:       # same values, other text: key order, escapes, spacing
            check = "jsonb-equal retries (other key order, escapes, spacing) return the stored row, write nothing"
            for k in ("output", "events", "commands"):
                a[k] = dump(loads(a[k]), self.rng)
            if self.plant == "retry-text":
                a["output"] = dump(dict(loads(a["output"]), zz=1), self.rng)
        else:
            check = "identical retries return the stored row and write nothing"
            if self.plant == "retry-different":
                a["output"] = dump(dict(loads(a["output"]), zz=1), self.rng)
        before = self.totals()
        try:
            row = self.call_commit(run, a)
        except psycopg.Error as e:
            self.count(check)
            self.problem(check, "%s/%s retry of v%d: %s %s" % (
                run.wf, run.run, snap["version"], e.sqlstate, str(e).splitlines()[0]))
            return
        self.expect_row(check, run, row, snap, "retry of v%d" % snap["version"])
        if dict(before) != dict(self.totals()):
            self.problem(check, "%s/%s retry of v%d wrote something" % (
                run.wf, run.run, snap["version"]))

    def stale(self, run):
        a = self.gen_commit(run, blocking=False)
        if self.rng.random() < 0.8 or run.version < 2:
            a["expected"] = self.rng.randint(0, run.version - 1)
        else:
            a["expected"] = run.version + self.rng.randint(1, 3)
        if self.plant == "stale-same" and a["expected"] < run.version:
            a = dict(run.commits[a["expected"]][0])
        else:
            a["output"] = dump(dict(loads(a["output"]), stale=self.uniq()), self.rng)
        self.expect_refusal("stale commits are refused (VRC01 on create, VRC02) and write nothing",
                            run, a, ["VRC01"] if a["expected"] == 0 else ["VRC02"])

    def blocked(self, run):
        a = self.gen_commit(run, blocking=True)
        self.expect_refusal("a blocking command while a block is active is refused (VRC03), writes nothing",
                            run, a, ["VRC03"])

    def action(self, run, actor):
        """One successful action on run (inside the caller's transaction)."""
        r = self.rng.random()
        if run.version == 0:
            self.apply_commit(run, self.gen_commit(run), actor)
            return "commit"
        if run.block is not None and r < 0.25:
            self.apply_resolve(run, actor)
            return "resolve"
        if r < 0.35:
            self.apply_overlay(run, actor)
            return "overlay"
        self.apply_commit(run, self.gen_commit(run), actor)
        return "commit"

    def checkpoint(self, touched):
        t = self.conn.execute("SELECT clock_timestamp() AS t").fetchone()["t"]
        snaps = {id(r): (r.snapshot() if r.version else None) for r in self.runs}
        self.checkpoints.append((t, snaps, touched))

    def generate(self):
        rng, conn = self.rng, self.conn
        commits = 0
        self.checkpoint(set())          # before any run exists
        while commits < self.args.commits or any(r.block for r in self.runs):
            run = rng.choice(self.runs)
            r = rng.random()
            if run.version and r < 0.04:
                self.retry(run, jsonb_equal=False)
            elif run.version and r < 0.06:
                self.retry(run, jsonb_equal=True)
            elif run.version and r < 0.09:
                self.stale(run)
            elif run.version and run.block and r < 0.11:
                self.blocked(run)
            elif r < 0.20:
                # several actions in one transaction, under an application actor
                actor = rng.choice(["alice@example.com", "bob ✓", "Ωmega", "o'brien"])
                touched = set()
                with conn.transaction():
                    conn.execute("SELECT set_config('verist.actor', %s, true)", (actor,))
                    for _ in range(rng.randint(2, 4)):
                        run = rng.choice(self.runs)
                        kind = self.action(run, None if self.plant == "actor" else actor)
                        commits += kind == "commit"
                        touched.add(id(run))
                self.checkpoint(touched)
                continue
            else:
                if commits >= self.args.commits and run.block:
                    self.apply_resolve(run, None)
                    kind = "resolve"
                elif commits >= self.args.commits:
                    continue
                else:
                    kind = self.action(run, None)
                commits += kind == "commit"
                self.checkpoint({id(run)})
                continue
            # refused or replayed calls wrote nothing: no checkpoint needed
        # whatever the dice said, every kind of call at least once
        run = rng.choice(self.runs)
        if run.version == 0:
            self.apply_commit(run, self.gen_commit(run), None)
            self.checkpoint({id(run)})
        # nested objects are replaced whole; a null in a patch is a value
        for out in ('{"nested": {"x": 1, "keep": [true]}}', '{"nested": {"y": {"z": 2}}}'):
            self.apply_commit(run, dict(self.gen_commit(run, blocking=False), output=out), None)
            self.checkpoint({id(run)})
        self.apply_overlay(run, None, '{"nested": null, "x": {"deep": null}}')
        self.checkpoint({id(run)})
        self.retry(run, jsonb_equal=False)
        self.retry(run, jsonb_equal=True)
        self.stale(run)
        self.apply_commit(run, self.gen_commit(run, blocking=True), None)
        self.checkpoint({id(run)})
        self.blocked(run)
        self.apply_resolve(run, None)
        self.checkpoint({id(run)})
        # a resolution with no active block: no rows, no entry
        before = self.totals()
        rows = conn.execute("SELECT * FROM verist_resolve_block(%s, %s, %s::jsonb)",
                            (run.wf, run.run, '{"approved": true}')).fetchall()
        check = "a resolution without an active block returns no rows and writes nothing"
        self.count(check)
        if (len(rows) != (self.plant == "no-block-row")) or dict(before) != dict(self.totals()):
            self.problem(check, "%s/%s: %d rows" % (run.wf, run.run, len(rows)))

    # -- verification
    def verify(self):
        conn = self.conn
        versions = sum(r.version for r in self.runs)
        print("# %d runs, %d versions, %d ledger entries, %d events, %d transactions" % (
            len(self.runs), versions, sum(len(r.entries) for r in self.runs),
            sum(len(r.events) for r in self.runs), len(self.checkpoints) - 1))
        for run in self.runs:
            hist = conn.execute("SELECT * FROM verist_run_history(%s, %s)",
                                (run.wf, run.run)).fetchall()
            created = {h["seq"]: h["created_at"] for h in hist}
            self.check_history(run, hist)
            self.check_state_at(run, created)
            self.check_final(run)
        self.check_as_of()
        self.check_near_identical()

    def check_history(self, run, hist):
        check = "verist_run_history holds exactly the model's entries, in order"
        self.count(check, len(run.entries))
        if len(hist) != len(run.entries):
            self.problem(check, "%s/%s: %d entries, model %d" % (
                run.wf, run.run, len(hist), len(run.entries)))
        for i, (h, m) in enumerate(zip(hist, run.entries), 1):
            if h["seq"] != i:
                self.problem(check, "%s/%s entry %d has seq %s" % (run.wf, run.run, i, h["seq"]))
            for k in ("kind", "version", "step_id", "actor", "events_seq"):
                if h[k] != m[k]:
                    self.problem(check, "%s/%s seq %d: %s is %r, model %r" % (
                        run.wf, run.run, i, k, h[k], m[k]))
            for k in ("block", "change"):
                if not same(h[k], m[k]):
                    self.problem(check, "%s/%s seq %d (%s): %s is %s, model %s" % (
                        run.wf, run.run, i, m["kind"], k, short(h[k]), short(m[k])))
            has_input = h["input"] is not None and re.fullmatch(r"[0-9a-f]{64}", h["input"])
            if bool(has_input) != m["input"]:
                self.problem(check, "%s/%s seq %d: input %r" % (run.wf, run.run, i, h["input"]))
            if h["role"] != self.role or h["session_role"] != self.role:
                self.problem(check, "%s/%s seq %d: role %r session_role %r" % (
                    run.wf, run.run, i, h["role"], h["session_role"]))

    def check_state_at(self, run, created):
        check = "verist_state_at(v) equals the model right after the commit of v, for every version"
        rows = self.conn.execute(
            "SELECT v, s.* FROM generate_series(1, %s) AS v,"
            " verist_state_at(%s, %s, v) AS s ORDER BY v",
            (run.version, run.wf, run.run)).fetchall()
        self.count(check, run.version)
        if len(rows) != run.version:
            self.problem(check, "%s/%s: %d rows for %d versions" % (
                run.wf, run.run, len(rows), run.version))
        for row in rows:
            m = run.at_version[row["v"]]
            exp = dict(m, effective={**m["computed"], **m["overlay"]})
            for k in ("version", "computed", "overlay", "effective", "ledger_seq"):
                if not same(row[k], exp[k]):
                    self.problem(check, "%s/%s v%d: %s is %s, model %s" % (
                        run.wf, run.run, row["v"], k, short(row[k]), short(exp[k])))
            if row["at"] != created.get(m["ledger_seq"]):
                self.problem(check, "%s/%s v%d: at %s is not its entry's time %s" % (
                    run.wf, run.run, row["v"], row["at"], created.get(m["ledger_seq"])))
        check = "verist_state_at past the last version, at version 0 and of an unknown run: VRN01/VRS01"
        for args, code in (((run.wf, run.run, run.version + 1), "VRN01"),
                           ((run.wf, run.run + "-none", 1), "VRN01"),
                           ((run.wf, run.run, 0), "VRS01")):
            self.count(check)
            try:
                self.conn.execute("SELECT * FROM verist_state_at(%s, %s, %s)", args)
                got = "a row"
            except psycopg.Error as e:
                got = e.sqlstate
            if self.plant == "missing-version" and args[2] == run.version + 1:
                code = "a row"
            if got != code:
                self.problem(check, "state_at%r: %s, wanted %s" % (args, got, code))

    def check_final(self, run):
        conn = self.conn
        row = conn.execute("SELECT * FROM verist_load(%s, %s)", (run.wf, run.run)).fetchone()
        snap = run.snapshot()
        if self.plant == "final-version":
            snap["version"] += 1
        self.expect_row("the final state row (verist_load) and effective state equal the model",
                        run, row, snap, "final")
        eff = conn.execute("SELECT verist_effective_state(%s, %s) AS e",
                           (run.wf, run.run)).fetchone()["e"]
        if not same(eff, {**run.computed, **run.overlay}):
            self.problem("the final state row (verist_load) and effective state equal the model",
                         "%s/%s effective %s" % (run.wf, run.run, short(eff)))

        check = "verist_verify_run: every run valid"
        v = conn.execute("SELECT * FROM verist_verify_run(%s, %s)", (run.wf, run.run)).fetchone()
        self.count(check)
        if v["valid"] is not (self.plant != "verify") or v["events_checked"] != len(run.events):
            self.problem(check, "%s/%s: %s" % (run.wf, run.run, dict(v)))

        check = "the run's events are the model's, in order"
        evs = conn.execute("SELECT seq, step_id, type, payload FROM verist_events"
                           " WHERE workflow_id = %s AND run_id = %s ORDER BY seq",
                           (run.wf, run.run)).fetchall()
        self.count(check, len(run.events))
        model = [(s, t.upper() if self.plant == "event-type" else t, p) for s, t, p in run.events]
        got = [(e["step_id"], e["type"], e["payload"]) for e in evs]
        if [e["seq"] for e in evs] != list(range(1, len(evs) + 1)) or len(got) != len(model) \
                or not all(g[0] == m[0] and g[1] == m[1] and same(g[2], m[2])
                           for g, m in zip(got, model)):
            self.problem(check, "%s/%s: %d events, model %d; first difference %s" % (
                run.wf, run.run, len(got), len(model),
                next((short((g, m)) for g, m in zip(got, model) if short(g) != short(m)), "-")))

        check = "the run's outbox is the model's (commands, step ids, statuses)"
        rows = conn.execute("SELECT step_id, command, status FROM verist_outbox"
                            " WHERE workflow_id = %s AND run_id = %s ORDER BY id",
                            (run.wf, run.run)).fetchall()
        self.count(check, len(run.outbox))
        left = list(run.outbox)
        for r in rows:
            hit = next((m for m in left if m[0] == r["step_id"] and m[2] == r["status"]
                        and same(m[1], r["command"])), None)
            if hit is None:
                self.problem(check, "%s/%s: unexpected %s %s %s" % (
                    run.wf, run.run, r["step_id"], r["status"], short(r["command"])))
            else:
                left.remove(hit)
        for m in left:
            self.problem(check, "%s/%s: missing %s %s %s" % (
                run.wf, run.run, m[0], m[2], short(m[1])))

        check = "each block as created (verist_get_block) is the model's"
        self.count(check, len(run.blocks))
        for b, got in run.blocks:
            if got is None or got["type"] != b["type"] or got["reason"] != b["reason"] \
                    or got["step_id"] != b["step"] or not same(got["payload"], b["payload"]) \
                    or got["resume_step"] != b["resumeStep"]:
                self.problem(check, "%s/%s block %s: %s, model %s" % (
                    run.wf, run.run, b["id"], short(got), short(b)))

    def check_as_of(self):
        check = "verist_state_as_of at a moment between every two transactions equals the model"
        check0 = "verist_state_as_of before a run's first entry: VRN01"
        times, wfs, runs, exp = [], [], [], []
        for i, (t, snaps, touched) in enumerate(self.checkpoints):
            if self.plant == "asof-early":
                t = t.__class__.fromtimestamp(t.timestamp() - 0.001, t.tzinfo)
            # the runs the transaction before touched, and one other
            sample = [r for r in self.runs if id(r) in touched]
            sample.append(self.rng.choice(self.runs))
            if i == 0:
                sample = self.runs          # before any run existed
            for r in sample:
                snap = snaps[id(r)]
                if snap is None:
                    self.count(check0)
                    if self.plant == "asof-first" and i + 1 < len(self.checkpoints):
                        t = self.checkpoints[-1][0]
                    try:
                        self.conn.execute("SELECT * FROM verist_state_as_of(%s, %s, %s)",
                                          (r.wf, r.run, t))
                        self.problem(check0, "%s/%s at %s: a row" % (r.wf, r.run, t))
                    except psycopg.Error as e:
                        if e.sqlstate != "VRN01":
                            self.problem(check0, "%s/%s: %s" % (r.wf, r.run, e.sqlstate))
                    continue
                times.append(t)
                wfs.append(r.wf)
                runs.append(r.run)
                exp.append((r, snap))
        if self.args.asof_max and len(exp) > self.args.asof_max:
            # each call replays the ledger from its start: a long history is sampled
            keep = sorted(self.rng.sample(range(len(exp)), self.args.asof_max))
            print("# state_as_of: %d of %d moments, sampled" % (len(keep), len(exp)))
            times, wfs, runs, exp = ([x[i] for i in keep] for x in (times, wfs, runs, exp))
        rows = self.conn.execute(
            "SELECT c.i, s.* FROM unnest(%s::timestamptz[], %s::text[], %s::text[])"
            " WITH ORDINALITY AS c(t, wf, run, i), verist_state_as_of(c.wf, c.run, c.t) AS s"
            " ORDER BY c.i", (times, wfs, runs)).fetchall()
        self.count(check, len(exp))
        if len(rows) != len(exp):
            self.problem(check, "%d rows for %d moments" % (len(rows), len(exp)))
        for row in rows:
            r, snap = exp[row["i"] - 1]
            e = dict(snap, effective={**snap["computed"], **snap["overlay"]})
            for k in ("version", "computed", "overlay", "effective", "ledger_seq"):
                if not same(row[k], e[k]):
                    self.problem(check, "%s/%s at %s: %s is %s, model %s" % (
                        r.wf, r.run, times[row["i"] - 1], k, short(row[k]), short(e[k])))
                    break

    def check_near_identical(self):
        """A commit that differs from the stored one only in a number that
        rounds to the same double is another commit, not a retry."""
        check = "a commit differing from the stored one only in a number beyond double precision is refused, not taken for a retry"
        wf, run = "ledger-model", "near-" + self.tag
        ev = '[{"type": "t", "payload": {"n": %s}}]'
        pairs = [(0, '{"n": 9007199254740993}', '{"n": 9007199254740992}', "[]", "[]", "VRC01"),
                 (1, '{"x": 0.1}', '{"x": 0.10000000000000000001}', "[]", "[]", "VRC02"),
                 (2, '{}', '{}', ev % "12345678901234567891", ev % "12345678901234567890",
                  "VRC02")]
        for expected, first, second, ev1, ev2, code in pairs:
            if self.plant == "near":
                second = second.replace("{", '{"other": 1, ', 1)
            self.count(check)
            try:
                self.conn.execute("SELECT verist_commit(%s, %s, 's', %s, %s::jsonb, %s::jsonb)",
                                  (wf, run, expected, first, ev1))
            except psycopg.Error as e:
                self.problem(check, "setup commit %s: %s" % (first, e.sqlstate))
                continue
            before = self.totals()
            if ev1 != ev2:
                first, second = first + " events " + ev1, second + " events " + ev2
            try:
                row = self.conn.execute(
                    "SELECT * FROM verist_commit(%s, %s, 's', %s, %s::jsonb, %s::jsonb)",
                    (wf, run, expected, second.split(" events ")[0], ev2)).fetchone()
                self.problem(check, "expected %d: %s stored, then %s answered as its identical"
                             " retry (version %s returned, nothing written): its caller believes"
                             " it is stored" % (expected, first, second, row["version"]))
            except psycopg.Error as e:
                if e.sqlstate != code:
                    self.problem(check, "expected %d: %s, wanted %s" % (expected, e.sqlstate, code))
            if dict(before) != dict(self.totals()):
                self.problem(check, "expected %d: the second commit wrote" % expected)

    def report(self):
        passed = failed = 0
        for check, probs in self.problems.items():
            n = self.counts.get(check, 0)
            if probs or n == 0:
                failed += 1
                print("not ok - %s (%d of %d)" % (check, len(probs), n))
                for p in probs[:MAX_SHOWN]:
                    print("#   %s" % p)
                if len(probs) > MAX_SHOWN:
                    print("#   ... and %d more" % (len(probs) - MAX_SHOWN))
            else:
                passed += 1
                print("ok - %s (%d)" % (check, n))
        return passed, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", default="")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--commits", type=int, default=300, help="successful commits in all")
    ap.add_argument("--asof-max", type=int, default=0,
                    help="check state_as_of at this many sampled moments (0: all)")
    ap.add_argument("--plant", choices=sorted(PLANTS), default=None)
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10 ** 9)
    print("# model: seed %d, %d runs, %d commits%s (replay: --seed %d --runs %d --commits %d)" % (
        args.seed, args.runs, args.commits,
        ", planted: " + PLANTS[args.plant] if args.plant else "",
        args.seed, args.runs, args.commits))
    t0 = time.time()
    conn = psycopg.connect(args.dsn, autocommit=True, row_factory=dict_row)
    set_json_loads(loads, conn)
    conn.execute("SET synchronous_commit = off")      # no crash here: speed
    test = Test(conn, random.Random(args.seed), args)
    try:
        test.generate()
        t1 = time.time()
        test.verify()
    except Exception as e:          # a crash of the test itself is a failure
        import traceback
        traceback.print_exc()
        print("not ok - the model test ran to the end: %s" % e)
        print("0 passed, 1 failed")
        return 1
    passed, failed = test.report()
    print("# generated in %.1f s, verified in %.1f s" % (t1 - t0, time.time() - t1))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
