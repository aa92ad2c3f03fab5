"""verist on a hot standby: what reads, what refuses, with which SQLSTATE.

    python3 matrix.py PRIMARY_DSN STANDBY_DSN

The primary writes runs (events, a review block, outbox rows); once the
standby has replayed them:

  * read functions answer on the standby exactly as on the primary
    (verist_load, verist_effective_state, verist_get_block,
    verist_verify_run, verist_verify_all, verist_run_digest, the pure
    functions, and 0.4.0's record: state_at, step_input, state_as_of,
    run_history, export_run);
  * every function that writes fails with 25006 (read_only_sql_transaction,
    PostgreSQL's own) and changes nothing;
  * verist_read_events refuses with VRR01 (0.3.1): writers' floor locks are
    not WAL-logged, so a standby cannot hold back behind a commit still in
    progress on the primary, and would skip its events for ever.  Shown with
    a commit held open on the primary while the standby is asked.

Prints "ok - " / "not ok - " lines.
"""
import sys
import time

import psycopg

failures = []


def check(ok, what):
    print(("ok - " if ok else "not ok - ") + what, flush=True)
    if not ok:
        failures.append(what)


READS = [
    ("verist_load", "SELECT * FROM verist_load('sb', 'r1')"),
    ("verist_effective_state", "SELECT verist_effective_state('sb', 'r1')"),
    ("verist_get_block", "SELECT * FROM verist_get_block('sb', 'r2')"),
    ("verist_verify_run", "SELECT * FROM verist_verify_run('sb', 'r1')"),
    ("verist_verify_all", "SELECT * FROM verist_verify_all()"),
    ("verist_run_digest", "SELECT * FROM verist_run_digest('sb', 'r1')"),
    ("verist_canonical_json", "SELECT verist_canonical_json('{\"b\": 1, \"a\": [2e0]}')"),
    ("verist_dedupe_key", "SELECT verist_dedupe_key('sb', 'r1', 's', '{\"type\": \"emit\", \"topic\": \"t\"}')"),
    ("verist_chain_genesis", "SELECT verist_chain_genesis('sb', 'r1')"),
    ("verist_outbox_stats", "SELECT pending, deferred, leased, dispatched, oldest_pending_at"
                            " FROM verist_outbox_stats"),
    ("verist_run_summary", "SELECT * FROM verist_run_summary ORDER BY 1, 2"),
    ("verist_active_blocks", "SELECT id, workflow_id, run_id FROM verist_active_blocks"),
    # 0.4.0: the record reads on a standby too
    ("verist_state_at", "SELECT * FROM verist_state_at('sb', 'r1', 2)"),
    ("verist_step_input", "SELECT * FROM verist_step_input('sb', 'r1', 2)"),
    ("verist_state_as_of", "SELECT version, computed, overlay FROM verist_state_as_of('sb', 'r1', 'infinity')"),
    ("verist_run_history", "SELECT seq, kind, version, hash FROM verist_run_history('sb', 'r1')"),
    ("verist_export_run", "SELECT verist_export_run('sb', 'r1')"),
    ("verist_ledger_genesis", "SELECT verist_ledger_genesis('sb', 'r1')"),
]

WRITES = [
    ("verist_commit (create)", "SELECT verist_commit('sb', 'new', 's', 0, '{}')"),
    ("verist_commit (update)", "SELECT verist_commit('sb', 'r1', 's', 2, '{}', '[{\"type\": \"e\"}]')"),
    ("verist_set_overlay", "SELECT verist_set_overlay('sb', 'r1', '{\"x\": 1}')"),
    ("verist_resolve_block", "SELECT verist_resolve_block('sb', 'r2', '{\"approved\": true}')"),
    ("verist_lease_outbox", "SELECT verist_lease_outbox('sb-d', 10)"),
    ("verist_mark_dispatched", "SELECT verist_mark_dispatched(1, 'sb-d')"),
    ("verist_mark_failed", "SELECT verist_mark_failed(1, 'sb-d', 'e')"),
    ("verist_mark_retry", "SELECT verist_mark_retry(1, 'sb-d', 'e', 3)"),
    ("verist_mark_dispatched_batch", "SELECT verist_mark_dispatched_batch('{1}', 'sb-d')"),
    ("verist_requeue", "SELECT verist_requeue(1)"),
    ("verist_purge_outbox", "SELECT verist_purge_outbox('0 seconds')"),
    ("verist_retire_run", "SELECT verist_retire_run('sb', 'r1')"),
]


