#!/usr/bin/env python3
"""
Hostile-input fuzzer for every verist SQL function.

It generates calls to the 31 SQL functions of verist 0.4.0 -- valid ones drawn
from a model of the database and the shapes of README "Shapes", and their mutations: deep nesting,
huge strings and arrays, every JSON type in every position, unicode, numbers
at the edges of double precision, NULLs, wrong types cast from text, empty and
huge ids, bad versions, intervals and id arrays -- runs them, and checks:

  crash    no backend dies: the connection never drops, the postmaster never
           goes through a crash-restart (its auxiliary processes keep their
           PIDs: a backend crash restarts them, while the postmaster's own PID
           and start time stay the same), and the server log has no crash,
           PANIC, AddressSanitizer or UBSan report;
  sqlstate every error is a documented verist SQLSTATE (VRC01-06, VRN01,
           VRS01, VRA01, VRR01), or a standard one raised by the arguments
           themselves before verist runs: a jsonb text PostgreSQL refuses, a
           cast to integer out of range, nesting too deep for jsonb (54001).
           Which it was is decided, not guessed: the call's argument list is
           evaluated on its own, and a standard SQLSTATE counts as the
           input's only if that fails too.  One raised inside verist is a
           failure (0.3.0 let 22008 out of verist_mark_retry; 0.3.1 made
           that class a finding), except the documented 22003 of
           verist_commit_advance and verist_ledger_extend (a run's 2^31
           events or entries);
  nowrite  a failed call changes no row.  Rows a failed call wrote are
           always rolled back, so comparing tables could only ever pass; what
           can go wrong is the order (README "The commit": validate everything
           before the first write).  So every row write is counted by a BEFORE ROW
           trigger feeding a sequence, which a rollback does not rewind, and a
           call refused as bad input (VRS01, 22xxx, 54001) must not have
           written a single row, even one the rollback removed.  A conflict
           (VRC*, VRN01) may be found mid-write; README "The commit" lets it abort the call;
  refuse   input the contract calls bad (NULL or empty required arguments,
           non-objects, unknown keys, two blocking commands, duplicate
           commands, text JSON.parse rejects ...) is refused with VRS01 (or
           a 22xxx / 54001 raised on the way in), never accepted, never
           reported as a conflict;
  shape    0-or-1-row functions return at most one row, a lease or an
           event read at most max_entries, a batch with no ids nothing;
  chain    every run's event hash chain verifies (verist_verify_run valid,
           verist_verify_all empty), whatever the commits were fed;
  canon    verist_canonical_json, verist_dedupe_key, verist_chain_genesis and
           verist_event_hash agree with an independent implementation of the
           documented algorithms in the JavaScript way (jsgen.py) and, for the
           first two when node is available, with JSON.stringify itself;
  coverage every function both succeeded and failed at least once.

--self-test plants one violation of each promise (a 42P01, a write before a
VRS01, accepted bad input, a broken chain, a wrong canonical text, a killed
backend, a sanitizer-like log line ...) and passes only if every check
reports it: a check that cannot fail proves nothing.

Each batch runs with verist.hash_only and verist.notify on or off at random.

Calls run in batches: one round trip executes a batch inside a PL/pgSQL loop,
each call in its own subtransaction (BEGIN ... EXCEPTION), recording its
SQLSTATE and the rows it wrote.  A sample of calls runs at top level, one
autocommit transaction each (the other error-cleanup path).  A lost
connection replays the batch one call at a time to find the culprit.

Every failing input is written to <outdir>/failures.sql, ready to replay.

  fuzz.py --count 20000 --seed 1 --server-log /path/to/server.log
  fuzz.py --self-test --server-log /path/to/server.log
"""
import argparse
import collections
import datetime
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import psycopg
from psycopg.conninfo import make_conninfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jsgen import Gen, Num, Obj, Raw, has_non_finite, js_stringify_canonical, js_verdict  # noqa: E402

VERIST_CODES = {"VRC01", "VRC02", "VRC03", "VRC04", "VRC05", "VRC06", "VRC07", "VRN01", "VRS01", "VRA01",
                "VRR01"}
# Standard SQLSTATEs a verist function itself may raise, documented in README.
OWN_STANDARD_CODES = {"verist_commit_advance": {"22003"}, "verist_ledger_extend": {"22003"},
                      # 0.5.0: counters without shared_preload_libraries (the fuzz cluster's case)
                      "verist_stat_counters": {"55000"}, "verist_reset_counters": {"55000"}}
STACK_DEPTH = "54001"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

# How often each function is called (commit carries most of the shapes).
# Every SQL function of verist 0.5.0 is here; the procedure
# verist_purge_outbox_all is plpgsql around verist_purge_outbox and commits,
# which a call inside the batch's subtransactions cannot.
WEIGHTS = {"verist_commit": 30, "verist_load": 4, "verist_effective_state": 4,
           "verist_set_overlay": 6, "verist_get_block": 3, "verist_resolve_block": 7,
           "verist_lease_outbox": 7, "verist_mark_dispatched": 6, "verist_mark_failed": 5,
           "verist_mark_dispatched_batch": 5, "verist_dedupe_key": 10,
           "verist_canonical_json": 13,
           # 0.2.0: the audit chain
           "verist_chain_genesis": 3, "verist_event_hash": 6, "verist_verify_run": 3,
           "verist_verify_all": 1, "verist_run_digest": 3, "verist_read_events": 4,
           # 0.3.0: dispatch
           "verist_mark_retry": 6, "verist_requeue": 4, "verist_purge_outbox": 2,
           # 0.4.0: the ledger
           "verist_commit_advance": 2, "verist_ledger_extend": 2, "verist_ledger_genesis": 2,
           "verist_ledger_entry_hash": 4, "verist_state_at": 4, "verist_state_as_of": 2,
           "verist_step_input": 2,
           "verist_run_history": 2, "verist_export_run": 2, "verist_retire_run": 1,
           # 0.5.0: lease modes (in verist_lease_outbox's cases), counters, latency, metrics
           "verist_stat_counters": 1, "verist_reset_counters": 1, "verist_dispatch_latency": 2,
           "verist_metrics": 1}
FUNCTIONS = list(WEIGHTS)

# Ids are index keys; longer ones are refused as bad input (validate.c).
MAX_ID_BYTES = 512

CRASH_LOG_RE = re.compile(r"terminated by signal|server process .* (was terminated|exited with)|"
                          r"PANIC:|TRAP:|AddressSanitizer|runtime error:|LeakSanitizer|"
                          r"all server processes terminated")

