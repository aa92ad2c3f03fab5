#!/usr/bin/env python3
"""
Hostile-input fuzzer for every verist SQL function.

It generates argument sets for the twelve functions (valid ones drawn from a
model of the database, valid JSON shapes of SPEC 3a, and their mutations:
deep nesting, huge strings and arrays, every JSON type in every position,
unicode, numbers at the edges of double precision, NULLs, wrong types cast
from text, empty and huge ids, bad versions, intervals and ids arrays), runs
them, and checks these promises:

  crash    no backend ever dies: the connection never drops, the postmaster
           keeps its PID and start time, the server log has no crash, PANIC,
           AddressSanitizer or UBSan report;
  sqlstate every error is a documented verist SQLSTATE (VRC01-05, VRN01,
           VRS01, VRA01), a standard data exception 22xxx, or 54001 (stack
           depth, absurd nesting); anything else (XX000, 42xxx ...) fails;
  nowrite  a failed call changes no row of the four verist tables (counts and
           a checksum of every row, compared before and after the call);
  refuse   input the SPEC calls bad (NULL or empty required arguments,
           non-objects, unknown keys, two blocking commands, duplicate
           commands ...) is refused, never accepted;
  canon    verist_canonical_json and verist_dedupe_key agree with an
           independent implementation of the JavaScript algorithm (jsgen.py)
           and, when node is available, with JSON.stringify itself.

Calls run in batches: one round trip executes a batch inside a PL/pgSQL loop,
each call in its own subtransaction (BEGIN ... EXCEPTION), recording its
SQLSTATE and the table checksum around it.  A sample of calls also runs at top
level, one autocommit transaction each, with the checksum taken by the client.
A lost connection replays the batch one call at a time to find the culprit.

Every failing input is written to <outdir>/failures.sql, ready to replay.

  fuzz.py --count 20000 --seed 1 --server-log /path/to/server.log
"""
import argparse
import collections
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time

import psycopg
from psycopg.conninfo import make_conninfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jsgen import (Gen, Num, Obj, Raw, JsRejects, JsTooDeep, has_non_finite,  # noqa: E402
                   js_parse, js_stringify_canonical)

VERIST_CODES = {"VRC01", "VRC02", "VRC03", "VRC04", "VRC05", "VRN01", "VRS01", "VRA01"}
STACK_DEPTH = "54001"

FUNCTIONS = ["verist_commit", "verist_load", "verist_effective_state", "verist_set_overlay",
             "verist_get_block", "verist_resolve_block", "verist_lease_outbox",
             "verist_mark_dispatched", "verist_mark_failed", "verist_mark_dispatched_batch",
             "verist_dedupe_key", "verist_canonical_json"]

# How often each function is called (commit carries most of the shapes).
WEIGHTS = {"verist_commit": 30, "verist_load": 4, "verist_effective_state": 4,
           "verist_set_overlay": 6, "verist_get_block": 3, "verist_resolve_block": 7,
           "verist_lease_outbox": 7, "verist_mark_dispatched": 6, "verist_mark_failed": 5,
           "verist_mark_dispatched_batch": 5, "verist_dedupe_key": 10,
           "verist_canonical_json": 13}

CRASH_LOG_RE = re.compile(r"terminated by signal|server process .* (was terminated|exited with)|"
                          r"PANIC:|TRAP:|ERROR: AddressSanitizer|AddressSanitizer:|runtime error:|"
                          r"LeakSanitizer|all server processes terminated")

SETUP_SQL = r"""
CREATE SCHEMA verist_fuzz;

-- Has any row of the four tables changed?  Every insert, update or delete
-- leaves a row version with a new (ctid, xmin) or changes a count, so counts
-- and a hash of (ctid, xmin) tell within one transaction; PL/pgSQL keeps the
-- plan, which makes it cheap enough to take around every call.
CREATE FUNCTION verist_fuzz.checksum() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    result text;
BEGIN
    SELECT concat_ws('/',
      (SELECT count(*) || ':' || coalesce(sum(hashtext(t.ctid::text || t.xmin::text)), 0) FROM public.verist_state t),
      (SELECT count(*) || ':' || coalesce(sum(hashtext(t.ctid::text || t.xmin::text)), 0) FROM public.verist_events t),
      (SELECT count(*) || ':' || coalesce(sum(hashtext(t.ctid::text || t.xmin::text)), 0) FROM public.verist_outbox t),
      (SELECT count(*) || ':' || coalesce(sum(hashtext(t.ctid::text || t.xmin::text)), 0) FROM public.verist_blocks t))
    INTO result;
    RETURN result;
END
$f$;

-- The same over the content of every row, for the calls the client runs at
-- top level, one transaction each.
CREATE FUNCTION verist_fuzz.checksum_rows() RETURNS text LANGUAGE sql AS $f$
SELECT concat_ws('/',
  (SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)), 0) FROM public.verist_state t),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)), 0) FROM public.verist_events t),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)), 0) FROM public.verist_outbox t),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)), 0) FROM public.verist_blocks t))
$f$;

-- Run a batch of calls, each in its own subtransaction, and report each
-- one's SQLSTATE, result (the first column of its one row) and, when it
-- failed, whether the tables changed across it.
CREATE FUNCTION verist_fuzz.run(cases text[],
    OUT n int, OUT code text, OUT result text, OUT message text, OUT wrote boolean,
    OUT ms float8)
RETURNS SETOF record LANGUAGE plpgsql AS $f$
DECLARE
    before text;
    dirty boolean := true;
    t0 timestamptz;
BEGIN
    FOR i IN 1 .. coalesce(array_length(cases, 1), 0) LOOP
        IF dirty THEN
            before := verist_fuzz.checksum();
            dirty := false;
        END IF;
        n := i; result := NULL; message := NULL; wrote := NULL; ms := NULL;
        t0 := clock_timestamp();
        BEGIN
            EXECUTE cases[i] INTO result;
            code := '00000';
            dirty := true;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
            message := left(message, 400);
            ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
            wrote := verist_fuzz.checksum() IS DISTINCT FROM before;
        END;
        ms := coalesce(ms, extract(epoch FROM clock_timestamp() - t0) * 1000);
        RETURN NEXT;
    END LOOP;
END
$f$;
"""


def json_kind(v):
    """The JSON type of a tree: object, array or scalar."""
    if isinstance(v, Obj):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, Raw):
        head = v.text.lstrip(" \t\n\r")[:1]
        return {"{": "object", "[": "array"}.get(head, "scalar")
    return "scalar"


_NOT_IN_TEXT = re.compile("[\x00\ud800-\udfff]")


