// The outbox: leaseOutbox, markDispatched, markFailed (the adapter's
// PgRunStore), and verist's extras markDispatchedBatch, markRetry, requeue,
// purgeOutbox, and 0.5.0's lease modes (leaseOutbox's { mode }),
// setWorkflowLimit and readCounters.  Each lease test first takes every
// leasable row out of the way (test files run one at a time), so it sees only
// its own rows.  The suite's cluster preloads verist (shared_preload_libraries),
// so the counters are live.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { createPgRunStore } from '@verist/storage-pg-verist';
import {
  assertDate, clearLeasable, ensureExtension, expectErr, expectOk, newPool, newWorkflow, rows,
} from './helpers.mjs';

let pool;
let store;

before(async () => {
  pool = newPool();
  await ensureExtension(pool);
  store = createPgRunStore({ db: drizzle(pool) });
});
after(() => pool.end());
beforeEach(() => clearLeasable(pool));

const ENTRY_KEYS = ['id', 'workflowId', 'runId', 'stepId', 'command', 'dedupeKey', 'status', 'lastError', 'createdAt'];
const RECORD_KEYS = [...ENTRY_KEYS, 'leaseOwner', 'leaseExpiresAt', 'failures', 'dispatchedAt'];

/** A run whose first step emitted n pending emit commands; their ids in order. */
async function pending(n, stepId = 'produce') {
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  const commands = Array.from({ length: n }, (_, i) => ({ type: 'emit', topic: `t${i}`, payload: { i } }));
  expectOk(await store.commit({ ...ids, stepId, expectedVersion: 0, output: {}, events: [], commands }));
  const out = await rows(pool, 'verist_outbox', ids);
  return { ids, outboxIds: out.map((r) => String(r.id)), commands };
}

const owner = () => `dispatcher-${Math.random().toString(36).slice(2)}`;

async function outboxRow(id) {
  const r = await pool.query('SELECT * FROM verist_outbox WHERE id = $1', [id]);
  return r.rows[0];
}

// ---------------------------------------------------------------- leaseOutbox

test('leaseOutbox: leases pending rows oldest first, as OutboxEntry (9 keys, string id, Date, status leased)', async () => {
  const a = await pending(2);
  const b = await pending(1);
  const o = owner();
  const leased = expectOk(await store.leaseOutbox(o, 10));
  assert.deepEqual(leased.map((e) => e.id), [...a.outboxIds, ...b.outboxIds]);
  const e = leased[0];
  assert.deepEqual(Object.keys(e), ENTRY_KEYS);
  assert.equal(typeof e.id, 'string');
  assert.equal(e.workflowId, a.ids.workflowId);
  assert.equal(e.runId, 'r');
  assert.equal(e.stepId, 'produce');
  assert.deepEqual(e.command, a.commands[0]);
  assert.match(e.dedupeKey, /^[0-9a-f]{64}$/);
  assert.equal(e.status, 'leased');
  assert.equal(e.lastError, null);
  assertDate(e.createdAt, 'createdAt');
  const row = await outboxRow(e.id);
  assert.equal(row.status, 'leased');
  assert.equal(row.lease_owner, o);
});

test('leaseOutbox: limit caps the batch; limit 0 leases nothing (as the adapter\'s LIMIT 0)', async () => {
  const p = await pending(5);
  assert.deepEqual(expectOk(await store.leaseOutbox(owner(), 0)), []);
  assert.equal((await outboxRow(p.outboxIds[0])).status, 'pending');
  const first = expectOk(await store.leaseOutbox(owner(), 2));
  assert.deepEqual(first.map((e) => e.id), p.outboxIds.slice(0, 2));
  const rest = expectOk(await store.leaseOutbox(owner(), 100));
  assert.deepEqual(rest.map((e) => e.id), p.outboxIds.slice(2));
});

