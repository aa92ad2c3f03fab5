#!/usr/bin/env python3
"""test_verist — verist_client against a live server, plain asserts.

Connects with the libpq environment variables (PGHOST, PGPORT, PGUSER, ...)
that pg_virtualenv sets and creates the extension if it is missing.  Prints
"ok N - name" / "not ok N - name" per case, then "N passed, M failed"; exits
non-zero if any case failed.  Every case uses its own workflow id; the outbox
is shared by all runs, so the cases that lease first drain it.
"""

import os
import re
import subprocess
import sys
import time
import traceback
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from verist_client import VeristStore, storage_error

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


conn = None
store = None

TRACE = {"model": "gpt-test", "inputHash": "sha256:in", "outputHash": "sha256:out",
         "promptTokens": 12, "completionTokens": 3, "durationMs": 41.5}


def new_workflow():
    return f"wf-{uuid.uuid4()}"


def expect_ok(result):
    assert result["ok"], f"expected ok, got {result.get('error')}"
    return result["value"]


def expect_error(result, code, reason=None):
    assert not result["ok"], f"expected {code}/{reason}, got ok: {result.get('value')}"
    err = result["error"]
    assert err["code"] == code, err
    assert err.get("reason") == reason, err
    assert isinstance(err["message"], str)
    return err


def create_run(output=None, **extra):
    """Create a run at version 1; its (workflow_id, run_id)."""
    ids = (new_workflow(), "run-1")
    expect_ok(store.commit(*ids, "start", 0, output or {}, **extra))
    return ids


def rows(table, ids):
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT * FROM {table} WHERE workflow_id = %s AND run_id = %s ORDER BY id", ids)
        return cur.fetchall()


def drain_outbox():
    """Dispatch whatever earlier cases left claimable."""
    while True:
        leased = expect_ok(store.lease_outbox("drain", 1000))
        if not leased:
            return
        expect_ok(store.mark_dispatched_batch([e["id"] for e in leased], "drain"))


@case
def create():
    wf = new_workflow()
    state = expect_ok(store.commit(wf, "r", "start", 0, {"a": 1}))
    # The adapter's columns, plus the audit chain head of 0.2.0 (README "Audit chain")
    # and the ledger head of 0.4.0 (README "The ledger").
    assert sorted(state) == ["chain_hash", "chain_seq", "computed", "created_at", "ledger_hash",
                             "ledger_seq", "overlay", "run_id", "updated_at", "version",
                             "workflow_id"]
    assert state["chain_seq"] == 0 and re.fullmatch(r"[0-9a-f]{64}", state["chain_hash"])
    assert state["ledger_seq"] == 1 and re.fullmatch(r"[0-9a-f]{64}", state["ledger_hash"])
    assert (state["workflow_id"], state["run_id"], state["version"]) == (wf, "r", 1)
    assert state["computed"] == {"a": 1} and state["overlay"] == {}
    assert isinstance(state["created_at"], datetime) and state["created_at"].tzinfo is not None
    assert state["created_at"] == state["updated_at"]
    assert expect_ok(store.load(wf, "r")) == state


@case
def update_shallow_merge():
    ids = create_run({"keep": 1, "nested": {"x": 1, "y": 2}, "list": [1, 2]})
    state = expect_ok(store.commit(*ids, "second", 1, {"nested": {"z": 3}, "list": [], "added": True}))
    assert state["version"] == 2
    assert state["computed"] == {"keep": 1, "nested": {"z": 3}, "list": [], "added": True}
    assert expect_ok(store.load(*ids))["version"] == 2


@case
def run_exists():
    ids = create_run({"a": 1})
    err = expect_error(store.commit(*ids, "again", 0, {"a": 2}), "conflict", "run_exists")
    assert err["sqlstate"] == "VRC01"
    assert expect_ok(store.load(*ids))["computed"] == {"a": 1}


@case
def version_mismatch():
    ids = create_run()
    expect_ok(store.commit(*ids, "s2", 1, {}))
    err = expect_error(store.commit(*ids, "s3", 1, {"lost": True}, events=[{"type": "x"}]),
                       "conflict", "version_mismatch")
    assert "expected 1, found 2" in err["message"], err
    state = expect_ok(store.load(*ids))
    assert state["version"] == 2 and "lost" not in state["computed"]
    assert rows("verist_events", ids) == []


