// verist's audit reads, additional methods of the package: readEvents,
// verifyRun, verifyAll, runDigest — on the packed package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createPgRunStore } from '@verist/storage-pg-verist';
import { assertDate, ensureExtension, expectErr, expectOk, newPool, newWorkflow, rows, trace } from './helpers.mjs';

let pool;
let store;

before(async () => {
  pool = newPool();
  await ensureExtension(pool);
  store = createPgRunStore(pool);
});
after(() => pool.end());

const EVENT_KEYS = ['id', 'workflowId', 'runId', 'stepId', 'type', 'payload', 'llmTrace', 'createdAt', 'seq', 'hash'];

async function runWithEvents(n) {
  const ids = { workflowId: newWorkflow('audit'), runId: 'r' };
  expectOk(await store.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: {},
    events: Array.from({ length: n }, (_, i) => ({ type: `e${i}`, payload: { i }, ...(i === 0 ? { llmTrace: trace } : {}) })) }));
  return ids;
}

test('readEvents (extra): events after an id, in id order, as StoredEvent (string id, Date, seq, hash)', async () => {
  const { rows: [{ max }] } = await pool.query('SELECT coalesce(max(id), 0)::text AS max FROM verist_events');
  const ids = await runWithEvents(3);
  const got = expectOk(await store.readEvents(max, 100)).filter((e) => e.workflowId === ids.workflowId);
  assert.equal(got.length, 3);
  assert.deepEqual(Object.keys(got[0]), EVENT_KEYS);
  assert.deepEqual(got.map((e) => e.type), ['e0', 'e1', 'e2']);
  assert.deepEqual(got.map((e) => e.seq), [1, 2, 3]);
  assert.ok(got.every((e) => typeof e.id === 'string' && /^[0-9a-f]{64}$/.test(e.hash)));
  assert.deepEqual(got[0].llmTrace, trace);
  assert.equal(got[1].llmTrace, null);
  assert.deepEqual(got[2].payload, { i: 2 });
  assertDate(got[0].createdAt, 'createdAt');
  // paging with the last id: the rest, then nothing
  const page1 = expectOk(await store.readEvents(max, 1));
  assert.equal(page1.length, 1);
  const rest = expectOk(await store.readEvents(page1[0].id, 100)).filter((e) => e.workflowId === ids.workflowId);
  assert.deepEqual(rest.map((e) => e.type), ['e1', 'e2']);
  assert.deepEqual(expectOk(await store.readEvents(got[2].id, 100)).filter((e) => e.workflowId === ids.workflowId), []);
  expectErr(await store.readEvents('x', 1), 'serialization_error');
  expectErr(await store.readEvents('0', 0), 'serialization_error');
});

test('verifyRun (extra): a chain that holds is valid with every event checked; not_found for a missing run', async () => {
  const ids = await runWithEvents(4);
  expectOk(await store.commit({ ...ids, stepId: 'b', expectedVersion: 1, output: {}, events: [{ type: 'more' }] }));
  assert.deepEqual(expectOk(await store.verifyRun(ids.workflowId, ids.runId)),
    { valid: true, eventsChecked: 5, firstBrokenSeq: null, reason: null });
  expectErr(await store.verifyRun(newWorkflow(), 'r'), 'not_found');
  expectErr(await store.verifyRun('', 'r'), 'not_found');
});

test('runDigest (extra): the chain head {seq, hash}, moving with each commit; not_found for a missing run', async () => {
  const { rows: [{ extversion }] } = await pool.query("SELECT extversion FROM pg_extension WHERE extname = 'verist'");
  const ids = await runWithEvents(2);
  const d = expectOk(await store.runDigest(ids.workflowId, ids.runId));
  assert.deepEqual(Object.keys(d), ['seq', 'hash']);
  assert.ok(Number.isInteger(d.seq) && d.seq >= 1, `seq ${d.seq}`);
  assert.match(d.hash, /^[0-9a-f]{64}$/);
  assert.deepEqual(expectOk(await store.runDigest(ids.workflowId, ids.runId)), d, 'stable while nothing changes');
  expectOk(await store.commit({ ...ids, stepId: 'b', expectedVersion: 1, output: {}, events: [{ type: 'later' }] }));
  const moved = expectOk(await store.runDigest(ids.workflowId, ids.runId));
  assert.ok(moved.seq > d.seq, 'the head moves with a commit');
  assert.notEqual(moved.hash, d.hash);
  if (extversion.startsWith('0.2.') || extversion.startsWith('0.3.')) {
    // 0.2.0-0.3.x: the head of the event chain, i.e. the last event's seq and hash
    // (0.4.0 anchors the run's ledger instead, which covers the events too)
    const ev = await rows(pool, 'verist_events', ids, 'seq');
    assert.deepEqual(moved, { seq: 3, hash: ev[2].hash });
    const empty = { workflowId: newWorkflow(), runId: 'r' };
    expectOk(await store.commit({ ...empty, stepId: 'a', expectedVersion: 0, output: {} }));
    const genesis = createHash('sha256')
      .update(JSON.stringify({ chain: 'verist/1', runId: 'r', workflowId: empty.workflowId })).digest('hex');
    assert.deepEqual(expectOk(await store.runDigest(empty.workflowId, 'r')), { seq: 0, hash: genesis });
  }
  expectErr(await store.runDigest(newWorkflow(), 'r'), 'not_found');
});

test('verifyRun / verifyAll (extra): an event edited behind the trigger\'s back is caught at its sequence number', async () => {
  const ids = await runWithEvents(3);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE verist_events DISABLE TRIGGER verist_events_append_only');
    await client.query("UPDATE verist_events SET payload = '{\"i\": 99}' WHERE workflow_id = $1 AND seq = 2", [ids.workflowId]);
    await client.query('ALTER TABLE verist_events ENABLE TRIGGER verist_events_append_only');
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  const v = expectOk(await store.verifyRun(ids.workflowId, ids.runId));
  assert.equal(v.valid, false);
  assert.equal(v.firstBrokenSeq, 2);
  assert.equal(typeof v.reason, 'string');
  const broken = expectOk(await store.verifyAll());
  const mine = broken.filter((b) => b.workflowId === ids.workflowId);
  assert.equal(mine.length, 1);
  assert.deepEqual(Object.keys(mine[0]), ['workflowId', 'runId', 'eventsChecked', 'firstBrokenSeq', 'reason']);
  assert.equal(mine[0].firstBrokenSeq, 2);
  // every other run this suite wrote verifies
  assert.deepEqual(broken.filter((b) => !b.workflowId.startsWith('audit-')), []);
});
