#!/usr/bin/env python3
"""Check verist's promises against the logs of load.py and the database.

    check.py --logdir DIR [--allow-unknown] [--drained] [--crashes N]

Prints figures as "# ..." lines, then one "ok N - ..." / "not ok N - ..."
line per property, and the totals as the last line "N passed, M failed".
Exits 1 if any property failed.

  --allow-unknown  calls with an unknown outcome are expected (crash run);
                   otherwise a single one is a failure (the server or a
                   connection died under plain load)
  --drained        load.py drain ran: nothing may be left pending or leased
"""
import argparse
import collections
import datetime
import glob
import json
import os
import re
import sys

import psycopg

WORKFLOW = "stress"
MAX_SHOWN = 5

# Which refusals are expected of which call.  Everything else -- an internal
# error, a serialization_error on input we built to be valid, a timeout, a
# deadlock -- is a finding.
EXPECTED = {
    ("commit", "fresh"): {"VRC01", "VRC02", "VRC03"},
    ("commit", "race"): {"VRC01", "VRC02", "VRC03"},
    ("commit", "create"): {"VRC01"},
    ("commit", "stale"): {"VRC02"},
    ("commit", "retry"): {"VRC02", "VRC04"},
    ("overlay", None): {"VRN01"},
    ("resolve", None): set(),
    ("lease", None): set(),
    ("dispatched", None): {"VRC05"},
    ("failed", None): {"VRC05"},
    ("batch", None): set(),
}


def canon(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def ts(s):
    return datetime.datetime.fromisoformat(s)


class Report:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, name, problems):
        """problems: list of strings; empty means the property holds."""
        self.n += 1
        if problems:
            self.failed += 1
            print("not ok %d - %s (%d violations)" % (self.n, name, len(problems)))
            for p in problems[:MAX_SHOWN]:
                print("#   %s" % p)
            if len(problems) > MAX_SHOWN:
                print("#   ... and %d more" % (len(problems) - MAX_SHOWN))
        else:
            print("ok %d - %s" % (self.n, name))


def load_calls(logdir):
    """Merge begin and end records into one dict per call."""
    calls = {}
    for path in sorted(glob.glob(os.path.join(logdir, "*.jsonl"))):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue            # a torn last line of a killed client
                key = (rec["c"], rec["n"])
                if rec["k"] == "b":
                    calls[key] = dict(rec, r="unk")
                elif key in calls:
                    calls[key].update({k: v for k, v in rec.items() if k not in ("k", "t")})
    return list(calls.values())


