"""verist_client — the Verist storage interface for Python, on psycopg 3.

Every operation is one SQL statement: the extension validates, versions,
routes and locks inside the server, so this module only passes arguments and
maps SQLSTATEs to the StorageError {code, reason} of the TypeScript adapter.

    import psycopg
    from verist_client import VeristStore
    store = VeristStore(psycopg.connect(autocommit=True))   # libpq env vars
    r = store.commit("wf", "run", "start", 0, {"a": 1})
    if not r["ok"]:
        print(r["error"]["code"], r["error"].get("reason"))

Results are {"ok": True, "value": ...} or {"ok": False, "error": {"code",
"reason" (conflicts only), "message", "sqlstate", "detail"?}}.  Rows are dicts
keyed by the table's column names (snake_case, Python's own convention), ids
are ints, timestamps timezone-aware datetimes, jsonb columns Python values.

Each call runs in `conn.transaction()`: a transaction of its own on an
autocommit connection, or a savepoint inside the caller's transaction, so a
verist error never leaves the caller's transaction aborted.
"""

import json
from datetime import timedelta

import psycopg
from psycopg.rows import dict_row

# SQLSTATE -> StorageError.  Anything else (connection loss, VRA01 from the
# append-only trigger, a 22xxx from jsonb input) is not a StorageError and is
# re-raised.
STORAGE_ERRORS = {
    "VRC01": {"code": "conflict", "reason": "run_exists"},
    "VRC02": {"code": "conflict", "reason": "version_mismatch"},
    "VRC03": {"code": "conflict", "reason": "active_block"},
    "VRC04": {"code": "conflict", "reason": "command_exists"},
    "VRC05": {"code": "conflict", "reason": "lease_mismatch"},
    "VRC06": {"code": "conflict", "reason": "not_failed"},   # 0.3.0: verist_requeue
    "VRN01": {"code": "not_found"},
    "VRS01": {"code": "serialization_error"},
}


def ok(value):
    return {"ok": True, "value": value}


def fail(error):
    return {"ok": False, "error": error}


def storage_error(exc):
    """The StorageError result for a database error, or re-raise it."""
    mapped = STORAGE_ERRORS.get(exc.sqlstate)
    if mapped is None:
        raise exc
    error = dict(mapped, message=exc.diag.message_primary, sqlstate=exc.sqlstate)
    if exc.diag.message_detail:
        error["detail"] = exc.diag.message_detail
    return fail(error)


def _json(value):
    """JSON text for a ::jsonb parameter; None stays SQL NULL (refused by verist).

    NaN and infinities are refused here: JSON has no such numbers.
    """
    return None if value is None else json.dumps(value, allow_nan=False)


class VeristStore:
    """The storage operations of a Verist run, over one psycopg connection."""

    def __init__(self, conn):
        self.conn = conn

    def _call(self, query, params, shape):
        """Run one statement; map verist errors; shape the dict rows."""
        try:
            params = params()
        except (TypeError, ValueError) as exc:
            # json.dumps refused the value: it cannot be serialized.
            return fail({"code": "serialization_error", "message": str(exc)})
        try:
            with self.conn.transaction(), self.conn.cursor(row_factory=dict_row) as cur:
                cur.execute(query, params)
                rows = cur.fetchall()
        except psycopg.Error as exc:
            if exc.sqlstate is None:   # not from the server: connection, usage
                raise
            return storage_error(exc)
        return ok(shape(rows))

    @staticmethod
    def _not_found(workflow_id, run_id):
        return fail({"code": "not_found",
                     "message": f'run "{run_id}" of workflow "{workflow_id}" does not exist'})

    def load(self, workflow_id, run_id):
        """The run's state row, or not_found."""
        r = self._call("SELECT * FROM verist_load(%s, %s)",
                       lambda: (workflow_id, run_id), _first_or_none)
        return self._not_found(workflow_id, run_id) if r["ok"] and r["value"] is None else r

    def effective_state(self, workflow_id, run_id):
        """computed || overlay of the run, or not_found."""
        r = self._call("SELECT verist_effective_state(%s, %s) AS state",
                       lambda: (workflow_id, run_id), lambda rows: rows[0]["state"])
        return self._not_found(workflow_id, run_id) if r["ok"] and r["value"] is None else r

    def commit(self, workflow_id, run_id, step_id, expected_version, output,
               events=(), commands=()):
        """One step's output, events and commands, all or nothing; the new state row.

        (json.dumps writes the default empty tuples as JSON arrays.)
        """
        return self._call(
            "SELECT * FROM verist_commit(%s, %s, %s, %s::integer, %s::jsonb, %s::jsonb, %s::jsonb)",
            lambda: (workflow_id, run_id, step_id, expected_version, _json(output),
                     _json(events), _json(commands)),
            lambda rows: rows[0])

    def set_overlay(self, workflow_id, run_id, patch):
        """Shallow-merge a human correction into the overlay; version unchanged."""
        return self._call("SELECT * FROM verist_set_overlay(%s, %s, %s::jsonb)",
                          lambda: (workflow_id, run_id, _json(patch)), lambda rows: rows[0])

    def get_block(self, workflow_id, run_id):
        """The active block of the run, or None."""
        return self._call("SELECT * FROM verist_get_block(%s, %s)",
                          lambda: (workflow_id, run_id), _first_or_none)

    def resolve_block(self, workflow_id, run_id, resolution):
        """Resolve the active block; None when there was none (a repeat is harmless)."""
        return self._call("SELECT * FROM verist_resolve_block(%s, %s, %s::jsonb)",
                          lambda: (workflow_id, run_id, _json(resolution)), _first_or_none)

    def lease_outbox(self, owner, limit, lease_duration_ms=None):
        """Claim up to `limit` outbox rows; the lease lasts lease_duration_ms,
        or the extension's default (30 s) when omitted."""
        if lease_duration_ms is None:
            return self._call("SELECT * FROM verist_lease_outbox(%s, %s::integer)",
                              lambda: (owner, limit), list)
        return self._call("SELECT * FROM verist_lease_outbox(%s, %s::integer, %s::interval)",
                          lambda: (owner, limit, timedelta(milliseconds=lease_duration_ms)),
                          list)

    def mark_dispatched(self, outbox_id, owner):
        """Finalise one leased row as dispatched; lease_mismatch unless owner holds it."""
        return self._call("SELECT verist_mark_dispatched(%s::bigint, %s)",
                          lambda: (outbox_id, owner), lambda rows: None)

    def mark_failed(self, outbox_id, owner, error):
        """Finalise one leased row as failed with the error text."""
        return self._call("SELECT verist_mark_failed(%s::bigint, %s, %s)",
                          lambda: (outbox_id, owner, error), lambda rows: None)

    def mark_dispatched_batch(self, outbox_ids, owner):
        """Finalise every listed row the owner still leases; the ids it finalised."""
        return self._call(
            "SELECT id FROM verist_mark_dispatched_batch(%s::bigint[], %s) AS id",
            lambda: (None if outbox_ids is None else list(outbox_ids), owner),
            lambda rows: [row["id"] for row in rows])


def _first_or_none(rows):
    return rows[0] if rows else None