SETUP_SQL = r"""
CREATE SCHEMA verist_fuzz;

-- Every row written to a verist table bumps this sequence, from a BEFORE ROW
-- trigger (AFTER triggers never fire for a statement that fails).  Sequences
-- are not transactional: a write that a rollback removed is still counted.
CREATE SEQUENCE verist_fuzz.write_count;
SELECT nextval('verist_fuzz.write_count');

CREATE FUNCTION verist_fuzz.count_write() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM nextval('verist_fuzz.write_count');
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$f$;
CREATE TRIGGER verist_fuzz_count BEFORE INSERT OR UPDATE OR DELETE ON public.verist_state
    FOR EACH ROW EXECUTE FUNCTION verist_fuzz.count_write();
CREATE TRIGGER verist_fuzz_count BEFORE INSERT OR UPDATE OR DELETE ON public.verist_events
    FOR EACH ROW EXECUTE FUNCTION verist_fuzz.count_write();
CREATE TRIGGER verist_fuzz_count BEFORE INSERT OR UPDATE OR DELETE ON public.verist_outbox
    FOR EACH ROW EXECUTE FUNCTION verist_fuzz.count_write();
CREATE TRIGGER verist_fuzz_count BEFORE INSERT OR UPDATE OR DELETE ON public.verist_blocks
    FOR EACH ROW EXECUTE FUNCTION verist_fuzz.count_write();
CREATE TRIGGER verist_fuzz_count BEFORE INSERT OR UPDATE OR DELETE ON public.verist_ledger
    FOR EACH ROW EXECUTE FUNCTION verist_fuzz.count_write();
CREATE TRIGGER verist_fuzz_count BEFORE INSERT OR UPDATE OR DELETE ON public.verist_retired
    FOR EACH ROW EXECUTE FUNCTION verist_fuzz.count_write();

CREATE FUNCTION verist_fuzz.writes() RETURNS bigint LANGUAGE sql AS
    'SELECT last_value FROM verist_fuzz.write_count';

-- Run a batch of calls, each in its own subtransaction, and report each
-- one's SQLSTATE, result (the first column of its one row), the rows it
-- wrote (rolled back or not) and its duration.
CREATE FUNCTION verist_fuzz.run(cases text[], arglists text[],
    OUT n int, OUT code text, OUT result text, OUT message text, OUT writes bigint,
    OUT ms float8, OUT origin text)
RETURNS SETOF record LANGUAGE plpgsql AS $f$
DECLARE
    before bigint;
    t0 timestamptz;
BEGIN
    FOR i IN 1 .. coalesce(array_length(cases, 1), 0) LOOP
        n := i; result := NULL; message := NULL; origin := NULL;
        before := verist_fuzz.writes();
        t0 := clock_timestamp();
        BEGIN
            EXECUTE cases[i] INTO result;
            code := '00000';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
            message := left(message, 400);
        END;
        ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
        writes := verist_fuzz.writes() - before;
        origin := verist_fuzz.origin(code, arglists[i]);
        RETURN NEXT;
    END LOOP;
END
$f$;

-- Where a standard SQLSTATE came from: 'input' when evaluating the call's
-- argument list alone raises it too, 'verist' when the arguments are fine.
CREATE FUNCTION verist_fuzz.origin(code text, arglist text) RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
    again text;
BEGIN
    IF code = '00000' OR code LIKE 'VR%' OR arglist IS NULL THEN
        RETURN NULL;
    END IF;
    BEGIN
        EXECUTE arglist;
        RETURN 'verist';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS again = RETURNED_SQLSTATE;
        RETURN CASE WHEN again = code THEN 'input' ELSE 'input ' || again END;
    END;
END
$f$;
"""

# The planted violations of --self-test need these.
SELF_TEST_SQL = r"""
CREATE FUNCTION verist_fuzz.planted_half_write() RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM public.verist_commit('planted', 'half-' || gen_random_uuid(), 's', 0, '{}');
    RAISE EXCEPTION 'planted: refused after a write' USING ERRCODE = 'VRS01';
END
$f$;
CREATE FUNCTION verist_fuzz.recurse(n int) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
    RETURN verist_fuzz.recurse(n + 1);
END
$f$;
CREATE FUNCTION public.verist_fuzz_leak(interval) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
    RAISE EXCEPTION 'planted: interval out of range inside a function' USING ERRCODE = '22008';
END
$f$;
CREATE FUNCTION verist_fuzz.planted_log_line() RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
    RAISE WARNING 'runtime error: planted by the fuzzer self-test';
    RETURN 'logged';
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


def parsed_kind(v):
    """The JSON type of a value js_parse returned."""
    return "object" if isinstance(v, dict) else "array" if isinstance(v, list) else "scalar"


_NOT_IN_TEXT = re.compile("[\x00\ud800-\udfff]")


def lit(s):
    """
    A SQL string literal (standard_conforming_strings is on).  SQL text can
    hold neither NUL nor a lone surrogate (not UTF-8): inside JSON those are
    written as escapes, and anywhere else they become "?".
    """
    return "'" + _NOT_IN_TEXT.sub("?", s).replace("'", "''") + "'"


class Case:
    """One call: its SQL, what the contract says about it, and what happened."""
    __slots__ = ("fn", "sql", "bad", "oracle", "check", "deep", "code", "result", "message",
                 "writes", "ms", "origin")

    def __init__(self, fn, sql, bad=None, oracle=None, check=None):
        self.fn = fn
        self.sql = sql
        self.bad = bad          # why the contract says the call must fail, or None
        self.oracle = oracle    # ("canon"|"dedupe", json text, ids) for the cross-check
        self.check = check      # ("rows", limit): at most limit rows returned
        self.deep = False       # carries absurd nesting: 54001 is an acceptable answer
        self.code = self.result = self.message = self.writes = self.ms = self.origin = None

    def arglist(self):
        """SELECT of the call's argument expressions alone (None if not found)."""
        return call_arglist(self.sql, self.fn)


_PUBLIC_CALL = re.compile(r"public\.verist_\w+\(")