test('leaseOutbox: the lease lasts leaseDurationMs, 30000 by default; other owners skip leased rows until it expires', async () => {
  const p = await pending(2);
  // the server's clock at the call + the duration (the same machine's clock as ours)
  const within = (expires, t0, t1, ms) =>
    assert.ok(expires >= t0 + ms - 10 && expires <= t1 + ms + 10,
      `lease ends ${expires - t0} ms after the call began, ${expires - t1} after it returned (want ${ms})`);
  let t0 = Date.now();
  const [def] = expectOk(await store.leaseOutbox(owner(), 1));
  within((await outboxRow(def.id)).lease_expires_at.getTime(), t0, Date.now(), 30_000);
  const o = owner();
  t0 = Date.now();
  const [short] = expectOk(await store.leaseOutbox(o, 1, 600));
  const t1 = Date.now();
  assert.equal(short.id, p.outboxIds[1]);
  const until = (await outboxRow(short.id)).lease_expires_at.getTime();
  within(until, t0, t1, 600);
  if (Date.now() < until - 50) {
    assert.deepEqual(expectOk(await store.leaseOutbox(owner(), 10)), [], 'leased rows are skipped');
  }
  await sleep(Math.max(0, until - Date.now()) + 30);
  const retaken = expectOk(await store.leaseOutbox('another', 10));
  assert.deepEqual(retaken.map((e) => e.id), [short.id]);
  // the first owner lost it: finalising is lease_mismatch now
  expectErr(await store.markDispatched(short.id, o), 'conflict', 'lease_mismatch');
  expectOk(await store.markDispatched(short.id, 'another'));
});

test('leaseOutbox: a lease of 0 ms (or less) leases the rows, already expired — as the adapter\'s now + 0', async () => {
  const p = await pending(1);
  const o = owner();
  const leased = expectOk(await store.leaseOutbox(o, 10, 0));
  assert.deepEqual(leased.map((e) => e.id), p.outboxIds);
  await sleep(5);
  const again = expectOk(await store.leaseOutbox('other', 10, -50));
  assert.deepEqual(again.map((e) => e.id), p.outboxIds);
  assert.equal((await outboxRow(p.outboxIds[0])).lease_owner, 'other');
});

test('leaseOutbox: deferred, dispatched, rejected and failed rows are never leased', async () => {
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  expectOk(await store.commit({ ...ids, stepId: 's', expectedVersion: 0, output: {},
    commands: [{ type: 'review', reason: 'hold' }, { type: 'invoke', step: 'x', input: 1 }] }));
  const done = await pending(3);
  const o = owner();
  const leased = expectOk(await store.leaseOutbox(o, 10));
  assert.deepEqual(leased.map((e) => e.id), done.outboxIds);
  expectOk(await store.markDispatched(done.outboxIds[0], o));
  expectOk(await store.markFailed(done.outboxIds[1], o, 'boom'));
  await pool.query("UPDATE verist_outbox SET status = 'rejected', lease_owner = NULL WHERE id = $1", [done.outboxIds[2]]);
  await pool.query("UPDATE verist_outbox SET lease_expires_at = now() - interval '1 hour' WHERE id = ANY($1::bigint[])", [done.outboxIds]);
  assert.deepEqual(expectOk(await store.leaseOutbox(owner(), 10)), []);
  assert.deepEqual((await rows(pool, 'verist_outbox', ids)).map((r) => r.status), ['deferred']);
});

test('leaseOutbox: concurrent dispatchers get disjoint sets (SKIP LOCKED), together every row once', async () => {
  const p = await pending(40);
  const results = await Promise.all([1, 2, 3, 4].map((n) => store.leaseOutbox(`d${n}`, 15)));
  const all = results.flatMap((r) => expectOk(r).map((e) => e.id));
  assert.equal(new Set(all).size, all.length, 'no row leased twice');
  assert.deepEqual([...all].sort(), [...p.outboxIds].sort());
});

test('leaseOutbox: no limit leases every pending row (the adapter\'s LIMIT NULL)', async () => {
  const p = await pending(3);
  const leased = expectOk(await store.leaseOutbox(owner()));
  assert.deepEqual(leased.map((e) => e.id), p.outboxIds);
});

test('leaseOutbox: a negative limit or a non-finite duration is serialization_error (nothing leased)', async () => {
  const p = await pending(1);
  expectErr(await store.leaseOutbox(owner(), -1), 'serialization_error');
  expectErr(await store.leaseOutbox(owner(), 1, Number.NaN), 'serialization_error');
  expectErr(await store.leaseOutbox(owner(), 1, Infinity), 'serialization_error');
  assert.equal((await outboxRow(p.outboxIds[0])).status, 'pending');
});

