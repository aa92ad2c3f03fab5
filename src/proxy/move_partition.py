#!/usr/bin/env python3
"""Move virtual partitions of a sharded verist to another shard, online.

    move_partition.py --router DSN [--add-shard CONNSTR] (--moves N | --part P ...) [--to K]

With --add-shard, the connection string becomes a new shard (router:
verist_proxy_add_shard: the next number, its id range prepared) and the
partitions move to it; otherwise --to names the target.  --moves N takes N
partitions from the shards that hold the most; --part names them.  Needs
psycopg 3, and superuser rights on the shards (deleting moved events from
the source needs session_replication_role = replica: the event log refuses
deletes otherwise).  Through PgBouncer in transaction mode, as the router's
connection strings normally go: each move is one transaction per shard, and
no statement is prepared.  The connection strings are the router's
(verist_proxy_shards); PGUSER and friends fill in the rest.

Each partition moves in five steps (README "Scaling out and failover"):
  1. router: the partition is marked moving -- calls for its runs get VRP01
     ("retry"), nothing else changes;
  2. source: one transaction locks verist's per-run tables against writers
     (SHARE ROW EXCLUSIVE: commits of the shard's other runs wait a few
     milliseconds; readers and leases of other rows go on), waits out any
     commit in flight, refuses (and retries later) while a row of the
     partition is leased with a live lease, and reads the partition's runs,
     events, outbox rows, blocks and (verist 0.4.0) ledger entries;
  3. target: one transaction takes the events table in EXCLUSIVE mode (so no
     event id above the copied ones commits first: gap-free readers on the
     target skip nothing), inserts the state rows and ledger entries as they
     are, the events (chain, seq, created_at and hash kept) and outbox rows
     with new ids from the target's range, the blocks with their ids (the
     ledger records them, and they are unique across shards: each was taken
     from its shard's range), and commits; generated columns (verist 0.6.0's
     verist_outbox.queued) are not copied: the target computes them;
  4. source: deletes what was copied, commits;
  5. router: the partition is assigned to the target, then admitted again.
Until step 5 the source is the partition's truth: a move interrupted after
step 3 leaves a copy on the target that the router does not use, and the
next move of the partition deletes it before copying again.  Events get new
ids on the target, so the target's tailers deliver the moved history again:
consumers key events by (workflow_id, run_id, seq), as the kernel's per-run
order needs.

Retired runs (verist 0.4.0) have no rows left but their seal in
verist_retired, and seals stay where they are: they form one chain per
database, which a removed seal would break.  A retired run of a moved
partition is then answered by the source shard only (connected directly):
through the router, its verist_verify_run and verist_run_digest say
not_found (README "Scaling out and failover").  JSON values are copied as
text, so numbers keep every digit.
"""
import argparse
import sys
import time

import psycopg

# verist's per-run tables (verist_ledger from 0.4.0 on; see tables_of)
TABLES = ("verist_state", "verist_blocks", "verist_outbox", "verist_events", "verist_ledger")
# Tables whose ids the copy keeps: the ledger's entries name their blocks.
KEEP_IDS = ("verist_blocks",)
# The documented hash (verist_proxy_hash), on the shard, which has no router
# functions: the runs of partition %(p)s of %(n)s.
IN_PART = ("((get_byte(h, 0)::bigint << 24 | get_byte(h, 1)::bigint << 16 | get_byte(h, 2)::bigint << 8"
           " | get_byte(h, 3)::bigint) %% %(n)s) = %(p)s")
RUNS = ("SELECT workflow_id, run_id FROM (SELECT workflow_id, run_id,"
        " sha256(convert_to(workflow_id, 'UTF8') || '\\x00'::bytea || convert_to(run_id, 'UTF8')) AS h"
        " FROM verist_state) s WHERE " + IN_PART)


def columns(conn, table):
    """The columns a copy writes, in order: generated columns (verist 0.6.0's
    verist_outbox.queued) are left out -- the target computes them, and
    naming one in an INSERT fails (428C9)."""
    return conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
        " ORDER BY attnum", (table,)).fetchall()


def run_filter(runs):
    return ([w for w, _ in runs], [r for _, r in runs])


def tables_of(conn):
    """verist's per-run tables on this shard, and its verist version."""
    have = {t for (t,) in conn.execute(
        "SELECT c.relname FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'verist'"
        " JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass WHERE d.deptype = 'e'")}
    version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'verist'").fetchone()
    return tuple(t for t in TABLES if t in have), version[0] if version else None


def rows_of(conn, table, cols, runs):
    # jsonb as its text: a number keeps every digit (psycopg would make it a float)
    names = ["t.%s::text" % c if typ == "jsonb" else "t." + c for c, typ in cols]
    order = {"verist_ledger": "t.workflow_id, t.run_id, t.seq", "verist_state": "t.workflow_id, t.run_id"}
    return conn.execute(
        "SELECT %s FROM %s t JOIN unnest(%%s::text[], %%s::text[]) AS r(w, i)"
        " ON t.workflow_id = r.w AND t.run_id = r.i ORDER BY %s"
        % (", ".join(names), table, order.get(table, "t.id")),
        run_filter(runs)).fetchall()