@case
def not_found():
    wf = new_workflow()
    expect_error(store.load(wf, "nope"), "not_found")
    expect_error(store.commit(wf, "nope", "s", 3, {}), "not_found")
    expect_error(store.set_overlay(wf, "nope", {"a": 1}), "not_found")
    expect_error(store.effective_state(wf, "nope"), "not_found")
    assert expect_ok(store.get_block(wf, "nope")) is None


@case
def events_in_order_with_step_id():
    ids = create_run(events=[
        {"type": "first", "payload": {"n": 1}},
        {"type": "second"},
        {"type": "third", "payload": None, "llmTrace": dict(TRACE, input="prompt", extra=[1])},
    ])
    expect_ok(store.commit(*ids, "later", 1, {}, events=[{"type": "fourth"}]))
    events = rows("verist_events", ids)
    assert [(e["type"], e["step_id"]) for e in events] == [
        ("first", "start"), ("second", "start"), ("third", "start"), ("fourth", "later")]
    assert events[0]["payload"] == {"n": 1}
    assert events[1]["payload"] is None and events[2]["payload"] is None
    assert events[2]["llm_trace"] == dict(TRACE, input="prompt", extra=[1])
    assert events[0]["llm_trace"] is None
    assert events[0]["created_at"] == expect_ok(store.load(*ids))["created_at"]


@case
def llm_trace_validation():
    ids = create_run({"v": 1})
    no_hash = {k: v for k, v in TRACE.items() if k != "outputHash"}
    for bad in (no_hash, dict(TRACE, inputHash=""), dict(TRACE, promptTokens=-1),
                dict(TRACE, durationMs="slow")):
        expect_error(store.commit(*ids, "llm", 1, {"v": 2},
                                  events=[{"type": "ok"}, {"type": "llm", "llmTrace": bad}],
                                  commands=[{"type": "emit", "topic": "t"}]),
                     "serialization_error")
    state = expect_ok(store.load(*ids))
    assert state["version"] == 1 and state["computed"] == {"v": 1}
    assert rows("verist_events", ids) == [] and rows("verist_outbox", ids) == []


@case
def review_approval_releases():
    ids = create_run()
    expect_ok(store.commit(*ids, "draft", 1, {"draft": "text"}, commands=[
        {"type": "emit", "topic": "mail", "payload": {"to": "x"}},
        {"type": "review", "reason": "check the draft", "payload": {"draft": "text"}},
        {"type": "invoke", "step": "publish"},
    ]))
    block = expect_ok(store.get_block(*ids))
    assert (block["type"], block["step_id"], block["reason"]) == ("review", "draft", "check the draft")
    assert block["payload"] == {"draft": "text"} and block["resolved_at"] is None
    assert [(r["command"]["type"], r["status"]) for r in rows("verist_outbox", ids)] == [
        ("emit", "deferred"), ("invoke", "deferred")]
    resolved = expect_ok(store.resolve_block(*ids, {"approved": True, "note": "dropped"}))
    assert resolved["id"] == block["id"]
    assert resolved["resolution"] == {"approved": True}
    assert isinstance(resolved["resolved_at"], datetime)
    assert [r["status"] for r in rows("verist_outbox", ids)] == ["pending", "pending"]
    assert expect_ok(store.get_block(*ids)) is None
    assert expect_ok(store.resolve_block(*ids, {"approved": False})) is None
    assert [r["status"] for r in rows("verist_outbox", ids)] == ["pending", "pending"]
    assert expect_ok(store.load(*ids))["version"] == 2


@case
def review_rejection_rejects_block_step_only():
    ids = create_run()
    expect_ok(store.commit(*ids, "other", 1, {}, commands=[{"type": "emit", "topic": "unrelated"}]))
    expect_ok(store.commit(*ids, "gate", 2, {}, commands=[
        {"type": "review", "reason": "ok?"}, {"type": "emit", "topic": "after-review"}]))
    resolved = expect_ok(store.resolve_block(*ids, {"approved": False}))
    assert resolved["resolution"] == {"approved": False} and resolved["payload"] is None
    assert [(r["command"]["topic"], r["status"], r["lease_owner"]) for r in rows("verist_outbox", ids)] == [
        ("unrelated", "pending", None), ("after-review", "rejected", None)]


