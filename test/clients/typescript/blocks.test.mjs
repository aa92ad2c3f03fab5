// Commands and blocks: routing at commit (outbox, review, suspend), getBlock,
// resolveBlock — the adapter's PgRunStore behaviour, on the packed package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { drizzle } from 'drizzle-orm/node-postgres';
import { createPgRunStore } from '@verist/storage-pg-verist';
import {
  assertDate, clearLeasable, dedupeKey, ensureExtension, expectErr, expectOk, newPool, newWorkflow, rows,
} from './helpers.mjs';

let pool;
let store;

before(async () => {
  pool = newPool();
  await ensureExtension(pool);
  store = createPgRunStore({ db: drizzle(pool) });
});
after(() => pool.end());

const BLOCK_KEYS = ['id', 'workflowId', 'runId', 'stepId', 'type', 'reason', 'payload', 'resumeStep', 'createdAt'];

async function commitNew(commands, output = {}, stepId = 'step-1') {
  const ids = { workflowId: newWorkflow(), runId: 'run-1' };
  const s = expectOk(await store.commit({ ...ids, stepId, expectedVersion: 0, output, events: [], commands }));
  return { ids, state: s };
}

// ---------------------------------------------------------------- routing at commit

test('commit commands: invoke, fanout and emit go to the outbox pending, stored as given, with the adapter\'s dedupe key', async () => {
  const commands = [
    { type: 'invoke', step: 'next', input: { data: 'x', z: [1, { b: 2, a: 1 }] } },
    { type: 'fanout', step: 'each', inputs: [1, 2, 3] },
    { type: 'emit', topic: 'doc.extracted', payload: { n: 1 } },
  ];
  const { ids } = await commitNew(commands);
  const out = await rows(pool, 'verist_outbox', ids);
  assert.equal(out.length, 3);
  out.forEach((row, i) => {
    assert.deepEqual(row.command, commands[i]);
    assert.equal(row.status, 'pending');
    assert.equal(row.step_id, 'step-1');
    assert.equal(row.dedupe_key, dedupeKey(ids.workflowId, ids.runId, 'step-1', commands[i]));
    assert.equal(row.failures, 0);
    assert.equal(row.lease_owner, null);
  });
});

test('commit commands: review blocks the run (payload kept, resumeStep null) and defers its siblings', async () => {
  const { ids } = await commitNew([
    { type: 'review', reason: 'needs approval', payload: { amount: 120 } },
    { type: 'invoke', step: 'next-step', input: { data: 'test' } },
  ]);
  const block = expectOk(await store.getBlock(ids.workflowId, ids.runId));
  assert.deepEqual(Object.keys(block), BLOCK_KEYS);
  assert.equal(typeof block.id, 'string');
  assert.match(block.id, /^\d+$/);
  assert.equal(block.workflowId, ids.workflowId);
  assert.equal(block.runId, ids.runId);
  assert.equal(block.stepId, 'step-1');
  assert.equal(block.type, 'review');
  assert.equal(block.reason, 'needs approval');
  assert.deepEqual(block.payload, { amount: 120 });
  assert.equal(block.resumeStep, null);
  assertDate(block.createdAt, 'createdAt');
  const out = await rows(pool, 'verist_outbox', ids);
  assert.deepEqual(out.map((r) => [r.command.type, r.status]), [['invoke', 'deferred']]);
  // a review command without a payload: payload null, as the adapter stored it
  const { ids: ids2 } = await commitNew([{ type: 'review', reason: 'plain' }]);
  assert.equal(expectOk(await store.getBlock(ids2.workflowId, ids2.runId)).payload, null);
});

test('commit commands: suspend blocks the run (checkpoint as payload, resumeStep or the step) and discards its siblings', async () => {
  const { ids } = await commitNew([
    { type: 'suspend', reason: 'waiting for callback', checkpoint: { cursor: 7 } },
    { type: 'invoke', step: 'next-step', input: { data: 'test' } },
    { type: 'emit', topic: 't', payload: 1 },
  ], {}, 'wait');
  const block = expectOk(await store.getBlock(ids.workflowId, ids.runId));
  assert.equal(block.type, 'suspend');
  assert.deepEqual(block.payload, { cursor: 7 });
  assert.equal(block.resumeStep, 'wait');
  assert.equal((await rows(pool, 'verist_outbox', ids)).length, 0);
  const { ids: ids2 } = await commitNew([{ type: 'suspend', reason: 'r', checkpoint: null, resumeStep: 'resume-here' }]);
  const b2 = expectOk(await store.getBlock(ids2.workflowId, ids2.runId));
  assert.equal(b2.resumeStep, 'resume-here');
  assert.equal(b2.payload, null);
});