def delete_runs(conn, runs, tables):
    for t in tables:
        conn.execute("DELETE FROM %s t USING unnest(%%s::text[], %%s::text[]) AS r(w, i)"
                     " WHERE t.workflow_id = r.w AND t.run_id = r.i" % t, run_filter(runs))


class Busy(Exception):
    pass


def move_one(router, part, nparts, src_cs, dst_cs, dst_shard, log):
    """Copy partition part's runs from src to dst and assign it to dst; 0 if empty."""
    router.execute("SELECT verist_proxy_set_moving(%s, true)", (part,))
    try:
        with psycopg.connect(src_cs, prepare_threshold=None) as src, \
                psycopg.connect(dst_cs, prepare_threshold=None) as dst:
            tables, version = tables_of(src)
            dst_tables, dst_version = tables_of(dst)
            if (tables, version) != (dst_tables, dst_version):
                raise SystemExit("move_partition.py: the source has verist %s, the target %s: upgrade both first"
                                 % (version, dst_version))
            src.execute("SET LOCAL session_replication_role = replica")
            src.execute("LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE" % ", ".join(tables))
            runs = src.execute(RUNS % {"n": nparts, "p": part}).fetchall()
            data = {}
            cols = {t: columns(src, t) for t in tables}
            if runs:
                live = src.execute(
                    "SELECT count(*) FROM verist_outbox t JOIN unnest(%s::text[], %s::text[]) AS r(w, i)"
                    " ON t.workflow_id = r.w AND t.run_id = r.i"
                    " WHERE t.status = 'leased' AND t.lease_expires_at > clock_timestamp()",
                    run_filter(runs)).fetchone()[0]
                if live:
                    raise Busy("%d rows of partition %d are leased" % (live, part))
                data = {t: rows_of(src, t, cols[t], runs) for t in tables}
                # The target: no event id above the copied ones may commit
                # before them; a copy left by an interrupted move goes first
                # (the source is the partition's truth until it is assigned).
                dst.execute("SET LOCAL session_replication_role = replica")
                dst.execute("LOCK TABLE verist_events IN EXCLUSIVE MODE")
                delete_runs(dst, runs, tables)
                for t in tables:
                    keep = [(c, typ) for c, typ in cols[t] if c != "id" or t in KEEP_IDS]
                    idx = [[c for c, _ in cols[t]].index(c) for c, _ in keep]
                    if not data[t]:
                        continue
                    values = [[row[i] for i in idx] for row in data[t]]
                    with dst.cursor() as cur:
                        cur.executemany("INSERT INTO %s (%s) VALUES (%s)"
                                        % (t, ", ".join(c for c, _ in keep),
                                           ", ".join("%%s::%s" % typ for _, typ in keep)), values)
                dst.commit()
                delete_runs(src, runs, tables)
            src.commit()
        router.execute("SELECT verist_proxy_assign(%s, %s)", (part, dst_shard))
        if runs:
            log("partition %d: %d runs, %d events, %d outbox rows, %d blocks, %d ledger entries"
                % (part, len(runs), len(data["verist_events"]), len(data["verist_outbox"]),
                   len(data["verist_blocks"]), len(data.get("verist_ledger", ()))))
        return len(runs)
    finally:
        router.execute("SELECT verist_proxy_set_moving(%s, false)", (part,))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--router", required=True)
    ap.add_argument("--add-shard")
    ap.add_argument("--to", type=int)
    ap.add_argument("--moves", type=int, default=0)
    ap.add_argument("--part", type=int, action="append", default=[])
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    log = (lambda s: None) if args.quiet else (lambda s: print(s, flush=True))
    router = psycopg.connect(args.router, autocommit=True)
    if args.add_shard:
        args.to = router.execute("SELECT verist_proxy_add_shard(%s)", (args.add_shard,)).fetchone()[0]
        log("shard %d added" % args.to)
    if not args.to:
        ap.error("--to or --add-shard")
    nparts = router.execute("SELECT partitions FROM verist_proxy_config").fetchone()[0]
    shards = dict(router.execute("SELECT shard, connstr FROM verist_proxy_shards").fetchall())
    owner = dict(router.execute("SELECT part, shard FROM verist_proxy_partitions").fetchall())
    parts = list(args.part)
    if args.moves:
        held = {}
        for p, k in sorted(owner.items()):
            if k != args.to:
                held.setdefault(k, []).append(p)
        while len(parts) < args.moves and any(held.values()):
            k = max(held, key=lambda s: len(held[s]))
            parts.append(held[k].pop(0))
    moved_runs = 0
    for p in parts:
        src = owner[p]
        if src == args.to:
            continue
        for attempt in range(50):
            try:
                moved_runs += move_one(router, p, nparts, shards[src], shards[args.to], args.to, log)
                break
            except Busy as e:
                log("partition %d busy (%s), retrying" % (p, e))
                time.sleep(0.2)
        else:
            print("move_partition.py: partition %d stayed busy" % p, file=sys.stderr)
            return 1
    print("moved %d partitions (%d runs) to shard %d" % (len(parts), moved_runs, args.to))
    return 0


if __name__ == "__main__":
    sys.exit(main())