test('leaseOutbox: a lease longer than verist\'s bound (100 years) is capped, not refused', async () => {
  const p = await pending(1);
  const [e] = expectOk(await store.leaseOutbox(owner(), 1, 1e15));
  assert.equal(e.id, p.outboxIds[0]);
  const years = ((await outboxRow(e.id)).lease_expires_at.getTime() - Date.now()) / (365.25 * 86_400_000);
  assert.ok(years > 95 && years < 100.5, `${years} years`);
});

// ---------------------------------------------------------------- markDispatched / markFailed

test('markDispatched: the lease owner finalises — ok(undefined), dispatched, lease and last error cleared, dispatched_at set', async () => {
  const p = await pending(1);
  const o = owner();
  expectOk(await store.leaseOutbox(o, 1));
  await pool.query("UPDATE verist_outbox SET last_error = 'stale' WHERE id = $1", [p.outboxIds[0]]);
  const r = await store.markDispatched(p.outboxIds[0], o);
  assert.deepEqual(r, { ok: true, value: undefined });
  const row = await outboxRow(p.outboxIds[0]);
  assert.equal(row.status, 'dispatched');
  assert.equal(row.lease_owner, null);
  assert.equal(row.lease_expires_at, null);
  assert.equal(row.last_error, null);
  assertDate(row.dispatched_at, 'dispatched_at');
  // once dispatched, finalising again is a lease_mismatch
  expectErr(await store.markDispatched(p.outboxIds[0], o), 'conflict', 'lease_mismatch');
});

test('markDispatched: anyone but the lease owner gets conflict/lease_mismatch and the row is untouched', async () => {
  const p = await pending(2);
  const o = owner();
  expectOk(await store.leaseOutbox(o, 1));
  expectErr(await store.markDispatched(p.outboxIds[0], 'intruder'), 'conflict', 'lease_mismatch');
  expectErr(await store.markDispatched(p.outboxIds[0], ''), 'conflict', 'lease_mismatch');
  expectErr(await store.markDispatched(p.outboxIds[1], o), 'conflict', 'lease_mismatch'); // not leased
  expectErr(await store.markDispatched('999999999999', o), 'conflict', 'lease_mismatch'); // no such row
  const row = await outboxRow(p.outboxIds[0]);
  assert.equal(row.status, 'leased');
  assert.equal(row.lease_owner, o);
});

test('markDispatched / markFailed: a non-numeric outbox id is serialization_error "Invalid outbox ID" (no throw, no query)', async () => {
  for (const bad of ['abc', '', '-1', '1.5', '12a', ' 1']) {
    const e = expectErr(await store.markDispatched(bad, 'o'), 'serialization_error');
    assert.equal(e.message, `Invalid outbox ID: ${bad}`);
    expectErr(await store.markFailed(bad, 'o', 'x'), 'serialization_error');
  }
});

test('markDispatched: the owner of an expired lease may still finalise while nobody re-leased the row (as the adapter)', async () => {
  const p = await pending(1);
  const o = owner();
  expectOk(await store.leaseOutbox(o, 1, 20));
  await sleep(60);
  expectOk(await store.markDispatched(p.outboxIds[0], o));
  assert.equal((await outboxRow(p.outboxIds[0])).status, 'dispatched');
});

test('markFailed: the owner marks failed — failures + 1, last_error kept, lease cleared, never leased again', async () => {
  const p = await pending(1);
  const o = owner();
  expectOk(await store.leaseOutbox(o, 1));
  expectErr(await store.markFailed(p.outboxIds[0], 'intruder', 'no'), 'conflict', 'lease_mismatch');
  const r = await store.markFailed(p.outboxIds[0], o, 'downstream 503');
  assert.deepEqual(r, { ok: true, value: undefined });
  const row = await outboxRow(p.outboxIds[0]);
  assert.equal(row.status, 'failed');
  assert.equal(row.failures, 1);
  assert.equal(row.last_error, 'downstream 503');
  assert.equal(row.lease_owner, null);
  assert.equal(row.lease_expires_at, null);
  assert.deepEqual(expectOk(await store.leaseOutbox(owner(), 10)), []);
});

