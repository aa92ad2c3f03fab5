// RunStore (load, commit, setOverlay) and the factory, against what
// @verist/storage-pg documents and returns.  Runs on the packed tarball
// installed into a scratch project (test/suites/clients_ts.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { and, eq, asc } from 'drizzle-orm';
import * as pkg from '@verist/storage-pg-verist';
import { createPgRunStore, veristEvents, veristState } from '@verist/storage-pg-verist';
import {
  assertDate, ensureExtension, expectErr, expectOk, newPool, newWorkflow, rows, trace,
} from './helpers.mjs';

let pool;
let db;
let store;

before(async () => {
  pool = newPool();
  await ensureExtension(pool);
  db = drizzle(pool);
  store = createPgRunStore({ db });
});
after(() => pool.end());

const STATE_KEYS = ['workflowId', 'runId', 'version', 'computed', 'overlay', 'createdAt', 'updatedAt'];

function assertState(state, { workflowId, runId }, version) {
  assert.deepEqual(Object.keys(state), STATE_KEYS, 'RunState keys');
  assert.equal(state.workflowId, workflowId);
  assert.equal(state.runId, runId);
  assert.equal(state.version, version);
  assert.equal(typeof state.version, 'number');
  assertDate(state.createdAt, 'createdAt');
  assertDate(state.updatedAt, 'updatedAt');
}

async function create(output = { score: 0.8 }, extra = {}) {
  const ids = { workflowId: newWorkflow(), runId: 'run-1' };
  expectOk(await store.commit({ ...ids, stepId: 'start', expectedVersion: 0, output, events: [], ...extra }));
  return ids;
}

// ---------------------------------------------------------------- factory

test('factory: the root export has the adapter names (createPgRunStore, four tables) plus verist extras', () => {
  for (const name of ['createPgRunStore', 'veristState', 'veristEvents', 'veristOutbox', 'veristBlocks']) {
    assert.ok(name in pkg, `${name} exported`);
  }
  assert.equal(typeof pkg.createPgRunStore, 'function');
  const methods = ['load', 'commit', 'setOverlay', 'getBlock', 'resolveBlock', 'leaseOutbox',
    'markDispatched', 'markFailed', 'getEffectiveState', 'markDispatchedBatch', 'markRetry',
    'requeue', 'purgeOutbox', 'readEvents', 'verifyRun', 'verifyAll', 'runDigest',
    'setWorkflowLimit', 'readCounters'];
  assert.deepEqual(Object.keys(store).sort(), [...methods].sort());
  for (const m of methods) assert.equal(typeof store[m], 'function', m);
});

test('factory: createPgRunStore({ db: drizzle(pool) }), ({ db: pool }), (pool) and ({ db: pg.Client }) all work', async () => {
  const client = new pg.Client();
  await client.connect();
  try {
    const variants = {
      drizzle: createPgRunStore({ db: drizzle(pool) }),
      drizzleClient: createPgRunStore({ db: drizzle(client) }),
      configPool: createPgRunStore({ db: pool }),
      barePool: createPgRunStore(pool),
      client: createPgRunStore({ db: client }),
    };
    for (const [name, s] of Object.entries(variants)) {
      const ids = { workflowId: newWorkflow(name), runId: 'r' };
      const c = expectOk(await s.commit({ ...ids, stepId: 's', expectedVersion: 0, output: { via: name } }));
      assertState(c, ids, 1);
      const l = expectOk(await s.load(ids.workflowId, ids.runId));
      assert.deepEqual(l.computed, { via: name });
    }
  } finally {
    await client.end();
  }
});

test('factory: a db it cannot run SQL on is a TypeError at creation (the only throw)', () => {
  assert.throws(() => createPgRunStore({ db: {} }), TypeError);
  assert.throws(() => createPgRunStore({ db: null }), TypeError);
  assert.throws(() => createPgRunStore(undefined), TypeError);
});

// ---------------------------------------------------------------- load

test('load: a missing run is not_found (current RunStore contract), empty ids included', async () => {
  const wf = newWorkflow();
  const e = expectErr(await store.load(wf, 'nope'), 'not_found');
  assert.match(e.message, /nope/);
  expectErr(await store.load('', 'r'), 'not_found');
  expectErr(await store.load(wf, ''), 'not_found');
});

