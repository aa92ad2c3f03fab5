// verist.test.mjs — node --test suite for verist.mjs against a live server.
//
// Connects with the libpq environment variables (PGHOST, PGPORT, PGUSER, ...)
// that pg_virtualenv sets, and creates the extension if it is missing.  Every
// test uses its own workflow id, so tests do not see each other's runs; the
// outbox is shared by all runs, so the tests that lease first drain it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createVeristStore, toStorageError } from './verist.mjs';

let pool;
let store;

before(async () => {
  pool = new pg.Pool({ max: 4 });
  await pool.query('CREATE EXTENSION IF NOT EXISTS verist');
  store = createVeristStore(pool);
});

after(async () => {
  await pool.end();
});

const newWorkflow = () => `wf-${randomUUID()}`;

const trace = {
  model: 'gpt-test',
  inputHash: 'sha256:in',
  outputHash: 'sha256:out',
  promptTokens: 12,
  completionTokens: 3,
  durationMs: 41.5,
};

function expectOk(result) {
  assert.equal(result.ok, true, `expected ok, got ${JSON.stringify(result.error)}`);
  return result.value;
}

function expectError(result, code, reason) {
  assert.equal(result.ok, false, `expected ${code}/${reason}, got ok`);
  assert.equal(result.error.code, code, result.error.message);
  assert.equal(result.error.reason, reason, result.error.message);
  assert.equal(typeof result.error.message, 'string');
  return result.error;
}

// Create a run at version 1 and return its ids.
async function createRun(output = {}, extra = {}) {
  const ids = { workflowId: newWorkflow(), runId: 'run-1' };
  expectOk(await store.commit({ ...ids, stepId: 'start', expectedVersion: 0, output, ...extra }));
  return ids;
}

async function outboxRows({ workflowId, runId }) {
  const { rows } = await pool.query(
    'SELECT * FROM verist_outbox WHERE workflow_id = $1 AND run_id = $2 ORDER BY id',
    [workflowId, runId],
  );
  return rows;
}

async function eventRows({ workflowId, runId }) {
  const { rows } = await pool.query(
    'SELECT * FROM verist_events WHERE workflow_id = $1 AND run_id = $2 ORDER BY id',
    [workflowId, runId],
  );
  return rows;
}

// Dispatch everything other tests left claimable, so lease tests see only their rows.
async function drainOutbox() {
  for (;;) {
    const leased = expectOk(await store.leaseOutbox('drain', 1000));
    if (leased.length === 0) return;
    expectOk(await store.markDispatchedBatch(leased.map((e) => e.id), 'drain'));
  }
}

test('create: version 1, computed = output, empty overlay, camelCase row', async () => {
  const workflowId = newWorkflow();
  const state = expectOk(await store.commit({
    workflowId, runId: 'r', stepId: 'start', expectedVersion: 0, output: { a: 1 },
  }));
  // The adapter's columns, plus the audit chain head of 0.2.0 (README "Audit chain")
  // and the ledger head of 0.4.0 (README "The ledger").
  assert.deepEqual(Object.keys(state).sort(),
    ['chainHash', 'chainSeq', 'computed', 'createdAt', 'ledgerHash', 'ledgerSeq', 'overlay',
      'runId', 'updatedAt', 'version', 'workflowId']);
  assert.equal(state.chainSeq, 0);
  assert.match(state.chainHash, /^[0-9a-f]{64}$/);
  assert.equal(state.ledgerSeq, 1);
  assert.match(state.ledgerHash, /^[0-9a-f]{64}$/);
  assert.equal(state.workflowId, workflowId);
  assert.equal(state.runId, 'r');
  assert.equal(state.version, 1);
  assert.deepEqual(state.computed, { a: 1 });
  assert.deepEqual(state.overlay, {});
  assert.ok(state.createdAt instanceof Date);
  assert.equal(state.createdAt.getTime(), state.updatedAt.getTime());
  assert.deepEqual(expectOk(await store.load(workflowId, 'r')), state);
});

test('update: shallow merge, version + 1, keys never deleted', async () => {
  const ids = await createRun({ keep: 1, nested: { x: 1, y: 2 }, list: [1, 2] });
  const state = expectOk(await store.commit({
    ...ids, stepId: 'second', expectedVersion: 1, output: { nested: { z: 3 }, list: [], added: true },
  }));
  assert.equal(state.version, 2);
  assert.deepEqual(state.computed, { keep: 1, nested: { z: 3 }, list: [], added: true });
  assert.ok(state.updatedAt >= state.createdAt);
  assert.equal(expectOk(await store.load(ids.workflowId, ids.runId)).version, 2);
});