test('commit commands: two blocking commands in one commit are serialization_error; nothing written', async () => {
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  expectErr(await store.commit({
    ...ids, stepId: 's', expectedVersion: 0, output: {}, events: [{ type: 'e' }],
    commands: [{ type: 'review', reason: 'a' }, { type: 'suspend', reason: 'b', checkpoint: {} }],
  }), 'serialization_error');
  expectErr(await store.load(ids.workflowId, ids.runId), 'not_found');
  assert.equal((await rows(pool, 'verist_events', ids)).length, 0);
  assert.equal(expectOk(await store.getBlock(ids.workflowId, ids.runId)), null);
});

test('commit commands: two identical commands in one commit are serialization_error; nothing written (no half commit)', async () => {
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  const cmd = { type: 'invoke', step: 'x', input: { a: 1 } };
  expectErr(await store.commit({
    ...ids, stepId: 's', expectedVersion: 0, output: { a: 1 }, events: [{ type: 'e' }], commands: [cmd, { ...cmd }],
  }), 'serialization_error');
  expectErr(await store.load(ids.workflowId, ids.runId), 'not_found');
  assert.equal((await rows(pool, 'verist_events', ids)).length, 0);
  assert.equal((await rows(pool, 'verist_outbox', ids)).length, 0);
});

test('commit commands: a command already in the outbox (same run, step, command) is conflict/command_exists; the commit is undone', async () => {
  const cmd = { type: 'emit', topic: 'once', payload: { k: 1 } };
  const { ids } = await commitNew([cmd], {}, 'emitter');
  // the same step re-run at the next version emits the same command: same dedupe key
  const r = await store.commit({ ...ids, stepId: 'emitter', expectedVersion: 1, output: { again: true }, events: [{ type: 'e' }], commands: [cmd] });
  expectErr(r, 'conflict', 'command_exists');
  const st = expectOk(await store.load(ids.workflowId, ids.runId));
  assert.equal(st.version, 1);
  assert.deepEqual(st.computed, {});
  assert.equal((await rows(pool, 'verist_events', ids)).length, 0);
  assert.equal((await rows(pool, 'verist_outbox', ids)).length, 1);
  // key order inside the command does not make it another command
  const reordered = { payload: { k: 1 }, topic: 'once', type: 'emit' };
  expectErr(await store.commit({ ...ids, stepId: 'emitter', expectedVersion: 1, output: {}, commands: [reordered] }), 'conflict', 'command_exists');
});

test('commit commands: a blocking command while a block is active is conflict/active_block; nothing written', async () => {
  const { ids } = await commitNew([{ type: 'review', reason: 'first review' }], { status: 'pending' });
  const r = await store.commit({
    ...ids, stepId: 'step-2', expectedVersion: 1, output: { status: 'blocked' }, events: [{ type: 'e' }],
    commands: [{ type: 'suspend', reason: 'wait for callback', checkpoint: {} }, { type: 'emit', topic: 'x', payload: 1 }],
  });
  expectErr(r, 'conflict', 'active_block');
  const st = expectOk(await store.load(ids.workflowId, ids.runId));
  assert.equal(st.version, 1);
  assert.deepEqual(st.computed, { status: 'pending' });
  assert.equal((await rows(pool, 'verist_outbox', ids)).length, 0);
  assert.equal((await rows(pool, 'verist_blocks', ids)).length, 1);
});

test('commit commands: non-blocking commands are accepted while a block is active (the runner decides)', async () => {
  const { ids } = await commitNew([{ type: 'review', reason: 'r' }]);
  expectOk(await store.commit({ ...ids, stepId: 'side', expectedVersion: 1, output: {}, commands: [{ type: 'emit', topic: 'side', payload: null }] }));
  const out = await rows(pool, 'verist_outbox', ids);
  assert.deepEqual(out.map((r) => [r.step_id, r.status]), [['side', 'pending']]);
});

test('commit commands: commands off the kernel shapes are serialization_error (unknown type, missing step, extra key)', async () => {
  const base = { workflowId: newWorkflow(), runId: 'r', stepId: 's', expectedVersion: 0, output: {} };
  expectErr(await store.commit({ ...base, commands: [{ type: 'teleport' }] }), 'serialization_error');
  expectErr(await store.commit({ ...base, commands: [{ type: 'invoke', input: 1 }] }), 'serialization_error');
  expectErr(await store.commit({ ...base, commands: [{ type: 'emit', topic: 't', payload: 1, extra: true }] }), 'serialization_error');
  expectErr(await store.commit({ ...base, commands: [{ type: 'review', reason: '' }] }), 'serialization_error');
  expectErr(await store.load(base.workflowId, 'r'), 'not_found');
});