@case
def suspend_and_resume():
    ids = create_run()
    expect_ok(store.commit(*ids, "ask", 1, {"asked": True}, commands=[
        {"type": "emit", "topic": "discarded"},
        {"type": "suspend", "reason": "wait for a human", "checkpoint": {"page": 3}},
    ]))
    assert rows("verist_outbox", ids) == []
    block = expect_ok(store.get_block(*ids))
    assert block["type"] == "suspend" and block["resume_step"] == "ask"
    assert block["payload"] == {"page": 3}
    resolved = expect_ok(store.resolve_block(*ids, {"resumeData": {"answer": 42}, "x": 1}))
    assert resolved["resolution"] == {"resumeData": {"answer": 42}}
    [row] = rows("verist_outbox", ids)
    assert row["step_id"] == f"resume:{block['id']}" and row["status"] == "pending"
    assert row["command"] == {"type": "invoke", "step": "ask",
                              "input": {"checkpoint": {"page": 3}, "resumeData": {"answer": 42}}}
    key = conn.execute("SELECT verist_dedupe_key(%s, %s, %s, %s::jsonb)",
                       (*ids, row["step_id"], Jsonb(row["command"]))).fetchone()[0]
    assert row["dedupe_key"] == key
    assert expect_ok(store.resolve_block(*ids, {"resumeData": None})) is None
    assert len(rows("verist_outbox", ids)) == 1


@case
def suspend_resume_step_and_null_resume_data():
    ids = create_run()
    expect_ok(store.commit(*ids, "ask", 1, {}, commands=[
        {"type": "suspend", "reason": "later", "resumeStep": "continue"}]))
    block = expect_ok(store.resolve_block(*ids, {"resumeData": None}))
    assert block["resume_step"] == "continue" and block["resolution"] == {"resumeData": None}
    [row] = rows("verist_outbox", ids)
    assert row["command"] == {"type": "invoke", "step": "continue",
                              "input": {"checkpoint": None, "resumeData": None}}


@case
def active_block():
    ids = create_run()
    expect_ok(store.commit(*ids, "gate", 1, {}, commands=[{"type": "review", "reason": "first"}]))
    expect_error(store.commit(*ids, "gate2", 2, {"no": 1}, commands=[{"type": "suspend", "reason": "second"}]),
                 "conflict", "active_block")
    assert expect_ok(store.load(*ids))["version"] == 2
    assert expect_ok(store.commit(*ids, "side", 2, {}, commands=[{"type": "emit", "topic": "side"}]))["version"] == 3
    assert [r["status"] for r in rows("verist_outbox", ids)] == ["pending"]
    assert expect_ok(store.get_block(*ids))["reason"] == "first"


@case
def command_exists():
    ids = create_run()
    command = {"type": "emit", "topic": "once", "payload": {"b": 2, "a": 1}}
    expect_ok(store.commit(*ids, "send", 1, {}, commands=[command]))
    err = expect_error(store.commit(*ids, "send", 2, {"second": True}, events=[{"type": "e"}], commands=[
        {"type": "emit", "topic": "fresh"},
        {"payload": {"a": 1, "b": 2}, "topic": "once", "type": "emit"}]),
        "conflict", "command_exists")
    assert err["sqlstate"] == "VRC04"
    state = expect_ok(store.load(*ids))
    assert state["version"] == 2 and "second" not in state["computed"]
    assert rows("verist_events", ids) == [] and len(rows("verist_outbox", ids)) == 1
    expect_ok(store.commit(*ids, "send-again", 2, {}, commands=[command]))


@case
def duplicate_command_in_one_commit():
    ids = create_run()
    expect_error(store.commit(*ids, "dup", 1, {"x": 1}, commands=[
        {"type": "invoke", "step": "a", "input": 1}, {"type": "invoke", "step": "a", "input": 1}]),
        "serialization_error")
    assert expect_ok(store.load(*ids))["version"] == 1
    assert rows("verist_outbox", ids) == []


