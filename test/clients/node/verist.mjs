// verist.mjs — the Verist storage interface for Node.js, on top of the verist
// SQL API with node-postgres (pg).
//
// Every operation is one SQL statement: the extension does the validation,
// versioning, routing and locking inside the server, so this file only
// passes arguments, maps SQLSTATEs to StorageError {code, reason} and renames
// columns the way the TypeScript adapter (@verist/storage-pg) returns them.
//
//   import pg from 'pg';
//   import { createVeristStore } from './verist.mjs';
//   const store = createVeristStore(new pg.Pool());   // libpq env vars
//   const r = await store.commit({ workflowId, runId, stepId, expectedVersion: 0, output: {} });
//   if (!r.ok) console.log(r.error.code, r.error.reason);
//
// `db` may be a pg.Pool or a pg.Client.  With a Pool each call is its own
// transaction.  With a Client inside the caller's BEGIN, a verist error
// aborts the caller's transaction, as any SQL error does.

// SQLSTATE -> StorageError. Anything else (connection loss, VRA01 from the
// append-only trigger, a 22xxx from jsonb input) is not a StorageError and is
// rethrown.
export const STORAGE_ERRORS = Object.freeze({
  VRC01: { code: 'conflict', reason: 'run_exists' },
  VRC02: { code: 'conflict', reason: 'version_mismatch' },
  VRC03: { code: 'conflict', reason: 'active_block' },
  VRC04: { code: 'conflict', reason: 'command_exists' },
  VRC05: { code: 'conflict', reason: 'lease_mismatch' },
  VRC06: { code: 'conflict', reason: 'not_failed' },   // 0.3.0: verist_requeue
  VRN01: { code: 'not_found' },
  VRS01: { code: 'serialization_error' },
});

const ok = (value) => ({ ok: true, value });
const fail = (error) => ({ ok: false, error });

// Turn a database error into a StorageError result, or rethrow it.
export function toStorageError(err) {
  const mapped = err && STORAGE_ERRORS[err.code];
  if (!mapped) throw err;
  const error = { ...mapped, message: err.message, sqlstate: err.code };
  if (err.detail) error.detail = err.detail;
  return fail(error);
}

// JSON text for a ::jsonb parameter.  undefined becomes SQL NULL, which
// verist refuses as a missing argument; a value JSON cannot hold (BigInt, a
// cycle) is a serialization_error before anything reaches the server.
function jsonParam(value) {
  return value === undefined ? null : JSON.stringify(value);
}

// The database row with camelCase keys, as the TypeScript adapter returns
// it.  bigint ids are strings (JavaScript numbers lose precision past 2^53);
// pg already gives int8 as text, String() keeps that true if an application
// installed another int8 parser.
function camelRow(row) {
  const out = {};
  for (const [key, value] of Object.entries(row)) {
    out[key.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = value;
  }
  if (out.id != null) out.id = String(out.id);
  return out;
}

const firstOrNull = (rows) => (rows.length ? camelRow(rows[0]) : null);

// Build the store over a pg.Pool or pg.Client.
export function createVeristStore(db) {
  // Run one statement; map verist errors; shape the rows with `shape`.
  async function call(text, values, shape) {
    let params;
    try {
      params = values();
    } catch (err) {
      // JSON.stringify threw: the value cannot be serialized.
      return fail({ code: 'serialization_error', message: err.message });
    }
    let result;
    try {
      result = await db.query(text, params);
    } catch (err) {
      return toStorageError(err);
    }
    return ok(shape(result.rows));
  }

  const notFound = (workflowId, runId) =>
    fail({
      code: 'not_found',
      message: `run "${runId}" of workflow "${workflowId}" does not exist`,
    });

  return {
    // The run's state row, or not_found.
    async load(workflowId, runId) {
      const r = await call(
        'SELECT * FROM verist_load($1, $2)',
        () => [workflowId, runId],
        firstOrNull,
      );
      return r.ok && r.value === null ? notFound(workflowId, runId) : r;
    },

    // computed || overlay of the run, or not_found.
    async getEffectiveState(workflowId, runId) {
      const r = await call(
        'SELECT verist_effective_state($1, $2) AS state',
        () => [workflowId, runId],
        (rows) => rows[0].state,
      );
      return r.ok && r.value === null ? notFound(workflowId, runId) : r;
    },

    // One step's output, events and commands, all or nothing; the new state row.
    async commit({ workflowId, runId, stepId, expectedVersion, output, events = [], commands = [] }) {
      return call(
        'SELECT * FROM verist_commit($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb)',
        () => [workflowId, runId, stepId, expectedVersion,
          jsonParam(output), jsonParam(events), jsonParam(commands)],
        (rows) => camelRow(rows[0]),
      );
    },

    // Shallow-merge a human correction into the overlay; version unchanged.
    async setOverlay(workflowId, runId, patch) {
      return call(
        'SELECT * FROM verist_set_overlay($1, $2, $3::jsonb)',
        () => [workflowId, runId, jsonParam(patch)],
        (rows) => camelRow(rows[0]),
      );
    },

    // The active block of the run, or null.
    async getBlock(workflowId, runId) {
      return call(
        'SELECT * FROM verist_get_block($1, $2)',
        () => [workflowId, runId],
        firstOrNull,
      );
    },

    // Resolve the active block ({approved} for review, {resumeData} for
    // suspend); null when there was none (a repeat is harmless).
    async resolveBlock(workflowId, runId, resolution) {
      return call(
        'SELECT * FROM verist_resolve_block($1, $2, $3::jsonb)',
        () => [workflowId, runId, jsonParam(resolution)],
        firstOrNull,
      );
    },

    // Claim up to `limit` outbox rows for `owner`; the lease lasts
    // leaseDurationMs, or the extension's default (30 s) when omitted.
    async leaseOutbox(owner, limit, leaseDurationMs) {
      const shape = (rows) => rows.map(camelRow);
      if (leaseDurationMs === undefined) {
        return call('SELECT * FROM verist_lease_outbox($1, $2)', () => [owner, limit], shape);
      }
      return call(
        'SELECT * FROM verist_lease_outbox($1, $2, make_interval(secs => $3::float8 / 1000))',
        () => [owner, limit, leaseDurationMs],
        shape,
      );
    },

    // Finalise one leased row as dispatched; lease_mismatch unless owner holds it.
    async markDispatched(id, owner) {
      return call('SELECT verist_mark_dispatched($1::bigint, $2)', () => [id, owner], () => undefined);
    },

    // Finalise one leased row as failed with the error text.
    async markFailed(id, owner, error) {
      return call(
        'SELECT verist_mark_failed($1::bigint, $2, $3)',
        () => [id, owner, error],
        () => undefined,
      );
    },

    // Finalise every listed row the owner still leases; the ids it finalised.
    async markDispatchedBatch(ids, owner) {
      return call(
        'SELECT id FROM verist_mark_dispatched_batch($1::bigint[], $2) AS id',
        () => [ids, owner],
        (rows) => rows.map((row) => String(row.id)),
      );
    },
  };
}