def lit(s):
    """
    A SQL string literal (standard_conforming_strings is on).  SQL text can
    hold neither NUL nor a lone surrogate (not UTF-8): inside JSON those are
    written as escapes, and anywhere else they become "?".
    """
    return "'" + _NOT_IN_TEXT.sub("?", s).replace("'", "''") + "'"


class Case:
    """One call: its SQL, what the SPEC says about it, and what happened."""
    __slots__ = ("fn", "sql", "bad", "oracle", "check", "code", "result", "message", "wrote",
                 "toplevel", "ms")

    def __init__(self, fn, sql, bad=None, oracle=None, check=None):
        self.fn = fn
        self.sql = sql
        self.bad = bad          # why the SPEC says the call must fail, or None
        self.oracle = oracle    # ("canon"|"dedupe", json text, ids) for the cross-check
        self.check = check      # ("rows", limit): a result-shape check
        self.code = self.result = self.message = self.wrote = self.ms = None
        self.toplevel = False


class Model:
    """What the fuzzer believes is in the database (refreshed per batch)."""

    def __init__(self):
        self.versions = {}          # (wf, run) -> version
        self.blocked = set()        # (wf, run) with an active block
        self.outbox = []            # (id, status, lease_owner)
        self.recent_commands = collections.deque(maxlen=30)   # (wf, run, step, [cmd])

    def refresh(self, cur):
        cur.execute("SELECT workflow_id, run_id, version FROM public.verist_state")
        self.versions = {(w, r): v for w, r, v in cur.fetchall()}
        cur.execute("SELECT workflow_id, run_id FROM public.verist_blocks WHERE resolved_at IS NULL")
        self.blocked = set(cur.fetchall())
        cur.execute("SELECT id, status, lease_owner FROM public.verist_outbox"
                    " ORDER BY id DESC LIMIT 300")
        self.outbox = cur.fetchall()


WORKFLOWS = ["wf-a", "wf-b", "w\u00e9rk \U0001f600"]
RUNS = ["run-%d" % i for i in range(25)]
STEPS = ["extract", "verify", "s\u00e9", "review-step"]
OWNERS = ["disp-1", "disp-2", "disp-\u00e9"]


