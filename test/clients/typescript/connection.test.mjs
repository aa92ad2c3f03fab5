// Connection loss.  The adapter returns every failure to reach the database as
// { ok: false, error: { code: 'connection_error' } }; so must the package —
// with the server unreachable, with the backend killed in the middle of a
// call, with the reply lost after a commit landed, with the whole server
// stopped (immediate) mid-call — and a commit retried afterwards must be safe.
//
// Needs VERIST_TEST_SERVER_CTL: a script taking "stop" (pg_ctl stop -m
// immediate) and "start" for the cluster at PGHOST:PGPORT
// (test/suites/clients_ts.sh writes it).  Run this file alone, after the
// others: it stops the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { createPgRunStore } from '@verist/storage-pg-verist';
import { ensureExtension, expectErr, expectOk, newPool, newWorkflow, rows } from './helpers.mjs';

const CTL = process.env.VERIST_TEST_SERVER_CTL;
let admin;          // the tests' own pool, for looking and locking
let extversion;

before(async () => {
  assert.ok(CTL, 'VERIST_TEST_SERVER_CTL must name the server stop/start script');
  admin = newPool();
  await ensureExtension(admin);
  extversion = (await admin.query("SELECT extversion FROM pg_extension WHERE extname = 'verist'")).rows[0].extversion;
});
after(() => admin?.end());

// 0.4.0 makes an identical retry of a commit that landed return the stored
// state instead of version_mismatch.  The check below switches on by itself
// when the database runs 0.4.0 or later.
const atLeast = (v, want) => {
  const a = v.split('.').map(Number);
  const b = want.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
};
const IDEMPOTENT_RETRY = () => atLeast(extversion, '0.4.0');

/**
 * The retry rule for a commit whose outcome is unknown (connection_error):
 * send the identical commit again.  ok: it had not landed (or, from 0.4.0,
 * it had and this is its stored state).  version_mismatch: something landed
 * at that version; load the run and see whether it is ours.
 */
async function retryCommit(store, params) {
  const r = await store.commit(params);
  if (r.ok) return { landedBefore: false, state: r.value, retry: r };
  if (r.error.code === 'conflict' && r.error.reason === 'version_mismatch') {
    const loaded = expectOk(await store.load(params.workflowId, params.runId));
    return { landedBefore: true, state: loaded, retry: r };
  }
  assert.fail(`unexpected retry result ${JSON.stringify(r)}`);
}

/** Every method of the store, with arguments that would succeed on a live server. */
function everyCall(store, ids) {
  return {
    load: () => store.load(ids.workflowId, ids.runId),
    commit: () => store.commit({ ...ids, stepId: 'x', expectedVersion: 1, output: { a: 1 }, events: [{ type: 'e' }] }),
    setOverlay: () => store.setOverlay(ids.workflowId, ids.runId, { b: 2 }),
    getBlock: () => store.getBlock(ids.workflowId, ids.runId),
    resolveBlock: () => store.resolveBlock(ids.workflowId, ids.runId, { approved: true }),
    leaseOutbox: async () => {
      expectErr(await store.leaseOutbox('o', 10, 30_000, { mode: 'per_run' }), 'connection_error');
      return store.leaseOutbox('o', 10);
    },
    markDispatched: () => store.markDispatched('1', 'o'),
    markFailed: () => store.markFailed('1', 'o', 'e'),
    getEffectiveState: () => store.getEffectiveState(ids.workflowId, ids.runId),
    markDispatchedBatch: () => store.markDispatchedBatch(['1', '2'], 'o'),
    markRetry: () => store.markRetry('1', 'o', 'e', { maxAttempts: 3 }),
    requeue: () => store.requeue('1'),
    purgeOutbox: () => store.purgeOutbox(1000),
    readEvents: () => store.readEvents('0', 10),
    verifyRun: () => store.verifyRun(ids.workflowId, ids.runId),
    verifyAll: () => store.verifyAll(),
    runDigest: () => store.runDigest(ids.workflowId, ids.runId),
    setWorkflowLimit: () => store.setWorkflowLimit(ids.workflowId, 5),
    readCounters: () => store.readCounters(),
  };
}

async function expectAllConnectionErrors(store, ids, label) {
  const calls = everyCall(store, ids);
  assert.deepEqual(Object.keys(calls).sort(), Object.keys(store).sort(), 'every method is exercised');
  for (const [name, call] of Object.entries(calls)) {
    let result;
    try {
      result = await call();
    } catch (err) {
      assert.fail(`${label}: ${name} threw ${err}`);
    }
    expectErr(result, 'connection_error');
  }
}

