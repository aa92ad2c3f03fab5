#!/usr/bin/env python3
"""Every verist function through the router, compared with one plain database.

    matrix.py ROUTER_DSN REFERENCE_DSN SHARD_DSN...

The same scenario -- every function of verist's API, the views, the
procedure, and the errors each one raises -- runs against the router (runs
spread over the shards) and against a reference database that has verist
alone.  Every answer must be the same: rows (ids, timestamps and hashes left
out where they must differ: ids come from the shards' ranges, hashes chain
the commit time), SQLSTATEs, and error messages, details and hints once
PL/Proxy's prefixes are taken off.  Then what only the router shows: the
prefixes themselves, ids routed to the shard they name, a batch split over
the shards, the lease's max_entries shared out, one cursor per shard for
verist_read_events, the documented hash computed by a client, and a ROLLBACK
on the router that does not undo a proxied commit.

verist 0.6.0: the outbox rows leasing, verist_requeue and verist_mark_retry
return carry queued (the shards' generated column), compared like the rest.

verist 0.5.0: the lease modes' refusals in the scenario, and through the
router only, verist_lease_outbox(..., 'per_run') leasing each run's commands
in commit order, one in flight per run, over every shard.

verist 0.4.0: the ledger's functions (history, state at a version, a step's
input, state as of a moment, export, retire and its run_active refusal,
digest, the hash functions) are in the scenario, every writing call with an
actor (verist.actor, SET LOCAL or for the session) or none; then, through the
router only: the actor given on the router is what the shard's ledger and seal
record, no actor outlives its call on a pooled shard connection, the roles the
ledger records (the PL/Proxy connection's: SET ROLE verist_clerk on the router
makes both role and session_role verist_clerk -- the suite creates that LOGIN
role on every server), exports equal on the router and on the shard, and
verist_verify_all() through the router returning what every shard finds (a
tampered ledger entry on one shard, a tampered seal on another).

Prints "ok - " / "not ok - " lines.
"""
import datetime
import decimal
import hashlib
import json
import random
import re
import sys

import psycopg

failures = []
RESUME = re.compile(r"^resume:\d+$")
IDS = re.compile(r"([Oo]utbox entry )\d+")
PREFIX = re.compile(r"^[\w.\"]+\(\d+\): \[[^\]]*\] REMOTE ERROR: ")


def check(ok, what, detail=None):
    print(("ok - " if ok else "not ok - ") + what, flush=True)
    if not ok:
        failures.append(what)
        if detail:
            for line in str(detail).splitlines()[:12]:
                line = line if len(line) < 3000 else line[:3000]
                print("#   " + line)


# Keys of an exported run (verist-run/1) that differ between the router's
# shards and one database by construction: ids (the shards' ranges), times,
# and the hashes that chain the times.
VOLATILE = {"id", "ts", "hash", "eventsHash", "ledgerHash", "createdAt", "updatedAt", "resolvedAt",
            "dispatchedAt", "leaseExpiresAt"}


def doc(text):
    """A JSON document given as text, exact numbers, volatile keys masked."""
    def walk(v):
        if isinstance(v, dict):
            return {k: "<%s>" % k if k in VOLATILE else walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str) and RESUME.match(v):
            return "resume:<block id>"
        return str(v) if isinstance(v, decimal.Decimal) else v
    return None if text is None else walk(json.loads(text, parse_float=decimal.Decimal))


def norm(v):
    if isinstance(v, datetime.datetime):
        return "<ts>"
    if isinstance(v, datetime.timedelta):
        return "<interval>"
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    if isinstance(v, str) and RESUME.match(v):
        return "resume:<block id>"
    return v


class Side:
    """One connection and the transcript of what it answered."""

    def __init__(self, dsn, routed):
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.routed = routed
        self.out = []
        self.prefixes = []

    def call(self, label, sql, params=(), keep=False, actor=None, docs=()):
        """actor: run the call in a transaction that SET LOCALs verist.actor;
        docs: the positions of columns holding a JSON document as text."""
        try:
            if actor is None:
                cur = self.conn.execute(sql, params)
                rows = cur.fetchall() if cur.description else []
            else:
                with self.conn.transaction():
                    self.conn.execute("SELECT set_config('verist.actor', %s, true)", (actor,))
                    cur = self.conn.execute(sql, params)
                    rows = cur.fetchall() if cur.description else []
            self.out.append((label, "rows", [[doc(x) if i in docs else norm(x) for i, x in enumerate(r)]
                                             for r in rows]))
            return rows
        except psycopg.Error as e:
            d = e.diag
            msg = d.message_primary or ""
            if self.routed:
                m = PREFIX.match(msg)
                self.prefixes.append((label, bool(m), msg))
                if m:
                    msg = msg[m.end():]
            detail = (d.message_detail or "").replace("Remote detail: ", "", 1)
            hint = (d.message_hint or "").replace("Remote hint: ", "", 1)
            # outbox ids differ by construction (the shards' ranges)
            msg, detail = (IDS.sub(r"\1<id>", x) for x in (msg, detail))
            self.out.append((label, "error", [e.sqlstate, msg, detail, hint]))
            return None