def call_arglist(sql, fn):
    """
    "SELECT a, b, ..." for the arguments of the first call of a function
    public.verist_* in a statement (named notation "name => a" stripped),
    found by matching parentheses outside string literals; None when there is
    no such call.
    """
    m = _PUBLIC_CALL.search(sql)
    if m is None:
        return None
    args, cur = [], []
    i, depth, quoted = m.end(), 1, False
    while i < len(sql):
        c = sql[i]
        if quoted:
            if c == "'":
                if i + 1 < len(sql) and sql[i + 1] == "'":
                    cur.append(c)
                    i += 1
                else:
                    quoted = False
        elif c == "'":
            quoted = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(cur))
                break
        elif c == "," and depth == 1:
            args.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    else:
        return None
    args = [re.sub(r"^\s*\w+\s*=>\s*", "", a) for a in args if a.strip()]
    return "SELECT " + ", ".join(args) if args else None


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

    def text_val(self, pool, name, bad, empty_ok=False, id_like=True):
        """A text argument, usually from the pool, sometimes hostile, and the
        string it sends (None for NULL).  id_like: an id, so also bad when
        longer than MAX_ID_BYTES."""
        rng = self.rng
        r = rng.random()
        if r < 0.015:
            bad.append("%s is NULL" % name)
            return "NULL::text", None
        if r < 0.03:
            if not empty_ok:
                bad.append("%s is empty" % name)
            return rng.choice(["''", "''::text", "''::varchar"]), ""
        value = _NOT_IN_TEXT.sub("?", self.weird_text() if r < 0.07 else rng.choice(pool))
        if value == "" and not empty_ok:
            bad.append("%s is empty" % name)
        if id_like and len(value.encode("utf-8")) > MAX_ID_BYTES:
            bad.append("%s is longer than %d bytes" % (name, MAX_ID_BYTES))
        return lit(value), value

    def text_arg(self, pool, name, bad, empty_ok=False, id_like=True):
        return self.text_val(pool, name, bad, empty_ok, id_like)[0]

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

    ZERO_INTERVALS = ["0", "0 seconds", "1 day -24 hours", "1 mon -30 days"]
    NEGATIVE_INTERVALS = ["-1 second", "-1 microsecond", "1 day -25 hours", "-178000000 years"]

    def interval_arg(self, name, bad, rule="positive", usual=("30 seconds", "5 minutes")):
        """
        An interval argument.  rule "positive": zero and negative ones are bad
        (lease_duration, base_delay, max_delay: not in the contract's list, but
        verist refuses them, README "Errors"); "nonnegative": negative ones
        are bad (older_than).
        """
        rng = self.rng
        r = rng.random()
        if r < 0.04:
            bad.append("%s is NULL" % name)
            return "NULL::interval"
        if r < 0.12:
            text = rng.choice(self.ZERO_INTERVALS + self.NEGATIVE_INTERVALS)
            if rule == "positive" or text in self.NEGATIVE_INTERVALS:
                bad.append("%s %r is not %s" % (name, text, rule))
            return lit(text) + "::interval"
        if r < 0.2:
            # parse errors and extremes: 22xxx from the server, or a huge interval
            return lit(rng.choice(["abc", "", "infinity", "1 fortnight", "178000000 years",
                                   "2147483647 days", "2147483647 months",
                                   "9223372036854775807 microseconds", "P1D", "PT0.000001S",
                                   "1e10 seconds", "1 day -1 microsecond"])) + "::interval"
        return lit(rng.choice(list(usual) + ["1 microsecond", "1 millisecond", "1 hour",
                                             "0.5 seconds"])) + "::interval"

    def timestamptz_arg(self, name, bad):
        """A timestamptz argument and its microseconds since 1970 (None: unjudged)."""
        rng = self.rng
        r = rng.random()
        if r < 0.03:
            bad.append("%s is NULL" % name)
            return "NULL::timestamptz", None
        if r < 0.08:
            # the edges PostgreSQL accepts; +-infinity has no microseconds
            return lit(rng.choice(["infinity", "-infinity", "4713-01-01 00:00:00+00 BC",
                                   "294276-12-31 23:59:59.999999+00", "epoch",
                                   "9999-12-31 23:59:59.999999+00",
                                   "0001-01-01 00:00:00+00"])) + "::timestamptz", None
        if r < 0.2:
            micros = rng.randint(-62135596800 * 10**6, 253402300799 * 10**6)   # years 1..9999
        else:
            micros = rng.randint(1500000000 * 10**6, 1900000000 * 10**6)       # 2017..2030
        t = EPOCH + datetime.timedelta(microseconds=micros)
        return lit(t.isoformat()) + "::timestamptz", micros

    # -- JSON arguments ----------------------------------------------------

    def jsonb(self, value, name, bad, kind=None, reasons=()):
        """
        A jsonb argument from a tree; sometimes NULL, corrupt or absurd.
        reasons: what makes the tree bad input (README "Shapes"); they go to bad only
        if the tree is what is sent.  With kind ("object" or "array"), a value
        of another JSON type is bad input too.
        """
        rng = self.rng
        r = rng.random()
        if r < 0.01:
            bad.append("%s is NULL" % name)
            return "NULL::jsonb"
        if r < 0.025:
            text = self.g.corrupt(self.g.dump(value))
            verdict, parsed = js_verdict(text)
            if verdict == "reject":
                bad.append("%s is not JSON (JSON.parse: %s)" % (name, parsed[:80]))
            elif kind is not None:
                # still JSON (or too deep for the oracle): judge only its type
                got = parsed_kind(parsed) if verdict == "ok" else json_kind(Raw(text))
                if got != kind:
                    bad.append("%s is not an %s" % (name, kind))
            return lit(text) + "::jsonb"
        if r < 0.029:
            value, reasons = self.g.deep(), ()
        elif r < 0.0305:
            value, reasons = self.g.huge(), ()
        elif r < 0.045 and kind is not None:
            value = rng.choice([None, True, Num("1"), "str", [], Obj(), Num("1e309"), [Obj()]])
            reasons = ()
        if kind is not None and json_kind(value) != kind:
            bad.append("%s is not an %s" % (name, kind))
        bad.extend(reasons)
        return lit(self.g.dump(value)) + "::jsonb"

    def mutate(self, tree, depth=0):
        """Change one node of a tree at random (validity unknown afterwards)."""
        rng = self.rng
        if depth > 6 or rng.random() < 0.3:
            pick = rng.randrange(6)
            if pick == 0:
                return self.g.value(2)
            if pick == 1:
                return self.g.scalar()
            if pick == 5:
                return self.g.deep() if rng.random() < 0.05 else Num("1e309")
            return [None, Obj(), []][pick - 2]
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

    # -- valid shapes (README "Shapes") ----------------------------------------------

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

    # -- shapes the contract calls bad ---------------------------------------------

    def bad_event(self):
        """An event that breaks README "Shapes", with the reason."""
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
        """A command that breaks the table of README "Shapes", with the reason."""
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

    def ids_args(self, bad):
        wf, run = self.run_ids()
        return [self.text_arg([wf], "workflow_id", bad), self.text_arg([run], "run_id", bad)]

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
            events, ev_reasons = self.gen_events()
            cmds, cmd_reasons = (reuse[3], []) if reuse else self.gen_commands()
            if not reuse and not cmd_reasons and isinstance(cmds, list) and \
                    all(isinstance(c, Obj) for c in cmds):
                self.model.recent_commands.append((wf, run, step, cmds))
            a_ev = self.jsonb(events, "events", bad, "array", ev_reasons)
            a_cmd = self.jsonb(cmds, "commands", bad, "array", cmd_reasons)
            if form < 0.85:
                args = "%s, %s, %s, %s, %s, %s, %s" % (a_wf, a_run, a_step, a_ver, a_out, a_ev, a_cmd)
            else:
                args = ("workflow_id => %s, run_id => %s, step_id => %s, expected_version => %s,"
                        " output => %s, events => %s, commands => %s"
                        % (a_wf, a_run, a_step, a_ver, a_out, a_ev, a_cmd))
        sql = "SELECT left(string_agg(x::text, ','), 300) FROM public.verist_commit(%s) AS x" % args
        return Case("verist_commit", sql, "; ".join(bad) or None)

    def gen_events(self):
        """The events argument of a commit, and what in it breaks the contract."""
        rng = self.rng
        r = rng.random()
        if r < 0.005:
            return [self.event() for _ in range(rng.randint(100, 2000))], []
        events = [self.event() for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 5]))]
        if r < 0.1:
            e, why = self.bad_event()
            events.insert(rng.randint(0, len(events)), e)
            return events, [why]
        if r < 0.16:
            events = self.mutate(events)       # validity unknown
        return events, []

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

    def gen_commands(self):
        """The commands argument of a commit, and what in it breaks the contract."""
        rng = self.rng
        r = rng.random()
        if r < 0.005:
            # many commands; two random ones may coincide (duplicates): unjudged
            return [self.command() for _ in range(rng.randint(100, 1000))], []
        cmds = [self.command() for _ in range(rng.choice([0, 0, 1, 1, 2, 3]))]
        reasons = []
        if r < 0.12:
            cmds.insert(rng.randint(0, len(cmds)), self.command(rng.choice(["review", "suspend"])))
        elif r < 0.2:
            c, why = self.bad_command()
            cmds.insert(rng.randint(0, len(cmds)), c)
            reasons.append(why)
        elif r < 0.23:
            cmds.extend(self.command(rng.choice(["review", "suspend"])) for _ in range(2))
            rng.shuffle(cmds)
            reasons.append("two blocking commands")
        elif r < 0.27:
            cmds.extend(self.twin_commands())
            rng.shuffle(cmds)
            reasons.append("duplicate commands (same canonical text)")
        elif r < 0.33:
            cmds = self.mutate(cmds)           # validity unknown
        return cmds, reasons

    def gen_read(self, fn):
        bad = []
        args = self.ids_args(bad)
        if fn == "verist_effective_state":
            sql = "SELECT left(public.verist_effective_state(%s)::text, 300)" % ", ".join(args)
            return Case(fn, sql, "; ".join(bad) or None)
        sql = ("SELECT count(*) || ':' || left(coalesce(string_agg(x::text, ','), ''), 300)"
               " FROM public.%s(%s) AS x" % (fn, ", ".join(args)))
        return Case(fn, sql, "; ".join(bad) or None, check=("shape", "rows", 1))

    def gen_overlay(self):
        bad = []
        args = self.ids_args(bad)
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
            args = self.ids_args(bad)
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
        return Case("verist_resolve_block", sql, "; ".join(bad) or None,
                    check=("shape", "rows", 1))

    def gen_lease(self):
        rng = self.rng
        bad = []
        owner = self.text_arg(OWNERS, "lease_owner", bad)
        n = rng.choice([1, 1, 2, 3, 5, 10, 50])
        a_n = self.int_arg(n, "max_entries", bad, lo=1)
        limit = n if a_n == str(n) else None
        r = rng.random()
        if r < 0.25:
            args = "%s, %s" % (owner, a_n)
        elif r < 0.6:
            args = "%s, %s, %s" % (owner, a_n, self.interval_arg("lease_duration", bad))
        else:       # 0.5.0: a lease mode
            args = "%s, %s, %s, %s" % (owner, a_n, self.interval_arg("lease_duration", bad),
                                       self.mode_arg(bad))
        sql = ("SELECT count(*) || ':' || left(coalesce(string_agg(x::text, ','), ''), 300)"
               " FROM public.verist_lease_outbox(%s) AS x" % args)
        return Case("verist_lease_outbox", sql, "; ".join(bad) or None,
                    check=("shape", "rows", limit) if limit else None)

    MODES = ["oldest", "per_run", "fair", "fair_per_run"]

    def mode_arg(self, bad):
        """verist_lease_outbox's lease_mode (0.5.0): a mode, or NULL or a near miss (bad)."""
        rng = self.rng
        r = rng.random()
        if r < 0.05:
            bad.append("lease_mode is NULL")
            return "NULL::text"
        if r < 0.15:
            v = rng.choice(["", "FAIR", "fifo", "per run", "oldest ", "per_run_fair", "\u00e9",
                            "fair" * 200, "'; DROP TABLE verist_outbox; --"])
            bad.append("lease_mode %r" % v[:20])
            return lit(v)
        return lit(rng.choice(self.MODES))

    def gen_window(self, fn):
        """verist_dispatch_latency / verist_metrics (0.5.0): an optional window."""
        bad = []
        args = ""
        if self.rng.random() < 0.7:
            args = self.interval_arg("recent", bad, rule="nonnegative",
                                     usual=("5 minutes", "1 hour", "0"))
        if fn == "verist_metrics":
            sql = "SELECT length(public.verist_metrics(%s))::text" % args
        else:
            sql = "SELECT x::text FROM public.verist_dispatch_latency(%s) AS x" % args
        return Case(fn, sql, "; ".join(bad) or None)

    def outbox_target(self, status="leased"):
        """(id, owner) of an outbox row, usually one with the given status."""
        rng = self.rng
        rows = [(i, o) for i, s, o in self.model.outbox if s == status]
        if rows and rng.random() < 0.6:
            i, o = rng.choice(rows)
            return i, (o if o and rng.random() < 0.8 else rng.choice(OWNERS))
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
                                      "error", bad, empty_ok=True, id_like=False))
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
        limit = None
        if r < 0.04:
            arr = "NULL::bigint[]"
            bad.append("outbox_ids is NULL")
        elif r < 0.1:
            arr = "'{}'::bigint[]"
            limit = 0
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
        return Case("verist_mark_dispatched_batch", sql, "; ".join(bad) or None,
                    check=("shape", "rows", limit) if limit is not None else None)

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
        if r < 0.08:
            text = self.g.corrupt(text)
        elif r < 0.1:
            text = self.g.deep().text
        elif r < 0.103:
            text = self.g.huge().text
        sql = "SELECT public.verist_canonical_json(%s::jsonb)" % lit(text)
        return Case("verist_canonical_json", sql, None, oracle=("canon", (text,), None))

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
            oracle = ("dedupe", (text,), tuple(ids)) if ids is not None else None
        sql = "SELECT public.verist_dedupe_key(%s)" % ", ".join(args)
        return Case("verist_dedupe_key", sql, "; ".join(bad) or None,
                    oracle=oracle if not bad else None)

    # -- 0.2.0: the audit chain ------------------------------------------------

    def gen_genesis(self):
        bad = []
        wf, run = self.run_ids()
        a_wf, wf = self.text_val([wf], "workflow_id", bad)
        a_run, run = self.text_val([run], "run_id", bad)
        sql = "SELECT public.verist_chain_genesis(%s, %s)" % (a_wf, a_run)
        return Case("verist_chain_genesis", sql, "; ".join(bad) or None,
                    oracle=("genesis", (), (wf, run)) if not bad else None)

    def gen_event_hash(self):
        """The hash of one event, from arguments the oracle can recompute."""
        rng = self.rng
        bad = []
        r = rng.random()
        if r < 0.9:
            prev = "".join(rng.choice("0123456789abcdef") for _ in range(64))
        elif r < 0.95:
            # 64 bytes but not lowercase hex
            prev = rng.choice(["z" * 64, "\u00e9" * 32, " " * 64, "0" * 63 + "\n", "A" * 64])
        else:
            prev = rng.choice(["0" * 63, "0" * 65, "abc", "0" * 6400])
        a_prev, prev = self.text_val([prev], "prev_hash", bad, id_like=False)
        if prev and not re.fullmatch(r"[0-9a-f]{64}", prev):
            bad.append("prev_hash is not 64 lowercase hex characters")
        ids = [self.text_val([v], name, bad, id_like=(name != "type")) for name, v in (
            ("workflow_id", rng.choice(WORKFLOWS)), ("run_id", rng.choice(RUNS)),
            ("step_id", rng.choice(STEPS)), ("type", self.nonempty()))]
        texts = []
        args = [a_prev] + [a for a, _ in ids]
        for name in ("payload", "llm_trace"):      # NULL is JSON null, not bad input
            if rng.random() < 0.2:
                args.append("NULL::jsonb")
                texts.append(None)
            else:
                _, text = self.oracle_json()
                args.append(lit(text) + "::jsonb")
                texts.append(text)
        a_seq = self.int_arg(rng.choice([1, 2, 17, 0, -1, 2147483647, -2147483648]), "seq", bad)
        a_ts, micros = self.timestamptz_arg("created_at", bad)
        args += [a_seq, a_ts]
        sql = "SELECT public.verist_event_hash(%s)" % ", ".join(args)
        seq = re.fullmatch(r"\(?(-?\d+)\)?", a_seq)      # None: text cast to integer
        # verist writes ts as an exact integer where the documented format
        # (canonical JSON) has a double: they differ beyond 2^53 microseconds,
        # before 1685 or after 2255 (reported); those stay unjudged
        judged = not bad and seq and micros is not None and abs(micros) < 2**53
        oracle = ("event", tuple(texts), (prev,) + tuple(v for _, v in ids) +
                  (int(seq.group(1)), micros)) if judged else None
        return Case("verist_event_hash", sql, "; ".join(bad) or None, oracle=oracle)

    def hash_val(self, name, bad):
        """A 64-hex-character hash argument, now and then not one."""
        rng = self.rng
        h = "".join(rng.choice("0123456789abcdef") for _ in range(64)) if rng.random() < 0.85 else \
            rng.choice(["A" * 64, "0" * 63, "0" * 65, "g" * 64, "\u00e9" * 32])
        a_h, h = self.text_val([h], name, bad, id_like=False)
        if h is not None and not re.fullmatch(r"[0-9a-f]{64}", h):
            bad.append("%s is not 64 lowercase hex characters" % name)
        return a_h, h

    def ledger_parts(self, bad):
        """ledger_seq, version, head and tail of one ledger entry (0.4.0)."""
        rng = self.rng
        a_seq = self.int_arg(rng.choice([0, 1, 41, -1, 2147483646, 2147483647]), "ledger_seq", bad)
        a_ver = self.int_arg(rng.choice([0, 1, 7, -1, 2147483647]), "version", bad)
        seq = re.fullmatch(r"\(?(-?\d+)\)?", a_seq)
        ver = re.fullmatch(r"\(?(-?\d+)\)?", a_ver)
        if seq and int(seq.group(1)) < 0 or ver and int(ver.group(1)) < 0:
            bad.append("a negative ledger_seq or version")
        if seq and int(seq.group(1)) == 2147483647:
            bad.append("ledger_seq leaves no room for the entry")
        head = _NOT_IN_TEXT.sub("?", self.g.string())
        tail = _NOT_IN_TEXT.sub("?", self.g.string())
        a_head, head = self.text_val([head], "head", bad, empty_ok=True, id_like=False)
        a_tail, tail = self.text_val([tail], "tail", bad, empty_ok=True, id_like=False)
        parts = (int(seq.group(1)) if seq else None, int(ver.group(1)) if ver else None, head, tail)
        return [a_seq, a_ver, a_head, a_tail], parts, bool(seq and ver)

    def gen_commit_advance(self):
        """The internal head computation of a commit's state UPDATE (0.4.0),
        called directly: arbitrary heads and tails, mismatched or NULL-holding
        arrays, then the ledger entry's parts."""
        rng = self.rng
        bad = []
        a_prev, prev = self.hash_val("events_hash", bad)
        a_seq = self.int_arg(rng.choice([0, 1, 41, -1, 2147483646, 2147483647]), "events_seq", bad)
        seq = re.fullmatch(r"\(?(-?\d+)\)?", a_seq)
        n = rng.choice([0, 1, 2, 3, 8])
        heads = [_NOT_IN_TEXT.sub("?", self.g.string()) for _ in range(n)]    # as lit() sends them
        tails = [_NOT_IN_TEXT.sub("?", self.g.string()) for _ in range(n)]
        if rng.random() < 0.1:
            tails = tails[:-1] if tails else ["x"]
            bad.append("heads and tails differ in length")
        arrays = []
        for name, items in (("heads", heads), ("tails", tails)):
            if rng.random() < 0.03:
                bad.append("%s is NULL" % name)
                arrays.append("NULL::text[]")
            elif items and rng.random() < 0.05:
                bad.append("%s holds a NULL" % name)
                arrays.append("ARRAY[%s, NULL]::text[]" % ", ".join(lit(x) for x in items))
            else:
                arrays.append("ARRAY[%s]::text[]" % ", ".join(lit(x) for x in items))
        if seq and (int(seq.group(1)) < 0 or int(seq.group(1)) > 2147483647 - len(heads)):
            bad.append("events_seq leaves no room for the events")
        a_lhash, lhash = self.hash_val("ledger_hash", bad)
        largs, parts, ok = self.ledger_parts(bad)
        sql = "SELECT x::text FROM public.verist_commit_advance(%s) AS x" % ", ".join(
            [a_prev, a_seq] + arrays + [a_lhash] + largs)
        oracle = ("advance", (), (prev, int(seq.group(1)), tuple(heads), tuple(tails), lhash) + parts) \
            if not bad and seq and ok else None
        return Case("verist_commit_advance", sql, "; ".join(bad) or None, oracle=oracle)

    def gen_ledger_extend(self):
        """The ledger head after an overlay or resolution entry (0.4.0), directly."""
        bad = []
        a_lhash, lhash = self.hash_val("ledger_hash", bad)
        a_ev, ev = self.hash_val("events_hash", bad)
        largs, parts, ok = self.ledger_parts(bad)
        args = [a_lhash, largs[0], largs[1], a_ev, largs[2], largs[3]]
        sql = "SELECT public.verist_ledger_extend(%s)" % ", ".join(args)
        oracle = ("ledger", (), (lhash, ev) + parts) if not bad and ok else None
        return Case("verist_ledger_extend", sql, "; ".join(bad) or None, oracle=oracle)

    def gen_ledger_genesis(self):
        bad = []
        wf, run = self.run_ids()
        a_wf, wf = self.text_val([wf], "workflow_id", bad)
        a_run, run = self.text_val([run], "run_id", bad)
        sql = "SELECT public.verist_ledger_genesis(%s, %s)" % (a_wf, a_run)
        return Case("verist_ledger_genesis", sql, "; ".join(bad) or None,
                    oracle=("ledger_genesis", (), (wf, run)) if not bad else None)

    def gen_ledger_entry_hash(self):
        """The documented entry hash of any JSON object (README "The ledger")."""
        bad = []
        a_prev, prev = self.hash_val("prev_hash", bad)
        a_ev, ev = self.hash_val("events_hash", bad)
        _, text = self.oracle_json()
        if self.rng.random() < 0.6:     # mostly objects, as the function wants
            text = '{"kind": "commit", "change": %s}' % text
        args = [a_prev, a_ev, lit(text) + "::jsonb"]
        if self.rng.random() < 0.03:
            args[2] = "NULL::jsonb"
            bad.append("entry is NULL")
            text = None
        elif not text.lstrip().startswith("{"):
            bad.append("entry is not an object")
        sql = "SELECT public.verist_ledger_entry_hash(%s)" % ", ".join(args)
        return Case("verist_ledger_entry_hash", sql, "; ".join(bad) or None,
                    oracle=("entry", (text,), (prev, ev)) if not bad else None)

    def gen_state_at(self, fn):
        """Time travel (0.4.0): any version or moment of any run."""
        rng = self.rng
        bad = []
        args = self.ids_args(bad)
        if fn in ("verist_state_at", "verist_step_input"):
            args.append(self.int_arg(rng.choice([1, 1, 2, 3, 5, 100, 0, -1, 2147483647]),
                                     "version", bad, lo=1))
        else:
            when = rng.choice(["now()", "now() - interval '1 second'", "'-infinity'::timestamptz",
                               "'infinity'::timestamptz", "'2000-01-01'::timestamptz", "NULL::timestamptz"])
            if when.startswith("NULL"):
                bad.append("as_of is NULL")
            args.append(when)
        sql = ("SELECT count(*) || ':' || left(coalesce(string_agg(x::text, ','), ''), 300)"
               " FROM public.%s(%s) AS x" % (fn, ", ".join(args)))
        return Case(fn, sql, "; ".join(bad) or None, check=("shape", "rows", 1))

    def gen_run_history(self):
        bad = []
        args = self.ids_args(bad)
        sql = ("SELECT count(*) || ':' || left(coalesce(string_agg(x.kind, ','), ''), 300)"
               " FROM public.verist_run_history(%s) AS x" % ", ".join(args))
        return Case("verist_run_history", sql, "; ".join(bad) or None)

    def gen_export_retire(self, fn):
        """Export any run, or retire one (refused while it has open work)."""
        bad = []
        args = self.ids_args(bad)
        sql = "SELECT left(public.%s(%s)::text, 300)" % (fn, ", ".join(args))
        return Case(fn, sql, "; ".join(bad) or None)

    def gen_verify(self, fn):
        bad = []
        args = self.ids_args(bad)
        if fn == "verist_run_digest":
            return Case(fn, "SELECT x::text FROM public.verist_run_digest(%s) AS x"
                        % ", ".join(args), "; ".join(bad) or None)
        # every chain verist wrote must verify, whatever it was fed
        return Case(fn, "SELECT x::text FROM public.verist_verify_run(%s) AS x" % ", ".join(args),
                    "; ".join(bad) or None, check=("chain", "valid", None))

    def gen_read_events(self):
        rng = self.rng
        bad = []
        n = rng.choice([1, 2, 10, 500])
        a_n = self.int_arg(n, "max_entries", bad, lo=1)
        after = rng.choice([0, 0, 1, 5, 50, -1])
        sql = ("SELECT count(*) || ':' || left(coalesce(string_agg(x::text, ','), ''), 300)"
               " FROM public.verist_read_events(%s, %s) AS x"
               % (self.bigint_arg(after, "after_id", bad), a_n))
        return Case("verist_read_events", sql, "; ".join(bad) or None,
                    check=("shape", "rows", n) if a_n == str(n) else None)

    # -- 0.3.0: dispatch -----------------------------------------------------------

    def gen_mark_retry(self):
        rng = self.rng
        bad = []
        oid, owner = self.outbox_target()
        args = [self.bigint_arg(oid, "outbox_id", bad), self.text_arg([owner], "lease_owner", bad),
                self.text_arg(["timeout", "boom", "x" * 10000], "error", bad, empty_ok=True,
                              id_like=False),
                self.int_arg(rng.choice([1, 2, 3, 5, 100]), "max_attempts", bad, lo=1)]
        form = rng.random()
        if form < 0.7:          # else both delays take their defaults
            args.append(self.interval_arg("base_delay", bad, usual=("1 second", "10 ms")))
        if form < 0.5:
            # (a max_delay below base_delay is refused too; these rarely meet)
            args.append(self.interval_arg("max_delay", bad, usual=("5 minutes", "1 hour")))
        sql = "SELECT left(x::text, 300) FROM public.verist_mark_retry(%s) AS x" % ", ".join(args)
        return Case("verist_mark_retry", sql, "; ".join(bad) or None)

    def gen_requeue(self):
        bad = []
        oid, _ = self.outbox_target("failed")
        sql = ("SELECT left(x::text, 300) FROM public.verist_requeue(%s) AS x"
               % self.bigint_arg(oid, "outbox_id", bad))
        return Case("verist_requeue", sql, "; ".join(bad) or None)

    def gen_purge(self):
        rng = self.rng
        bad = []
        args = [self.interval_arg("older_than", bad, rule="nonnegative",
                                  usual=("0", "1 second", "30 days"))]
        if rng.random() < 0.7:
            args.append(self.int_arg(rng.choice([1, 5, 10000]), "max_rows", bad, lo=1))
        sql = "SELECT public.verist_purge_outbox(%s)::text" % ", ".join(args)
        return Case("verist_purge_outbox", sql, "; ".join(bad) or None)

    def gen(self):
        self.g.deep_used = False
        case = self.gen_one(self.rng.choices(FUNCTIONS, weights=list(WEIGHTS.values()))[0])
        case.deep = self.g.deep_used
        return case

    def gen_one(self, fn):
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
        if fn == "verist_canonical_json":
            return self.gen_canonical()
        if fn == "verist_chain_genesis":
            return self.gen_genesis()
        if fn == "verist_event_hash":
            return self.gen_event_hash()
        if fn == "verist_commit_advance":
            return self.gen_commit_advance()
        if fn == "verist_ledger_extend":
            return self.gen_ledger_extend()
        if fn == "verist_ledger_genesis":
            return self.gen_ledger_genesis()
        if fn == "verist_ledger_entry_hash":
            return self.gen_ledger_entry_hash()
        if fn in ("verist_state_at", "verist_state_as_of", "verist_step_input"):
            return self.gen_state_at(fn)
        if fn == "verist_run_history":
            return self.gen_run_history()
        if fn in ("verist_export_run", "verist_retire_run"):
            return self.gen_export_retire(fn)
        if fn in ("verist_verify_run", "verist_run_digest"):
            return self.gen_verify(fn)
        if fn == "verist_verify_all":
            return Case(fn, "SELECT count(*) || ':' || left(coalesce(string_agg(x::text, ','), ''),"
                        " 300) FROM public.verist_verify_all() AS x",
                        check=("chain", "rows", 0))
        if fn == "verist_read_events":
            return self.gen_read_events()
        if fn == "verist_mark_retry":
            return self.gen_mark_retry()
        if fn == "verist_requeue":
            return self.gen_requeue()
        if fn in ("verist_dispatch_latency", "verist_metrics"):
            return self.gen_window(fn)
        if fn == "verist_stat_counters":
            return Case(fn, "SELECT count(*)::text FROM public.verist_stat_counters()")
        if fn == "verist_reset_counters":
            return Case(fn, "SELECT public.verist_reset_counters()::text")
        return self.gen_purge()