test('load: returns the RunState the commit returned (7 keys, Dates, number version)', async () => {
  const ids = { workflowId: newWorkflow(), runId: 'run-1' };
  const committed = expectOk(await store.commit({
    ...ids, stepId: 's1', expectedVersion: 0, output: { score: 0.8, nested: { a: [1, 2] } }, events: [],
  }));
  const loaded = expectOk(await store.load(ids.workflowId, ids.runId));
  assertState(loaded, ids, 1);
  assert.deepEqual(loaded, committed);
  assert.deepEqual(loaded.computed, { score: 0.8, nested: { a: [1, 2] } });
  assert.deepEqual(loaded.overlay, {});
});

// ---------------------------------------------------------------- commit

test('commit: expectedVersion 0 creates the run (version 1, computed = output, overlay {}), events carry the stepId', async () => {
  const ids = { workflowId: newWorkflow(), runId: 'run-1' };
  const s = expectOk(await store.commit({
    ...ids, stepId: 'extract', expectedVersion: 0,
    output: { score: 0.8, status: 'pending' },
    events: [{ type: 'step_started', payload: { stepId: 'extract' } }],
  }));
  assertState(s, ids, 1);
  assert.deepEqual(s.computed, { score: 0.8, status: 'pending' });
  assert.deepEqual(s.overlay, {});
  assert.equal(s.createdAt.getTime(), s.updatedAt.getTime());
  // read back through the exported drizzle table, as a user's own query would
  const ev = await db.select().from(veristEvents)
    .where(and(eq(veristEvents.workflowId, ids.workflowId), eq(veristEvents.runId, ids.runId)));
  assert.equal(ev.length, 1);
  assert.equal(ev[0].stepId, 'extract');
  assert.equal(ev[0].type, 'step_started');
  assert.deepEqual(ev[0].payload, { stepId: 'extract' });
  assert.equal(ev[0].llmTrace, null);
});

test('commit: `delta` (the pre-rename name of output) is accepted the same way', async () => {
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  const s = expectOk(await store.commit({ ...ids, stepId: 's', expectedVersion: 0, delta: { legacy: true }, events: [] }));
  assert.deepEqual(s.computed, { legacy: true });
  const s2 = expectOk(await store.commit({ ...ids, stepId: 's2', expectedVersion: 1, delta: { more: 1 }, events: [] }));
  assert.deepEqual(s2.computed, { legacy: true, more: 1 });
});

test('commit: events may be omitted (optional in CommitParams)', async () => {
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  expectOk(await store.commit({ ...ids, stepId: 's', expectedVersion: 0, output: {} }));
  assert.equal((await rows(pool, 'verist_events', ids)).length, 0);
});

test('commit: run_exists (conflict) when expectedVersion is 0 and the run exists; nothing written', async () => {
  const ids = await create({ score: 0.8 }, { events: [{ type: 'first' }] });
  const r = await store.commit({
    ...ids, stepId: 'again', expectedVersion: 0, output: { score: 0.9 }, events: [{ type: 'second' }],
  });
  expectErr(r, 'conflict', 'run_exists');
  const loaded = expectOk(await store.load(ids.workflowId, ids.runId));
  assert.equal(loaded.version, 1);
  assert.deepEqual(loaded.computed, { score: 0.8 });
  assert.deepEqual((await rows(pool, 'verist_events', ids)).map((e) => e.type), ['first']);
});

test('commit: of two concurrent creates exactly one wins, the other is conflict/run_exists', async () => {
  for (let round = 0; round < 5; round++) {
    const ids = { workflowId: newWorkflow(), runId: 'race' };
    const results = await Promise.all([1, 2].map((n) =>
      store.commit({ ...ids, stepId: `s${n}`, expectedVersion: 0, output: { winner: n }, events: [] })));
    const wins = results.filter((r) => r.ok);
    assert.equal(wins.length, 1, JSON.stringify(results));
    expectErr(results.find((r) => !r.ok), 'conflict', 'run_exists');
  }
});

test('commit: not_found when expectedVersion > 0 and the run does not exist', async () => {
  const wf = newWorkflow();
  const e = expectErr(await store.commit({
    workflowId: wf, runId: 'r', stepId: 's', expectedVersion: 1, output: { a: 1 }, events: [],
  }), 'not_found');
  assert.match(e.message, /r/);
  expectErr(await store.load(wf, 'r'), 'not_found');
});