def fetch(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--allow-unknown", action="store_true")
    ap.add_argument("--drained", action="store_true")
    ap.add_argument("--crashes", type=int, default=0)
    args = ap.parse_args()

    calls = load_calls(args.logdir)
    conn = psycopg.connect(autocommit=True)
    rep = Report()

    # ------------------------------------------------------------ the data
    state = {r[0]: dict(version=r[1], computed=r[2], overlay=r[3]) for r in fetch(
        conn, "SELECT run_id, version, computed, overlay FROM verist_state"
              " WHERE workflow_id = %s", (WORKFLOW,))}
    events = fetch(conn, "SELECT id, run_id, step_id, type, payload, llm_trace, created_at"
                         " FROM verist_events WHERE workflow_id = %s ORDER BY id", (WORKFLOW,))
    outbox = {r[0]: dict(id=r[0], run=r[1], step=r[2], command=r[3], status=r[4],
                         owner=r[5], expires=r[6], failures=r[7], error=r[8],
                         created=r[9], dispatched=r[10]) for r in fetch(
        conn, "SELECT id, run_id, step_id, command, status, lease_owner, lease_expires_at,"
              " failures, last_error, created_at, dispatched_at FROM verist_outbox"
              " WHERE workflow_id = %s ORDER BY id", (WORKFLOW,))}
    blocks = {r[0]: dict(id=r[0], run=r[1], step=r[2], type=r[3], reason=r[4], payload=r[5],
                         resume_step=r[6], resolution=r[7], created=r[8], resolved=r[9])
              for r in fetch(conn, "SELECT id, run_id, step_id, type, reason, payload,"
                                   " resume_step, resolution, created_at, resolved_at"
                                   " FROM verist_blocks WHERE workflow_id = %s ORDER BY id",
                             (WORKFLOW,))}

    events_by_step = collections.defaultdict(list)
    for e in events:
        events_by_step[(e[1], e[2])].append(e)
    outbox_by_step = collections.defaultdict(list)
    for o in outbox.values():
        outbox_by_step[(o["run"], o["step"])].append(o)
    blocks_by_step = collections.defaultdict(list)
    for b in blocks.values():
        blocks_by_step[(b["run"], b["step"])].append(b)

    commits = [c for c in calls if c["op"] == "commit"]
    # The commit that owns each step id: the first, non-retry one.
    origin = {}
    for c in commits:
        if c["mode"] != "retry":
            origin[(c["run"], c["step"])] = c
    present = set()
    for run, st in state.items():
        for k in st["computed"]:
            if k.startswith("s-"):
                present.add((run, k))

    # ------------------------------------------------------------ figures
    meta = {}
    for name in ("meta-run.json", "meta-run-end.json"):
        p = os.path.join(args.logdir, name)
        if os.path.exists(p):
            meta.update(json.load(open(p)))
    by_op = collections.Counter()
    states = collections.Counter()
    for c in calls:
        op = c["op"] + ("/" + c["mode"] if c["op"] == "commit" else "")
        by_op[(op, c["r"])] += 1
        if c["r"] == "err":
            states[c.get("s")] += 1
    if "start" in meta and "end" in meta:
        print("# load: %d clients on %d runs for %.1f s (seed %s)" % (
            meta["clients"], meta["runs"], meta["end"] - meta["start"], meta["seed"]))
    print("# calls: %d (%d acknowledged, %d refused, %d unknown)" % (
        len(calls), sum(v for (o, r), v in by_op.items() if r == "ok"),
        sum(v for (o, r), v in by_op.items() if r == "err"),
        sum(v for (o, r), v in by_op.items() if r == "unk")))
    for op in sorted({o for o, _ in by_op}):
        print("#   %-16s ok %6d  refused %6d  unknown %4d" % (
            op, by_op[(op, "ok")], by_op[(op, "err")], by_op[(op, "unk")]))
    print("# refusals by SQLSTATE: " + ", ".join(
        "%s %d" % (s, n) for s, n in sorted(states.items(), key=lambda x: str(x[0]))))
    ostat = collections.Counter(o["status"] for o in outbox.values())
    print("# database: %d runs, versions total %d, %d events, %d blocks (%d active),"
          " outbox %s" % (
              len(state), sum(s["version"] for s in state.values()), len(events), len(blocks),
              sum(1 for b in blocks.values() if b["resolved"] is None),
              ", ".join("%s %d" % kv for kv in sorted(ostat.items()))))
    if args.crashes:
        print("# crash cycles survived: %d" % args.crashes)

    # ------------------------------------------------------------ schema
    idx = fetch(conn, "SELECT indexdef FROM pg_indexes WHERE indexname = 'verist_blocks_active_idx'")
    rep.check("the partial unique index verist_blocks_active_idx exists",
              [] if idx and re.search(r"CREATE UNIQUE INDEX verist_blocks_active_idx ON \S+ "
                                      r"USING btree \(workflow_id, run_id\) "
                                      r"WHERE \(resolved_at IS NULL\)", idx[0][0])
              else ["index definition: %r" % (idx[0][0] if idx else None)])

    # ------------------------------------------------------------ outcomes
    problems = []
    for c in calls:
        if c["r"] != "err":
            continue
        allowed = EXPECTED.get((c["op"], c.get("mode")), set())
        if c.get("s") not in allowed:
            problems.append("%s/%s %s: %s %s" % (c["op"], c.get("mode"), c["c"],
                                                 c.get("s"), c.get("msg")))
    rep.check("no call failed with an unexpected error", problems)

    problems = []
    for c in calls:
        if c["r"] != "ok":
            continue
        if c["op"] == "commit" and c["mode"] in ("stale", "retry"):
            problems.append("%s commit of %s at stale/replayed version %d was accepted" % (
                c["mode"], c["step"], c["expected"]))
        if c["op"] in ("dispatched", "failed") and c["owner"].startswith("intruder-"):
            problems.append("%s accepted for row %d from %s, which never leased it" % (
                c["op"], c["id"], c["owner"]))
        if c["op"] == "commit" and c["version"] != c["expected"] + 1:
            problems.append("commit %s expected %d returned version %d" % (
                c["step"], c["expected"], c["version"]))
    rep.check("stale commits, replayed commits and intruders' marks are refused;"
              " a commit returns expected_version + 1", problems)

    unknown = [c for c in calls if c["r"] == "unk"]
    if not args.allow_unknown:
        rep.check("no call lost its connection (no server crash under load)",
                  ["%s %s/%s: %s" % (c["c"], c["op"], c.get("mode"), c.get("msg"))
                   for c in unknown])

    # ------------------------------------------------------------ commits
    problems = []
    for run, st in state.items():
        versions = sorted(v for k, v in st["computed"].items() if k.startswith("s-"))
        if versions != list(range(1, st["version"] + 1)):
            dup = [v for v, n in collections.Counter(versions).items() if n > 1]
            problems.append("run %s at version %d holds %d commits (duplicates %s, missing %s)" % (
                run, st["version"], len(versions), dup[:5],
                sorted(set(range(1, st["version"] + 1)) - set(versions))[:5]))
    rep.check("each run's version = its number of successful commits, one per version",
              problems)

    problems = []
    n_acked = 0
    for c in commits:
        if c["r"] != "ok" or c["mode"] == "retry":
            continue
        n_acked += 1
        got = state.get(c["run"], {}).get("computed", {}).get(c["step"])
        if got != c["version"]:
            problems.append("acknowledged commit %s (version %d) lost: state has %r" % (
                c["step"], c["version"], got))
    rep.check("all %d acknowledged commits are in their runs' state" % n_acked, problems)

    problems = []
    for c in commits:
        if c["r"] != "err" or c["mode"] == "retry":
            continue
        k = (c["run"], c["step"])
        if k in present or events_by_step.get(k) or outbox_by_step.get(k) or blocks_by_step.get(k):
            problems.append("refused commit %s (%s) left a trace" % (c["step"], c.get("s")))
    rep.check("no refused commit left state, events, outbox rows or blocks", problems)

    problems = []
    n_unknown = n_unknown_in = 0
    for c in commits:
        if c["r"] != "unk" or c["mode"] == "retry":
            continue
        n_unknown += 1
        k = (c["run"], c["step"])
        has = [bool(events_by_step.get(k)), bool(outbox_by_step.get(k)), bool(blocks_by_step.get(k))]
        if k in present:
            n_unknown_in += 1
        elif any(has):
            problems.append("unknown commit %s is not in state but has events/outbox/block %s" % (
                c["step"], has))
    print("# unknown-outcome commits: %d, of which %d committed" % (n_unknown, n_unknown_in))
    rep.check("unknown-outcome commits are all or nothing", problems)

    problems = []
    for run, st in state.items():
        for k in st["computed"]:
            if k.startswith("s-") and (run, k) not in origin:
                problems.append("run %s holds step %s that no client committed" % (run, k))
    for table, keys in (("events", events_by_step), ("outbox", outbox_by_step),
                        ("blocks", blocks_by_step)):
        for (run, step) in keys:
            if step.startswith("resume:"):
                continue
            if (run, step) not in present:
                problems.append("%s rows of step %s but the run's state lacks it" % (table, step))
    rep.check("no half-commit: every step in events/outbox/blocks is a commit in its run's state",
              problems)

    # Events: count, order, content; and one timestamp per commit.
    problems = []
    stamp_problems = []
    for k in present:
        c = origin.get(k)
        if c is None:
            continue
        rows = events_by_step.get(k, [])
        want = c["events"]
        if len(rows) != len(want):
            problems.append("step %s has %d events, committed %d" % (k[1], len(rows), len(want)))
            continue
        for row, e in zip(rows, want):
            if (row[3] != e["type"] or canon(row[4]) != canon(e.get("payload"))
                    or canon(row[5]) != canon(e.get("llmTrace"))):
                problems.append("step %s event %d differs: %r vs %r" % (k[1], row[0], row[3:6], e))
                break
        stamps = {r[6] for r in rows} | {o["created"] for o in outbox_by_step.get(k, [])} \
            | {b["created"] for b in blocks_by_step.get(k, [])}
        if len(stamps) > 1:
            stamp_problems.append("step %s rows carry %d timestamps" % (k[1], len(stamps)))
    rep.check("each commit's events are all there, in order, with payload and llmTrace", problems)
    rep.check("all rows of one commit carry one timestamp", stamp_problems)

    problems = []
    for run, st in state.items():
        spans = []
        for k, v in st["computed"].items():
            rows = events_by_step.get((run, k))
            if k.startswith("s-") and rows:
                spans.append((v, rows[0][0], rows[-1][0]))
        spans.sort()
        for a, b in zip(spans, spans[1:]):
            if a[2] >= b[1]:
                problems.append("run %s: events of version %d (ids %d..%d) interleave with"
                                " version %d (ids %d..%d)" % ((run,) + a + b))
    rep.check("events of a run are ordered as its versions", problems)

    # Outbox rows and blocks of each commit.
    problems = []
    block_problems = []
    for k in present:
        c = origin.get(k)
        if c is None:
            continue
        cmds = c["commands"]
        blocking = [x for x in cmds if x["type"] in ("review", "suspend")]
        plain = [x for x in cmds if x["type"] not in ("review", "suspend")]
        if blocking and blocking[0]["type"] == "suspend":
            plain = []
        rows = outbox_by_step.get(k, [])
        if sorted(canon(x) for x in plain) != sorted(canon(o["command"]) for o in rows):
            problems.append("step %s: outbox holds %d commands, committed %d" % (
                k[1], len(rows), len(plain)))
        for o in rows:
            if not blocking and o["status"] in ("deferred", "rejected"):
                problems.append("step %s: row %d of a non-blocking commit is %s" % (
                    k[1], o["id"], o["status"]))
        bl = blocks_by_step.get(k, [])
        if not blocking:
            if bl:
                block_problems.append("step %s has a block but no blocking command" % k[1])
            continue
        b = blocking[0]
        if len(bl) != 1:
            block_problems.append("step %s: %d block rows" % (k[1], len(bl)))
            continue
        bl = bl[0]
        want = dict(type=b["type"], reason=b["reason"],
                    payload=b.get("payload" if b["type"] == "review" else "checkpoint"),
                    resume_step=(b.get("resumeStep", k[1]) if b["type"] == "suspend" else None))
        have = {f: bl[f] for f in want}
        if canon(have) != canon(want):
            block_problems.append("step %s block %r, committed %r" % (k[1], have, want))
    bad = fetch(conn, "SELECT id FROM verist_outbox WHERE workflow_id = %s AND dedupe_key"
                      " IS DISTINCT FROM verist_dedupe_key(workflow_id, run_id, step_id, command)",
                (WORKFLOW,))
    problems += ["row %d: stored dedupe_key is not the key of its command" % r[0] for r in bad]
    rep.check("each commit's commands are in the outbox, routed and keyed as committed", problems)
    rep.check("each blocking commit has exactly its one block row", block_problems)

    problems = []
    active = collections.Counter(b["run"] for b in blocks.values() if b["resolved"] is None)
    problems += ["run %s has %d active blocks" % kv for kv in active.items() if kv[1] > 1]
    rep.check("at most one active block per run", problems)

    # Resolutions.
    problems = []
    resolved_by = collections.defaultdict(list)
    for c in calls:
        if c["op"] == "resolve" and c["r"] == "ok":
            for b in c["blocks"]:
                resolved_by[b["id"]].append(b)
    for bid, got in resolved_by.items():
        if len(got) > 1:
            problems.append("block %d resolved by %d acknowledged calls" % (bid, len(got)))
        b = blocks.get(bid)
        if b is None or b["resolved"] is None or canon(b["resolution"]) != canon(got[0]["resolution"]):
            problems.append("block %d: acknowledged resolution %r, database %r" % (
                bid, got[0]["resolution"], b and b["resolution"]))
    resumes = collections.defaultdict(list)
    for o in outbox.values():
        if o["step"].startswith("resume:"):
            resumes[int(o["step"][7:])].append(o)
    for bid, b in blocks.items():
        rows = outbox_by_step.get((b["run"], b["step"]), [])
        res = b["resolution"]
        if b["type"] == "review":
            if b["resolved"] is None:
                if any(o["status"] != "deferred" for o in rows):
                    problems.append("block %d unresolved but its rows are %s" % (
                        bid, sorted({o["status"] for o in rows})))
            elif set(res) != {"approved"}:
                problems.append("review block %d resolution %r" % (bid, res))
            elif res["approved"]:
                if any(o["status"] in ("deferred", "rejected") for o in rows):
                    problems.append("block %d approved but rows still deferred/rejected" % bid)
            elif any(o["status"] != "rejected" for o in rows):
                problems.append("block %d rejected but rows are %s" % (
                    bid, sorted({o["status"] for o in rows})))
            if bid in resumes:
                problems.append("review block %d has a resume command" % bid)
        else:
            if b["resolved"] is None:
                if bid in resumes:
                    problems.append("unresolved suspend block %d has a resume command" % bid)
                continue
            if set(res or {}) != {"resumeData"}:
                problems.append("suspend block %d resolution %r" % (bid, res))
                continue
            want = {"type": "invoke", "step": b["resume_step"] or b["step"],
                    "input": {"checkpoint": b["payload"], "resumeData": res["resumeData"]}}
            got = resumes.get(bid, [])
            if len(got) != 1 or canon(got[0]["command"]) != canon(want) or got[0]["run"] != b["run"]:
                problems.append("suspend block %d: resume rows %r, want one %r" % (
                    bid, [o["command"] for o in got], want))
    for bid in resumes:
        if bid not in blocks or blocks[bid]["type"] != "suspend":
            problems.append("resume row for block %d, which is no suspend block" % bid)
    for o in outbox.values():
        if o["status"] == "deferred":
            bl = [b for b in blocks_by_step.get((o["run"], o["step"]), [])
                  if b["type"] == "review" and b["resolved"] is None]
            if not bl:
                problems.append("row %d deferred without an active review of its step" % o["id"])
    rep.check("each resolution acted once and moved exactly its step's commands", problems)

    # Overlay: last acknowledged write wins, per client key.
    problems = []
    writes = collections.defaultdict(lambda: dict(ok=0, unk=set()))
    for c in calls:
        if c["op"] == "overlay" and c["r"] in ("ok", "unk"):
            w = writes[(c["run"], c["key"])]
            if c["r"] == "ok":
                w["ok"] = max(w["ok"], c["value"])
            else:
                w["unk"].add(c["value"])
    for (run, key), w in writes.items():
        got = state.get(run, {}).get("overlay", {}).get(key)
        later_unknown = {v for v in w["unk"] if v > w["ok"]}
        if got != (w["ok"] or None) and got not in later_unknown:
            problems.append("run %s overlay %s = %r, last acknowledged %r" % (run, key, got, w["ok"]))
    for run, st in state.items():
        for key in st["overlay"]:
            if (run, key) not in writes:
                problems.append("run %s overlay key %s was never written" % (run, key))
    rep.check("overlay: the last acknowledged write of each key wins", problems)

    # ------------------------------------------------------------ outbox
    leases = collections.defaultdict(list)      # row id -> [(start, expiry, owner)]
    for c in calls:
        if c["op"] == "lease" and c["r"] == "ok":
            d = datetime.timedelta(milliseconds=c["ms"])
            for oid, step, exp in c["rows"]:
                e = ts(exp)
                leases[oid].append((e - d, e, c["owner"]))
    problems = []
    for oid, ls in leases.items():
        ls.sort()
        for a, b in zip(ls, ls[1:]):
            if b[0] < a[1]:
                problems.append("row %d leased to %s until %s, and to %s at %s" % (
                    oid, a[2], a[1].time(), b[2], b[0].time()))
    n_leases = sum(len(x) for x in leases.values())
    rep.check("no outbox row was leased to two owners at once (%d leases of %d rows)" % (
        n_leases, len(leases)), problems)

    problems = []
    finals = collections.defaultdict(list)      # row id -> [(kind, owner)]
    unknown_finals = set()
    for c in calls:
        if c["op"] in ("dispatched", "failed"):
            if c["r"] == "ok":
                finals[c["id"]].append((c["op"], c["owner"]))
            elif c["r"] == "unk":
                unknown_finals.add(c["id"])
        elif c["op"] == "batch":
            if c["r"] == "ok":
                extra = set(c["done"]) - set(c["ids"])
                if extra:
                    problems.append("batch by %s returned ids it was not given: %s" % (
                        c["owner"], sorted(extra)))
                for oid in c["done"]:
                    finals[oid].append(("dispatched", c["owner"]))
            elif c["r"] == "unk":
                unknown_finals.update(c["ids"])
    for oid, fs in finals.items():
        if len(fs) > 1:
            problems.append("row %d finalised %d times: %s" % (oid, len(fs), fs))
        last = leases.get(oid, [])
        if not last or last[-1][2] != fs[0][1]:
            problems.append("row %d finalised by %s; its last lease went to %s" % (
                oid, fs[0][1], last[-1][2] if last else None))
    rep.check("only the current lease owner finalised a row, at most once", problems)

    problems = []
    unknown_lease_owners = {c["owner"] for c in calls if c["op"] == "lease" and c["r"] == "unk"}
    for oid, o in outbox.items():
        fs = finals.get(oid)
        if fs:
            kind, owner = fs[0]
            if o["status"] != kind:
                problems.append("row %d acknowledged %s by %s but is %s" % (
                    oid, kind, owner, o["status"]))
            elif kind == "failed" and (o["failures"] != 1 or o["error"] != "failure by " + owner):
                problems.append("row %d failed: failures %d, last_error %r" % (
                    oid, o["failures"], o["error"]))
        elif o["status"] in ("dispatched", "failed") and oid not in unknown_finals:
            problems.append("row %d is %s but nobody was acknowledged finalising it" % (
                oid, o["status"]))
        if o["status"] in ("dispatched", "failed", "rejected", "pending", "deferred") and (
                o["owner"] is not None or o["expires"] is not None):
            problems.append("row %d is %s with lease fields set" % (oid, o["status"]))
        if o["status"] == "leased":
            last = leases.get(oid, [])
            if not (last and last[-1][2] == o["owner"]) and o["owner"] not in unknown_lease_owners:
                problems.append("row %d leased to %s, not its last acknowledged lessee" % (
                    oid, o["owner"]))
        if o["status"] in ("deferred", "rejected") and oid in leases:
            problems.append("row %d is %s yet was leased" % (oid, o["status"]))
        if (o["status"] == "dispatched") != (o["dispatched"] is not None):
            problems.append("row %d is %s with dispatched_at %s" % (oid, o["status"], o["dispatched"]))
    rep.check("every outbox row's status agrees with the acknowledged calls", problems)

    held = [c for c in calls if c["op"] == "lease" and c.get("hold") and c["r"] == "ok"]
    if held:
        problems = []
        n_rows = n_taken = 0
        for c in held:
            for oid, step, exp in c["rows"]:
                n_rows += 1
                later = [l for l in leases[oid] if l[2] != c["owner"]]
                if later:
                    n_taken += 1
                if outbox[oid]["status"] in ("pending", "leased") and args.drained:
                    problems.append("row %d held by %s at a crash is still %s" % (
                        oid, c["owner"], outbox[oid]["status"]))
        print("# leases held across crashes: %d rows, %d re-leased after expiry" % (n_rows, n_taken))
        rep.check("leases held at a crash expire and the rows are taken over", problems)

    if args.drained:
        problems = ["row %d still %s (owner %s)" % (oid, o["status"], o["owner"])
                    for oid, o in outbox.items() if o["status"] in ("pending", "leased")]
        rep.check("after the drain no work is stranded (all dispatched, failed, rejected,"
                  " or deferred under an active review)", problems)

    # ------------------------------------------------------------ storage
    problems = []
    have_amcheck = fetch(conn, "SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'")
    if have_amcheck[0][0]:
        fetch(conn, "CREATE EXTENSION IF NOT EXISTS amcheck")
        for (rel,) in fetch(conn, "SELECT c.oid::regclass::text FROM pg_class c"
                                  " JOIN pg_index i ON i.indexrelid = c.oid"
                                  " JOIN pg_class t ON t.oid = i.indrelid"
                                  " WHERE t.relname LIKE 'verist\\_%%' AND c.relam = 403"):
            try:
                fetch(conn, "SELECT bt_index_check(%s::regclass, true)", (rel,))
            except psycopg.Error as exc:
                problems.append("%s: %s" % (rel, str(exc).splitlines()[0]))
        for (rel,) in fetch(conn, "SELECT oid::regclass::text FROM pg_class"
                                  " WHERE relname LIKE 'verist\\_%%' AND relkind = 'r'"):
            for r in fetch(conn, "SELECT blkno, offnum, msg FROM verify_heapam(%s::regclass)", (rel,)):
                problems.append("%s block %s item %s: %s" % ((rel,) + tuple(r)))
        rep.check("amcheck finds tables and indexes consistent", problems)

    # ------------------------------------------------------------ audit chain (0.2.0)
    has_chain = fetch(conn, "SELECT count(*) FROM pg_proc WHERE proname = 'verist_verify_all'")[0][0]
    if has_chain:
        broken = fetch(conn, "SELECT workflow_id, run_id, first_broken_seq, reason"
                             " FROM verist_verify_all()")
        rep.check("every run's event hash chain verifies (verist_verify_all)",
                  ["%s/%s at seq %s: %s" % tuple(r) for r in broken])

    print("%d passed, %d failed" % (rep.n - rep.failed, rep.failed))
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