/** Wait until a backend of `appName` waits for a lock; its pid. */
async function waitForLockWait(appName) {
  for (let i = 0; i < 200; i++) {
    const r = await admin.query(
      "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [appName]);
    if (r.rows.length) return r.rows[0].pid;
    await sleep(25);
  }
  assert.fail(`no backend of ${appName} waited for the lock`);
}

/** Hold the run's state row locked from another session; returns the release function. */
async function lockRun(pool, ids) {
  const c = await pool.connect();
  c.on('error', () => {}); // checked out: its loss is ours to handle, not the pool's
  await c.query('BEGIN');
  await c.query('SELECT 1 FROM verist_state WHERE workflow_id = $1 AND run_id = $2 FOR UPDATE', [ids.workflowId, ids.runId]);
  return async () => {
    try { await c.query('ROLLBACK'); } catch { /* server gone */ }
    c.release(true);
  };
}

async function closedPort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

const ctl = (what) => execFileSync(CTL, [what], { stdio: 'pipe', timeout: 90_000 });

async function waitForServer() {
  for (let i = 0; i < 300; i++) {
    const c = new pg.Client();
    c.on('error', () => {});
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      return;
    } catch {
      await c.end().catch(() => {});
      await sleep(100);
    }
  }
  assert.fail('the server did not come back');
}

// ---------------------------------------------------------------- tests

test('connection: server unreachable — every method returns connection_error, none throws (pool and drizzle)', async () => {
  const port = await closedPort();
  const pool = new pg.Pool({ port, max: 2, connectionTimeoutMillis: 2000 });
  try {
    const ids = { workflowId: 'w', runId: 'r' };
    await expectAllConnectionErrors(createPgRunStore({ db: drizzle(pool) }), ids, 'drizzle');
    await expectAllConnectionErrors(createPgRunStore(pool), ids, 'pool');
    const e = expectErr(await createPgRunStore(pool).load('w', 'r'), 'connection_error');
    assert.match(e.message, /ECONNREFUSED|connect/);
  } finally {
    await pool.end();
  }
});

test('connection: backend terminated mid-commit → connection_error; the commit had not landed; the retry commits once', async () => {
  const pool = new pg.Pool({ max: 2, application_name: 'verist-victim-1' });   // no 'error' listener of ours
  const store = createPgRunStore({ db: drizzle(pool) });
  try {
    const ids = { workflowId: newWorkflow('conn'), runId: 'r' };
    expectOk(await store.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: { n: 1 } }));
    const release = await lockRun(admin, ids);
    const params = { ...ids, stepId: 'b', expectedVersion: 1, output: { n: 2 }, events: [{ type: 'step_b' }] };
    const pending = store.commit(params);
    const pid = await waitForLockWait('verist-victim-1');
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const e = expectErr(await pending, 'connection_error');
    assert.match(e.message, /terminat/i);
    await release();
    assert.equal(expectOk(await store.load(ids.workflowId, ids.runId)).version, 1, 'not landed');
    const { landedBefore, state } = await retryCommit(store, params);
    assert.equal(landedBefore, false);
    assert.equal(state.version, 2);
    assert.deepEqual(state.computed, { n: 2 });
    assert.equal((await rows(admin, 'verist_events', ids)).length, 1, 'the step\'s event once');
  } finally {
    await pool.end();
  }
});