def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def ledger_part_hash(prev, events, seq, version, head, tail):
    """A ledger entry's hash from its parts around "at" (README "The ledger")."""
    return sha256_hex(prev + events + head + '{"seq":%d,"version":%d}' % (seq + 1, version) + tail)


def expected_canonical(kind, texts, extra):
    """
    What the documented algorithm gives, computed the JavaScript way from the
    JSON texts sent (None for SQL NULL): ("text", result, beyond_double),
    ("reject", why, False) when JSON.parse refuses a text, or ("unknown", why,
    False) when one nests too deeply for this oracle.

      canon    verist_canonical_json: canonical(v)
      dedupe   verist_dedupe_key: H(canonical({command, runId, stepId, workflowId}))
      genesis  verist_chain_genesis: H(canonical({chain: "verist/1", runId, workflowId}))
      event    verist_event_hash: H(prev + canonical({llmTrace, payload, runId, seq,
               stepId, ts, type, workflowId}))  (README "Audit chain")
    """
    values = []
    for text in texts:
        verdict, v = js_verdict(text) if text is not None else ("ok", None)
        if verdict != "ok":
            return (verdict, v, False)
        values.append(v)

    def canon(v):
        # the chain's form for event hashes (README "Audit chain"), JavaScript's otherwise
        return js_stringify_canonical(v, chain=(kind in ("event", "entry")))

    try:
        if kind == "canon":
            result = canon(values[0])
        elif kind == "dedupe":
            wf, run, step = extra
            result = sha256_hex(canon({"workflowId": wf, "runId": run, "stepId": step,
                                       "command": values[0]}))
        elif kind == "genesis":
            wf, run = extra
            result = sha256_hex(canon({"chain": "verist/1", "runId": run, "workflowId": wf}))
        elif kind == "advance":
            # H(prev + head + seq + tail) per event, each chained to the last,
            # then the ledger entry over the new event head
            events, seq, heads, tails, lhash, lseq, ver, head, tail = extra
            for i, (h, t) in enumerate(zip(heads, tails)):
                events = sha256_hex(events + h + str(seq + 1 + i) + t)
            ledger = ledger_part_hash(lhash, events, lseq, ver, head, tail)
            result = "(%s,%s)" % (events, ledger)
        elif kind == "ledger":
            lhash, events, lseq, ver, head, tail = extra
            result = ledger_part_hash(lhash, events, lseq, ver, head, tail)
        elif kind == "ledger_genesis":
            wf, run = extra
            result = sha256_hex(canon({"chain": "verist-ledger/1", "runId": run, "workflowId": wf}))
        elif kind == "entry":
            prev, events = extra
            result = sha256_hex(prev + events + canon(values[0]))
        else:
            prev, wf, run, step, type_, seq, ts = extra
            result = sha256_hex(prev + canon({
                "llmTrace": values[1], "payload": values[0], "runId": run, "seq": float(seq),
                "stepId": step, "ts": float(ts), "type": type_, "workflowId": wf}))
        # beyond the double range: JavaScript's form is refused; the chain's is not
        return ("text", result, kind not in ("event", "entry") and any(has_non_finite(v) for v in values))
    except RecursionError:
        return ("unknown", "nested too deeply for the oracle", False)