test('run_exists: creating an existing run', async () => {
  const ids = await createRun({ a: 1 });
  const err = expectError(await store.commit({ ...ids, stepId: 'again', expectedVersion: 0, output: { a: 2 } }),
    'conflict', 'run_exists');
  assert.equal(err.sqlstate, 'VRC01');
  assert.deepEqual(expectOk(await store.load(ids.workflowId, ids.runId)).computed, { a: 1 });
});

test('version_mismatch: stale expected version, message names both versions', async () => {
  const ids = await createRun();
  expectOk(await store.commit({ ...ids, stepId: 's2', expectedVersion: 1, output: {} }));
  const err = expectError(
    await store.commit({ ...ids, stepId: 's3', expectedVersion: 1, output: { lost: true }, events: [{ type: 'x' }] }),
    'conflict', 'version_mismatch');
  assert.match(err.message, /expected 1, found 2/);
  const state = expectOk(await store.load(ids.workflowId, ids.runId));
  assert.equal(state.version, 2);
  assert.equal(state.computed.lost, undefined);
  assert.equal((await eventRows(ids)).length, 0, 'the failed commit wrote no event');
});

test('not_found: load, commit > 0, overlay and effective state of a missing run', async () => {
  const workflowId = newWorkflow();
  expectError(await store.load(workflowId, 'nope'), 'not_found', undefined);
  expectError(await store.commit({ workflowId, runId: 'nope', stepId: 's', expectedVersion: 3, output: {} }),
    'not_found', undefined);
  expectError(await store.setOverlay(workflowId, 'nope', { a: 1 }), 'not_found', undefined);
  expectError(await store.getEffectiveState(workflowId, 'nope'), 'not_found', undefined);
  assert.equal(expectOk(await store.getBlock(workflowId, 'nope')), null);
});

test('events: stored in order with the commit step id, absent payload is NULL', async () => {
  const ids = await createRun({}, {
    events: [
      { type: 'first', payload: { n: 1 } },
      { type: 'second' },
      { type: 'third', payload: null, llmTrace: { ...trace, input: 'prompt', extra: [1] } },
    ],
  });
  expectOk(await store.commit({ ...ids, stepId: 'later', expectedVersion: 1, output: {}, events: [{ type: 'fourth' }] }));
  const events = await eventRows(ids);
  assert.deepEqual(events.map((e) => [e.type, e.step_id]),
    [['first', 'start'], ['second', 'start'], ['third', 'start'], ['fourth', 'later']]);
  assert.deepEqual(events[0].payload, { n: 1 });
  assert.equal(events[1].payload, null);
  assert.equal(events[2].payload, null);
  assert.deepEqual(events[2].llm_trace, { ...trace, input: 'prompt', extra: [1] });
  assert.equal(events[0].llm_trace, null);
  assert.equal(typeof events[0].id, 'string', 'bigserial ids arrive as strings');
  const state = expectOk(await store.load(ids.workflowId, ids.runId));
  assert.equal(events[0].created_at.getTime(), state.createdAt.getTime(), 'one timestamp per commit');
});

test('llmTrace validation: a missing hash is a serialization_error and nothing is written', async () => {
  const ids = await createRun({ v: 1 });
  for (const bad of [
    (({ outputHash, ...t }) => t)(trace),
    { ...trace, inputHash: '' },
    { ...trace, promptTokens: -1 },
    { ...trace, durationMs: 'slow' },
  ]) {
    expectError(await store.commit({
      ...ids, stepId: 'llm', expectedVersion: 1, output: { v: 2 },
      events: [{ type: 'ok' }, { type: 'llm', llmTrace: bad }],
      commands: [{ type: 'emit', topic: 't' }],
    }), 'serialization_error', undefined);
  }
  const state = expectOk(await store.load(ids.workflowId, ids.runId));
  assert.equal(state.version, 1);
  assert.deepEqual(state.computed, { v: 1 });
  assert.equal((await eventRows(ids)).length, 0);
  assert.equal((await outboxRows(ids)).length, 0);
});