test('connection: reply lost after the commit landed → connection_error; the identical retry is safe (version_mismatch today, the stored state from 0.4.0)', async () => {
  // A proxy between the pool and the server that, once armed, drops the
  // client's side of the connection at the first byte of the server's answer
  // and lets the server finish (and commit) on its side.
  let armed = false;
  const sockets = new Set();
  const proxy = net.createServer((client) => {
    const server = net.connect(Number(process.env.PGPORT), process.env.PGHOST || '127.0.0.1');
    sockets.add(client); sockets.add(server);
    client.on('error', () => {}); server.on('error', () => {});
    client.on('data', (d) => server.write(d));
    server.on('data', (d) => {
      if (armed) {
        armed = false;
        client.destroy();
        setTimeout(() => server.end(), 500);
        return;
      }
      client.write(d);
    });
    client.on('close', () => { if (!armed) server.end(); });
    server.on('close', () => client.destroy());
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  const pool = new pg.Pool({ host: '127.0.0.1', port: proxy.address().port, max: 1 });
  const store = createPgRunStore({ db: drizzle(pool) });
  try {
    const ids = { workflowId: newWorkflow('conn'), runId: 'r' };
    expectOk(await store.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: { n: 1 } }));
    const params = { ...ids, stepId: 'b', expectedVersion: 1, output: { n: 2 }, events: [{ type: 'step_b' }],
      commands: [{ type: 'emit', topic: 'b.done', payload: { n: 2 } }] };
    armed = true;
    expectErr(await store.commit(params), 'connection_error');
    await sleep(600);
    // it landed: the server committed before the connection went
    const direct = createPgRunStore(admin);
    const landed = expectOk(await direct.load(ids.workflowId, ids.runId));
    assert.equal(landed.version, 2, 'the first attempt landed');
    const { landedBefore, state, retry } = await retryCommit(store, params);
    if (IDEMPOTENT_RETRY()) {
      // >= 0.4.0: the identical retry returns the stored state
      assert.equal(retry.ok, true, `0.4.0 idempotent retry: ${JSON.stringify(retry)}`);
      assert.equal(state.version, 2);
    } else {
      // 0.3.1: version_mismatch, and the loaded run shows our output
      expectErr(retry, 'conflict', 'version_mismatch');
      assert.equal(landedBefore, true);
    }
    assert.equal(state.version, 2);
    assert.deepEqual(state.computed, { n: 2 });
    // exactly once: one event, one outbox row for the step
    assert.equal((await rows(admin, 'verist_events', ids)).length, 1);
    assert.equal((await rows(admin, 'verist_outbox', ids)).length, 1);
  } finally {
    await pool.end();
    for (const s of sockets) s.destroy();
    await new Promise((r) => proxy.close(r));
  }
});

test('connection: server stopped (immediate) mid-commit → connection_error; every call while it is down too; after restart the store works and the retry commits once', async () => {
  // Pools and a client with idle connections and no 'error' listener of
  // ours: if the package did not guard them, their dying connections would
  // crash this process ("Unhandled 'error' event").
  const pool = new pg.Pool({ max: 3, application_name: 'verist-victim-2' });
  const viaDrizzle = createPgRunStore({ db: drizzle(pool) });
  const viaPool = createPgRunStore(pool);
  const client = new pg.Client();
  await client.connect();
  const viaClient = createPgRunStore({ db: client });
  const ids = { workflowId: newWorkflow('conn'), runId: 'r' };
  try {
    expectOk(await viaDrizzle.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: { n: 1 } }));
    await Promise.all([viaPool.load(ids.workflowId, 'r'), viaPool.getBlock(ids.workflowId, 'r'), viaClient.load(ids.workflowId, 'r')]);
    const lockPool = new pg.Pool({ max: 1 });
    lockPool.on('error', () => {});
    const release = await lockRun(lockPool, ids);
    const params = { ...ids, stepId: 'b', expectedVersion: 1, output: { n: 2 }, events: [{ type: 'step_b' }] };
    const pending = viaDrizzle.commit(params);
    await waitForLockWait('verist-victim-2');
    ctl('stop');
    try {
      expectErr(await pending, 'connection_error');
      await release();
      await lockPool.end().catch(() => {});
      await expectAllConnectionErrors(viaDrizzle, ids, 'drizzle, server down');
      await expectAllConnectionErrors(viaPool, ids, 'pool, server down');
      await expectAllConnectionErrors(viaClient, ids, 'client, server down');
    } finally {
      ctl('start');
    }
    await waitForServer();
    // the pool replaces its dead connections: the same store works again
    const { landedBefore, state } = await retryCommit(viaDrizzle, params);
    assert.equal(landedBefore, false, 'an uncommitted transaction does not survive an immediate stop');
    assert.equal(state.version, 2);
    assert.deepEqual(expectOk(await viaPool.load(ids.workflowId, 'r')).computed, { n: 2 });
    assert.equal((await rows(admin, 'verist_events', ids)).length, 1);
    // a pg.Client is one connection: after losing it, it keeps answering connection_error
    expectErr(await viaClient.load(ids.workflowId, 'r'), 'connection_error');
  } finally {
    await pool.end().catch(() => {});
    await client.end().catch(() => {});
  }
});