def scenario(s, ids_of):
    """The same calls on either side.  ids_of(side-rows) maps outbox rows to
    their (run, step) so that later calls can name them on each side."""
    W = "mx"
    emit = lambda t: {"type": "emit", "topic": t, "payload": {"t": t}}
    S = "SELECT version, computed, overlay, chain_seq, ledger_seq FROM "
    s.call("commit create", S + "verist_commit(%s, %s, %s, 0, %s::jsonb, %s::jsonb, %s::jsonb)",
           (W, "m-1", "s1", '{"a": 1}', json.dumps([{"type": "x", "payload": {"n": 1}}]),
            json.dumps([emit("a"), emit("b"), emit("c")])))
    s.call("commit update", S + "verist_commit(%s, %s, %s, 1, %s::jsonb, %s::jsonb)",
           (W, "m-1", "s2", '{"b": 2}', json.dumps([{"type": "y"}, {"type": "z", "payload": None}])))
    s.call("commit with the default events and commands", S + "verist_commit(%s, %s, %s, 2, %s::jsonb)",
           (W, "m-1", "s3", '{"c": 3}'))
    s.call("commit at a stale version (VRC02)", S + "verist_commit(%s, %s, 's', 1, '{}')", (W, "m-1"))
    s.call("commit creating an existing run (VRC01)", S + "verist_commit(%s, %s, 's', 0, '{}')", (W, "m-1"))
    s.call("commit to a missing run (VRN01)", S + "verist_commit(%s, %s, 's', 4, '{}')", (W, "nope"))
    s.call("commit with a NULL workflow id (VRS01)", S + "verist_commit(NULL, 'r', 's', 0, '{}')")
    s.call("commit with a bad event (VRS01)", S + "verist_commit(%s, 'm-9', 's', 0, '{}', '[{\"kind\": 1}]')", (W,))
    s.call("verist_load", "SELECT workflow_id, run_id, version, computed, overlay, created_at, chain_seq,"
           " ledger_seq FROM verist_load(%s, %s)", (W, "m-1"))
    s.call("verist_load of a missing run", "SELECT * FROM verist_load(%s, %s)", (W, "nope"))
    s.call("verist_effective_state", "SELECT verist_effective_state(%s, %s)", (W, "m-1"))
    s.call("verist_effective_state of a missing run", "SELECT verist_effective_state(%s, %s)", (W, "nope"))
    s.call("verist_set_overlay", "SELECT version, computed, overlay FROM verist_set_overlay(%s, %s, %s::jsonb)",
           (W, "m-1", '{"a": 10}'))
    s.call("verist_set_overlay of a missing run (VRN01)", "SELECT * FROM verist_set_overlay(%s, 'nope', '{}')", (W,))
    s.call("review commit", S + "verist_commit(%s, 'm-2', 's1', 0, '{}', '[]', %s::jsonb)",
           (W, json.dumps([emit("d"), {"type": "review", "reason": "look", "payload": {"p": 1}}])))
    B = "SELECT workflow_id, run_id, step_id, type, reason, payload, resume_step, resolution, created_at, resolved_at FROM "
    s.call("verist_get_block", B + "verist_get_block(%s, 'm-2')", (W,))
    s.call("verist_get_block of a run without one", B + "verist_get_block(%s, 'm-1')", (W,))
    s.call("a second review while one is active (VRC03)",
           S + "verist_commit(%s, 'm-2', 's2', 1, '{}', '[]', '[{\"type\": \"review\", \"reason\": \"again\"}]')", (W,))
    s.call("verist_resolve_block (approve)", B + "verist_resolve_block(%s, 'm-2', '{\"approved\": true}')", (W,))
    s.call("verist_resolve_block again (no rows)", B + "verist_resolve_block(%s, 'm-2', '{\"approved\": true}')", (W,))
    s.call("verist_resolve_block with a bad resolution (VRS01)", B + "verist_resolve_block(%s, 'm-2', '[]')", (W,))
    s.call("suspend commit", S + "verist_commit(%s, 'm-3', 's1', 0, '{}', '[]', %s::jsonb)",
           (W, json.dumps([{"type": "suspend", "reason": "wait", "checkpoint": {"c": 1}, "resumeStep": "go"}])))
    s.call("verist_resolve_block (resume)", B + "verist_resolve_block(%s, 'm-3', '{\"resumeData\": {\"r\": 2}}')", (W,))
    s.call("commit m-4", S + "verist_commit(%s, 'm-4', 's1', 0, '{}', '[]', %s::jsonb)", (W, json.dumps([emit("e")])))
    s.call("the same command again (VRC04)", S + "verist_commit(%s, 'm-4', 's1', 1, '{}', '[]', %s::jsonb)",
           (W, json.dumps([emit("e")])))
    s.call("verist_verify_run", "SELECT * FROM verist_verify_run(%s, 'm-1')", (W,))
    s.call("verist_verify_run of a missing run (VRN01)", "SELECT * FROM verist_verify_run(%s, 'nope')", (W,))
    s.call("verist_run_digest is the run's ledger head",
           "SELECT d.seq, d.hash = l.ledger_hash FROM verist_run_digest(%s, 'm-1') d, verist_load(%s, 'm-1') l", (W, W))
    s.call("verist_run_digest of a missing run (VRN01)", "SELECT * FROM verist_run_digest(%s, 'nope')", (W,))

    # queued (verist 0.6.0): the shards' generated column, an attribute of the router's type
    L = ("SELECT workflow_id, run_id, step_id, command, status, failures, last_error, lease_owner, queued"
         " FROM verist_lease_outbox(%s, %s) ORDER BY run_id, step_id, command->>'topic'")
    s.call("verist_lease_outbox", L, ("o", 100))
    ids = ids_of(s)
    s.call("verist_lease_outbox with nothing left", L, ("o", 100))
    s.call("verist_lease_outbox with max_entries 0 (VRS01)", L, ("o", 0))
    s.call("verist_lease_outbox with a NULL owner (VRS01)", L, (None, 5))
    LM = L.replace("%s, %s)", "%s, %s, '30 seconds', %s)")
    s.call("verist_lease_outbox with a NULL lease_mode (VRS01)", LM, ("o", 5, None))
    s.call("verist_lease_outbox with an unknown lease_mode (VRS01)", LM, ("o", 5, "newest"))
    s.call("verist_mark_dispatched", "SELECT verist_mark_dispatched(%s, 'o')", (ids["a"],))
    s.call("verist_mark_dispatched again (VRC05)", "SELECT verist_mark_dispatched(%s, 'o')", (ids["a"],))
    s.call("verist_mark_dispatched by another owner (VRC05)", "SELECT verist_mark_dispatched(%s, 'x')", (ids["b"],))
    s.call("verist_mark_dispatched of an unknown id (VRC05)", "SELECT verist_mark_dispatched(%s, 'o')", (ids["a"] + 999,))
    s.call("verist_mark_failed", "SELECT verist_mark_failed(%s, 'o', 'boom')", (ids["b"],))
    s.call("verist_requeue", "SELECT status, failures, last_error, queued FROM verist_requeue(%s)", (ids["b"],))
    s.call("verist_requeue of a dispatched row (VRC06)", "SELECT * FROM verist_requeue(%s)", (ids["a"],))
    s.call("verist_requeue of an unknown id (VRN01)", "SELECT * FROM verist_requeue(%s)", (ids["a"] + 999,))
    s.call("lease the re-queued row", L, ("o", 1))
    s.call("verist_mark_retry", "SELECT status, failures, last_error, lease_owner, lease_expires_at, queued"
           " FROM verist_mark_retry(%s, 'o', 'later', 3, '1 hour', '1 hour')", (ids["b"],))
    s.call("verist_mark_retry by another owner (VRC05)",
           "SELECT * FROM verist_mark_retry(%s, 'x', 'e', 3)", (ids["c"],))
    s.call("verist_mark_dispatched_batch of rows on every shard, NULL and unknown ids",
           "SELECT count(*) FROM verist_mark_dispatched_batch(%s, 'o')",
           ([ids["c"], ids["d"], ids["e"], ids["resume"], None, ids["a"] + 999],))
    s.call("verist_mark_dispatched_batch of an empty array", "SELECT * FROM verist_mark_dispatched_batch('{}', 'o')")
    s.call("verist_mark_dispatched_batch of NULL (VRS01)", "SELECT * FROM verist_mark_dispatched_batch(NULL, 'o')")
    s.call("verist_outbox_stats", "SELECT pending, retry_waiting, deferred, leased, expired_leases, dispatched,"
           " rejected, failed, oldest_pending_at IS NULL, oldest_pending_age IS NULL FROM verist_outbox_stats")
    s.call("verist_active_blocks", "SELECT workflow_id, run_id, step_id, type, reason, resume_step"
           " FROM verist_active_blocks WHERE workflow_id = %s ORDER BY run_id", (W,))
    s.call("verist_run_summary", "SELECT workflow_id, run_id, version, active_block, pending_commands,"
           " deferred_commands, last_event_at IS NULL FROM verist_run_summary WHERE workflow_id = %s ORDER BY run_id", (W,))
    s.call("verist_verify_all", "SELECT * FROM verist_verify_all()")
    s.call("verist_purge_outbox", "SELECT verist_purge_outbox('0 seconds', 1000)")
    s.call("verist_purge_outbox with max_rows 0 (VRS01)", "SELECT verist_purge_outbox('0 seconds', 0)")
    s.call("CALL verist_purge_outbox_all", "CALL verist_purge_outbox_all('0 seconds', 1)")
    s.call("verist_canonical_json", "SELECT verist_canonical_json('{\"b\": [1.0, 1e21, \"\\u00e9\"], \"a\": null}')")
    s.call("verist_canonical_json beyond double (VRS01)", "SELECT verist_canonical_json('1e400')")
    s.call("verist_dedupe_key", "SELECT verist_dedupe_key('w', 'r', 's', '{\"type\": \"emit\", \"topic\": \"t\"}')")
    s.call("verist_chain_genesis", "SELECT verist_chain_genesis('w', 'r')")
    s.call("verist_event_hash", "SELECT verist_event_hash(%s, 'w', 'r', 's', 't', '{\"p\": 1}', NULL, 1,"
           " '2026-01-01 00:00:00+00')", ("0" * 64,))

    ledger(s)