class CaseGen:
    """Builds the calls, valid and hostile, for the twelve functions."""

    def __init__(self, rng, model):
        self.rng = rng
        self.g = Gen(rng)
        self.model = model

    # -- scalar arguments --------------------------------------------------

    WEIRD = [" ", "  x  ", "\t", "\n", "NULL", "null", "'; DROP TABLE verist_state; --",
             "\\", "\"", "$$", "%s%n%d", "\u00e9", "\U0001f600", "\u2028", "\x01\x02",
             "\ufeff", "a" * 1000, "b" * 100000]

    def weird_text(self):
        rng = self.rng
        r = rng.random()
        if r < 0.1:
            # ~3 kB that does not compress: more than a btree index entry holds
            return "".join(chr(rng.randint(0x21, 0x7e)) for _ in range(3000))
        if r < 0.15:
            return "".join(chr(rng.randint(0x100, 0x7ff)) for _ in range(1500))
        if r < 0.3:
            return self.g.string()
        return rng.choice(self.WEIRD)

    def text_arg(self, pool, name, bad, empty_ok=False, null_ok=False):
        """A text argument: usually from the pool, sometimes hostile."""
        rng = self.rng
        r = rng.random()
        if r < 0.015:
            if not null_ok:
                bad.append("%s is NULL" % name)
            return "NULL::text"
        if r < 0.03:
            if not empty_ok:
                bad.append("%s is empty" % name)
            return rng.choice(["''", "''::text", "''::varchar"])
        if r < 0.07:
            return lit(self.weird_text())
        return lit(rng.choice(pool))

    def int_arg(self, value, name, bad, lo=None):
        """An integer argument: the value given, or hostile text cast to int."""
        rng = self.rng
        r = rng.random()
        if r < 0.015:
            bad.append("%s is NULL" % name)
            return "NULL::integer"
        if r < 0.045:
            # text the server must parse: out of range or not a number
            return lit(rng.choice(["2147483648", "-2147483649", "1.5", "abc", "", " 7 ",
                                   "0x10", "1e3", "99999999999999999999", "-0", "+3",
                                   "\u0663", "NaN", "Infinity"])) + "::integer"
        if r < 0.09:
            v = rng.choice([2147483647, -2147483648, -1, 0, 1, 1000000])
        else:
            v = value
        if lo is not None and v < lo:
            bad.append("%s = %d" % (name, v))
        return str(v) if v >= 0 else "(%d)" % v

    def bigint_arg(self, value, name, bad):
        rng = self.rng
        r = rng.random()
        if r < 0.03:
            bad.append("%s is NULL" % name)
            return "NULL::bigint"
        if r < 0.07:
            return lit(rng.choice(["9223372036854775808", "abc", "1.5", "", "-"])) + "::bigint"
        if r < 0.13:
            v = rng.choice([9223372036854775807, -9223372036854775808, -1, 0, 10**12])
            return "(%d)::bigint" % v
        return "%d::bigint" % value

    def interval_arg(self, bad):
        rng = self.rng
        r = rng.random()
        if r < 0.04:
            bad.append("lease_duration is NULL")
            return "NULL::interval"
        if r < 0.12:
            text = rng.choice(["0", "-1 second", "0 seconds", "1 day -24 hours",
                               "1 mon -30 days", "-1 microsecond", "-178000000 years"])
            bad.append("lease_duration %r is not positive" % text)
            return lit(text) + "::interval"
        if r < 0.2:
            # parse errors and extremes: 22xxx from the server, or a huge lease
            return lit(rng.choice(["abc", "", "infinity", "1 fortnight", "178000000 years",
                                   "2147483647 days", "2147483647 months",
                                   "9223372036854775807 microseconds", "P1D", "PT0.000001S",
                                   "1e10 seconds", "1 day -1 microsecond"])) + "::interval"
        return lit(rng.choice(["30 seconds", "1 microsecond", "1 millisecond", "5 minutes",
                               "1 hour", "0.5 seconds"])) + "::interval"

    # -- JSON arguments ----------------------------------------------------

    def jsonb(self, value, name=None, bad=None, kind=None):
        """
        A jsonb argument from a tree; sometimes NULL, corrupt or absurd.  When
        kind ("object" or "array") is given, a value of another JSON type is
        noted in bad: the SPEC calls it bad input.
        """
        rng = self.rng
        r = rng.random()
        if r < 0.01 and name:
            bad.append("%s is NULL" % name)
            return "NULL::jsonb"
        if r < 0.025:
            text = self.g.dump(value)
            broken = self.g.corrupt(text)
            try:
                js_parse(broken)
            except JsRejects:
                return lit(broken) + "::jsonb"     # jsonb refuses it too: 22xxx
        elif r < 0.029:
            value = self.g.deep()
        elif r < 0.0305:
            value = self.g.huge()
        elif r < 0.045 and kind is not None:
            value = rng.choice([None, True, Num("1"), "str", [], Obj(), Num("1e309"), [Obj()]])
        if kind is not None and name and json_kind(value) != kind:
            bad.append("%s is not an %s" % (name, kind))
        return lit(self.g.dump(value)) + "::jsonb"

    def mutate(self, tree, depth=0):
        """Change one node of a tree at random (validity unknown afterwards)."""
        rng = self.rng
        if depth > 6 or rng.random() < 0.3:
            return rng.choice([self.g.value(2), self.g.scalar(), None, Obj(), [],
                               self.g.deep() if rng.random() < 0.05 else Num("1e309")])
        if isinstance(tree, Obj):
            t = Obj(tree.pairs)
            op = rng.random()
            if op < 0.3 and t.pairs:
                i = rng.randrange(len(t.pairs))
                k, v = t.pairs[i]
                t.pairs[i] = (k, self.mutate(v, depth + 1))
            elif op < 0.5 and t.pairs:
                del t.pairs[rng.randrange(len(t.pairs))]
            elif op < 0.7:
                t.pairs.append((self.g.key(), self.g.value(2)))
            elif op < 0.85 and t.pairs:
                k, _ = rng.choice(t.pairs)
                t.pairs.append((k, self.g.value(2)))      # repeated key
            else:
                rng.shuffle(t.pairs)
            return t
        if isinstance(tree, list):
            t = list(tree)
            op = rng.random()
            if op < 0.4 and t:
                i = rng.randrange(len(t))
                t[i] = self.mutate(t[i], depth + 1)
            elif op < 0.6 and t:
                del t[rng.randrange(len(t))]
            elif op < 0.8:
                t.insert(rng.randint(0, len(t)), self.g.value(2))
            elif t:
                t.append(rng.choice(t))
            return t
        return self.g.value(2)

    # -- valid shapes (SPEC 3a) ----------------------------------------------

    def nonempty(self):
        s = self.g.string(16)
        return s if s and not any(0xd800 <= ord(c) <= 0xdfff or c == "\x00" for c in s) else "x"

    def payload(self):
        return self.rng.choice([None, Obj(), self.g.obj(), Obj([("k", Num("1"))])])

    def trace(self):
        rng = self.rng
        t = Obj([("model", self.g.string(10) if rng.random() < 0.3 else "gpt-x"),
                 ("inputHash", self.nonempty()), ("outputHash", self.nonempty()),
                 ("promptTokens", Num(rng.choice(["0", "12", "1e2", "9007199254740993", "1.0"]))),
                 ("completionTokens", Num(str(rng.randint(0, 10**6)))),
                 ("durationMs", Num(rng.choice(["0", "-0", "1.5", "1e308", "5e-324", "12"])))])
        if rng.random() < 0.5:
            t.set("input", self.g.value(2))
        if rng.random() < 0.5:
            t.set("output", self.g.value(2))
        if rng.random() < 0.3:
            t.set(self.g.key(), self.g.value(2))     # other keys are kept
        return t

    def event(self):
        rng = self.rng
        e = Obj([("type", self.nonempty())])
        if rng.random() < 0.6:
            e.set("payload", self.payload())
        if rng.random() < 0.4:
            e.set("llmTrace", self.trace() if rng.random() < 0.8 else None)
        if rng.random() < 0.3:
            rng.shuffle(e.pairs)
        return e

    def command(self, kind=None):
        rng = self.rng
        kind = kind or rng.choice(["invoke", "fanout", "emit"])
        c = Obj([("type", kind)])
        if kind == "invoke":
            c.set("step", self.nonempty())
            if rng.random() < 0.7:
                c.set("input", self.g.value(3))
        elif kind == "fanout":
            c.set("step", self.nonempty())
            c.set("inputs", [self.g.value(2) for _ in range(rng.randint(0, 3))])
        elif kind == "emit":
            c.set("topic", self.nonempty())
            if rng.random() < 0.7:
                c.set("payload", self.g.value(3))
        elif kind == "review":
            c.set("reason", self.nonempty())
            if rng.random() < 0.5:
                c.set("payload", self.g.value(2))
        elif kind == "suspend":
            c.set("reason", self.nonempty())
            if rng.random() < 0.5:
                c.set("checkpoint", self.g.value(2))
            if rng.random() < 0.5:
                c.set("resumeStep", self.nonempty())
        if rng.random() < 0.3:
            rng.shuffle(c.pairs)
        return c

    # -- shapes the SPEC calls bad ---------------------------------------------

    def bad_event(self):
        """An event that breaks SPEC 3a, with the reason."""
        rng = self.rng
        e = self.event()
        wrong = rng.choice([None, True, Num("1"), [], "s", Obj([("a", 1)])])
        op = rng.randrange(12)
        if op == 0:
            return e.drop("type"), "event without type"
        if op == 1:
            return e.set("type", ""), "event type empty"
        if op == 2:
            return e.set("type", rng.choice([None, True, Num("1"), [], Obj()])), "event type not a string"
        if op == 3:
            k = self.g.key()
            if k in ("type", "payload", "llmTrace"):
                k = "extra"
            return e.set(k, self.g.value(1)), "event with unknown key %r" % k
        if op == 4:
            if isinstance(wrong, Obj) or wrong is None:
                wrong = "s"
            return e.set("payload", wrong), "event payload not object/null"
        if op == 5:
            if isinstance(wrong, Obj) or wrong is None:
                wrong = []
            return e.set("llmTrace", wrong), "llmTrace not object/null"
        t = self.trace()
        if op == 6:
            k = rng.choice(["model", "inputHash", "outputHash", "promptTokens",
                            "completionTokens", "durationMs"])
            t.drop(k)
            why = "llmTrace without %s" % k
        elif op == 7:
            k = rng.choice(["inputHash", "outputHash"])
            t.set(k, rng.choice(["", None, Num("1"), []]))
            why = "llmTrace %s empty or not a string" % k
        elif op == 8:
            k = rng.choice(["promptTokens", "completionTokens"])
            t.set(k, rng.choice([Num("-1"), Num("1.5"), Num("1e400"), "12", None, Num("-1e-9"), True]))
            why = "llmTrace %s not a non-negative integer" % k
        elif op == 9:
            t.set("durationMs", rng.choice([Num("-1"), Num("-1e-300"), "1", None, []]))
            why = "llmTrace durationMs not a non-negative number"
        elif op == 10:
            t.set("model", rng.choice([None, Num("1"), [], Obj(), True]))
            why = "llmTrace model not a string"
        else:
            return rng.choice([None, True, Num("0"), "event", [], [Obj([("type", "x")])]]), \
                "event not an object"
        return e.set("llmTrace", t), why

    def bad_command(self):
        """A command that breaks the table of SPEC 3a, with the reason."""
        rng = self.rng
        kind = rng.choice(["invoke", "fanout", "emit", "review", "suspend"])
        c = self.command(kind)
        required = {"invoke": "step", "fanout": "step", "emit": "topic",
                    "review": "reason", "suspend": "reason"}[kind]
        op = rng.randrange(9)
        if op == 0:
            return c.set("type", rng.choice(["Invoke", "unknown", "", " invoke", "invokes",
                                             "emit ", "REVIEW"])), "unknown command type"
        if op == 1:
            return c.set("type", rng.choice([None, Num("1"), True, [], Obj()])), "type not a string"
        if op == 2:
            return c.drop("type"), "command without type"
        if op == 3:
            return c.drop(required), "%s without %s" % (kind, required)
        if op == 4:
            return c.set(required, rng.choice(["", None, Num("1"), [], Obj(), True])), \
                "%s %s empty or not a string" % (kind, required)
        if op == 5:
            allowed = {"type", "step", "input", "inputs", "topic", "payload", "reason",
                       "checkpoint", "resumeStep"}
            k = self.g.key()
            field_of = {"invoke": {"type", "step", "input"}, "fanout": {"type", "step", "inputs"},
                        "emit": {"type", "topic", "payload"}, "review": {"type", "reason", "payload"},
                        "suspend": {"type", "reason", "checkpoint", "resumeStep"}}[kind]
            if k in field_of:
                k = rng.choice(sorted(allowed - field_of))
            return c.set(k, self.g.value(1)), "%s with key %r" % (kind, k)
        if op == 6 and kind == "fanout":
            return c.set("inputs", rng.choice([None, Obj(), "a", Num("1")])), "fanout inputs not array"
        if op == 7 and kind == "suspend":
            return c.set("resumeStep", rng.choice(["", None, Num("1"), []])), \
                "suspend resumeStep empty or not a string"
        return rng.choice([None, True, Num("1"), "invoke", [], [c]]), "command not an object"

    # -- the calls -----------------------------------------------------------------

    def run_ids(self):
        """A (wf, run) pair: usually one the model knows."""
        rng = self.rng
        if self.model.versions and rng.random() < 0.7:
            return rng.choice(sorted(self.model.versions))
        return rng.choice(WORKFLOWS), rng.choice(RUNS)

    def ids_args(self, bad, names=("workflow_id", "run_id")):
        wf, run = self.run_ids()
        return [self.text_arg([wf], names[0], bad), self.text_arg([run], names[1], bad)], (wf, run)

    def gen_commit(self):
        rng = self.rng
        bad = []
        wf, run = self.run_ids()
        step = rng.choice(STEPS)
        reuse = None
        if self.model.recent_commands and rng.random() < 0.08:
            # the same commands again, usually with the same ids: command_exists
            reuse = rng.choice(self.model.recent_commands)
            if rng.random() < 0.7:
                wf, run, step = reuse[:3]
        a_wf = self.text_arg([wf], "workflow_id", bad)
        a_run = self.text_arg([run], "run_id", bad)
        a_step = self.text_arg([step], "step_id", bad)
        current = self.model.versions.get((wf, run))
        if current is None:
            version = 0 if rng.random() < 0.85 else rng.randint(1, 3)
        else:
            version = rng.choice([current] * 6 + [0, current + 1, max(current - 1, 0), 10**6])
        a_ver = self.int_arg(version, "expected_version", bad, lo=0)
        if current is not None and a_ver == str(current):
            self.model.versions[(wf, run)] = current + 1      # optimistic, for chains

        output = self.g.obj() if rng.random() < 0.9 else self.mutate(self.g.obj())
        a_out = self.jsonb(output, "output", bad, "object")

        form = rng.random()
        if form < 0.1:
            # events and commands left to their defaults ('[]')
            args = "%s, %s, %s, %s, %s" % (a_wf, a_run, a_step, a_ver, a_out)
        else:
            events = self.gen_events(bad)
            cmds = reuse[3] if reuse else self.gen_commands(bad)
            if isinstance(cmds, list) and all(isinstance(c, Obj) for c in cmds) and not bad:
                self.model.recent_commands.append((wf, run, step, cmds))
            a_ev = self.jsonb(events, "events", bad, "array")
            a_cmd = self.jsonb(cmds, "commands", bad, "array")
            if form < 0.85:
                args = "%s, %s, %s, %s, %s, %s, %s" % (a_wf, a_run, a_step, a_ver, a_out, a_ev, a_cmd)
            else:
                args = ("workflow_id => %s, run_id => %s, step_id => %s, expected_version => %s,"
                        " output => %s, events => %s, commands => %s"
                        % (a_wf, a_run, a_step, a_ver, a_out, a_ev, a_cmd))
        sql = "SELECT left(string_agg(x::text, ','), 300) FROM public.verist_commit(%s) AS x" % args
        return Case("verist_commit", sql, "; ".join(bad) or None)

    def gen_events(self, bad):
        """The events argument of a commit; appends to bad what breaks the SPEC."""
        rng = self.rng
        r = rng.random()
        if r < 0.005:
            return [self.event() for _ in range(rng.randint(100, 2000))]
        events = [self.event() for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 5]))]
        if r < 0.1:
            e, why = self.bad_event()
            events.insert(rng.randint(0, len(events)), e)
            bad.append(why)
        elif r < 0.16:
            events = self.mutate(events)
        return events

    def twin_commands(self):
        """One command twice, written differently but with one canonical text."""
        rng = self.rng
        c = self.command()
        field = {"invoke": "input", "emit": "payload", "fanout": "inputs"}[c.get("type")]
        if field == "inputs":
            c.set(field, [Num("1"), Num("-0"), Obj([("b", Num("2")), ("a", "\u00e9")])])
            twin_value = [Num("1.00"), Num("0"), Obj([("a", "\u00e9"), ("b", Num("2E0"))])]
        else:
            c.set(field, Obj([("n", Num("1")), ("m", Num("100")), ("10", None), ("9", True)]))
            twin_value = Obj([("9", True), ("m", Num("1e2")), ("10", None), ("n", Num("1.0"))])
        twin = Obj(list(c.pairs)).set(field, twin_value)
        rng.shuffle(twin.pairs)
        return [c, twin]

    def gen_commands(self, bad):
        """The commands argument of a commit; appends to bad what breaks the SPEC."""
        rng = self.rng
        r = rng.random()
        if r < 0.005:
            return [self.command() for _ in range(rng.randint(100, 1000))]
        cmds = [self.command() for _ in range(rng.choice([0, 0, 1, 1, 2, 3]))]
        if r < 0.12:
            cmds.insert(rng.randint(0, len(cmds)), self.command(rng.choice(["review", "suspend"])))
        elif r < 0.2:
            c, why = self.bad_command()
            cmds.insert(rng.randint(0, len(cmds)), c)
            bad.append(why)
        elif r < 0.23:
            cmds.extend(self.command(rng.choice(["review", "suspend"])) for _ in range(2))
            rng.shuffle(cmds)
            bad.append("two blocking commands")
        elif r < 0.27:
            cmds.extend(self.twin_commands())
            rng.shuffle(cmds)
            bad.append("duplicate commands (same canonical text)")
        elif r < 0.33:
            cmds = self.mutate(cmds)
        return cmds

    def gen_read(self, fn):
        bad = []
        args, _ = self.ids_args(bad)
        if fn == "verist_effective_state":
            sql = "SELECT left(public.verist_effective_state(%s)::text, 300)" % ", ".join(args)
            return Case(fn, sql, "; ".join(bad) or None)
        sql = ("SELECT count(*) || ':' || left(coalesce(string_agg(x::text, ','), ''), 300)"
               " FROM public.%s(%s) AS x" % (fn, ", ".join(args)))
        return Case(fn, sql, "; ".join(bad) or None, check=("rows", 1))

    def gen_overlay(self):
        bad = []
        args, _ = self.ids_args(bad)
        patch = self.g.obj() if self.rng.random() < 0.85 else self.mutate(self.g.obj())
        args.append(self.jsonb(patch, "patch", bad, "object"))
        sql = ("SELECT left(x::text, 300) FROM public.verist_set_overlay(%s) AS x" % ", ".join(args))
        return Case("verist_set_overlay", sql, "; ".join(bad) or None)

    def gen_resolve(self):
        rng = self.rng
        bad = []
        if self.model.blocked and rng.random() < 0.7:
            wf, run = rng.choice(sorted(self.model.blocked))
            args = [self.text_arg([wf], "workflow_id", bad), self.text_arg([run], "run_id", bad)]
        else:
            args, _ = self.ids_args(bad)
        r = rng.random()
        if r < 0.35:
            res = Obj([("approved", rng.random() < 0.5)])
        elif r < 0.65:
            res = Obj([("resumeData", self.g.value(3))])
        elif r < 0.75:
            res = Obj([("approved", True), ("resumeData", None), (self.g.key(), self.g.value(1))])
        elif r < 0.85:
            res = Obj([("approved", rng.choice(["yes", Num("1"), None, Obj()]))])
        else:
            res = self.mutate(Obj([("approved", False)]))
        args.append(self.jsonb(res, "resolution", bad, "object"))
        sql = ("SELECT count(*) || ':' || left(coalesce(string_agg(x::text, ','), ''), 300)"
               " FROM public.verist_resolve_block(%s) AS x" % ", ".join(args))
        return Case("verist_resolve_block", sql, "; ".join(bad) or None, check=("rows", 1))

    def gen_lease(self):
        rng = self.rng
        bad = []
        owner = self.text_arg(OWNERS, "lease_owner", bad)
        n = rng.choice([1, 1, 2, 3, 5, 10, 50])
        a_n = self.int_arg(n, "max_entries", bad, lo=1)
        limit = n if a_n == str(n) else None
        if rng.random() < 0.3:
            args = "%s, %s" % (owner, a_n)
        else:
            args = "%s, %s, %s" % (owner, a_n, self.interval_arg(bad))
        sql = ("SELECT count(*) || ':' || left(coalesce(string_agg(x::text, ','), ''), 300)"
               " FROM public.verist_lease_outbox(%s) AS x" % args)
        return Case("verist_lease_outbox", sql, "; ".join(bad) or None,
                    check=("rows", limit) if limit else None)

    def outbox_target(self):
        """(id, owner) of an outbox row, usually one that is leased."""
        rng = self.rng
        leased = [(i, o) for i, s, o in self.model.outbox if s == "leased"]
        if leased and rng.random() < 0.6:
            i, o = rng.choice(leased)
            return i, (o if rng.random() < 0.8 else rng.choice(OWNERS))
        if self.model.outbox and rng.random() < 0.7:
            i, _, o = rng.choice(self.model.outbox)
            return i, o or rng.choice(OWNERS)
        return rng.randint(1, 5000), rng.choice(OWNERS)

    def gen_mark(self, fn):
        rng = self.rng
        bad = []
        oid, owner = self.outbox_target()
        args = [self.bigint_arg(oid, "outbox_id", bad), self.text_arg([owner], "lease_owner", bad)]
        if fn == "verist_mark_failed":
            args.append(self.text_arg([rng.choice(["timeout", "boom", "x" * 10000, "\u00e9rror"])],
                                      "error", bad, empty_ok=True))
        sql = "SELECT x::text FROM public.%s(%s) AS x" % (fn, ", ".join(args))
        return Case(fn, sql, "; ".join(bad) or None)

    def gen_batch(self):
        rng = self.rng
        bad = []
        ids = []
        owner = rng.choice(OWNERS)
        leased = [(i, o) for i, s, o in self.model.outbox if s == "leased"]
        if leased:
            _, owner = rng.choice(leased)
            ids = [i for i, o in leased if o == owner and rng.random() < 0.8]
        ids += [rng.choice([rng.randint(1, 5000), -1, 0]) for _ in range(rng.randint(0, 3))]
        rng.shuffle(ids)
        r = rng.random()
        if r < 0.04:
            arr = "NULL::bigint[]"
            bad.append("outbox_ids is NULL")
        elif r < 0.1:
            arr = "'{}'::bigint[]"
        elif r < 0.16:
            arr = "ARRAY[%s]::bigint[]" % ", ".join(["NULL"] + [str(i) for i in ids] + ["NULL"])
        elif r < 0.2:
            arr = lit(rng.choice(["{{1,2},{3,4}}", "[5:7]={1,2,3}", "{1,abc}", "{", "{NULL}",
                                  "{9223372036854775808}", "{{}}", "{1,,2}"])) + "::bigint[]"
        elif r < 0.22:
            arr = lit("{" + ",".join(str(rng.randint(-10, 10**6)) for _ in range(20000)) + "}") + "::bigint[]"
        else:
            arr = "ARRAY[%s]::bigint[]" % ", ".join(str(i) for i in ids)
        a_owner = self.text_arg([owner], "lease_owner", bad)
        sql = ("SELECT count(*) || ':' || left(coalesce(string_agg(x::text, ','), ''), 300)"
               " FROM public.verist_mark_dispatched_batch(%s, %s) AS x" % (arr, a_owner))
        return Case("verist_mark_dispatched_batch", sql, "; ".join(bad) or None)

    def oracle_json(self):
        """A JSON value and its text for the canonical cross-check."""
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            v = self.command(rng.choice(["invoke", "fanout", "emit", "review", "suspend"]))
        elif r < 0.85:
            v = self.g.value(rng.choice([1, 3, 5, 7]))
        else:
            v = self.mutate(self.command())
        return v, self.g.dump(v)

    def gen_canonical(self):
        rng = self.rng
        r = rng.random()
        if r < 0.03:
            return Case("verist_canonical_json",
                        "SELECT public.verist_canonical_json(NULL::jsonb)", "value is NULL")
        _, text = self.oracle_json()
        oracle = True
        if r < 0.08:
            text = self.g.corrupt(text)
        elif r < 0.1:
            text = self.g.deep().text
            oracle = False          # Python's parser would hit its recursion limit
        elif r < 0.103:
            text = self.g.huge().text
        sql = "SELECT public.verist_canonical_json(%s::jsonb)" % lit(text)
        oracle = ("canon", text, None) if oracle else None
        return Case("verist_canonical_json", sql, None, oracle=oracle)

    def gen_dedupe(self):
        rng = self.rng
        bad = []
        ids = []
        args = []
        for name, pool in (("workflow_id", WORKFLOWS), ("run_id", RUNS), ("step_id", STEPS)):
            r = rng.random()
            if r < 0.03:
                bad.append("%s is NULL" % name)
                args.append("NULL::text")
                ids = None
                continue
            s = rng.choice(pool) if r < 0.8 else rng.choice(["", self.weird_text(), self.g.string()])
            s = _NOT_IN_TEXT.sub("?", s)
            args.append(lit(s))
            if ids is not None:
                ids.append(s)
        r = rng.random()
        if r < 0.03:
            bad.append("command is NULL")
            args.append("NULL::jsonb")
            oracle = None
        else:
            _, text = self.oracle_json()
            if r < 0.06:
                text = self.g.corrupt(text)
            args.append(lit(text) + "::jsonb")
            oracle = ("dedupe", text, tuple(ids)) if ids is not None else None
        sql = "SELECT public.verist_dedupe_key(%s)" % ", ".join(args)
        return Case("verist_dedupe_key", sql, "; ".join(bad) or None,
                    oracle=oracle if not bad else None)

    def gen(self):
        fn = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        if fn == "verist_commit":
            return self.gen_commit()
        if fn in ("verist_load", "verist_effective_state", "verist_get_block"):
            return self.gen_read(fn)
        if fn == "verist_set_overlay":
            return self.gen_overlay()
        if fn == "verist_resolve_block":
            return self.gen_resolve()
        if fn == "verist_lease_outbox":
            return self.gen_lease()
        if fn in ("verist_mark_dispatched", "verist_mark_failed"):
            return self.gen_mark(fn)
        if fn == "verist_mark_dispatched_batch":
            return self.gen_batch()
        if fn == "verist_dedupe_key":
            return self.gen_dedupe()
        return self.gen_canonical()