test('review: defers the other commands; approval releases them, a repeat is a no-op', async () => {
  const ids = await createRun();
  expectOk(await store.commit({
    ...ids, stepId: 'draft', expectedVersion: 1, output: { draft: 'text' },
    commands: [
      { type: 'emit', topic: 'mail', payload: { to: 'x' } },
      { type: 'review', reason: 'check the draft', payload: { draft: 'text' } },
      { type: 'invoke', step: 'publish' },
    ],
  }));
  const block = expectOk(await store.getBlock(ids.workflowId, ids.runId));
  assert.equal(block.type, 'review');
  assert.equal(block.stepId, 'draft');
  assert.equal(block.reason, 'check the draft');
  assert.deepEqual(block.payload, { draft: 'text' });
  assert.equal(block.resolvedAt, null);
  assert.equal(typeof block.id, 'string');
  assert.deepEqual((await outboxRows(ids)).map((r) => [r.command.type, r.status]),
    [['emit', 'deferred'], ['invoke', 'deferred']]);

  const resolved = expectOk(await store.resolveBlock(ids.workflowId, ids.runId, { approved: true, note: 'dropped' }));
  assert.equal(resolved.id, block.id);
  assert.deepEqual(resolved.resolution, { approved: true }, 'stored resolution is the cleaned object');
  assert.ok(resolved.resolvedAt instanceof Date);
  assert.deepEqual((await outboxRows(ids)).map((r) => r.status), ['pending', 'pending']);
  assert.equal(expectOk(await store.getBlock(ids.workflowId, ids.runId)), null);
  assert.equal(expectOk(await store.resolveBlock(ids.workflowId, ids.runId, { approved: false })), null);
  assert.deepEqual((await outboxRows(ids)).map((r) => r.status), ['pending', 'pending']);
  assert.equal(expectOk(await store.load(ids.workflowId, ids.runId)).version, 2, 'resolving leaves state alone');
});

test('review: rejection rejects the deferred commands of the block step only', async () => {
  const ids = await createRun();
  expectOk(await store.commit({
    ...ids, stepId: 'other', expectedVersion: 1, output: {},
    commands: [{ type: 'emit', topic: 'unrelated' }],
  }));
  expectOk(await store.commit({
    ...ids, stepId: 'gate', expectedVersion: 2, output: {},
    commands: [{ type: 'review', reason: 'ok?' }, { type: 'emit', topic: 'after-review' }],
  }));
  const resolved = expectOk(await store.resolveBlock(ids.workflowId, ids.runId, { approved: false }));
  assert.deepEqual(resolved.resolution, { approved: false });
  assert.equal(resolved.payload, null);
  assert.deepEqual((await outboxRows(ids)).map((r) => [r.command.topic, r.status, r.lease_owner]),
    [['unrelated', 'pending', null], ['after-review', 'rejected', null]]);
});

test('suspend: other commands discarded; resolution queues the resume command', async () => {
  const ids = await createRun();
  expectOk(await store.commit({
    ...ids, stepId: 'ask', expectedVersion: 1, output: { asked: true },
    commands: [
      { type: 'emit', topic: 'discarded' },
      { type: 'suspend', reason: 'wait for a human', checkpoint: { page: 3 } },
    ],
  }));
  assert.equal((await outboxRows(ids)).length, 0, 'a suspend discards the other commands');
  const block = expectOk(await store.getBlock(ids.workflowId, ids.runId));
  assert.equal(block.type, 'suspend');
  assert.equal(block.resumeStep, 'ask', 'resume step defaults to the commit step');
  assert.deepEqual(block.payload, { page: 3 });

  const resolved = expectOk(await store.resolveBlock(ids.workflowId, ids.runId, { resumeData: { answer: 42 }, x: 1 }));
  assert.deepEqual(resolved.resolution, { resumeData: { answer: 42 } });
  const rows = await outboxRows(ids);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].step_id, `resume:${block.id}`);
  assert.equal(rows[0].status, 'pending');
  assert.deepEqual(rows[0].command,
    { type: 'invoke', step: 'ask', input: { checkpoint: { page: 3 }, resumeData: { answer: 42 } } });
  const { rows: [key] } = await pool.query('SELECT verist_dedupe_key($1, $2, $3, $4::jsonb) AS k',
    [ids.workflowId, ids.runId, rows[0].step_id, JSON.stringify(rows[0].command)]);
  assert.equal(rows[0].dedupe_key, key.k);
  assert.equal(expectOk(await store.resolveBlock(ids.workflowId, ids.runId, { resumeData: null })), null);
  assert.equal((await outboxRows(ids)).length, 1);
});

test('suspend: resumeStep and a null resumeData', async () => {
  const ids = await createRun();
  expectOk(await store.commit({
    ...ids, stepId: 'ask', expectedVersion: 1, output: {},
    commands: [{ type: 'suspend', reason: 'later', resumeStep: 'continue' }],
  }));
  const block = expectOk(await store.resolveBlock(ids.workflowId, ids.runId, { resumeData: null }));
  assert.equal(block.resumeStep, 'continue');
  assert.deepEqual(block.resolution, { resumeData: null });
  const [row] = await outboxRows(ids);
  assert.deepEqual(row.command, { type: 'invoke', step: 'continue', input: { checkpoint: null, resumeData: null } });
});