def ledger(s):
    """verist 0.4.0: the ledger, reading the record, retries, export, retire;
    the writing calls with and without an actor."""
    W = "lx"
    S = "SELECT version, computed::text, overlay, ledger_seq FROM "
    H = ("SELECT seq, kind, version, step_id, block - 'id', change::text, input, role, session_role, actor,"
         " events_seq FROM verist_run_history(%s, %s) ORDER BY seq")
    P = "SELECT version, computed::text, overlay, effective, ledger_seq, at FROM "
    s.call("ledger: a commit opening a review, as alice (SET LOCAL verist.actor)",
           S + "verist_commit(%s, 'l-1', 's1', 0, '{\"a\": 1, \"n\": 1.000000000000000000001}',"
           " '[{\"type\": \"x\"}]', '[{\"type\": \"review\", \"reason\": \"check\"}]')", (W,),
           actor="alice@example.com")
    s.call("ledger: the identical retry returns the stored result (as alice, writes nothing)",
           S + "verist_commit(%s, 'l-1', 's1', 0, '{\"n\": 1.000000000000000000001, \"a\": 1}',"
           " '[{\"type\": \"x\"}]', '[{\"type\": \"review\", \"reason\": \"check\"}]')", (W,),
           actor="alice@example.com")
    s.call("ledger: a retry differing in the 22nd digit is a conflict (VRC01)",
           S + "verist_commit(%s, 'l-1', 's1', 0, '{\"a\": 1, \"n\": 1.000000000000000000002}',"
           " '[{\"type\": \"x\"}]', '[{\"type\": \"review\", \"reason\": \"check\"}]')", (W,))
    s.call("verist_retire_run of a run with an active block (VRC07)", "SELECT verist_retire_run(%s, 'l-1')", (W,))
    s.call("ledger: SET verist.actor for the session", "SET verist.actor = 'bob'")
    s.call("ledger: an overlay as bob (the session's actor)",
           S + "verist_set_overlay(%s, 'l-1', '{\"a\": 2}')", (W,))
    s.call("ledger: RESET verist.actor", "RESET verist.actor")
    s.call("ledger: the review approved, as carol",
           "SELECT step_id, type, reason, resolution FROM verist_resolve_block(%s, 'l-1', '{\"approved\": true}')",
           (W,), actor="carol")
    s.call("ledger: a commit without an actor", S + "verist_commit(%s, 'l-1', 's2', 1, '{\"b\": 2}',"
           " '[{\"type\": \"y\", \"payload\": {\"p\": 1}}]')", (W,))
    s.call("ledger: an empty actor is none", S + "verist_commit(%s, 'l-1', 's3', 2, '{\"c\": 3}')", (W,),
           actor="")
    s.call("verist_run_history", H, (W, "l-1"))
    s.call("verist_run_history of a missing run (no rows)", H, (W, "nope"))
    s.call("verist_state_at", P + "verist_state_at(%s, 'l-1', 1)", (W,))
    s.call("verist_state_at of the last version", P + "verist_state_at(%s, 'l-1', 3)", (W,))
    s.call("verist_state_at of a version the run does not have (VRN01)", P + "verist_state_at(%s, 'l-1', 9)", (W,))
    s.call("verist_state_at with a NULL workflow id (VRS01)", P + "verist_state_at(NULL, 'l-1', 1)")
    s.call("verist_state_at with a NULL version (VRS01)", P + "verist_state_at(%s, 'l-1', NULL)", (W,))
    s.call("verist_step_input of version 1 (the empty run)", P + "verist_step_input(%s, 'l-1', 1)", (W,))
    s.call("verist_step_input of version 2 (the overlay and approval included)",
           P + "verist_step_input(%s, 'l-1', 2)", (W,))
    s.call("verist_step_input of a missing run (VRN01)", P + "verist_step_input(%s, 'nope', 1)", (W,))
    s.call("verist_state_as_of the time of the overlay",
           P + "verist_state_as_of(%s, 'l-1', (SELECT created_at FROM verist_run_history(%s, 'l-1') WHERE seq = 2))",
           (W, W))
    s.call("verist_state_as_of now", P + "verist_state_as_of(%s, 'l-1', now())", (W,))
    s.call("verist_state_as_of before the run (VRN01)", P + "verist_state_as_of(%s, 'l-1', '2000-01-01')", (W,))
    s.call("verist_export_run", "SELECT verist_export_run(%s, 'l-1')::text", (W,), docs=(0,))
    s.call("verist_export_run of a missing run (VRN01)", "SELECT verist_export_run(%s, 'nope')", (W,))
    s.call("verist_run_digest is the ledger head",
           "SELECT d.seq, d.hash = l.ledger_hash FROM verist_run_digest(%s, 'l-1') d, verist_load(%s, 'l-1') l",
           (W, W))
    s.call("verist_verify_run of a run with a ledger", "SELECT * FROM verist_verify_run(%s, 'l-1')", (W,))
    s.call("commit l-2 with a command", S + "verist_commit(%s, 'l-2', 's1', 0, '{}', '[]',"
           " '[{\"type\": \"emit\", \"topic\": \"l2\"}]')", (W,))
    s.call("verist_retire_run of a run with a pending command (VRC07)", "SELECT verist_retire_run(%s, 'l-2')", (W,))
    s.call("verist_retire_run, as dave", "SELECT verist_retire_run(%s, 'l-1')::text", (W,), actor="dave",
           docs=(0,))
    s.call("verist_verify_run of a retired run", "SELECT * FROM verist_verify_run(%s, 'l-1')", (W,))
    s.call("verist_run_digest of a retired run (its seal's head)",
           "SELECT seq FROM verist_run_digest(%s, 'l-1')", (W,))
    s.call("verist_load of a retired run (no rows)", "SELECT * FROM verist_load(%s, 'l-1')", (W,))
    s.call("verist_run_history of a retired run (no rows)", H, (W, "l-1"))
    s.call("verist_retire_run again (VRN01)", "SELECT verist_retire_run(%s, 'l-1')", (W,))
    s.call("a retired run's ids start a new run", S + "verist_commit(%s, 'l-1', 's1', 0, '{}')", (W,))
    s.call("verist_retire_run with a NULL run id (VRS01)", "SELECT verist_retire_run(%s, NULL)", (W,))
    s.call("verist_ledger_genesis", "SELECT verist_ledger_genesis('w', 'r')")
    s.call("verist_ledger_entry_hash", "SELECT verist_ledger_entry_hash(verist_ledger_genesis('w', 'r'), %s,"
           " '{\"kind\": \"commit\", \"n\": 1.50}')", ("a" * 64,))
    s.call("verist_ledger_entry_hash of a bad events hash (VRS01)",
           "SELECT verist_ledger_entry_hash(%s, 'x', '{}')", ("a" * 64,))
    s.call("verist_verify_all (0.4.0: runs, ledgers and the seal chain)", "SELECT * FROM verist_verify_all()")