test('commit: version_mismatch (conflict) on a stale expectedVersion; nothing written', async () => {
  const ids = await create({ score: 0.8 });
  const e = expectErr(await store.commit({
    ...ids, stepId: 's2', expectedVersion: 5, output: { score: 0.9 }, events: [{ type: 'x' }],
  }), 'conflict', 'version_mismatch');
  assert.match(e.message, /5/);
  assert.match(e.message, /1/);
  const loaded = expectOk(await store.load(ids.workflowId, ids.runId));
  assert.equal(loaded.version, 1);
  assert.equal((await rows(pool, 'verist_events', ids)).length, 0);
});

test('commit: a negative or missing expectedVersion answers as the adapter (version_mismatch / not_found)', async () => {
  const ids = await create();
  expectErr(await store.commit({ ...ids, stepId: 's', expectedVersion: -1, output: {} }), 'conflict', 'version_mismatch');
  expectErr(await store.commit({ ...ids, stepId: 's', expectedVersion: undefined, output: {} }), 'conflict', 'version_mismatch');
  expectErr(await store.commit({ workflowId: newWorkflow(), runId: 'r', stepId: 's', expectedVersion: -3, output: {} }), 'not_found');
  assert.equal(expectOk(await store.load(ids.workflowId, ids.runId)).version, 1);
});

test('commit: of concurrent commits with the same expectedVersion exactly one wins, the others version_mismatch', async () => {
  const ids = await create({ n: 0 });
  const results = await Promise.all([1, 2, 3, 4].map((n) =>
    store.commit({ ...ids, stepId: `w${n}`, expectedVersion: 1, output: { n }, events: [{ type: `by-${n}` }] })));
  const wins = results.filter((r) => r.ok);
  assert.equal(wins.length, 1);
  for (const r of results.filter((x) => !x.ok)) expectErr(r, 'conflict', 'version_mismatch');
  const loaded = expectOk(await store.load(ids.workflowId, ids.runId));
  assert.equal(loaded.version, 2);
  assert.deepEqual(loaded.computed, wins[0].value.computed);
  assert.equal((await rows(pool, 'verist_events', ids)).length, 1);
});

test('commit: version increments by one on each successful commit', async () => {
  const ids = await create({ step: 0 });
  for (let v = 1; v <= 5; v++) {
    const s = expectOk(await store.commit({ ...ids, stepId: `s${v}`, expectedVersion: v, output: { step: v } }));
    assert.equal(s.version, v + 1);
  }
});

test('commit: shallow merge — top-level keys replaced, nested objects and arrays replaced whole, no key deletion, null is a value', async () => {
  const ids = await create({ score: 0.8, status: 'pending', config: { a: 1, b: 2 }, tags: ['a', 'b'], keep: 'me' });
  const s = expectOk(await store.commit({
    ...ids, stepId: 's2', expectedVersion: 1,
    output: { status: 'complete', verified: true, config: { c: 3 }, tags: ['c'], score: null },
  }));
  assert.equal(s.version, 2);
  assert.deepEqual(s.computed, {
    score: null, status: 'complete', config: { c: 3 }, tags: ['c'], keep: 'me', verified: true,
  });
  assert.ok(s.updatedAt.getTime() >= s.createdAt.getTime());
});

test('commit: state and events are written together, in order, all with the stepId; llmTrace may omit input/output', async () => {
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  expectOk(await store.commit({
    ...ids, stepId: 'extract', expectedVersion: 0, output: { claims: ['a', 'b'] },
    events: [
      { type: 'extraction_started' },
      { type: 'llm_call', llmTrace: trace },
      { type: 'llm_call_full', llmTrace: { ...trace, input: 'prompt', output: 'completion' } },
      { type: 'extraction_completed', payload: { claimCount: 2 } },
    ],
  }));
  const ev = await db.select().from(veristEvents)
    .where(and(eq(veristEvents.workflowId, ids.workflowId), eq(veristEvents.runId, ids.runId)))
    .orderBy(asc(veristEvents.id));
  assert.deepEqual(ev.map((e) => e.type), ['extraction_started', 'llm_call', 'llm_call_full', 'extraction_completed']);
  assert.ok(ev.every((e) => e.stepId === 'extract'));
  assert.deepEqual(ev[1].llmTrace, trace);
  assert.equal(ev[2].llmTrace.input, 'prompt');
  assert.equal(ev[0].payload, null);
  assert.deepEqual(ev[3].payload, { claimCount: 2 });
  // one commit, one timestamp for the state and every event
  const st = await db.select().from(veristState)
    .where(and(eq(veristState.workflowId, ids.workflowId), eq(veristState.runId, ids.runId)));
  for (const e of ev) assert.equal(e.createdAt.getTime(), st[0].updatedAt.getTime());
});