test('active_block: a second blocking command is refused, plain commands go out pending', async () => {
  const ids = await createRun();
  expectOk(await store.commit({
    ...ids, stepId: 'gate', expectedVersion: 1, output: {}, commands: [{ type: 'review', reason: 'first' }],
  }));
  expectError(await store.commit({
    ...ids, stepId: 'gate2', expectedVersion: 2, output: { no: 1 },
    commands: [{ type: 'suspend', reason: 'second' }],
  }), 'conflict', 'active_block');
  assert.equal(expectOk(await store.load(ids.workflowId, ids.runId)).version, 2);
  const state = expectOk(await store.commit({
    ...ids, stepId: 'side', expectedVersion: 2, output: {}, commands: [{ type: 'emit', topic: 'side' }],
  }));
  assert.equal(state.version, 3);
  assert.deepEqual((await outboxRows(ids)).map((r) => r.status), ['pending']);
  assert.equal(expectOk(await store.getBlock(ids.workflowId, ids.runId)).reason, 'first');
});

test('command_exists: the same command by the same step in two commits', async () => {
  const ids = await createRun();
  const command = { type: 'emit', topic: 'once', payload: { b: 2, a: 1 } };
  expectOk(await store.commit({ ...ids, stepId: 'send', expectedVersion: 1, output: {}, commands: [command] }));
  // Same command with its keys in another order: the dedupe key is canonical.
  const err = expectError(await store.commit({
    ...ids, stepId: 'send', expectedVersion: 2, output: { second: true }, events: [{ type: 'e' }],
    commands: [{ type: 'emit', topic: 'fresh' }, { payload: { a: 1, b: 2 }, topic: 'once', type: 'emit' }],
  }), 'conflict', 'command_exists');
  assert.equal(err.sqlstate, 'VRC04');
  const state = expectOk(await store.load(ids.workflowId, ids.runId));
  assert.equal(state.version, 2, 'nothing of the refused commit was written');
  assert.equal(state.computed.second, undefined);
  assert.equal((await eventRows(ids)).length, 0);
  assert.equal((await outboxRows(ids)).length, 1);
  // Another step may emit the same command.
  expectOk(await store.commit({ ...ids, stepId: 'send-again', expectedVersion: 2, output: {}, commands: [command] }));
});

test('duplicate command in one commit is a serialization_error', async () => {
  const ids = await createRun();
  expectError(await store.commit({
    ...ids, stepId: 'dup', expectedVersion: 1, output: { x: 1 },
    commands: [{ type: 'invoke', step: 'a', input: 1 }, { type: 'invoke', step: 'a', input: 1 }],
  }), 'serialization_error', undefined);
  assert.equal(expectOk(await store.load(ids.workflowId, ids.runId)).version, 1);
  assert.equal((await outboxRows(ids)).length, 0);
});

test('overlay: shallow merge, version unchanged, effective state = computed || overlay', async () => {
  const ids = await createRun({ a: 1, b: { deep: 1 }, c: 3 });
  const before = expectOk(await store.load(ids.workflowId, ids.runId));
  const s1 = expectOk(await store.setOverlay(ids.workflowId, ids.runId, { b: { fixed: true }, d: 4 }));
  assert.equal(s1.version, 1);
  assert.deepEqual(s1.overlay, { b: { fixed: true }, d: 4 });
  assert.ok(s1.updatedAt >= before.updatedAt);
  const s2 = expectOk(await store.setOverlay(ids.workflowId, ids.runId, { d: 5 }));
  assert.deepEqual(s2.overlay, { b: { fixed: true }, d: 5 }, 'last write wins, other keys kept');
  assert.deepEqual(expectOk(await store.getEffectiveState(ids.workflowId, ids.runId)),
    { a: 1, b: { fixed: true }, c: 3, d: 5 });
  // A later commit changes computed but not the overlay, which still wins.
  const s3 = expectOk(await store.commit({ ...ids, stepId: 's', expectedVersion: 1, output: { b: { deep: 2 }, c: 30 } }));
  assert.deepEqual(s3.overlay, { b: { fixed: true }, d: 5 });
  assert.deepEqual(expectOk(await store.getEffectiveState(ids.workflowId, ids.runId)),
    { a: 1, b: { fixed: true }, c: 30, d: 5 });
});