test('markFailed: an error that is not a string is stored as text ("" for none) instead of refused', async () => {
  const p = await pending(3);
  const o = owner();
  expectOk(await store.leaseOutbox(o, 3));
  expectOk(await store.markFailed(p.outboxIds[0], o, undefined));
  expectOk(await store.markFailed(p.outboxIds[1], o, null));
  expectOk(await store.markFailed(p.outboxIds[2], o, new Error('kaput')));
  assert.equal((await outboxRow(p.outboxIds[0])).last_error, '');
  assert.equal((await outboxRow(p.outboxIds[1])).last_error, '');
  assert.equal((await outboxRow(p.outboxIds[2])).last_error, 'kaput');
});

// ---------------------------------------------------------------- extras

test('markDispatchedBatch (extra): finalises the listed rows the owner leases, returns their ids, skips the rest', async () => {
  const p = await pending(4);
  const o = owner();
  const leased = expectOk(await store.leaseOutbox(o, 3)).map((e) => e.id);
  const done = expectOk(await store.markDispatchedBatch([...leased, p.outboxIds[3], '999999999999'], o));
  assert.deepEqual([...done].sort(), [...leased].sort());
  assert.ok(done.every((id) => typeof id === 'string'));
  for (const id of leased) assert.equal((await outboxRow(id)).status, 'dispatched');
  assert.equal((await outboxRow(p.outboxIds[3])).status, 'pending');
  assert.deepEqual(expectOk(await store.markDispatchedBatch([], o)), []);
  assert.deepEqual(expectOk(await store.markDispatchedBatch(leased, o)), []);
  expectErr(await store.markDispatchedBatch(['x'], o), 'serialization_error');
});

test('markRetry (extra): pending again after a backoff, failed (dead letter) at maxAttempts; returns the whole row', async () => {
  const p = await pending(1);
  const id = p.outboxIds[0];
  const o = owner();
  expectOk(await store.leaseOutbox(o, 1));
  expectErr(await store.markRetry(id, 'intruder', 'e', { maxAttempts: 2 }), 'conflict', 'lease_mismatch');
  const t0 = Date.now();
  const first = expectOk(await store.markRetry(id, o, 'timeout', { maxAttempts: 2, baseDelayMs: 600 }));
  const t1 = Date.now();
  assert.deepEqual(Object.keys(first), RECORD_KEYS);
  assert.equal(first.id, id);
  assert.equal(first.status, 'pending');
  assert.equal(first.failures, 1);
  assert.equal(first.lastError, 'timeout');
  assert.equal(first.leaseOwner, null);
  assertDate(first.leaseExpiresAt, 'leaseExpiresAt');
  // not leasable before the server's clock at the call + 600 ms (same machine's clock)
  const until = first.leaseExpiresAt.getTime();
  assert.ok(until >= t0 + 590 && until <= t1 + 610, `backoff ends ${until - t0} ms after the call began, ${until - t1} after it returned`);
  if (Date.now() < until - 50) {
    assert.deepEqual(expectOk(await store.leaseOutbox(o, 1)), [], 'not leasable during the backoff');
  }
  await sleep(Math.max(0, until - Date.now()) + 30);
  const [again] = expectOk(await store.leaseOutbox(o, 1));
  assert.equal(again.id, id);
  const dead = expectOk(await store.markRetry(id, o, 'timeout again', { maxAttempts: 2, baseDelayMs: 600 }));
  assert.equal(dead.status, 'failed');
  assert.equal(dead.failures, 2);
  assert.equal(dead.dispatchedAt, null);
  expectErr(await store.markRetry(id, o, 'x', { maxAttempts: 0 }), 'serialization_error');
});

test('requeue (extra): a dead letter back to pending with failures reset; not_failed / not_found otherwise', async () => {
  const p = await pending(2);
  const o = owner();
  expectOk(await store.leaseOutbox(o, 2));
  expectOk(await store.markFailed(p.outboxIds[0], o, 'gave up'));
  const r = expectOk(await store.requeue(p.outboxIds[0]));
  assert.deepEqual(Object.keys(r), RECORD_KEYS);
  assert.equal(r.status, 'pending');
  assert.equal(r.failures, 0);
  assert.equal(r.lastError, 'gave up');
  expectErr(await store.requeue(p.outboxIds[1]), 'conflict', 'not_failed');
  expectErr(await store.requeue('999999999999'), 'not_found');
  expectErr(await store.requeue('nope'), 'serialization_error');
  const leased = expectOk(await store.leaseOutbox(o, 10));
  assert.deepEqual(leased.map((e) => e.id), [p.outboxIds[0]]);
});