def refused_as_bad_input(code):
    """Is this how bad input is refused: serialization_error, or on the way in?"""
    return code == "VRS01" or code.startswith("22") or code == STACK_DEPTH


class Fuzzer:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.model = Model()
        self.gen = CaseGen(self.rng, self.model)
        self.hist = collections.Counter()               # SQLSTATE -> count
        self.by_fn = collections.defaultdict(collections.Counter)
        self.failures = collections.defaultdict(list)   # criterion -> [(case, why)]
        self.conflict_writes = collections.Counter()    # SQLSTATE -> rows rolled back
        self.cases = 0
        self.toplevel = 0
        self.drops = 0
        self.oracle_checked = collections.Counter()
        self.node_queue = []
        self.slowest = []
        self.server_ms = 0.0
        self.conn = None
        os.makedirs(args.outdir, exist_ok=True)
        name = "selftest.sql" if args.self_test else "failures.sql"
        self.fail_path = os.path.join(args.outdir, name)
        self.fail_file = open(self.fail_path, "w", encoding="utf-8", errors="surrogatepass")
        self.fail_file.write("-- verist fuzz failures, seed %d\n" % args.seed)

    # -- connection and server -----------------------------------------------

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

    def prepare(self):
        """A database of the fuzzer's own (never the caller's), and a fresh extension."""
        with psycopg.connect(self.args.dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS %s" % self.args.dbname)
            conn.execute("CREATE DATABASE %s" % self.args.dbname)
        self.connect()
        self.reset_schema()

    def reset_schema(self):
        """A fresh extension: small tables keep the model and the calls cheap."""
        self.conn.execute("DROP SCHEMA IF EXISTS verist_fuzz CASCADE")
        self.conn.execute("DROP EXTENSION IF EXISTS verist CASCADE")
        self.conn.execute("CREATE EXTENSION verist SCHEMA public")
        self.conn.execute(SETUP_SQL)
        self.model.recent_commands.clear()

    def server_identity(self):
        """
        The postmaster's PID and start time and the PIDs of its auxiliary
        processes.  A backend crash makes the postmaster restart all of them
        (its own PID and start time do not change).
        """
        try:
            row = self.conn.execute(
                "SELECT split_part(pg_read_file('postmaster.pid'), E'\\n', 1),"
                " pg_postmaster_start_time()::text,"
                " (SELECT string_agg(backend_type || ' ' || pid, ', ' ORDER BY backend_type)"
                "  FROM pg_stat_activity WHERE backend_type IN"
                "  ('checkpointer', 'background writer', 'walwriter'))").fetchone()
        except psycopg.OperationalError:
            self.connect()
            return self.server_identity()
        return "postmaster %s started %s; %s" % row

    def log_size(self):
        log = self.args.server_log
        return os.path.getsize(log) if log and os.path.exists(log) else 0

    def log_hits(self, start):
        """Lines of the server log, from offset start, that report a crash."""
        log = self.args.server_log
        if not log or not os.path.exists(log):
            return []
        with open(log, "rb") as f:
            f.seek(start)
            return [line for line in f.read().decode("utf-8", "replace").splitlines()
                    if CRASH_LOG_RE.search(line)]

    def writes(self):
        return self.conn.execute("SELECT verist_fuzz.writes()").fetchone()[0]

    # -- judging -------------------------------------------------------------

    def fail(self, criterion, case, why):
        self.failures[criterion].append((case, why))
        if len(self.failures[criterion]) <= self.args.show:
            print("FAIL [%s] %s: %s\n    %s" % (criterion, case.fn, why, short(case.sql, 600)))
        self.fail_file.write("\n-- [%s] %s\n-- got %s %s\n-- spec says: %s\n%s;\n" % (
            criterion, why.replace("\n", " "), case.code,
            (case.message or case.result or "")[:300].replace("\n", " "), case.bad or "-",
            case.sql))
        self.fail_file.flush()

    def canon_mismatch(self, case, who, want):
        self.fail("canon", case, "%s differs from %s:\n    verist: %s\n    %-7s %s"
                  % (case.oracle[0], who, short(case.result, 300), who + ":", short(want, 300)))

    def judge(self, case):
        """Check one finished call against every promise."""
        code = case.code
        self.cases += 1
        self.hist[code] += 1
        self.by_fn[case.fn][code] += 1
        if case.ms is not None:
            self.server_ms += case.ms
            self.slowest = sorted(self.slowest + [(case.ms, case.fn, code, short(case.sql, 160))],
                                  reverse=True)[:5]

        documented = True
        if code == "00000" or code in VERIST_CODES:
            pass
        elif case.origin == "input" and (code.startswith("22") or code == STACK_DEPTH):
            pass        # the arguments themselves fail: PostgreSQL refused the input
        elif code in OWN_STANDARD_CODES.get(case.fn, ()):
            pass
        elif case.origin == "verist":
            documented = False
            self.fail("sqlstate", case, "standard SQLSTATE %s raised inside verist (the arguments"
                      " evaluate fine): %s" % (code, case.message))
        else:
            documented = False
            self.fail("sqlstate", case, "undocumented SQLSTATE %s (%s): %s"
                      % (code, case.origin or "no argument list", case.message))

        if refused_as_bad_input(code) and case.writes:
            self.fail("nowrite", case, "refused as bad input (%s) after writing %d row(s)"
                      % (code, case.writes))
        elif code != "00000" and case.writes:
            self.conflict_writes[code] += case.writes

        if case.bad and code == "00000":
            self.fail("refuse", case, "accepted bad input (%s); result %s"
                      % (case.bad, short(case.result, 200)))
        elif case.bad and documented and not refused_as_bad_input(code):
            self.fail("refuse", case, "bad input (%s) refused as %s, not serialization_error"
                      % (case.bad, code))

        if code == "00000" and case.check:
            criterion, what, limit = case.check
            if what == "rows":
                count = int((case.result or "0").split(":", 1)[0])
                if count > limit:
                    self.fail(criterion, case, "returned %d rows, at most %d allowed: %s"
                              % (count, limit, short(case.result, 300)))
            elif not (case.result or "").startswith("(t,"):
                self.fail(criterion, case, "the run's hash chain does not verify: %s"
                          % case.result)
        if case.oracle:
            self.check_oracle(case)

    def check_oracle(self, case):
        kind, texts, extra = case.oracle
        want = expected_canonical(kind, texts, extra)
        if want[0] == "unknown":
            self.oracle_checked["unjudged"] += 1
            return
        self.oracle_checked["hash" if kind in ("genesis", "event", "advance", "ledger", "ledger_genesis", "entry") else kind] += 1
        if case.code == "00000":
            if want[0] == "reject":
                # jsonb accepted a text JSON.parse refuses: the two parsers
                # disagree, and the dedupe key has no JavaScript counterpart
                self.fail("canon", case, "jsonb accepted text JSON.parse rejects (%s)" % want[1])
            else:
                if case.result != want[1]:
                    self.canon_mismatch(case, "js", want[1])
                if self.args.node and kind in ("canon", "dedupe"):
                    self.node_queue.append((case, texts[0], extra, kind))
        elif case.code == "VRS01" and want[0] == "text" and not want[2]:
            # only numbers beyond the double range may be refused (README "Dedupe keys")
            self.fail("canon", case, "refused (%s) a value JavaScript canonicalises" % case.message)

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
                self.canon_mismatch(case, "node", got)

    # -- running -------------------------------------------------------------

    def run_batch(self, cases):
        """All cases in one round trip, each in a subtransaction."""
        cur = self.conn.cursor()
        # binary: a text[] in text format would escape every quote in the JSON
        cur.execute("SELECT n, code, result, message, writes, ms, origin"
                    " FROM verist_fuzz.run(%b, %b)",
                    ([c.sql for c in cases], [c.arglist() for c in cases]))
        for n, code, result, message, writes, ms, origin in cur.fetchall():
            c = cases[n - 1]
            c.code, c.result, c.message, c.writes, c.ms = code, result, message, writes, ms
            c.origin = origin

    def run_toplevel(self, case):
        """One case in its own autocommit transaction."""
        self.toplevel += 1
        before = self.writes()
        try:
            row = self.conn.execute(case.sql).fetchone()
            case.code, case.result = "00000", (row[0] if row else None)
        except psycopg.Error as e:
            if self.conn.closed or self.conn.broken:
                raise
            case.code = e.sqlstate or "?????"
            case.message = (e.diag.message_primary or str(e))[:400]
            case.writes = self.writes() - before
            case.origin = self.conn.execute("SELECT verist_fuzz.origin(%s, %s)",
                                            (case.code, case.arglist())).fetchone()[0]

    def run_cases(self, batch, top):
        """Run and judge cases: batch in subtransactions, top one by one."""
        try:
            if batch:
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
                # the batch as a whole failed (statement timeout, out of memory ...)
                why = "%s %s" % (e.sqlstate, str(e)[:200])
            self.replay_one_by_one([c for c in batch + top if c.code is None], why)

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
                continue
            self.judge(c)

    def run(self):
        a = self.args
        self.prepare()
        ident0 = self.server_identity()
        log_start = self.log_size()
        t0 = time.time()
        done = since_reset = 0
        next_report = time.time() + 10
        while done < a.count:
            if since_reset >= a.reset_every:
                self.reset_schema()
                since_reset = 0
            self.model.refresh(self.conn.cursor())
            # verist's settings (README): hash-only strips llmTrace input/output
            # before hashing and storing; notify queues NOTIFYs at commit
            self.conn.execute("SET verist.hash_only = %s; SET verist.notify = %s" % (
                "on" if self.rng.random() < 0.3 else "off",
                "on" if self.rng.random() < 0.3 else "off"))
            n = min(a.batch, a.count - done)
            cases = [self.gen.gen() for _ in range(n)]
            top = [self.rng.random() < a.toplevel_fraction for _ in cases]
            self.run_cases([c for c, t in zip(cases, top) if not t],
                           [c for c, t in zip(cases, top) if t])
            done += n
            since_reset += n
            if len(self.node_queue) >= 500:
                self.flush_node()
            if time.time() > next_report:
                print("  %d/%d calls, %.0f s" % (done, a.count, time.time() - t0), flush=True)
                next_report = time.time() + 10
        self.flush_node()
        elapsed = time.time() - t0
        verdicts = self.verdicts(ident0, self.server_identity(), self.log_hits(log_start))
        self.report(elapsed)
        for _, ok, text in verdicts:
            print("%s - %s" % ("ok" if ok else "not ok", text))
        print("failing inputs: %s" % self.fail_path)
        return 0 if all(ok for _, ok, _ in verdicts) else 1

    def verdicts(self, ident0, ident1, log_hits):
        """(criterion, passed, line) for every promise."""
        f = self.failures
        out = [("crash", self.drops == 0 and not f["crash"],
                "crash: no connection lost (%d drops, %d culprits)" % (self.drops, len(f["crash"]))),
               ("restart", ident0 == ident1, "crash: no crash-restart (%s%s)"
                % (ident0, "" if ident0 == ident1 else " -> " + ident1))]
        if self.args.server_log:
            out.append(("log", not log_hits, "crash: server log free of crash/PANIC/sanitizer"
                        " reports (%d lines)%s" % (len(log_hits), "".join(
                            "\n    " + h[:300] for h in log_hits[:20]))))
        out += [("sqlstate", not f["sqlstate"], "sqlstate: every error documented (%d undocumented)"
                 % len(f["sqlstate"])),
                ("nowrite", not f["nowrite"], "nowrite: no call refused as bad input had written"
                 " a row (%d had)" % len(f["nowrite"])),
                ("refuse", not f["refuse"], "refuse: bad input always refused as bad input"
                 " (%d not)" % len(f["refuse"])),
                ("shape", not f["shape"], "shape: 0/1-row functions, leases and batches within"
                 " limits (%d violations)" % len(f["shape"])),
                ("chain", not f["chain"], "chain: every run's event hash chain verifies"
                 " (%d runs do not)" % len(f["chain"])),
                ("canon", not f["canon"] and self.oracle_checked["canon"] > 0,
                 "canon: canonical JSON, dedupe keys and chain hashes match JavaScript (%d"
                 " checked, %d mismatches)" % (sum(self.oracle_checked[k] for k in
                                                   ("canon", "dedupe", "hash")),
                                               len(f["canon"])))]
        # Functions without arguments: nothing can make them fail.  The
        # counters succeed only where the server preloads verist (0.5.0); where
        # it does not, 55000 is all they can answer.
        argless = ("verist_verify_all", "verist_stat_counters", "verist_reset_counters")
        preloaded = "verist" in self.conn.execute(
            "SHOW shared_preload_libraries").fetchone()[0]
        missing = [fn for fn in FUNCTIONS
                   if (self.by_fn[fn]["00000"] == 0
                       and (preloaded or fn not in ("verist_stat_counters", "verist_reset_counters")))
                   or (sum(self.by_fn[fn].values()) == self.by_fn[fn]["00000"]
                       and fn not in argless)]
        out.append(("coverage", not missing, "coverage: every function both succeeded and failed%s"
                    % (" (not: %s)" % ", ".join(missing) if missing else "")))
        return out

    # -- the self-test ---------------------------------------------------------

    def self_test(self):
        """Plant one violation of each promise; every check must report it."""
        self.prepare()
        self.conn.execute(SELF_TEST_SQL)
        ident0 = self.server_identity()
        log_start = self.log_size()

        def planted(criterion, sql, **kw):
            return Case("planted:" + criterion, sql, **kw)

        canon_text = '{"b":1,"a":2}'
        batch = [planted("sqlstate", "SELECT verist_fuzz.no_such_function()"),
                 # 54001 from a call without deep nesting
                 planted("sqlstate", "SELECT verist_fuzz.recurse(0)"),
                 # a standard SQLSTATE from inside a function whose arguments are fine
                 planted("sqlstate", "SELECT public.verist_fuzz_leak('1 day'::interval)"),
                 planted("nowrite", "SELECT verist_fuzz.planted_half_write()"),
                 planted("refuse", "SELECT 'accepted'", bad="planted bad input"),
                 planted("shape", "SELECT '2:two rows'", check=("shape", "rows", 1)),
                 planted("chain", "SELECT '(f,2,2,planted)'", check=("chain", "valid", None)),
                 planted("canon", "SELECT %s" % lit(canon_text),
                         oracle=("canon", (canon_text,), None)),
                 planted("log", "SELECT verist_fuzz.planted_log_line()")]
        top = [planted("sqlstate", "SELECT count(*)::text FROM verist_fuzz.no_such_table"),
               planted("nowrite", "SELECT verist_fuzz.planted_half_write()")]
        self.run_cases(batch, top)
        # a backend that dies in the middle of a batch (connection lost)
        self.run_cases([planted("crash", "SELECT pg_terminate_backend(pg_backend_pid())::text")], [])
        self.flush_node()

        # a backend that crashes (the postmaster restarts everything)
        restart_note = None
        victim = psycopg.connect(make_conninfo(self.args.dsn, dbname=self.args.dbname))
        try:
            os.kill(victim.info.backend_pid, signal.SIGSEGV)
            time.sleep(1)
            self.connect()
        except PermissionError:
            restart_note = "skipped: cannot signal the server's processes as uid %d" % os.getuid()
        finally:
            victim.close()

        verdicts = self.verdicts(ident0, self.server_identity(), self.log_hits(log_start))
        planted_counts = collections.Counter(c.fn.split(":", 1)[1] for c in batch + top)
        planted_counts["crash"] += 1
        if self.args.node:
            planted_counts["canon"] += 1            # node disagrees too
        bad = 0
        for name, ok, text in verdicts:
            caught = sum(1 for c, _ in self.failures[name] if c.fn == "planted:" + name)
            if name == "restart" and restart_note:
                print("ok - self-test: %s # %s" % (text, restart_note))
                continue
            if name in ("restart", "log", "coverage"):
                good = not ok
                detail = "reported" if good else "NOT reported"
            else:
                good = not ok and caught == planted_counts[name]
                detail = "%d of %d planted violations reported" % (caught, planted_counts[name])
            bad += not good
            print("%s - self-test: the %s check can fail (%s): %s"
                  % ("ok" if good else "not ok", name, detail, short(text.split("\n")[0], 120)))
        return 1 if bad else 0

    # -- the report ------------------------------------------------------------

    def report(self, elapsed):
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
        print("cross-checked against the JavaScript algorithm: %d canonical texts, %d dedupe keys,"
              " %d chain hashes (python oracle; %d too deep to judge), %d against node"
              % (self.oracle_checked["canon"], self.oracle_checked["dedupe"],
                 self.oracle_checked["hash"], self.oracle_checked["unjudged"],
                 self.oracle_checked["node"]))
        print("time inside the calls: %.1f s; slowest:" % (self.server_ms / 1000))
        for ms, fn, code, sql in self.slowest:
            print("  %8.1f ms %s %s %s" % (ms, fn, code, sql))
        print("rows written, then rolled back, by calls that failed a conflict check: %s"
              % (", ".join("%s %d" % kv for kv in sorted(self.conflict_writes.items())) or "none"))


def short(s, n):
    if s is None:
        return "NULL"
    s = str(s)
    return s if len(s) <= n else s[:n] + "... (%d chars)" % len(s)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=20000, help="calls to make (default 20000)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    p.add_argument("--self-test", action="store_true",
                   help="plant one violation of each promise and require every check to fail")
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
    # deep enough for the nesting jsgen.deep() makes at 2000 levels; deeper
    # texts are "unknown" to the oracle (they still run)
    sys.setrecursionlimit(6000)
    fuzzer = Fuzzer(args)
    return fuzzer.self_test() if args.self_test else fuzzer.run()


if __name__ == "__main__":
    sys.exit(main())