def expected_canonical(kind, text, ids):
    """
    What the JavaScript algorithm gives for a JSON text: ("text", result,
    beyond_double) or ("reject", why, False) when JSON.parse refuses it.
    """
    try:
        v = js_parse(text)
    except JsRejects as e:
        return ("reject", str(e), False)
    except JsTooDeep:
        return ("unknown", None, False)
    if kind == "canon":
        result = js_stringify_canonical(v)
    else:
        wf, run, step = ids
        all_ = js_stringify_canonical({"workflowId": wf, "runId": run, "stepId": step, "command": v})
        result = hashlib.sha256(all_.encode("utf-8", "surrogatepass")).hexdigest()
    return ("text", result, has_non_finite(v))


class Fuzzer:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.model = Model()
        self.gen = CaseGen(self.rng, self.model)
        self.hist = collections.Counter()               # SQLSTATE -> count
        self.by_fn = collections.defaultdict(collections.Counter)
        self.failures = collections.defaultdict(list)   # criterion -> [(case, why)]
        self.cases = 0
        self.toplevel = 0
        self.drops = 0
        self.oracle_checked = collections.Counter()
        self.node_queue = []
        self.slowest = []
        self.server_ms = 0.0
        self.conn = None
        os.makedirs(args.outdir, exist_ok=True)
        self.fail_file = open(os.path.join(args.outdir, "failures.sql"), "w", encoding="utf-8",
                              errors="surrogatepass")
        self.fail_file.write("-- verist fuzz failures, seed %d\n" % args.seed)

    # -- connection --------------------------------------------------------

    def create_database(self):
        """The fuzzer works in a database of its own, never the caller's."""
        with psycopg.connect(self.args.dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS %s" % self.args.dbname)
            conn.execute("CREATE DATABASE %s" % self.args.dbname)

    def connect(self, wait=60):
        deadline = time.time() + wait
        while True:
            try:
                self.conn = psycopg.connect(make_conninfo(self.args.dsn, dbname=self.args.dbname),
                                            autocommit=True)
                self.conn.execute("SET statement_timeout = %s" % int(self.args.timeout * 1000))
                self.conn.execute("SET client_min_messages = warning")
                return
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

    def server_identity(self):
        cur = self.conn.cursor()
        cur.execute("SELECT pg_postmaster_start_time()::text,"
                    " split_part(pg_read_file('postmaster.pid'), E'\\n', 1)")
        return cur.fetchone()

    def reset_schema(self):
        """A fresh extension: empty tables keep the checksums cheap."""
        self.conn.execute("DROP SCHEMA IF EXISTS verist_fuzz CASCADE")
        self.conn.execute("DROP EXTENSION IF EXISTS verist CASCADE")
        self.conn.execute("CREATE EXTENSION verist SCHEMA public")
        self.conn.execute(SETUP_SQL)
        self.model.versions.clear()
        self.model.recent_commands.clear()

    # -- bookkeeping -------------------------------------------------------

    def fail(self, criterion, case, why):
        self.failures[criterion].append((case, why))
        n = len(self.failures[criterion])
        if n <= self.args.show:
            print("FAIL [%s] %s: %s\n    %s" % (criterion, case.fn, why, short(case.sql, 600)))
        self.fail_file.write("\n-- [%s] %s\n-- got %s %s\n-- spec says: %s\n%s;\n" % (
            criterion, why.replace("\n", " "), case.code, (case.message or case.result or "")[:300].replace("\n", " "),
            case.bad or "-", case.sql))
        self.fail_file.flush()

    def judge(self, case):
        """Check one finished call against every promise."""
        self.cases += 1
        if case.ms is not None:
            self.slowest.append((case.ms, case.fn, case.code, short(case.sql, 160)))
            self.slowest = sorted(self.slowest, reverse=True)[:5]
            self.server_ms += case.ms
        self.hist[case.code] += 1
        self.by_fn[case.fn][case.code] += 1
        ok_code = case.code == "00000" or case.code in VERIST_CODES or \
            case.code.startswith("22") or case.code == STACK_DEPTH
        if not ok_code:
            self.fail("sqlstate", case, "undocumented SQLSTATE %s: %s" % (case.code, case.message))
        if case.code != "00000" and case.wrote:
            self.fail("nowrite", case, "failed with %s but the tables changed" % case.code)
        if case.code == "00000" and case.bad:
            self.fail("refuse", case, "accepted bad input (%s); result %s" % (case.bad, short(case.result, 200)))
        if case.code == "00000" and case.check and case.result is not None:
            count = int(case.result.split(":", 1)[0])
            if case.check[1] is not None and count > case.check[1]:
                self.fail("shape", case, "returned %d rows, at most %d allowed" % (count, case.check[1]))
        if case.oracle:
            self.check_oracle(case)

    def check_oracle(self, case):
        kind, text, ids = case.oracle
        want = expected_canonical(kind, text, ids)
        if want[0] == "unknown":
            return
        self.oracle_checked[kind] += 1
        if case.code == "00000":
            if want[0] == "reject":
                # jsonb accepted a text JSON.parse refuses: the two parsers
                # disagree, and the dedupe key has no JavaScript counterpart
                self.fail("canon", case, "jsonb accepted text JSON.parse rejects (%s)" % want[1])
            elif case.result != want[1]:
                self.fail("canon", case, "%s differs from JavaScript:\n    verist: %s\n    js:     %s"
                          % (kind, short(case.result, 300), short(want[1], 300)))
        elif case.code == "VRS01" and want[0] == "text" and not want[2]:
            # only numbers beyond the double range may be refused (SPEC 4)
            self.fail("canon", case, "refused (%s) a value JavaScript canonicalises" % case.message)
        if case.code == "00000" and self.args.node and want[0] == "text":
            self.node_queue.append((case, text, ids, kind))

    def flush_node(self):
        """Ask node's JSON.stringify about the queued successes."""
        if not self.node_queue:
            return
        queue, self.node_queue = self.node_queue, []
        lines = []
        for case, text, ids, kind in queue:
            w, r, s = ids if ids else ("", "", "")
            lines.append(json.dumps({"t": text, "w": w, "r": r, "s": s}))
        proc = subprocess.run([self.args.node, os.path.join(os.path.dirname(__file__), "canon.js")],
                              input="\n".join(lines).encode("utf-8", "surrogatepass") + b"\n",
                              capture_output=True)
        out = proc.stdout.decode("utf-8", "surrogatepass").rstrip("\n").split("\n")
        if proc.returncode != 0 or len(out) != len(queue):
            print("node oracle failed: %s" % proc.stderr.decode()[:500])
            self.fail("canon", queue[0][0], "node oracle did not run")
            return
        for (case, text, ids, kind), line in zip(queue, out):
            o = json.loads(line)
            self.oracle_checked["node"] += 1
            if "e" in o:
                self.fail("canon", case, "node rejects a text verist canonicalised: %s" % o["e"])
                continue
            got = o["c"] if kind == "canon" else o["k"]
            if got != case.result:
                self.fail("canon", case, "%s differs from node:\n    verist: %s\n    node:   %s"
                          % (kind, short(case.result, 300), short(got, 300)))

    # -- running -------------------------------------------------------------

    def run_batch(self, cases):
        """All cases in one round trip, each in a subtransaction."""
        cur = self.conn.cursor()
        # binary: a text[] in text format would escape every quote in the JSON
        cur.execute("SELECT n, code, result, message, wrote, ms FROM verist_fuzz.run(%b)",
                    ([c.sql for c in cases],))
        for n, code, result, message, wrote, ms in cur.fetchall():
            c = cases[n - 1]
            c.code, c.result, c.message, c.wrote, c.ms = code, result, message, wrote, ms

    def checksum(self):
        return self.conn.execute("SELECT verist_fuzz.checksum_rows()").fetchone()[0]

    def run_toplevel(self, case):
        """One case in its own autocommit transaction; checksums by the client."""
        case.toplevel = True
        self.toplevel += 1
        before = self.checksum()
        try:
            row = self.conn.execute(case.sql).fetchone()
            case.code, case.result = "00000", (row[0] if row else None)
        except psycopg.Error as e:
            if self.conn.closed or self.conn.broken:
                raise

            case.code = e.sqlstate or "?????"
            case.message = (e.diag.message_primary or str(e))[:400]
            case.wrote = self.checksum() != before

    def replay_one_by_one(self, cases, why):
        """After a batch died: find which calls crash or hang, one at a time."""
        print("batch failed (%s): replaying %d calls one by one" % (why, len(cases)))
        for c in cases:
            try:
                self.run_toplevel(c)
            except psycopg.Error as e:
                self.drops += 1
                c.code, c.message = "CRASH", str(e)[:300]
                self.hist["CRASH"] += 1
                self.fail("crash", c, "connection lost: %s" % str(e)[:200])
                self.connect()
                self.model.refresh(self.conn.cursor())
                continue
            if c.code == "57014":
                self.fail("crash", c, "call exceeded statement_timeout (%ss)" % self.args.timeout)
                self.hist["TIMEOUT"] += 1
                continue
            self.judge(c)

    def run(self):
        a = self.args
        self.create_database()
        self.connect()
        ident0 = self.server_identity()
        log_start = os.path.getsize(a.server_log) if a.server_log and os.path.exists(a.server_log) else 0
        self.reset_schema()
        t0 = time.time()
        done = 0
        since_reset = 0
        next_report = time.time() + 10
        while done < a.count:
            if since_reset >= a.reset_every:
                self.reset_schema()
                since_reset = 0
            self.model.refresh(self.conn.cursor())
            n = min(a.batch, a.count - done)
            cases = [self.gen.gen() for _ in range(n)]
            top_ids = {i for i in range(n) if self.rng.random() < a.toplevel_fraction}
            top = [c for i, c in enumerate(cases) if i in top_ids]
            batch = [c for i, c in enumerate(cases) if i not in top_ids]
            try:
                self.run_batch(batch)
                for c in batch:
                    self.judge(c)
                for c in top:
                    self.run_toplevel(c)
                    self.judge(c)
            except psycopg.Error as e:
                if self.conn.closed or self.conn.broken:
                    self.drops += 1
                    self.connect()
                    why = "connection lost: %s" % str(e)[:200]
                else:
                    # the batch as a whole failed (timeout, out of memory ...)
                    why = "%s %s" % (e.sqlstate, str(e)[:200])
                self.replay_one_by_one([c for c in cases if c.code is None], why)
            done += n
            since_reset += n
            if len(self.node_queue) >= 500:
                self.flush_node()
            if time.time() > next_report:
                print("  %d/%d calls, %.0f s" % (done, a.count, time.time() - t0), flush=True)
                next_report = time.time() + 10
        self.flush_node()
        elapsed = time.time() - t0

        # The server: same postmaster, nothing alarming in its log.
        try:
            ident1 = self.server_identity()
        except psycopg.Error:
            self.connect()
            ident1 = self.server_identity()
        log_hits = []
        if a.server_log and os.path.exists(a.server_log):
            with open(a.server_log, "rb") as f:
                f.seek(log_start)
                for line in f.read().decode("utf-8", "replace").splitlines():
                    if CRASH_LOG_RE.search(line):
                        log_hits.append(line)
        self.report(elapsed, ident0, ident1, log_hits)
        return 0 if not any(self.failures.values()) and ident0 == ident1 and not log_hits \
            and self.drops == 0 else 1

    # -- the report ------------------------------------------------------------

    def report(self, elapsed, ident0, ident1, log_hits):
        a = self.args
        print("\nverist fuzz: seed %d, %d calls in %.1f s (%d at top level), %d connection drops"
              % (a.seed, self.cases, elapsed, self.toplevel, self.drops))
        print("outcomes by SQLSTATE:")
        for code, n in sorted(self.hist.items(), key=lambda kv: (-kv[1], kv[0])):
            print("  %-8s %7d" % (code, n))
        print("outcomes by function (success / errors by SQLSTATE):")
        for fn in FUNCTIONS:
            c = self.by_fn[fn]
            errs = ", ".join("%s %d" % kv for kv in sorted(c.items()) if kv[0] != "00000")
            print("  %-30s %6d ok  %s" % (fn, c["00000"], errs))
        print("cross-checked against the JavaScript algorithm: %d canonical, %d dedupe keys"
              " (python oracle), %d against node" % (self.oracle_checked["canon"],
                                                   self.oracle_checked["dedupe"],
                                                   self.oracle_checked["node"]))
        print("stack depth errors (54001): %d" % self.hist.get(STACK_DEPTH, 0))
        print("time inside the calls: %.1f s; slowest:" % (self.server_ms / 1000))
        for ms, fn, code, sql in self.slowest:
            print("  %8.1f ms %s %s %s" % (ms, fn, code, sql))

        def line(ok, text):
            print("%s - %s" % ("ok" if ok else "not ok", text))

        crashes = self.failures["crash"]
        line(self.drops == 0 and not crashes, "crash: no connection lost (%d drops, %d culprits)"
             % (self.drops, len(crashes)))
        line(ident0 == ident1, "crash: postmaster unchanged (start %s, pid %s -> start %s, pid %s)"
             % (ident0 + ident1))
        if a.server_log:
            line(not log_hits, "crash: server log free of crash/PANIC/sanitizer reports (%d lines)"
                 % len(log_hits))
            for h in log_hits[:20]:
                print("    " + h[:300])
        line(not self.failures["sqlstate"], "sqlstate: every error documented (%d undocumented)"
             % len(self.failures["sqlstate"]))
        line(not self.failures["nowrite"], "nowrite: no failed call changed a row (%d did)"
             % len(self.failures["nowrite"]))
        line(not self.failures["refuse"], "refuse: bad input always refused (%d accepted)"
             % len(self.failures["refuse"]))
        line(not self.failures["shape"], "shape: 0/1-row functions and leases within limits (%d violations)"
             % len(self.failures["shape"]))
        line(not self.failures["canon"] and self.oracle_checked["canon"] > 0,
             "canon: canonical JSON and dedupe keys match JavaScript (%d mismatches)"
             % len(self.failures["canon"]))
        missing = [fn for fn in FUNCTIONS
                   if self.by_fn[fn]["00000"] == 0 or sum(self.by_fn[fn].values()) == self.by_fn[fn]["00000"]]
        line(not missing, "coverage: every function both succeeded and failed%s"
             % (" (not: %s)" % ", ".join(missing) if missing else ""))
        print("failing inputs: %s" % os.path.join(a.outdir, "failures.sql"))


def short(s, n):
    if s is None:
        return "NULL"
    s = str(s)
    return s if len(s) <= n else s[:n] + "... (%d chars)" % len(s)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=20000, help="calls to make (default 20000)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    p.add_argument("--batch", type=int, default=200, help="calls per round trip")
    p.add_argument("--dsn", default="", help="libpq connection string (default: PG* variables)")
    p.add_argument("--dbname", default="verist_fuzz",
                   help="database the fuzzer creates (dropped first if it exists)")
    p.add_argument("--server-log", default=None, help="server log to scan for crashes")
    p.add_argument("--outdir", default="test/out/fuzz", help="where failing inputs go")
    p.add_argument("--toplevel-fraction", type=float, default=0.03,
                   help="share of calls run in their own top-level transaction")
    p.add_argument("--reset-every", type=int, default=3000,
                   help="re-create the extension after this many calls")
    p.add_argument("--timeout", type=float, default=120, help="statement_timeout, seconds")
    p.add_argument("--node", default=None, help="node binary for the JSON.stringify cross-check")
    p.add_argument("--show", type=int, default=5, help="failures shown per criterion")
    args = p.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1, 10**6)
    sys.setrecursionlimit(10000)
    return Fuzzer(args).run()


if __name__ == "__main__":
    sys.exit(main())