def main(router_dsn, ref_dsn, shard_dsns):
    router = Side(router_dsn, True)
    ref = Side(ref_dsn, False)
    shards = [psycopg.connect(d, autocommit=True) for d in shard_dsns]

    def ids_router(side):
        out = {}
        for conn in shards:
            for i, t in conn.execute("SELECT id, coalesce(command->>'topic', 'resume') FROM verist_outbox"
                                     " WHERE workflow_id = 'mx'"):
                out[t] = i
        return out

    def ids_ref(side):
        return {t: i for i, t in side.conn.execute(
            "SELECT id, coalesce(command->>'topic', 'resume') FROM verist_outbox WHERE workflow_id = 'mx'")}

    scenario(router, ids_router)
    scenario(ref, ids_ref)
    for (label, kind, got), (_, rkind, want) in zip(router.out, ref.out):
        check(kind == rkind and got == want, "through the router as on one database: %s" % label,
              "router:    %s %s\nreference: %s %s" % (kind, json.dumps(got, default=str)[:3000],
                                                        rkind, json.dumps(want, default=str)[:3000]))
    check(len(router.out) == len(ref.out) > 50, "the scenario ran %d calls on each side" % len(router.out))
    errors = [e for e in router.out if e[1] == "error"]
    check(errors and all(ok for _, ok, _ in router.prefixes),
          "every error through the router keeps its SQLSTATE and gains PL/Proxy's prefix (%d errors), e.g. %r"
          % (len(errors), router.prefixes[0][2] if router.prefixes else None),
          "\n".join(m for _, ok, m in router.prefixes if not ok))

    # The scenario's runs live on more than one shard, each where the router says.
    placed = {}
    for k, conn in enumerate(shards, 1):
        for (run,) in conn.execute("SELECT run_id FROM verist_state WHERE workflow_id = 'mx'"):
            placed[run] = k
    rc = router.conn
    said = {run: rc.execute("SELECT verist_proxy_shard_of_run('mx', %s)", (run,)).fetchone()[0] for run in placed}
    check(placed == said and len(set(placed.values())) >= 2,
          "the scenario's runs are spread over %d shards, each on the shard the router names (%s)"
          % (len(set(placed.values())), json.dumps(placed, sort_keys=True)))

    # Ids name their shard: a lease through the router takes rows of every
    # shard; each id's top bits are its shard's number.
    for n in range(12):
        rc.execute("SELECT verist_commit('ids', %s, 's', 0, '{}', '[]', %s::jsonb)",
                   ("i-%d" % n, json.dumps([{"type": "emit", "topic": "x%d" % n}])))
    lease_owner = "router-lease"
    got = rc.execute("SELECT id, workflow_id, run_id FROM verist_lease_outbox(%s, 5)", (lease_owner,)).fetchall()
    per = {}
    for i, _, run in got:
        per.setdefault(i >> 48, []).append(i)
    check(len(got) == 5 and len(per) == len(shards),
          "verist_lease_outbox(owner, 5) through the router leases 5 rows in all, shared out between the %d shards (%s)"
          % (len(shards), {k: len(v) for k, v in per.items()}))
    right = all(rc.execute("SELECT verist_proxy_shard_of_run(%s, %s)", (w, run)).fetchone()[0] == i >> 48
                for i, w, run in got)
    check(right, "every leased id names (id >> 48) the shard that holds its run")
    batch = [i for i, _, _ in got]
    done = [r[0] for r in rc.execute("SELECT * FROM verist_mark_dispatched_batch(%s, %s)", (batch, lease_owner))]
    status = {}
    for k, conn in enumerate(shards, 1):
        for i, st in conn.execute("SELECT id, status FROM verist_outbox WHERE id = ANY(%s)", (batch,)):
            status[i] = (k, st)
    check(sorted(done) == sorted(batch) and all(st == "dispatched" and k == i >> 48 for i, (k, st) in status.items())
          and len(status) == len(batch),
          "verist_mark_dispatched_batch split its ids: each shard finalised its own (%d ids over %d shards)"
          % (len(batch), len({k for k, _ in status.values()})))

    per_run(rc, shards)

    # One cursor per shard: verist_read_events(k << 48, n) through the router
    # reads shard k's events only, in id order.
    ok = True
    total = 0
    for k, conn in enumerate(shards, 1):
        direct = [r[0] for r in conn.execute("SELECT id FROM verist_read_events(%s, 10000)", (k << 48,))]
        routed = [r[0] for r in rc.execute("SELECT id FROM verist_read_events(%s, 10000)", (k << 48,))]
        ok = ok and direct == routed and all(i >> 48 == k for i in routed)
        total += len(routed)
    check(ok and total > 0, "verist_read_events through the router follows each shard's cursor (%d events)" % total)

    # The documented hash, computed by a client.
    rng = random.Random(7)
    parts = rc.execute("SELECT partitions FROM verist_proxy_config").fetchone()[0]
    pairs = [("invoice", "run-42"), ("", ""), ("é", "✓"), ("a\tb", "c")]
    pairs += [("".join(rng.choice("ab€\U0001f600 _-") for _ in range(rng.randint(1, 9))),
               "r-%d" % rng.randint(0, 10 ** 9)) for _ in range(300)]
    mism = []
    for w, r in pairs:
        h = int.from_bytes(hashlib.sha256(w.encode() + b"\0" + r.encode()).digest()[:4], "big")
        got = rc.execute("SELECT verist_proxy_hash(%s, %s), verist_proxy_partition(%s, %s)", (w, r, w, r)).fetchone()
        if got != (h, h % parts):
            mism.append((w, r, got, (h, h % parts)))
    check(not mism, "a client computes the router's hash and partition (%d pairs, %d partitions)"
          % (len(pairs), parts), mism[:3])

    # Each proxied call is its own transaction on the shard.
    with psycopg.connect(router_dsn) as tx:
        tx.execute("SELECT verist_commit('mx', 'rolled-back', 's', 0, '{}')")
        tx.rollback()
    left = rc.execute("SELECT count(*) FROM verist_load('mx', 'rolled-back')").fetchone()[0]
    with psycopg.connect(ref_dsn) as tx:
        tx.execute("SELECT verist_commit('mx', 'rolled-back', 's', 0, '{}')")
        tx.rollback()
    ref_left = ref.conn.execute("SELECT count(*) FROM verist_load('mx', 'rolled-back')").fetchone()[0]
    check(left == 1 and ref_left == 0,
          "a ROLLBACK on the router does not undo a proxied commit (it committed on the shard; on one database it is undone)")

    actors(router_dsn, ref, rc, shards)
    return 1 if failures else 0