test('lease: pending rows oldest first, deferred skipped, a live lease is not taken', async () => {
  await drainOutbox();
  const ids = await createRun({}, {
    commands: [{ type: 'emit', topic: 'one' }, { type: 'emit', topic: 'two' }, { type: 'emit', topic: 'three' }],
  });
  expectOk(await store.commit({
    ...ids, stepId: 'gate', expectedVersion: 1, output: {},
    commands: [{ type: 'review', reason: 'r' }, { type: 'emit', topic: 'deferred' }],
  }));
  const first = expectOk(await store.leaseOutbox('worker-a', 2, 60000));
  assert.deepEqual(first.map((e) => e.command.topic), ['one', 'two']);
  const entry = first[0];
  // every column of verist_outbox, 0.6.0's generated queued included
  assert.deepEqual(Object.keys(entry).sort(), ['command', 'createdAt', 'dedupeKey', 'dispatchedAt', 'failures',
    'id', 'lastError', 'leaseExpiresAt', 'leaseOwner', 'queued', 'runId', 'status', 'stepId', 'workflowId'].sort());
  assert.equal(typeof entry.id, 'string');
  assert.equal(entry.status, 'leased');
  assert.equal(entry.queued, true, 'a leased row is queued');
  assert.equal(entry.leaseOwner, 'worker-a');
  assert.equal(entry.workflowId, ids.workflowId);
  assert.equal(entry.stepId, 'start');
  assert.match(entry.dedupeKey, /^[0-9a-f]{64}$/);
  assert.ok(entry.leaseExpiresAt instanceof Date);
  assert.ok(entry.leaseExpiresAt.getTime() > Date.now() + 30000, 'a 60 s lease');
  assert.equal(entry.failures, 0);
  // The rest: 'three' only; the deferred row and worker-a's live leases stay put.
  const second = expectOk(await store.leaseOutbox('worker-b', 10));
  assert.deepEqual(second.map((e) => e.command.topic), ['three']);
  assert.ok(second[0].leaseExpiresAt.getTime() > Date.now() + 10000, 'default lease is 30 s');
  assert.deepEqual(expectOk(await store.leaseOutbox('worker-c', 10)), []);
  assert.equal((await outboxRows(ids)).find((r) => r.command.topic === 'deferred').status, 'deferred');
});

test('lease expiry: another owner reclaims; the old owner then gets lease_mismatch', async () => {
  await drainOutbox();
  const ids = await createRun({}, { commands: [{ type: 'invoke', step: 'slow' }] });
  const [entry] = expectOk(await store.leaseOutbox('sleepy', 1, 200));
  assert.equal(entry.workflowId, ids.workflowId);
  await sleep(400);
  const [again] = expectOk(await store.leaseOutbox('rescuer', 1, 60000));
  assert.equal(again.id, entry.id);
  assert.equal(again.leaseOwner, 'rescuer');
  expectError(await store.markDispatched(entry.id, 'sleepy'), 'conflict', 'lease_mismatch');
  expectOk(await store.markDispatched(entry.id, 'rescuer'));
  const [row] = await outboxRows(ids);
  assert.equal(row.status, 'dispatched');
  assert.equal(row.lease_owner, null);
  assert.equal(row.lease_expires_at, null);
  assert.ok(row.dispatched_at instanceof Date);
  assert.deepEqual(expectOk(await store.leaseOutbox('late', 10)), [], 'dispatched rows are never leased');
});

test('lease_mismatch: a wrong owner cannot finalise and the row is untouched', async () => {
  await drainOutbox();
  const ids = await createRun({}, { commands: [{ type: 'emit', topic: 'mine' }] });
  const [entry] = expectOk(await store.leaseOutbox('owner', 1, 60000));
  const err = expectError(await store.markDispatched(entry.id, 'intruder'), 'conflict', 'lease_mismatch');
  assert.equal(err.sqlstate, 'VRC05');
  expectError(await store.markFailed(entry.id, 'intruder', 'boom'), 'conflict', 'lease_mismatch');
  expectError(await store.markDispatched('999999999999', 'owner'), 'conflict', 'lease_mismatch');
  const [row] = await outboxRows(ids);
  assert.equal(row.status, 'leased');
  assert.equal(row.lease_owner, 'owner');
  assert.equal(row.failures, 0);
  expectOk(await store.markDispatched(entry.id, 'owner'));
  expectError(await store.markDispatched(entry.id, 'owner'), 'conflict', 'lease_mismatch');
});