@case
def overlay_and_effective_state():
    ids = create_run({"a": 1, "b": {"deep": 1}, "c": 3})
    s1 = expect_ok(store.set_overlay(*ids, {"b": {"fixed": True}, "d": 4}))
    assert s1["version"] == 1 and s1["overlay"] == {"b": {"fixed": True}, "d": 4}
    assert s1["updated_at"] >= s1["created_at"]
    s2 = expect_ok(store.set_overlay(*ids, {"d": 5}))
    assert s2["overlay"] == {"b": {"fixed": True}, "d": 5}
    assert expect_ok(store.effective_state(*ids)) == {"a": 1, "b": {"fixed": True}, "c": 3, "d": 5}
    s3 = expect_ok(store.commit(*ids, "s", 1, {"b": {"deep": 2}, "c": 30}))
    assert s3["overlay"] == {"b": {"fixed": True}, "d": 5}
    assert expect_ok(store.effective_state(*ids)) == {"a": 1, "b": {"fixed": True}, "c": 30, "d": 5}


@case
def lease_skips_deferred_and_live_leases():
    drain_outbox()
    ids = create_run(commands=[{"type": "emit", "topic": t} for t in ("one", "two", "three")])
    expect_ok(store.commit(*ids, "gate", 1, {}, commands=[
        {"type": "review", "reason": "r"}, {"type": "emit", "topic": "deferred"}]))
    first = expect_ok(store.lease_outbox("worker-a", 2, 60000))
    assert [e["command"]["topic"] for e in first] == ["one", "two"]
    entry = first[0]
    assert (entry["status"], entry["lease_owner"], entry["step_id"]) == ("leased", "worker-a", "start")
    assert isinstance(entry["id"], int) and len(entry["dedupe_key"]) == 64
    assert entry["lease_expires_at"] > datetime.now(timezone.utc) + timedelta(seconds=30)
    second = expect_ok(store.lease_outbox("worker-b", 10))
    assert [e["command"]["topic"] for e in second] == ["three"]
    assert second[0]["lease_expires_at"] > datetime.now(timezone.utc) + timedelta(seconds=10)
    assert expect_ok(store.lease_outbox("worker-c", 10)) == []
    assert [r["status"] for r in rows("verist_outbox", ids) if r["command"]["topic"] == "deferred"] == ["deferred"]


@case
def lease_expiry_reclaim():
    drain_outbox()
    ids = create_run(commands=[{"type": "invoke", "step": "slow"}])
    [entry] = expect_ok(store.lease_outbox("sleepy", 1, 200))
    assert entry["workflow_id"] == ids[0]
    time.sleep(0.4)
    [again] = expect_ok(store.lease_outbox("rescuer", 1, 60000))
    assert again["id"] == entry["id"] and again["lease_owner"] == "rescuer"
    expect_error(store.mark_dispatched(entry["id"], "sleepy"), "conflict", "lease_mismatch")
    expect_ok(store.mark_dispatched(entry["id"], "rescuer"))
    [row] = rows("verist_outbox", ids)
    assert row["status"] == "dispatched" and row["lease_owner"] is None
    assert row["lease_expires_at"] is None and isinstance(row["dispatched_at"], datetime)
    assert expect_ok(store.lease_outbox("late", 10)) == []


@case
def lease_mismatch_wrong_owner():
    drain_outbox()
    ids = create_run(commands=[{"type": "emit", "topic": "mine"}])
    [entry] = expect_ok(store.lease_outbox("owner", 1, 60000))
    err = expect_error(store.mark_dispatched(entry["id"], "intruder"), "conflict", "lease_mismatch")
    assert err["sqlstate"] == "VRC05" and "another owner" in err["detail"], err
    expect_error(store.mark_failed(entry["id"], "intruder", "boom"), "conflict", "lease_mismatch")
    expect_error(store.mark_dispatched(999999999999, "owner"), "conflict", "lease_mismatch")
    [row] = rows("verist_outbox", ids)
    assert (row["status"], row["lease_owner"], row["failures"]) == ("leased", "owner", 0)
    expect_ok(store.mark_dispatched(entry["id"], "owner"))
    expect_error(store.mark_dispatched(entry["id"], "owner"), "conflict", "lease_mismatch")