test('commit: hash-only mode (verist.hash_only) keeps llmTrace input/output out of the database, the hashes in', async () => {
  // a superuser-only setting (ALTER ROLE/DATABASE ... SET in production); the suite connects as one
  const hashOnly = newPool({ max: 1, options: '-c verist.hash_only=on' });
  try {
    const s = createPgRunStore({ db: drizzle(hashOnly) });
    const ids = { workflowId: newWorkflow(), runId: 'r' };
    expectOk(await s.commit({ ...ids, stepId: 'llm', expectedVersion: 0, output: {},
      events: [{ type: 'llm_call', llmTrace: { ...trace, input: 'secret prompt', output: 'secret completion' } }] }));
    const [e] = await rows(pool, 'verist_events', ids);
    assert.deepEqual(e.llm_trace, trace);
  } finally {
    await hashOnly.end();
  }
});

test('commit: an event is stored as the adapter stored it — type, payload, llmTrace; other keys dropped', async () => {
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  expectOk(await store.commit({
    ...ids, stepId: 's', expectedVersion: 0, output: {},
    events: [{ type: 'with_extras', payload: { a: 1 }, timestamp: 123, meta: { x: 1 } }],
  }));
  const [e] = await rows(pool, 'verist_events', ids);
  assert.equal(e.type, 'with_extras');
  assert.deepEqual(e.payload, { a: 1 });
  assert.equal(e.llm_trace, null);
});

test('commit: atomic — a refused commit (bad event) writes neither state nor events', async () => {
  const ids = await create({ v: 1 });
  const r = await store.commit({
    ...ids, stepId: 's2', expectedVersion: 1, output: { v: 2 },
    events: [{ type: 'ok' }, { type: 'llm', llmTrace: { ...trace, inputHash: undefined } }],
  });
  expectErr(r, 'serialization_error');
  const loaded = expectOk(await store.load(ids.workflowId, ids.runId));
  assert.equal(loaded.version, 1);
  assert.deepEqual(loaded.computed, { v: 1 });
  assert.equal((await rows(pool, 'verist_events', ids)).length, 0);
});

test('commit: output that is not a JSON object, or cannot be serialized, is serialization_error (no throw)', async () => {
  const base = { workflowId: newWorkflow(), runId: 'r', stepId: 's', expectedVersion: 0, events: [] };
  expectErr(await store.commit({ ...base, output: [1, 2] }), 'serialization_error');
  expectErr(await store.commit({ ...base, output: 'text' }), 'serialization_error');
  expectErr(await store.commit({ ...base, output: { big: 10n } }), 'serialization_error');
  const cyclic = {}; cyclic.self = cyclic;
  expectErr(await store.commit({ ...base, output: cyclic }), 'serialization_error');
  expectErr(await store.commit(null), 'serialization_error');
  expectErr(await store.load(base.workflowId, 'r'), 'not_found');
});

test('commit: events off the kernel shapes are serialization_error (empty type, payload not an object, llmTrace without hashes)', async () => {
  const base = { workflowId: newWorkflow(), runId: 'r', stepId: 's', expectedVersion: 0, output: {} };
  expectErr(await store.commit({ ...base, events: [{ type: '' }] }), 'serialization_error');
  expectErr(await store.commit({ ...base, events: [{ type: 't', payload: 'x' }] }), 'serialization_error');
  const { outputHash, ...noHash } = trace;
  expectErr(await store.commit({ ...base, events: [{ type: 't', llmTrace: noHash }] }), 'serialization_error');
  expectErr(await store.commit({ ...base, events: [{ type: 't', llmTrace: { ...trace, promptTokens: -1 } }] }), 'serialization_error');
  expectErr(await store.commit({ ...base, events: 'nope' }), 'serialization_error');
  expectErr(await store.load(base.workflowId, 'r'), 'not_found');
});

