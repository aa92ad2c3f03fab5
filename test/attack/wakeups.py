"""What LISTEN tells a role with default privileges (0.3.1, defect 8).

LISTEN needs no privilege: any role that can connect to the database hears
every NOTIFY on verist_outbox.  0.3.0 put the workflow id in each wake-up.
Checked here, with a real listener connected as a role that was granted
nothing:

  * by default a wake-up names nothing (empty payload), one per transaction;
  * only a superuser can opt in (verist.notify_payload = workflow_id, here
    through ALTER ROLE ... SET for the runner), and then the id is visible to
    that listener too -- which is what README says;
  * verist.notify and PREPARE TRANSACTION exclude each other: a two-phase
    commit of a step that queues a wake-up is refused, and nothing is written.

    python3 wakeups.py        (libpq environment: a superuser connection)
"""
import sys
import time

import psycopg

failures = []


def check(ok, what):
    print(("ok - " if ok else "not ok - ") + what, flush=True)
    if not ok:
        failures.append(what)


COMMIT = ("SELECT verist_commit('secret-workflow', %s || '-' || pg_backend_pid(), 's', 0, '{}'::jsonb, '[]'::jsonb,"
          " '[{\"type\": \"emit\", \"topic\": \"t\"}, {\"type\": \"invoke\", \"step\": \"x\"}]'::jsonb)")


received = []


def heard(listener):
    """The payloads that reached the listener since the last call."""
    time.sleep(0.3)
    listener.execute("SELECT 1")     # a round trip delivers what is queued
    got = list(received)
    received.clear()
    return got


def main():
    with psycopg.connect(autocommit=True) as admin:
        for role in ("verist_snoop", "verist_runner_w"):
            admin.execute("DROP ROLE IF EXISTS %s" % role)
        admin.execute("CREATE EXTENSION IF NOT EXISTS verist")
        admin.execute("CREATE ROLE verist_snoop LOGIN")          # granted nothing
        admin.execute("CREATE ROLE verist_runner_w LOGIN")
        admin.execute("GRANT EXECUTE ON FUNCTION verist_commit(text, text, text, integer, jsonb,"
                      " jsonb, jsonb) TO verist_runner_w")
        admin.execute("ALTER ROLE verist_runner_w SET verist.notify = on")

    listener = psycopg.connect(user="verist_snoop", autocommit=True)
    listener.add_notify_handler(lambda n: received.append(n.payload))
    listener.execute("LISTEN verist_outbox")

    with psycopg.connect(user="verist_runner_w", autocommit=True) as runner:
        runner.execute(COMMIT, ("w-1",))
        runner.execute(COMMIT, ("w-2",))
    got = heard(listener)
    check(got == ["", ""], "by default a role granted nothing hears wake-ups that name nothing"
          " (heard %r)" % got)

    # Before verist's library is loaded in a session the setting is only a
    # placeholder that anyone may set; the library then refuses the value.
    for load_first in (False, True):
        with psycopg.connect(user="verist_runner_w", autocommit=True) as runner:
            if load_first:
                runner.execute("SELECT verist_canonical_json('{}')")
            try:
                runner.execute("SET verist.notify_payload = workflow_id")
                runner.execute(COMMIT, ("w-optin-%s" % load_first,))
            except psycopg.errors.InsufficientPrivilege:
                pass
        got = heard(listener)
        check(got in ([], [""]), "an application role cannot make wake-ups name workflows"
              " (library %sloaded first; heard %r)" % ("" if load_first else "not ", got))

    with psycopg.connect(autocommit=True) as admin:
        admin.execute("ALTER ROLE verist_runner_w SET verist.notify_payload = workflow_id")
    with psycopg.connect(user="verist_runner_w", autocommit=True) as runner:
        runner.execute(COMMIT, ("w-3",))
    got = heard(listener)
    check(got == ["secret-workflow"], "opted in by the superuser, the id reaches every listener,"
          " as README warns (heard %r)" % got)
    listener.close()

    with psycopg.connect(user="verist_runner_w") as runner:
        runner.execute(COMMIT, ("w-2pc",))
        try:
            runner.execute("PREPARE TRANSACTION 'verist_wakeup'")
            check(False, "PREPARE TRANSACTION of a commit that queued a wake-up is refused")
        except psycopg.Error as e:
            check(e.sqlstate == "0A000", "PREPARE TRANSACTION of a commit that queued a wake-up is"
                  " refused (%s: %s)" % (e.sqlstate, e.diag.message_primary))
        runner.rollback()
    with psycopg.connect(autocommit=True) as admin:
        n = admin.execute("SELECT count(*) FROM verist_state WHERE run_id LIKE 'w-2pc-%'"
                          " AND run_id NOT LIKE 'w-2pc-quiet%'").fetchone()[0]
        check(n == 0, "the refused two-phase commit wrote nothing")
        # Without wake-ups, two-phase commit works.
        with psycopg.connect(user="verist_runner_w") as runner:
            runner.execute("SET verist.notify = off")
            runner.execute(COMMIT, ("w-2pc-quiet",))
            runner.execute("PREPARE TRANSACTION 'verist_quiet'")
            runner.commit()
        admin.execute("COMMIT PREPARED 'verist_quiet'")
        n = admin.execute("SELECT count(*) FROM verist_state WHERE run_id LIKE 'w-2pc-quiet-%'"
                          " AND created_at > now() - interval '1 minute'").fetchone()[0]
        check(n == 1, "with verist.notify off, a prepared commit commits")
        admin.execute("REVOKE ALL ON FUNCTION verist_commit(text, text, text, integer, jsonb,"
                      " jsonb, jsonb) FROM verist_runner_w")
        admin.execute("DROP ROLE verist_snoop")
        admin.execute("DROP ROLE verist_runner_w")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