// ---------------------------------------------------------------- getBlock

test('getBlock: null when the run has no active block (missing run and empty ids too)', async () => {
  const { ids } = await commitNew([]);
  assert.equal(expectOk(await store.getBlock(ids.workflowId, ids.runId)), null);
  assert.equal(expectOk(await store.getBlock(newWorkflow(), 'none')), null);
  assert.equal(expectOk(await store.getBlock('', '')), null);
});

// ---------------------------------------------------------------- resolveBlock

test('resolveBlock: no active block → ok(null), nothing changed (idempotent, for a missing run too)', async () => {
  const { ids, state } = await commitNew([]);
  assert.equal(expectOk(await store.resolveBlock(ids.workflowId, ids.runId, { approved: true })), null);
  assert.equal(expectOk(await store.resolveBlock(newWorkflow(), 'x', { resumeData: 1 })), null);
  assert.equal(expectOk(await store.resolveBlock('', 'x', { approved: true })), null);
  assert.deepEqual(expectOk(await store.load(ids.workflowId, ids.runId)), state);
});

test('resolveBlock: review approved — returns {id, type, resolution}, releases the deferred commands to pending, block gone', async () => {
  const { ids, state } = await commitNew([
    { type: 'review', reason: 'check' },
    { type: 'invoke', step: 'a', input: 1 },
    { type: 'emit', topic: 'b', payload: 2 },
  ]);
  const block = expectOk(await store.getBlock(ids.workflowId, ids.runId));
  const resolution = { approved: true };
  const resolved = expectOk(await store.resolveBlock(ids.workflowId, ids.runId, resolution));
  assert.deepEqual(Object.keys(resolved), ['id', 'type', 'resolution']);
  assert.deepEqual(resolved, { id: block.id, type: 'review', resolution: { approved: true } });
  const out = await rows(pool, 'verist_outbox', ids);
  assert.deepEqual(out.map((r) => r.status), ['pending', 'pending']);
  assert.equal(expectOk(await store.getBlock(ids.workflowId, ids.runId)), null);
  // a repeat finds nothing; resolving wrote no state
  assert.equal(expectOk(await store.resolveBlock(ids.workflowId, ids.runId, resolution)), null);
  assert.deepEqual(expectOk(await store.load(ids.workflowId, ids.runId)), state);
  const [b] = await rows(pool, 'verist_blocks', ids);
  assertDate(b.resolved_at, 'resolved_at');
  // a new block can be created once the old one is resolved
  expectOk(await store.commit({ ...ids, stepId: 'again', expectedVersion: 1, output: {}, commands: [{ type: 'review', reason: 'second' }] }));
});

test('resolveBlock: review rejected — the deferred commands become rejected and are never leased', async () => {
  const { ids } = await commitNew([
    { type: 'review', reason: 'check' },
    { type: 'invoke', step: 'never', input: null },
  ]);
  const resolved = expectOk(await store.resolveBlock(ids.workflowId, ids.runId, { approved: false }));
  assert.deepEqual(resolved.resolution, { approved: false });
  assert.deepEqual((await rows(pool, 'verist_outbox', ids)).map((r) => r.status), ['rejected']);
  await clearLeasable(pool);
  assert.deepEqual(expectOk(await store.leaseOutbox(`owner-${ids.workflowId}`, 100)), []);
});

test('resolveBlock: review needs approved: boolean — serialization_error, the block stays active', async () => {
  const { ids } = await commitNew([{ type: 'review', reason: 'check' }, { type: 'invoke', step: 'a', input: 1 }]);
  expectErr(await store.resolveBlock(ids.workflowId, ids.runId, { approved: 'yes' }), 'serialization_error');
  expectErr(await store.resolveBlock(ids.workflowId, ids.runId, {}), 'serialization_error');
  expectErr(await store.resolveBlock(ids.workflowId, ids.runId, { resumeData: 1 }), 'serialization_error');
  assert.equal(expectOk(await store.getBlock(ids.workflowId, ids.runId)).type, 'review');
  assert.deepEqual((await rows(pool, 'verist_outbox', ids)).map((r) => r.status), ['deferred']);
});