test('purgeOutbox (extra): deletes finished (dispatched) rows older than the age, leaves live ones', async () => {
  const p = await pending(2);
  const o = owner();
  expectOk(await store.leaseOutbox(o, 1));
  expectOk(await store.markDispatched(p.outboxIds[0], o));
  await pool.query("UPDATE verist_outbox SET dispatched_at = now() - interval '2 days' WHERE id = $1", [p.outboxIds[0]]);
  assert.equal(expectOk(await store.purgeOutbox(7 * 86_400_000)), 0);
  const n = expectOk(await store.purgeOutbox(86_400_000, 100_000));
  assert.ok(n >= 1, `deleted ${n}`);
  assert.equal(await outboxRow(p.outboxIds[0]), undefined);
  assert.equal((await outboxRow(p.outboxIds[1])).status, 'pending');
  expectErr(await store.purgeOutbox(-1), 'serialization_error');
});

// ---------------------------------------------------------------- 0.5.0: lease modes, caps, counters

/** A run of workflowId whose first step emitted n pending commands; their ids in order. */
async function runWith(workflowId, runId, n) {
  const ids = { workflowId, runId };
  const commands = Array.from({ length: n }, (_, i) => ({ type: 'emit', topic: `${runId}.${i}`, payload: { i } }));
  expectOk(await store.commit({ ...ids, stepId: 'produce', expectedVersion: 0, output: {}, commands }));
  return (await rows(pool, 'verist_outbox', ids)).map((r) => String(r.id));
}

const sorted = (ids) => [...ids].sort((a, b) => Number(a) - Number(b));