test('markFailed: failed, failures + 1, last error kept, never leased again', async () => {
  await drainOutbox();
  const ids = await createRun({}, { commands: [{ type: 'emit', topic: 'flaky' }] });
  const [entry] = expectOk(await store.leaseOutbox('w', 1, 60000));
  assert.equal(expectOk(await store.markFailed(entry.id, 'w', 'smtp said no')), undefined);
  const [row] = await outboxRows(ids);
  assert.equal(row.status, 'failed');
  assert.equal(row.failures, 1);
  assert.equal(row.last_error, 'smtp said no');
  assert.equal(row.lease_owner, null);
  assert.equal(row.lease_expires_at, null);
  assert.equal(row.dispatched_at, null);
  assert.deepEqual(expectOk(await store.leaseOutbox('w', 10)), []);
});

test('markDispatchedBatch: finalises only what the owner leases', async () => {
  await drainOutbox();
  const ids = await createRun({}, {
    commands: [{ type: 'emit', topic: 'a' }, { type: 'emit', topic: 'b' }, { type: 'emit', topic: 'c' }],
  });
  const mine = expectOk(await store.leaseOutbox('batcher', 2, 60000));
  const [theirs] = expectOk(await store.leaseOutbox('other', 1, 60000));
  const done = expectOk(await store.markDispatchedBatch([...mine.map((e) => e.id), theirs.id, '999999999999'], 'batcher'));
  assert.deepEqual([...done].sort(), mine.map((e) => e.id).sort());
  assert.ok(done.every((id) => typeof id === 'string'));
  const rows = await outboxRows(ids);
  assert.deepEqual(rows.map((r) => r.status), ['dispatched', 'dispatched', 'leased']);
  assert.equal(rows[2].lease_owner, 'other');
  assert.deepEqual(expectOk(await store.markDispatchedBatch([], 'batcher')), []);
  expectError(await store.markDispatchedBatch(null, 'batcher'), 'serialization_error', undefined);
  expectError(await store.markDispatchedBatch([theirs.id], ''), 'serialization_error', undefined);
});

test('bad inputs are serialization_error and write nothing', async () => {
  const ids = await createRun({ v: 1 });
  const base = { ...ids, stepId: 'bad', expectedVersion: 1, output: { v: 2 } };
  const cases = {
    'empty workflow id': { ...base, workflowId: '' },
    'empty step id': { ...base, stepId: '' },
    'missing run id': { ...base, runId: undefined },
    'negative version': { ...base, expectedVersion: -1 },
    'output missing': { ...base, output: undefined },
    'output an array': { ...base, output: [1] },
    'output JSON null': { ...base, output: null },
    'events an object': { ...base, events: { type: 'x' } },
    'event without type': { ...base, events: [{ payload: {} }] },
    'event with empty type': { ...base, events: [{ type: '' }] },
    'event with extra key': { ...base, events: [{ type: 'x', when: 'now' }] },
    'event payload a string': { ...base, events: [{ type: 'x', payload: 'text' }] },
    'commands an object': { ...base, commands: {} },
    'unknown command type': { ...base, commands: [{ type: 'delete' }] },
    'command with extra key': { ...base, commands: [{ type: 'emit', topic: 't', retries: 3 }] },
    'invoke without step': { ...base, commands: [{ type: 'invoke' }] },
    'fanout inputs not array': { ...base, commands: [{ type: 'fanout', step: 's', inputs: {} }] },
    'review without reason': { ...base, commands: [{ type: 'review' }] },
    'two blocking commands': { ...base, commands: [{ type: 'review', reason: 'a' }, { type: 'suspend', reason: 'b' }] },
    'a BigInt in output': { ...base, output: { n: 1n } },
  };
  for (const [name, args] of Object.entries(cases)) {
    const r = await store.commit(args);
    assert.equal(r.ok, false, name);
    assert.equal(r.error.code, 'serialization_error', `${name}: ${r.error.message}`);
  }
  const state = expectOk(await store.load(ids.workflowId, ids.runId));
  assert.equal(state.version, 1);
  assert.deepEqual(state.computed, { v: 1 });
  assert.equal((await eventRows(ids)).length, 0);
  assert.equal((await outboxRows(ids)).length, 0);
  assert.equal(expectOk(await store.getBlock(ids.workflowId, ids.runId)), null);

  expectError(await store.setOverlay(ids.workflowId, ids.runId, [1]), 'serialization_error', undefined);
  expectError(await store.leaseOutbox('w', 0), 'serialization_error', undefined);
  expectError(await store.leaseOutbox('', 1), 'serialization_error', undefined);
  expectError(await store.leaseOutbox('w', 1, 0), 'serialization_error', undefined);
  expectError(await store.leaseOutbox('w', 1, null), 'serialization_error', undefined);
  expectError(await store.markFailed('1', 'w', null), 'serialization_error', undefined);
  expectError(await store.load('', 'r'), 'serialization_error', undefined);

  // A block's resolution must fit its type.
  expectOk(await store.commit({ ...base, commands: [{ type: 'review', reason: 'r' }] }));
  expectError(await store.resolveBlock(ids.workflowId, ids.runId, 'yes'), 'serialization_error', undefined);
  expectError(await store.resolveBlock(ids.workflowId, ids.runId, { approved: 'yes' }), 'serialization_error', undefined);
  expectError(await store.resolveBlock(ids.workflowId, ids.runId, { resumeData: 1 }), 'serialization_error', undefined);
  assert.equal(expectOk(await store.getBlock(ids.workflowId, ids.runId)).resolvedAt, null);
});

