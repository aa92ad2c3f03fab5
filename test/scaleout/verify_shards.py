#!/usr/bin/env python3
"""Re-verify every shard's hash chains outside the database, against anchors.

    verify_shards.py --router DSN --anchors anchors.csv [--ledger-anchors FILE]
                     [--expect-loss] SHARD_DSN...

For each shard (DSNs in shard order): export its events and chain heads as
README "Audit chain" shows, take the anchors (workflow_id, run_id, seq, hash:
verist_run_digest results, or the chain heads acknowledged commits returned)
of the runs the router places on that shard, and run test/audit/verify_chain.py
on them.  verify_chain.py checks anchors of the runs it finds; an anchored run
that is not in the export at all (its creating commit lost) is reported here.

With verist 0.4.0 on a shard, also its whole runs: every run exported with
verist_export_run and the shard's seals (README "Retention that keeps the
proof"), checked by verify_chain.py --runs --seals -- ledgers, states, blocks
and the seal chain -- against --ledger-anchors (the ledger heads acknowledged
commits returned) of the runs the router places there.

A chain cut back at its tail still verifies on its own: only an anchor
recorded outside the database shows that history is missing.  With
--expect-loss (a control run after an asynchronous failover) the anchors
must show it.  Prints one "ok - " / "not ok - " line per shard.
"""
import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
VERIFY = os.path.join(HERE, "..", "audit", "verify_chain.py")
# verify_chain.py of verist 0.4.0 takes event-chain digests (what
# verist_run_digest returned up to 0.3.x) as --event-anchors, its --anchors
# being the ledger's; before, --anchors was the event chain's.
ANCHORS_OPTION = "--event-anchors" if "--event-anchors" in open(VERIFY).read() else "--anchors"

EVENTS = ("COPY (SELECT workflow_id, run_id, seq, step_id, type, payload, llm_trace,"
          " (extract(epoch FROM created_at) * 1000000)::bigint AS ts, hash"
          " FROM verist_events ORDER BY workflow_id, run_id, seq, id) TO STDOUT CSV HEADER")
HEADS = "COPY (SELECT workflow_id, run_id, chain_seq, chain_hash FROM verist_state) TO STDOUT CSV HEADER"
SEALS = ("COPY (SELECT seq, workflow_id, run_id, version, ledger_seq, ledger_hash, events_seq, events_hash,"
         " document_hash, role, session_role, actor, (extract(epoch FROM retired_at) * 1000000)::bigint AS retired_at,"
         " hash FROM verist_retired ORDER BY seq) TO STDOUT CSV HEADER")


def export(conn, sql, path):
    with open(path, "wb") as f, conn.cursor() as cur:
        with cur.copy(sql) as copy:
            for data in copy:
                f.write(data)


def export_runs(conn, path):
    """verist_export_run of every run, one document per line (not COPY: its
    text format would escape the documents' backslashes)."""
    n = 0
    with open(path, "w") as f, conn.transaction(), conn.cursor(name="runs") as cur:
        cur.itersize = 200
        cur.execute("SELECT verist_export_run(workflow_id, run_id)::text FROM verist_state"
                    " ORDER BY workflow_id, run_id")
        for (text,) in cur:
            f.write(text + "\n")
            n += 1
    return n


def by_shard(router, anchors):
    out = {}
    for a in anchors:
        k = router.execute("SELECT verist_proxy_shard_of_run(%s, %s)", (a["workflow_id"], a["run_id"])).fetchone()[0]
        out.setdefault(k, []).append(a)
    return out