test('commit: every row of one commit carries one timestamp; the next commit a later one', async () => {
  const ids = await create();
  const first = expectOk(await store.load(ids.workflowId, ids.runId));
  const s = expectOk(await store.commit({ ...ids, stepId: 's2', expectedVersion: 1, output: { x: 1 } }));
  assert.equal(s.createdAt.getTime(), first.createdAt.getTime());
  assert.ok(s.updatedAt.getTime() >= first.updatedAt.getTime());
});

// ---------------------------------------------------------------- setOverlay

test('setOverlay: adds a human correction — computed unchanged, version unchanged, updatedAt moves', async () => {
  const ids = await create({ score: 0.6 });
  const before = expectOk(await store.load(ids.workflowId, ids.runId));
  await new Promise((r) => setTimeout(r, 5));
  const s = expectOk(await store.setOverlay(ids.workflowId, ids.runId, { score: 0.9 }));
  assertState(s, ids, 1);
  assert.deepEqual(s.computed, { score: 0.6 });
  assert.deepEqual(s.overlay, { score: 0.9 });
  assert.ok(s.updatedAt.getTime() > before.updatedAt.getTime());
  assert.equal(s.createdAt.getTime(), before.createdAt.getTime());
});

test('setOverlay: last write wins per key, earlier keys kept (shallow merge)', async () => {
  const ids = await create({ score: 0.6, status: 'pending' });
  expectOk(await store.setOverlay(ids.workflowId, ids.runId, { score: 0.9, note: { a: 1 } }));
  const s = expectOk(await store.setOverlay(ids.workflowId, ids.runId, { status: 'approved', note: { b: 2 } }));
  assert.deepEqual(s.overlay, { score: 0.9, status: 'approved', note: { b: 2 } });
  const s2 = expectOk(await store.setOverlay(ids.workflowId, ids.runId, { score: 0.1 }));
  assert.equal(s2.overlay.score, 0.1);
});

test('setOverlay: not_found for a missing run (empty ids too)', async () => {
  expectErr(await store.setOverlay(newWorkflow(), 'r', { score: 0.9 }), 'not_found');
  expectErr(await store.setOverlay('', 'r', { score: 0.9 }), 'not_found');
});

test('setOverlay: never makes a runner stale — a commit at the loaded version still succeeds', async () => {
  const ids = await create({ score: 0.6 });
  const loaded = expectOk(await store.load(ids.workflowId, ids.runId));
  expectOk(await store.setOverlay(ids.workflowId, ids.runId, { score: 1 }));
  const s = expectOk(await store.commit({ ...ids, stepId: 'next', expectedVersion: loaded.version, output: { score: 0.7 } }));
  assert.equal(s.version, 2);
  assert.deepEqual(s.overlay, { score: 1 });
  assert.deepEqual(s.computed, { score: 0.7 });
});

test('setOverlay: a patch that is not a JSON object is serialization_error, nothing changed', async () => {
  const ids = await create({ a: 1 });
  expectErr(await store.setOverlay(ids.workflowId, ids.runId, [1]), 'serialization_error');
  expectErr(await store.setOverlay(ids.workflowId, ids.runId, { n: 1n }), 'serialization_error');
  assert.deepEqual(expectOk(await store.load(ids.workflowId, ids.runId)).overlay, {});
});

test('getEffectiveState (extra): computed || overlay, the overlay winning; not_found for a missing run', async () => {
  const ids = await create({ verdict: 'reject', confidence: 0.61 });
  expectOk(await store.setOverlay(ids.workflowId, ids.runId, { verdict: 'accept' }));
  assert.deepEqual(expectOk(await store.getEffectiveState(ids.workflowId, ids.runId)),
    { verdict: 'accept', confidence: 0.61 });
  // a later step output does not beat the human correction
  expectOk(await store.commit({ ...ids, stepId: 's2', expectedVersion: 1, output: { verdict: 'reject', confidence: 0.7 } }));
  assert.deepEqual(expectOk(await store.getEffectiveState(ids.workflowId, ids.runId)),
    { verdict: 'accept', confidence: 0.7 });
  expectErr(await store.getEffectiveState(newWorkflow(), 'r'), 'not_found');
});