def per_run(rc, shards):
    """verist 0.5.0: verist_lease_outbox(..., 'per_run') through the router.
    Each shard applies the mode to its own rows; a run lives on one shard, so
    its commands still come in commit order, one in flight at a time."""
    W, owner = "pr", "router-per-run"
    for n in range(8):
        rc.execute("SELECT verist_commit(%s, %s, 's', 0, '{}', '[]', %s::jsonb)",
                   (W, "p-%d" % n, json.dumps([{"type": "emit", "topic": "t%d" % t} for t in range(3)])))
    runs_on = {rc.execute("SELECT verist_proxy_shard_of_run(%s, %s)", (W, "p-%d" % n)).fetchone()[0]
               for n in range(8)}
    rounds, stuck, everything = [], [], []
    for _ in range(4):
        got = rc.execute("SELECT id, workflow_id, run_id, command->>'topic' FROM verist_lease_outbox(%s, 100,"
                         " '1 minute', 'per_run')", (owner,)).fetchall()
        everything += [i for i, _, _, _ in got]
        mine = sorted((run, topic, i >> 48) for i, w, run, topic in got if w == W)
        rounds.append(mine)
        # nothing more of these runs while one command of each is in flight
        again = rc.execute("SELECT id, workflow_id FROM verist_lease_outbox(%s, 100, '1 minute', 'per_run')",
                           (owner,)).fetchall()
        stuck.append(sum(1 for _, w in again if w == W))
        batch = [i for i, _, _, _ in got] + [i for i, _ in again]
        everything += [i for i, _ in again]
        rc.execute("SELECT count(*) FROM verist_mark_dispatched_batch(%s, %s)", (batch, owner))
    want = [sorted(("p-%d" % n, "t%d" % t, rc.execute("SELECT verist_proxy_shard_of_run(%s, %s)",
                                                      (W, "p-%d" % n)).fetchone()[0]) for n in range(8))
            for t in range(3)] + [[]]
    left = sum(c.execute("SELECT count(*) FROM verist_outbox WHERE id = ANY(%s) AND status <> 'dispatched'",
                         (everything,)).fetchone()[0] for c in shards)
    check(rounds == want and stuck == [0, 0, 0, 0] and len(runs_on) == len(shards) and left == 0,
          "verist_lease_outbox(owner, 100, d, 'per_run') through the router: 8 runs over %d shards, each round"
          " leases each run's next command in commit order (t0, t1, t2, then none), none while one is in flight;"
          " each round dispatched through the router (%d rows)" % (len(runs_on), len(everything)),
          "rounds: %r\nwhile in flight: %r\nnot dispatched: %d" % (rounds, stuck, left))