@case
def mark_failed():
    drain_outbox()
    ids = create_run(commands=[{"type": "emit", "topic": "flaky"}])
    [entry] = expect_ok(store.lease_outbox("w", 1, 60000))
    assert expect_ok(store.mark_failed(entry["id"], "w", "smtp said no")) is None
    [row] = rows("verist_outbox", ids)
    assert (row["status"], row["failures"], row["last_error"]) == ("failed", 1, "smtp said no")
    assert row["lease_owner"] is None and row["lease_expires_at"] is None and row["dispatched_at"] is None
    assert expect_ok(store.lease_outbox("w", 10)) == []


@case
def mark_dispatched_batch():
    drain_outbox()
    ids = create_run(commands=[{"type": "emit", "topic": t} for t in "abc"])
    mine = expect_ok(store.lease_outbox("batcher", 2, 60000))
    [theirs] = expect_ok(store.lease_outbox("other", 1, 60000))
    done = expect_ok(store.mark_dispatched_batch([e["id"] for e in mine] + [theirs["id"], 999999999999], "batcher"))
    assert sorted(done) == sorted(e["id"] for e in mine)
    assert [r["status"] for r in rows("verist_outbox", ids)] == ["dispatched", "dispatched", "leased"]
    assert expect_ok(store.mark_dispatched_batch([], "batcher")) == []
    expect_error(store.mark_dispatched_batch(None, "batcher"), "serialization_error")
    expect_error(store.mark_dispatched_batch([theirs["id"]], ""), "serialization_error")


@case
def bad_inputs():
    ids = create_run({"v": 1})
    wf, run = ids
    base = dict(workflow_id=wf, run_id=run, step_id="bad", expected_version=1, output={"v": 2})
    cases = {
        "empty workflow id": dict(base, workflow_id=""),
        "empty step id": dict(base, step_id=""),
        "missing run id": dict(base, run_id=None),
        "negative version": dict(base, expected_version=-1),
        "null version": dict(base, expected_version=None),
        "output missing": dict(base, output=None),
        "output an array": dict(base, output=[1]),
        "events an object": dict(base, events={"type": "x"}),
        "event without type": dict(base, events=[{"payload": {}}]),
        "event with empty type": dict(base, events=[{"type": ""}]),
        "event with extra key": dict(base, events=[{"type": "x", "when": "now"}]),
        "event payload a string": dict(base, events=[{"type": "x", "payload": "text"}]),
        "commands an object": dict(base, commands={}),
        "unknown command type": dict(base, commands=[{"type": "delete"}]),
        "command with extra key": dict(base, commands=[{"type": "emit", "topic": "t", "retries": 3}]),
        "invoke without step": dict(base, commands=[{"type": "invoke"}]),
        "fanout inputs not array": dict(base, commands=[{"type": "fanout", "step": "s", "inputs": {}}]),
        "review without reason": dict(base, commands=[{"type": "review"}]),
        "two blocking commands": dict(base, commands=[{"type": "review", "reason": "a"},
                                                      {"type": "suspend", "reason": "b"}]),
        "NaN in output": dict(base, output={"n": float("nan")}),
        "a set in output": dict(base, output={"s": {1}}),
    }
    for name, args in cases.items():
        r = store.commit(**args)
        assert not r["ok"], name
        assert r["error"]["code"] == "serialization_error", (name, r["error"])
    state = expect_ok(store.load(*ids))
    assert state["version"] == 1 and state["computed"] == {"v": 1}
    assert rows("verist_events", ids) == [] and rows("verist_outbox", ids) == []
    assert expect_ok(store.get_block(*ids)) is None

    expect_error(store.set_overlay(*ids, [1]), "serialization_error")
    expect_error(store.lease_outbox("w", 0), "serialization_error")
    expect_error(store.lease_outbox("", 1), "serialization_error")
    expect_error(store.lease_outbox("w", 1, 0), "serialization_error")
    expect_error(store.mark_failed(1, "w", None), "serialization_error")
    expect_error(store.load("", "r"), "serialization_error")

    expect_ok(store.commit(**dict(base, commands=[{"type": "review", "reason": "r"}])))
    expect_error(store.resolve_block(*ids, "yes"), "serialization_error")
    expect_error(store.resolve_block(*ids, {"approved": "yes"}), "serialization_error")
    expect_error(store.resolve_block(*ids, {"resumeData": 1}), "serialization_error")
    assert expect_ok(store.get_block(*ids))["resolved_at"] is None