test('errors that are not StorageErrors are rethrown', async () => {
  const ids = await createRun({}, { events: [{ type: 'kept' }] });
  // jsonb input refuses \u0000 before verist runs (SQLSTATE 22P05).
  await assert.rejects(
    store.commit({ ...ids, stepId: 's', expectedVersion: 1, output: { s: 'a\u0000b' } }),
    (err) => err.code === '22P05',
  );
  // The append-only trigger's VRA01 is not a StorageError either.
  await assert.rejects(
    pool.query('DELETE FROM verist_events WHERE workflow_id = $1', [ids.workflowId]).catch(toStorageError),
    (err) => err.code === 'VRA01',
  );
  assert.equal(expectOk(await store.load(ids.workflowId, ids.runId)).version, 1);
  assert.equal((await eventRows(ids)).length, 1);
});

test('concurrent commits with one expected version: exactly one wins', async () => {
  const workflowId = newWorkflow();
  const creates = await Promise.all([1, 2, 3, 4, 5, 6].map((n) =>
    store.commit({ workflowId, runId: 'race', stepId: `c${n}`, expectedVersion: 0, output: { n } })));
  assert.equal(creates.filter((r) => r.ok).length, 1);
  for (const r of creates.filter((r) => !r.ok)) assert.equal(r.error.reason, 'run_exists');
  const updates = await Promise.all([1, 2, 3, 4, 5, 6].map((n) =>
    store.commit({ workflowId, runId: 'race', stepId: `u${n}`, expectedVersion: 1, output: { u: n },
      events: [{ type: `u${n}` }], commands: [{ type: 'emit', topic: `u${n}` }] })));
  const winners = updates.filter((r) => r.ok);
  assert.equal(winners.length, 1);
  for (const r of updates.filter((r) => !r.ok)) assert.equal(r.error.reason, 'version_mismatch');
  const state = expectOk(await store.load(workflowId, 'race'));
  assert.equal(state.version, 2);
  // Only the winner's events and commands exist.
  const ids = { workflowId, runId: 'race' };
  assert.deepEqual((await eventRows(ids)).map((e) => e.type), [`u${state.computed.u}`]);
  assert.deepEqual((await outboxRows(ids)).map((r) => r.command.topic), [`u${state.computed.u}`]);
});

test('concurrent leases never hand one row to two owners', async () => {
  await drainOutbox();
  const ids = await createRun({}, {
    commands: Array.from({ length: 20 }, (_, i) => ({ type: 'invoke', step: `s${i}` })),
  });
  const batches = await Promise.all(['a', 'b', 'c', 'd'].map((owner) => store.leaseOutbox(owner, 6, 60000)));
  const leased = batches.flatMap((r, i) => expectOk(r).map((e) => [e.id, ['a', 'b', 'c', 'd'][i]]));
  assert.equal(new Set(leased.map(([id]) => id)).size, leased.length, 'no id leased twice');
  assert.equal(leased.length, 20);
  const owners = new Map((await outboxRows(ids)).map((r) => [r.id, r.lease_owner]));
  for (const [id, owner] of leased) assert.equal(owners.get(id), owner);
});

// The TypeScript adapter's dedupe key: sha256 of JSON.stringify of the value
// with every object's keys rebuilt in Object.keys(o).sort() order.
function sortedKeys(value) {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const key of Object.keys(value).sort()) out[key] = sortedKeys(value[key]);
    return out;
  }
  return value;
}

