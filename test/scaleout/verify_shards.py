#!/usr/bin/env python3
"""Re-verify every shard's hash chains outside the database, against anchors.

    verify_shards.py --router DSN --anchors anchors.csv [--expect-loss] SHARD_DSN...

For each shard (DSNs in shard order): export its events and chain heads as
README "Audit chain" shows, take the anchors (workflow_id, run_id, seq, hash:
verist_run_digest results, or the chain heads acknowledged commits returned)
of the runs the router places on that shard, and run test/audit/verify_chain.py
on them.  verify_chain.py checks anchors of the runs it finds; an anchored run
that is not in the export at all (its creating commit lost) is reported here.

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


def export(conn, sql, path):
    with open(path, "wb") as f, conn.cursor() as cur:
        with cur.copy(sql) as copy:
            for data in copy:
                f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--router", required=True)
    ap.add_argument("--anchors", required=True)
    ap.add_argument("--expect-loss", action="store_true")
    ap.add_argument("shards", nargs="+")
    args = ap.parse_args()
    router = psycopg.connect(args.router, autocommit=True)
    anchors = list(csv.DictReader(open(args.anchors, newline="")))
    by_shard = {}
    for a in anchors:
        k = router.execute("SELECT verist_proxy_shard_of_run(%s, %s)", (a["workflow_id"], a["run_id"])).fetchone()[0]
        by_shard.setdefault(k, []).append(a)
    failed = 0
    detected = 0
    for k, dsn in enumerate(args.shards, 1):
        mine = by_shard.get(k, [])
        with tempfile.TemporaryDirectory() as tmp, psycopg.connect(dsn, autocommit=True) as conn:
            ev, hd, an = (os.path.join(tmp, n) for n in ("events.csv", "heads.csv", "anchors.csv"))
            export(conn, EVENTS, ev)
            export(conn, HEADS, hd)
            with open(an, "w", newline="") as f:
                w = csv.DictWriter(f, ["workflow_id", "run_id", "seq", "hash"])
                w.writeheader()
                w.writerows(mine)
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
                detected += 1
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
    if args.expect_loss:
        ok = detected > 0 and not failed
        print(("ok - " if ok else "not ok - ")
              + "the anchors show the history the failover lost (%d of %d shards)" % (detected, len(args.shards)))
        return 0 if ok else 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