@case
def other_errors_are_raised():
    ids = create_run(events=[{"type": "kept"}])
    try:
        store.commit(*ids, "s", 1, {"s": "a\u0000b"})
    except psycopg.Error as exc:
        assert exc.sqlstate == "22P05", exc.sqlstate
    else:
        raise AssertionError("a \\u0000 in JSON must raise")
    try:
        with conn.transaction():
            conn.execute("DELETE FROM verist_events WHERE workflow_id = %s", (ids[0],))
    except psycopg.Error as exc:
        try:
            storage_error(exc)
        except psycopg.Error as again:
            assert again.sqlstate == "VRA01", again.sqlstate
        else:
            raise AssertionError("VRA01 is not a StorageError")
    else:
        raise AssertionError("deleting events must fail")
    assert expect_ok(store.load(*ids))["version"] == 1
    assert len(rows("verist_events", ids)) == 1


@case
def savepoint_inside_caller_transaction():
    # A verist error inside the caller's transaction rolls back only its own
    # savepoint: the caller's earlier work in the same transaction survives.
    ids = create_run()
    with conn.transaction():
        expect_ok(store.commit(*ids, "a", 1, {"a": True}))
        expect_error(store.commit(*ids, "b", 1, {"b": True}), "conflict", "version_mismatch")
        expect_ok(store.commit(*ids, "c", 2, {"c": True}))
    assert expect_ok(store.load(*ids))["computed"] == {"a": True, "c": True}


README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "README.md")


def snippets(lang):
    """Every ```lang block of README's snippet sections, each with the ```text block after it."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    sections = re.findall(r"<!-- snippets:begin -->(.*?)<!-- snippets:end -->", text, re.S)
    assert sections, "README.md has sections between <!-- snippets:begin/end --> markers"
    blocks = [m.groups() for section in sections for m in
              re.finditer(r"```" + lang + r"\n(.*?)```\s*```text\n(.*?)```", section, re.S)]
    assert blocks, f"README.md's snippet sections have a {lang} block followed by its text output"
    return blocks


def normalize(text):
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def fresh_database(name, extension=True):
    """A new database, so outbox ids start at 1 as the snippets show."""
    conn.execute(f"DROP DATABASE IF EXISTS {name}")
    conn.execute(f"CREATE DATABASE {name}")
    if extension:
        with psycopg.connect(dbname=name, autocommit=True) as c:
            c.execute("CREATE EXTENSION verist")
    return dict(os.environ, PGDATABASE=name)


@case
def snippets_psql():
    for i, (code, expected) in enumerate(snippets("sql")):
        # The snippet creates the extension itself; psql's output as a terminal shows it.
        out = subprocess.run(["psql", "-X", "-q", "-f", "-"], input=code, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=fresh_database("verist_snippet_psql_%d" % i, extension=False))
        assert out.returncode == 0, out.stdout
        # psql prefixes messages from a script with "psql:<file>:<line>: ".
        got = re.sub(r"^psql:[^:]*:\d+: ", "", out.stdout, flags=re.M)
        assert normalize(got) == normalize(expected), "sql snippet %d printed:\n%s" % (i + 1, got)


@case
def snippets_python():
    for i, (code, expected) in enumerate(snippets("python")):
        env = fresh_database("verist_snippet_py_%d" % i)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        assert normalize(out.stdout) == normalize(expected), out.stdout
        if "verist_lease_outbox" in code:   # its dispatcher sent the one command
            with psycopg.connect(dbname=env["PGDATABASE"]) as c:
                assert c.execute("SELECT status FROM verist_outbox").fetchall() == [("dispatched",)]


def main():
    global conn, store
    conn = psycopg.connect(autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS verist")
    store = VeristStore(conn)
    passed = failed = 0
    for n, fn in enumerate(CASES, 1):
        name = fn.__name__.replace("_", " ")
        try:
            fn()
        except Exception:   # report every failure, keep going
            failed += 1
            print(f"not ok {n} - {name}")
            print("".join(f"#   {line}\n" for line in traceback.format_exc().splitlines()), end="")
        else:
            passed += 1
            print(f"ok {n} - {name}")
    conn.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