def shard_of(rc, shards, w, r):
    return shards[rc.execute("SELECT verist_proxy_shard_of_run(%s, %s)", (w, r)).fetchone()[0] - 1]


def actors(router_dsn, ref, rc, shards):
    """verist 0.4.0 through the router only: who the shards' ledgers record."""
    W = "lx"
    # The actor given on the router (SET LOCAL, or for the session) is what
    # the shard's ledger records; none when none is set.
    with rc.transaction():
        rc.execute("SET LOCAL verist.actor = 'alice@example.com'")
        rc.execute("SELECT verist_commit(%s, 'act-1', 's1', 0, '{\"a\": 1}')", (W,))
    rc.execute("SET verist.actor = 'bob'")
    rc.execute("SELECT verist_set_overlay(%s, 'act-1', '{\"a\": 2}')", (W,))
    rc.execute("RESET verist.actor")
    rc.execute("SELECT verist_commit(%s, 'act-1', 's2', 1, '{\"b\": 1}', '[]',"
               " '[{\"type\": \"review\", \"reason\": \"r\"}]')", (W,))
    with rc.transaction():
        rc.execute("SET LOCAL verist.actor = 'carol'")
        rc.execute("SELECT verist_resolve_block(%s, 'act-1', '{\"approved\": false}')", (W,))
    sh = shard_of(rc, shards, W, "act-1")
    got = [tuple(r) for r in sh.execute("SELECT kind, actor FROM verist_ledger WHERE workflow_id = %s"
                                        " AND run_id = 'act-1' ORDER BY seq", (W,))]
    want = [("commit", "alice@example.com"), ("overlay", "bob"), ("commit", None), ("resolve", "carol")]
    check(got == want, "the shard's ledger records the actor given on the router: SET LOCAL, for the session,"
          " none (%s)" % ", ".join("%s %s" % g for g in got), "want %r" % want)
    sealed = []
    for conn in shards:
        sealed += [tuple(r) for r in conn.execute(
            "SELECT actor FROM verist_retired WHERE workflow_id = %s AND run_id = 'l-1'", (W,))]
    check(sealed == [("dave",)], "the seal of a run retired through the router records the router's actor (%s)"
          % sealed)

    # No actor outlives its call: two router sessions alternate on one run,
    # one with an actor, one without; through PgBouncer they share the
    # shards' server connections.
    other = psycopg.connect(router_dsn, autocommit=True)
    v = 0
    for i in range(6):
        if i % 2 == 0:
            with rc.transaction():
                rc.execute("SET LOCAL verist.actor = 'eve'")
                rc.execute("SELECT verist_commit(%s, 'act-2', %s, %s, '{}')", (W, "s%d" % i, v))
        else:
            other.execute("SELECT verist_commit(%s, 'act-2', %s, %s, '{}')", (W, "s%d" % i, v))
        v += 1
    got = [r[0] for r in shard_of(rc, shards, W, "act-2").execute(
        "SELECT actor FROM verist_ledger WHERE workflow_id = %s AND run_id = 'act-2' ORDER BY seq", (W,))]
    check(got == ["eve", None] * 3, "no actor outlives its call on the shard's pooled connection (%s)" % got)
    other.close()

    # The roles: PL/Proxy connects to the shard as the router's current
    # user, so role and session_role are both that role; on one database
    # session_role is the role that logged in.
    seen = {}
    for name, conn in (("router", rc), ("one database", ref.conn)):
        try:
            with conn.transaction():
                conn.execute("SET LOCAL ROLE verist_clerk")
                conn.execute("SET LOCAL verist.actor = 'frank'")
                conn.execute("SELECT verist_commit(%s, 'act-3', 's1', 0, '{}')", (W,))
            seen[name] = [tuple(r) for r in conn.execute(
                "SELECT role, session_role, actor FROM verist_run_history(%s, 'act-3')", (W,))]
        except psycopg.Error as e:
            seen[name] = str(e).splitlines()[0]
    check(seen.get("router") == [("verist_clerk", "verist_clerk", "frank")]
          and seen.get("one database") == [("verist_clerk", "postgres", "frank")],
          "the ledger's roles through the router are the PL/Proxy connection's: SET ROLE verist_clerk on the"
          " router records role and session_role verist_clerk (one database: verist_clerk, postgres); the actor"
          " carries the application's user", json.dumps(seen))

    # An export through the router is the shard's, byte for byte.
    routed = rc.execute("SELECT verist_export_run(%s, 'act-1')::text", (W,)).fetchone()[0]
    direct = shard_of(rc, shards, W, "act-1").execute(
        "SELECT verist_export_run(%s, 'act-1')::text", (W,)).fetchone()[0]
    check(routed == direct and routed, "verist_export_run through the router is the shard's document, byte for byte")

    # verist_verify_all() through the router: every shard's findings, here a
    # ledger entry changed on one shard and a seal on another.
    for i in range(8):
        rc.execute("SELECT verist_commit(%s, %s, 's1', 0, '{}')", (W, "rt-%d" % i))
        rc.execute("SELECT verist_retire_run(%s, %s)", (W, "rt-%d" % i))
    a = shard_of(rc, shards, W, "act-1")
    b = next((c for c in shards if c is not a and c.execute("SELECT count(*) FROM verist_retired").fetchone()[0]),
             None)
    if b is None:
        check(False, "seals of retired runs on a second shard")
        return
    change = a.execute("SELECT change::text FROM verist_ledger WHERE workflow_id = %s AND run_id = 'act-1'"
                       " AND seq = 2", (W,)).fetchone()[0]
    seal, actor = b.execute("SELECT seq, actor FROM verist_retired ORDER BY seq DESC LIMIT 1").fetchone()

    def tamper(conn, sql, params):
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(sql, params)
    tamper(a, "UPDATE verist_ledger SET change = '{\"a\": 3}' WHERE workflow_id = %s AND run_id = 'act-1'"
              " AND seq = 2", (W,))
    tamper(b, "UPDATE verist_retired SET actor = 'mallory' WHERE seq = %s", (seal,))
    rows = sorted((tuple(r) for r in rc.execute("SELECT * FROM verist_verify_all()")), key=repr)
    each = sorted((tuple(r) for c in shards for r in c.execute("SELECT * FROM verist_verify_all()")), key=repr)
    check(rows == each and len(rows) == 2 and any(r[1] == "act-1" and r[4].startswith("ledger:") for r in rows)
          and any(r[4].startswith("seal:") for r in rows),
          "verist_verify_all() through the router returns every shard's findings: a changed ledger entry on one"
          " shard, a changed seal on another (%s)" % "; ".join("%s/%s: %s" % (r[0], r[1], r[4]) for r in rows),
          "router: %r\nshards: %r" % (rows, each))
    tamper(a, "UPDATE verist_ledger SET change = %s::jsonb WHERE workflow_id = %s AND run_id = 'act-1'"
              " AND seq = 2", (change, W))
    tamper(b, "UPDATE verist_retired SET actor = %s WHERE seq = %s", (actor, seal))
    rows = rc.execute("SELECT * FROM verist_verify_all()").fetchall()
    check(not rows, "both put back: verist_verify_all() through the router finds nothing", rows)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