def rows(conn, sql):
    return conn.execute(sql).fetchall()


def wait_replayed(primary, standby):
    lsn = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    for _ in range(200):
        if standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
            return True
        time.sleep(0.05)
    return False


def main(primary_dsn, standby_dsn):
    primary = psycopg.connect(primary_dsn, autocommit=True)
    standby = psycopg.connect(standby_dsn, autocommit=True)
    primary.execute("SELECT verist_commit('sb', 'r1', 's1', 0, '{\"a\": 1}',"
                    " '[{\"type\": \"x\", \"payload\": {\"n\": 1}}]',"
                    " '[{\"type\": \"emit\", \"topic\": \"t\"}]')")
    primary.execute("SELECT verist_commit('sb', 'r1', 's2', 1, '{\"b\": 2}', '[{\"type\": \"y\"}]')")
    primary.execute("SELECT verist_set_overlay('sb', 'r1', '{\"a\": 5}')")
    primary.execute("SELECT verist_commit('sb', 'r2', 's1', 0, '{}', '[]',"
                    " '[{\"type\": \"invoke\", \"step\": \"n\"}, {\"type\": \"review\", \"reason\": \"look\"}]')")
    check(wait_replayed(primary, standby), "the standby replayed the primary's commits")
    check(standby.execute("SELECT pg_is_in_recovery()").fetchone()[0], "the standby is in recovery")

    for name, sql in READS:
        try:
            same = rows(standby, sql) == rows(primary, sql)
            check(same, "read on the standby equals the primary: %s" % name)
        except psycopg.Error as e:
            check(False, "read on the standby: %s (%s %s)" % (name, e.sqlstate, e.diag.message_primary))

    before = rows(standby, "SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM verist_outbox t")
    for name, sql in WRITES:
        try:
            standby.execute(sql)
            check(False, "write refused on the standby with 25006: %s (it succeeded)" % name)
        except psycopg.Error as e:
            check(e.sqlstate == "25006", "write refused on the standby with 25006: %s (%s %s)"
                  % (name, e.sqlstate, e.diag.message_primary))
    check(rows(standby, "SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM verist_outbox t")
          == before, "the refused writes changed nothing")

    # A commit in progress on the primary: its event id is taken, not yet
    # visible.  A standby reader cannot know; it must refuse, not skip.
    holder = psycopg.connect(primary_dsn)
    holder.execute("SELECT verist_commit('sb', 'held', 's', 0, '{}', '[{\"type\": \"held\"}]')")
    primary.execute("SELECT verist_commit('sb', 'later', 's', 0, '{}', '[{\"type\": \"later\"}]')")
    wait_replayed(primary, standby)
    try:
        standby.execute("SELECT * FROM verist_read_events(0, 100)")
        check(False, "verist_read_events refuses on a standby with VRR01 (it answered)")
    except psycopg.Error as e:
        check(e.sqlstate == "VRR01", "verist_read_events refuses on a standby with VRR01 (%s: %s)"
              % (e.sqlstate, e.diag.message_primary))
    # The primary holds back behind the open commit, as gap-free reading must.
    got = [r[0] for r in rows(primary, "SELECT type FROM verist_read_events(0, 100)")]
    check("later" not in got and "held" not in got,
          "the primary holds back behind the commit in progress (read %r)" % got)
    holder.commit()
    got = [r[0] for r in rows(primary, "SELECT type FROM verist_read_events(0, 100)")]
    check(got[-2:] == ["held", "later"], "after it commits the primary reads both, in id order")
    holder.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