def write_anchors(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["workflow_id", "run_id", "seq", "hash"])
        w.writeheader()
        w.writerows(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--router", required=True)
    ap.add_argument("--anchors", required=True)
    ap.add_argument("--ledger-anchors")
    ap.add_argument("--expect-loss", action="store_true")
    ap.add_argument("shards", nargs="+")
    args = ap.parse_args()
    router = psycopg.connect(args.router, autocommit=True)
    anchors = by_shard(router, list(csv.DictReader(open(args.anchors, newline=""))))
    ledger_anchors = (by_shard(router, list(csv.DictReader(open(args.ledger_anchors, newline=""))))
                      if args.ledger_anchors else {})
    failed = 0
    detected = set()
    for k, dsn in enumerate(args.shards, 1):
        mine = anchors.get(k, [])
        with tempfile.TemporaryDirectory() as tmp, psycopg.connect(dsn, autocommit=True) as conn:
            ev, hd, an = (os.path.join(tmp, n) for n in ("events.csv", "heads.csv", "anchors.csv"))
            export(conn, EVENTS, ev)
            export(conn, HEADS, hd)
            write_anchors(an, mine)
            present = {(h["workflow_id"], h["run_id"]) for h in csv.DictReader(open(hd, newline=""))}
            vanished = sorted({(a["workflow_id"], a["run_id"]) for a in mine} - present)
            out = subprocess.run([sys.executable, VERIFY, ev, hd, ANCHORS_OPTION, an],
                                 capture_output=True, text=True)
            lines = out.stdout.strip().splitlines()
            summary = lines[-1] if lines else ""
            broken = [l for l in lines if l.startswith("BROKEN")]
            if not summary.endswith(" broken") or out.returncode not in (0, 1):
                # the verifier itself failed: that is no finding about the chains
                print("not ok - shard %d: verify_chain.py did not run (exit %d): %s"
                      % (k, out.returncode, (out.stderr.strip().splitlines() or ["?"])[-1]))
                failed += 1
                continue
            lost = out.returncode != 0 or bool(vanished)
            if lost:
                detected.add(k)
            what = ("shard %d: verify_chain.py with %d anchors: %s%s"
                    % (k, len(mine), summary,
                       ", %d anchored runs missing entirely" % len(vanished) if vanished else ""))
            if args.expect_loss:
                print("# " + what)
                for line in (broken + ["run %s/%s missing" % v for v in vanished])[:3]:
                    print("#   " + line)
            else:
                ok = not lost and len(mine) > 0
                print(("ok - " if ok else "not ok - ") + what)
                for line in (broken + ["run %s/%s missing" % v for v in vanished])[:5]:
                    print("#   " + line)
                failed += not ok

            if conn.execute("SELECT to_regclass('verist_ledger') IS NOT NULL").fetchone()[0]:
                # verist 0.4.0: whole runs, ledgers and seals, against the ledger anchors
                runs, seals, lan = (os.path.join(tmp, n) for n in ("runs.jsonl", "seals.csv", "ledger-anchors.csv"))
                n = export_runs(conn, runs)
                export(conn, SEALS, seals)
                lmine = ledger_anchors.get(k, [])
                write_anchors(lan, lmine)
                out = subprocess.run([sys.executable, VERIFY, "--runs", runs, "--seals", seals, "--anchors", lan],
                                     capture_output=True, text=True)
                lines = out.stdout.strip().splitlines()
                summary = lines[-1] if lines else ""
                broken = [l for l in lines if l.startswith("BROKEN")]
                if not summary.endswith(" broken") or out.returncode not in (0, 1):
                    print("not ok - shard %d: verify_chain.py --runs did not run (exit %d): %s"
                          % (k, out.returncode, (out.stderr.strip().splitlines() or ["?"])[-1]))
                    failed += 1
                    continue
                what = ("shard %d: whole runs (%d exported: ledgers, states, blocks; the seal chain) outside the"
                        " database, %d ledger anchors: %s" % (k, n, len(lmine), summary))
                if args.expect_loss:
                    if out.returncode != 0:
                        detected.add(k)
                    print("# " + what)
                    for line in broken[:3]:
                        print("#   " + line)
                else:
                    ok = out.returncode == 0 and (len(lmine) > 0 or not args.ledger_anchors)
                    print(("ok - " if ok else "not ok - ") + what)
                    for line in broken[:5]:
                        print("#   " + line)
                    failed += not ok
    if args.expect_loss:
        ok = len(detected) > 0 and not failed
        print(("ok - " if ok else "not ok - ")
              + "the anchors show the history the failover lost (%d of %d shards)" % (len(detected), len(args.shards)))
        return 0 if ok else 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
