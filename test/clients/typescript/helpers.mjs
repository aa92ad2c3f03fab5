// Shared by the compatibility tests: a pool on the throwaway cluster (libpq
// environment variables), fresh run ids, Result assertions, and the things a
// test reads straight from verist's tables to see what a call wrote.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';

export const newWorkflow = (tag = 'wf') => `${tag}-${randomUUID()}`;

export function newPool(options = {}) {
  const pool = new pg.Pool({ max: 6, ...options });
  pool.on('error', () => {}); // idle connections lost in the connection tests
  return pool;
}

export async function ensureExtension(pool) {
  await pool.query('CREATE EXTENSION IF NOT EXISTS verist');
}

/** The value of an ok Result (fails the test otherwise). */
export function expectOk(result) {
  assert.equal(typeof result, 'object');
  assert.equal(result.ok, true, `expected ok, got ${JSON.stringify(result.error)}`);
  assert.deepEqual(Object.keys(result).sort(), ['ok', 'value']);
  return result.value;
}

/**
 * The error of a failed Result, checked against the adapter's StorageError:
 * exactly {code, message} or {code, reason, message}, reason set for every
 * conflict and only then.
 */
export function expectErr(result, code, reason) {
  assert.equal(typeof result, 'object');
  assert.equal(result.ok, false, `expected ${code}${reason ? '/' + reason : ''}, got ok: ${JSON.stringify(result.value)}`);
  assert.deepEqual(Object.keys(result).sort(), ['error', 'ok']);
  const { error } = result;
  assert.equal(error.code, code, `code (message: ${error.message})`);
  assert.equal(error.reason, reason, `reason (message: ${error.message})`);
  assert.equal(typeof error.message, 'string');
  assert.ok(error.message.length > 0, 'message is empty');
  const keys = code === 'conflict' ? ['code', 'reason', 'message'] : ['code', 'message'];
  assert.deepEqual(Object.keys(error), keys, 'error keys (and their order)');
  return error;
}

export const assertDate = (v, what) =>
  assert.ok(v instanceof Date && !Number.isNaN(v.getTime()), `${what} is a valid Date, got ${v}`);

/** Canonical JSON as the adapter hashed it: keys sorted at every level. */
export function canonicalJson(value) {
  const sortKeys = (v) => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
    }
    return v;
  };
  return JSON.stringify(sortKeys(value));
}

/** The adapter's dedupe key: sha256 of canonical {workflowId, runId, stepId, command}. */
export const dedupeKey = (workflowId, runId, stepId, command) =>
  createHash('sha256').update(canonicalJson({ workflowId, runId, stepId, command })).digest('hex');

export async function rows(pool, table, { workflowId, runId }, order = 'id') {
  const r = await pool.query(
    `SELECT * FROM ${table} WHERE workflow_id = $1 AND run_id = $2 ORDER BY ${order}`,
    [workflowId, runId],
  );
  return r.rows;
}

/** Take every leasable row out of the way, so a lease test sees only its own rows. */
export async function clearLeasable(pool) {
  await pool.query(
    "UPDATE verist_outbox SET status = 'dispatched', lease_owner = NULL, lease_expires_at = NULL, dispatched_at = now() WHERE status IN ('pending', 'leased')",
  );
}

export const trace = {
  model: 'gpt-test',
  promptTokens: 12,
  completionTokens: 3,
  durationMs: 41.5,
  inputHash: 'sha256:in',
  outputHash: 'sha256:out',
};