test('leaseOutbox { mode: "per_run" } (extra): one command per run in flight, each run\'s in commit order; other runs not held up', async () => {
  const w = newWorkflow();
  const a = await runWith(w, 'a', 3);
  const b = await runWith(w, 'b', 2);
  const o = owner();
  // one per run, each run's first
  let leased = expectOk(await store.leaseOutbox(o, 10, 30_000, { mode: 'per_run' }));
  assert.deepEqual(Object.keys(leased[0]), ENTRY_KEYS);
  assert.deepEqual(sorted(leased.map((e) => e.id)), [a[0], b[0]]);
  // nothing more while both runs have one in flight (another dispatcher either)
  assert.deepEqual(expectOk(await store.leaseOutbox(owner(), 10, 30_000, { mode: 'per_run' })), []);
  // a's first done: a's second, and only it
  expectOk(await store.markDispatched(a[0], o));
  leased = expectOk(await store.leaseOutbox(o, 10, 30_000, { mode: 'per_run' }));
  assert.deepEqual(leased.map((e) => e.id), [a[1]]);
  // a retry keeps the run's turn: a[1] waits for its backoff, a[2] is not leased meanwhile
  expectOk(await store.markRetry(a[1], o, 'timeout', { maxAttempts: 5, baseDelayMs: 60_000 }));
  expectOk(await store.markDispatched(b[0], o));
  leased = expectOk(await store.leaseOutbox(o, 10, 30_000, { mode: 'per_run' }));
  assert.deepEqual(leased.map((e) => e.id), [b[1]]);
  await pool.query("UPDATE verist_outbox SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [a[1]]);
  leased = expectOk(await store.leaseOutbox(o, 10, 30_000, { mode: 'per_run' }));
  assert.deepEqual(leased.map((e) => e.id), [a[1]], 'the retried command goes first, then a[2]');
  expectOk(await store.markDispatched(a[1], o));
  leased = expectOk(await store.leaseOutbox(o, 10, 30_000, { mode: 'per_run' }));
  assert.deepEqual(leased.map((e) => e.id), [a[2]]);
});

test('leaseOutbox { mode } (extra): "oldest" and no mode lease as the adapter (every leasable row, oldest first)', async () => {
  const w = newWorkflow();
  const a = await runWith(w, 'a', 2);
  const b = await runWith(w, 'b', 2);
  assert.deepEqual(expectOk(await store.leaseOutbox(owner(), 3, 30_000, { mode: 'oldest' })).map((e) => e.id), [...a, b[0]]);
  assert.deepEqual(expectOk(await store.leaseOutbox(owner(), 10, undefined, {})).map((e) => e.id), [b[1]]);
});

test('leaseOutbox { mode } (extra): an unknown or null mode is serialization_error (VRS01), options not an object too; nothing leased', async () => {
  const p = await pending(2);
  const e = expectErr(await store.leaseOutbox(owner(), 10, 30_000, { mode: 'round_robin' }), 'serialization_error');
  assert.match(e.message, /lease_mode/);
  expectErr(await store.leaseOutbox(owner(), 10, 30_000, { mode: null }), 'serialization_error');
  expectErr(await store.leaseOutbox(owner(), 10, 30_000, 'per_run'), 'serialization_error');
  for (const id of p.outboxIds) assert.equal((await outboxRow(id)).status, 'pending');
});

test('setWorkflowLimit (extra): caps a workflow\'s leased rows under "fair" leasing; 0 pauses it; null removes the cap', async () => {
  const big = newWorkflow('big');
  const small = newWorkflow('small');
  const bigIds = await runWith(big, 'r', 5);
  const smallIds = await runWith(small, 'r', 2);
  try {
    const set = expectOk(await store.setWorkflowLimit(big, 2));
    assert.deepEqual(Object.keys(set), ['workflowId', 'maxInFlight', 'updatedAt']);
    assert.equal(set.workflowId, big);
    assert.equal(set.maxInFlight, 2);
    assertDate(set.updatedAt, 'updatedAt');
    const { rows: [row] } = await pool.query('SELECT max_in_flight FROM verist_workflow_limits WHERE workflow_id = $1', [big]);
    assert.equal(row.max_in_flight, 2);
    // fair: big at most 2 (its oldest), small all of its own
    const o = owner();
    let leased = expectOk(await store.leaseOutbox(o, 10, 30_000, { mode: 'fair' }));
    assert.deepEqual(sorted(leased.map((e) => e.id)), sorted([...bigIds.slice(0, 2), ...smallIds]));
    // the cap counts every dispatcher's leases: another one gets nothing of big
    assert.deepEqual(expectOk(await store.leaseOutbox(owner(), 10, 30_000, { mode: 'fair' })), []);
    expectOk(await store.markDispatched(bigIds[0], o));
    leased = expectOk(await store.leaseOutbox(owner(), 10, 30_000, { mode: 'fair' }));
    assert.deepEqual(leased.map((e) => e.id), [bigIds[2]], 'one slot free: one more row');
    // raise it (upsert: same row, new cap, later updatedAt) ...
    const raised = expectOk(await store.setWorkflowLimit(big, 3));
    assert.equal(raised.maxInFlight, 3);
    assert.ok(raised.updatedAt >= set.updatedAt);
    assert.equal((await pool.query('SELECT count(*)::int AS n FROM verist_workflow_limits WHERE workflow_id = $1', [big])).rows[0].n, 1);
    // ... pause it: 0 leases nothing, though rows wait and slots are free
    expectOk(await store.markDispatched(bigIds[1], o));
    expectOk(await store.setWorkflowLimit(big, 0));
    assert.deepEqual(expectOk(await store.leaseOutbox(owner(), 10, 30_000, { mode: 'fair' })), []);
    // null: the row is gone, big is uncapped
    assert.equal(expectOk(await store.setWorkflowLimit(big, null)), null);
    assert.equal((await pool.query('SELECT 1 FROM verist_workflow_limits WHERE workflow_id = $1', [big])).rowCount, 0);
    leased = expectOk(await store.leaseOutbox(owner(), 10, 30_000, { mode: 'fair' }));
    assert.deepEqual(leased.map((e) => e.id), bigIds.slice(3));
    assert.equal(expectOk(await store.setWorkflowLimit(big, null)), null, 'removing no cap is ok');
  } finally {
    await pool.query('DELETE FROM verist_workflow_limits WHERE workflow_id = ANY($1)', [[big, small]]);
  }
});

test('setWorkflowLimit (extra): a bad workflow id or cap is serialization_error, nothing written', async () => {
  const w = newWorkflow();
  for (const [id, n] of [['', 1], ['x'.repeat(513), 1], ['é'.repeat(257), 1], [42, 1], [w, -1], [w, 1.5], [w, Number.NaN], [w, 2 ** 31], [w, undefined], [w, '3'], ['', null]]) {
    expectErr(await store.setWorkflowLimit(id, n), 'serialization_error');
  }
  assert.equal((await pool.query('SELECT 1 FROM verist_workflow_limits WHERE workflow_id = $1', [w])).rowCount, 0);
  expectOk(await store.setWorkflowLimit('x'.repeat(512), 1));
  expectOk(await store.setWorkflowLimit('x'.repeat(512), null));
});

test('leaseOutbox { mode: "fair" } (extra): refused under REPEATABLE READ while a cap exists (25000, not verist\'s own: connection_error)', async () => {
  const w = newWorkflow();
  await runWith(w, 'r', 1);
  const client = new pg.Client();
  await client.connect();
  try {
    expectOk(await store.setWorkflowLimit(w, 5));
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const s = createPgRunStore({ db: client });
    const e = expectErr(await s.leaseOutbox(owner(), 10, 30_000, { mode: 'fair' }), 'connection_error');
    assert.match(e.message, /isolation|READ COMMITTED|snapshot/i);
    // the savepoint kept the caller's transaction usable; per_run runs at any level
    assert.equal(expectOk(await s.leaseOutbox(owner(), 10, 30_000, { mode: 'per_run' })).length, 1);
    await client.query('ROLLBACK');
  } finally {
    await client.end();
    expectOk(await store.setWorkflowLimit(w, null));
  }
});

/** This database's counters as a map "counter" or "counter/reason" -> value. */
async function counters() {
  const list = expectOk(await store.readCounters());
  return Object.fromEntries(list.map((c) => [c.reason ? `${c.counter}/${c.reason}` : c.counter, c.value]));
}

test('readCounters (extra): the verist_counters rows, shaped; a create, a commit, a conflict and a lease move exactly their counters', async () => {
  const { rows: [{ shared_preload_libraries: spl }] } = await pool.query('SHOW shared_preload_libraries');
  assert.match(spl, /verist/, 'the suite\'s cluster preloads verist');
  const list = expectOk(await store.readCounters());
  assert.ok(list.length >= 17, `${list.length} rows`);
  for (const c of list) {
    assert.deepEqual(Object.keys(c), ['counter', 'reason', 'value', 'since']);
    assert.equal(typeof c.counter, 'string');
    assert.ok(c.reason === null || typeof c.reason === 'string');
    assert.equal(typeof c.value, 'number');
    assertDate(c.since, 'since');
  }
  assert.deepEqual(list.filter((c) => c.counter === 'conflicts').map((c) => c.reason).sort(),
    ['active_block', 'command_exists', 'lease_mismatch', 'not_failed', 'run_active', 'run_exists', 'version_mismatch']);
  assert.equal(list.find((c) => c.counter === 'commits').reason, null);

  const before = await counters();
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  expectOk(await store.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: {}, commands: [{ type: 'emit', topic: 't', payload: 1 }] }));
  expectOk(await store.commit({ ...ids, stepId: 'b', expectedVersion: 1, output: {} }));
  expectErr(await store.commit({ ...ids, stepId: 'c', expectedVersion: 1, output: {} }), 'conflict', 'version_mismatch');
  const leased = expectOk(await store.leaseOutbox(owner(), 10));
  assert.equal(leased.length, 1);
  const after = await counters();
  const moved = Object.fromEntries(Object.keys(after).filter((k) => after[k] !== before[k]).map((k) => [k, after[k] - before[k]]));
  assert.deepEqual(moved, { creates: 1, commits: 1, 'conflicts/version_mismatch': 1, leases: 1, rows_leased: 1 });
});

test('readCounters (extra): without verist preloaded the view raises 55000 — connection_error (not verist\'s own SQLSTATE), with the server\'s hint', async () => {
  // A client that answers the counters query as an unpreloaded server does
  // (the same SQLSTATE, message and hint, raised by this server), and passes
  // everything else through.
  const fake = {
    query: (text, values) => (text.includes('verist_counters')
      ? pool.query(`DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = 'verist''s counters are not available',
          HINT = 'Add verist to shared_preload_libraries and restart the server.'; END $$`)
      : pool.query(text, values)),
  };
  const s = createPgRunStore(fake);
  const e = expectErr(await s.readCounters(), 'connection_error');
  assert.match(e.message, /counters are not available/);
  assert.match(e.message, /shared_preload_libraries/);
  expectOk(await s.setWorkflowLimit(newWorkflow(), null));
});