test('dedupe keys match the JavaScript algorithm for commands sent by a JS client', async () => {
  const ids = { workflowId: `${newWorkflow()}-é😀`, runId: 'run\t"1"' };
  const commands = [
    { type: 'emit', topic: 'numbers', payload: { a: 1e21, b: 0.1, c: -0, d: 1e-7, e: 123456789012345680000, f: 2 ** 53 + 2 } },
    { type: 'emit', topic: 'keys', payload: { b: 1, a: 2, 10: 'x', 2: 'y', '02': 'z', é: 1, 'Z': 0, '😀': 1, 'ｅ': 2 } },
    { type: 'invoke', step: 'strings', input: ['\u0001\b\f\n\r\t"\\/', 'ü', '\u2028', null, true, [], {}] },
    { type: 'fanout', step: 'nested', inputs: [{ z: { y: { x: [3, { b: 1, a: 0 }] } } }] },
  ];
  expectOk(await store.commit({ ...ids, stepId: 'step·1', expectedVersion: 0, output: {}, commands }));
  const stored = await outboxRows(ids);
  assert.equal(stored.length, commands.length);
  commands.forEach((command, i) => {
    const canonical = JSON.stringify(sortedKeys({ ...ids, stepId: 'step·1', command }));
    const key = createHash('sha256').update(canonical, 'utf8').digest('hex');
    assert.equal(stored[i].dedupe_key, key, `command ${i}: ${canonical}`);
  });
});

test('canonical numbers: 20,000 doubles (random bits, integers around 2^53, short decimals) print exactly as JSON.stringify prints them', async () => {
  // Random bit patterns cover every exponent; the fixed values are doubles
  // whose shortest digits lie on a rounding boundary (1e23 and friends),
  // where PostgreSQL's own shortest-digit printer gives more digits.
  const view = new DataView(new ArrayBuffer(8));
  const values = [1e23, 23021599592181310, 5e-324, 1.7976931348623157e308, 2 ** 53 + 2, 9.5e-7, 1e21, 1e-7,
    2 ** 53, 2 ** 53 - 1, -(2 ** 53), 2 ** 53 + 1, 4503599627370496.5, 0.1 + 0.2];
  while (values.length < 20000) {
    view.setUint32(0, (Math.random() * 2 ** 32) >>> 0);
    view.setUint32(4, (Math.random() * 2 ** 32) >>> 0);
    const x = view.getFloat64(0);
    if (Number.isFinite(x)) values.push(x);
    // and numbers clients send: integers up to and past 2^53, short decimals
    values.push(Math.round((Math.random() - 0.5) * 2 ** (Math.random() * 70)));
    values.push(Math.round(Math.random() * 1e6) / 10 ** Math.floor(Math.random() * 8));
  }
  const text = JSON.stringify(values);
  const { rows } = await pool.query('SELECT verist_canonical_json($1::jsonb) AS canonical', [text]);
  const got = rows[0].canonical.slice(1, -1).split(',');
  const differ = values.filter((v, i) => JSON.stringify(v) !== got[i]);
  assert.deepEqual(differ.slice(0, 5).map((v) => [JSON.stringify(v), got[values.indexOf(v)]]), []);
  assert.equal(got.length, values.length);
});

// Every ```lang block of README's snippet sections, each with the ```text block after it.
async function snippets(lang) {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const sections = [...readme.matchAll(/<!-- snippets:begin -->([\s\S]*?)<!-- snippets:end -->/g)];
  assert.ok(sections.length, 'README.md has sections between <!-- snippets:begin/end --> markers');
  const blocks = sections.flatMap((section) => [...section[1].matchAll(
    new RegExp('```' + lang + '\\n([\\s\\S]*?)```\\s*```text\\n([\\s\\S]*?)```', 'g'))])
    .map((m) => ({ code: m[1], output: m[2] }));
  assert.ok(blocks.length, `README.md's snippet sections have a ${lang} block followed by its text output`);
  return blocks;
}

const normalize = (text) => text.split('\n').map((line) => line.trimEnd()).join('\n').trim();

test('README: the node-postgres snippets print their documented output', async () => {
  const blocks = await snippets('js');
  for (const [i, { code, output }] of blocks.entries()) {
    // A database of its own, so outbox ids start at 1 as the output shows.
    const database = `verist_snippet_node_${i}`;
    await pool.query(`DROP DATABASE IF EXISTS ${database}`);
    await pool.query(`CREATE DATABASE ${database}`);
    const admin = new pg.Client({ database });
    await admin.connect();
    await admin.query('CREATE EXTENSION verist');
    try {
      // --eval resolves 'pg' from the working directory: this one has node_modules.
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', code], {
        cwd: fileURLToPath(new URL('.', import.meta.url)),
        env: { ...process.env, PGDATABASE: database },
      });
      assert.equal(normalize(stdout), normalize(output), `js snippet ${i + 1}`);
      if (code.includes('verist_lease_outbox')) {   // its dispatcher sent the one command
        const { rows } = await admin.query('SELECT status FROM verist_outbox');
        assert.deepEqual(rows, [{ status: 'dispatched' }]);
      }
    } finally {
      await admin.end();
    }
  }
});