test('resolveBlock: suspend — queues one pending invoke of the resume step with {checkpoint, resumeData} under resume:<block id>', async () => {
  const { ids } = await commitNew([{ type: 'suspend', reason: 'callback', checkpoint: { page: 3 }, resumeStep: 'continue' }], {}, 'fetch');
  const block = expectOk(await store.getBlock(ids.workflowId, ids.runId));
  const resolved = expectOk(await store.resolveBlock(ids.workflowId, ids.runId, { resumeData: { answer: 42 } }));
  assert.deepEqual(resolved, { id: block.id, type: 'suspend', resolution: { resumeData: { answer: 42 } } });
  const out = await rows(pool, 'verist_outbox', ids);
  assert.equal(out.length, 1);
  const expected = { type: 'invoke', step: 'continue', input: { checkpoint: { page: 3 }, resumeData: { answer: 42 } } };
  assert.deepEqual(out[0].command, expected);
  assert.equal(out[0].step_id, `resume:${block.id}`);
  assert.equal(out[0].status, 'pending');
  assert.equal(out[0].dedupe_key, dedupeKey(ids.workflowId, ids.runId, `resume:${block.id}`, expected));
  assert.equal(expectOk(await store.getBlock(ids.workflowId, ids.runId)), null);
});

test('resolveBlock: suspend with resumeData undefined stores and returns null (the adapter normalised it)', async () => {
  const { ids } = await commitNew([{ type: 'suspend', reason: 'r', checkpoint: 'cp' }], {}, 'pause');
  const resolution = { resumeData: undefined };
  const resolved = expectOk(await store.resolveBlock(ids.workflowId, ids.runId, resolution));
  assert.deepEqual(resolved.resolution, { resumeData: null });
  assert.ok('resumeData' in resolved.resolution);
  const [row] = await rows(pool, 'verist_outbox', ids);
  assert.deepEqual(row.command, { type: 'invoke', step: 'pause', input: { checkpoint: 'cp', resumeData: null } });
  const [b] = await rows(pool, 'verist_blocks', ids);
  assert.deepEqual(b.resolution, { resumeData: null });
});

test('resolveBlock: suspend without the resumeData key is serialization_error; the block stays', async () => {
  const { ids } = await commitNew([{ type: 'suspend', reason: 'r', checkpoint: {} }]);
  expectErr(await store.resolveBlock(ids.workflowId, ids.runId, { approved: true }), 'serialization_error');
  expectErr(await store.resolveBlock(ids.workflowId, ids.runId, {}), 'serialization_error');
  assert.equal(expectOk(await store.getBlock(ids.workflowId, ids.runId)).type, 'suspend');
});

test('resolveBlock: a resolution that is not an object — ok(null) without a block, serialization_error with one', async () => {
  const { ids } = await commitNew([]);
  for (const bad of [null, undefined, 'yes', 1, [true]]) {
    assert.equal(expectOk(await store.resolveBlock(ids.workflowId, ids.runId, bad)), null, `no block: ${JSON.stringify(bad)}`);
  }
  const { ids: blocked } = await commitNew([{ type: 'review', reason: 'r' }]);
  for (const bad of [null, 'yes', 1, [true]]) {
    expectErr(await store.resolveBlock(blocked.workflowId, blocked.runId, bad), 'serialization_error');
  }
  assert.equal(expectOk(await store.getBlock(blocked.workflowId, blocked.runId)).type, 'review');
});

test('resolveBlock: returns the caller\'s resolution as given; the stored resolution keeps only the key the type needs', async () => {
  const { ids } = await commitNew([{ type: 'review', reason: 'r' }]);
  const resolution = { approved: true, reviewer: 'ada', note: 'fine' };
  const resolved = expectOk(await store.resolveBlock(ids.workflowId, ids.runId, resolution));
  assert.equal(resolved.resolution, resolution);
  const [b] = await rows(pool, 'verist_blocks', ids);
  assert.deepEqual(b.resolution, { approved: true });
});

test('resolveBlock: of concurrent resolutions exactly one acts, the others get null', async () => {
  const { ids } = await commitNew([{ type: 'review', reason: 'r' }, { type: 'invoke', step: 'once', input: 1 }]);
  const results = await Promise.all([true, false, true, false].map((approved) =>
    store.resolveBlock(ids.workflowId, ids.runId, { approved })));
  const acted = results.map(expectOk).filter((v) => v !== null);
  assert.equal(acted.length, 1);
  const status = (await rows(pool, 'verist_outbox', ids))[0].status;
  assert.equal(status, acted[0].resolution.approved ? 'pending' : 'rejected');
});
