// The exported drizzle definitions against the extension's real tables and
// views, users' own drizzle queries on them, the store inside a drizzle
// transaction and inside a pg.Client's BEGIN, and the mapping of errors that
// are not verist's (the adapter's catch-all connection_error).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { and, desc, eq, sql } from 'drizzle-orm';
import { PgDialect, getTableConfig, getViewConfig } from 'drizzle-orm/pg-core';
import * as root from '@verist/storage-pg-verist';
import * as schema from '@verist/storage-pg-verist/schema';
import { createPgRunStore } from '@verist/storage-pg-verist';
import { ensureExtension, expectErr, expectOk, newPool, newWorkflow } from './helpers.mjs';

let pool;
let db;
let store;
let exact;   // the database runs 0.6.0, whose tables the definitions describe

before(async () => {
  pool = newPool();
  await ensureExtension(pool);
  db = drizzle(pool);
  store = createPgRunStore({ db });
  const { rows } = await pool.query("SELECT extversion FROM pg_extension WHERE extname = 'verist'");
  exact = rows[0].extversion === '0.6.0';
  const [major, minor] = rows[0].extversion.split('.').map(Number);
  assert.ok(major > 0 || minor >= 6, `extension version ${rows[0].extversion} is at least 0.6.0`);
});

/**
 * The definitions describe 0.6.0.  On 0.6.0 they must be exactly the
 * database's; a later version may add columns and indexes (upgrades only
 * add), so there they must be all there, in the same order.
 */
function assertDescribes(mine, theirs, what) {
  if (exact) {
    assert.deepEqual(mine, theirs, what);
  } else {
    assert.deepEqual(theirs.filter((x) => mine.includes(x)), mine, `${what}: every defined one exists, in order`);
  }
}
after(() => pool.end());

const TABLES = {
  verist_state: 'veristState',
  verist_events: 'veristEvents',
  verist_outbox: 'veristOutbox',
  verist_blocks: 'veristBlocks',
  verist_ledger: 'veristLedger',
  verist_retired: 'veristRetired',
  verist_workflow_limits: 'veristWorkflowLimits',
};
const VIEWS = {
  verist_outbox_stats: 'veristOutboxStats',
  verist_active_blocks: 'veristActiveBlocks',
  verist_run_summary: 'veristRunSummary',
  verist_counters: 'veristCounters',
};

// The columns of @verist/storage-pg's drizzle schema (property → SQL name,
// type): queries written against it must keep compiling and running.
const ADAPTER_COLUMNS = {
  veristState: { workflowId: 'workflow_id text', runId: 'run_id text', version: 'version integer',
    computed: 'computed jsonb', overlay: 'overlay jsonb', createdAt: 'created_at timestamp with time zone',
    updatedAt: 'updated_at timestamp with time zone' },
  veristEvents: { id: 'id bigserial', workflowId: 'workflow_id text', runId: 'run_id text', stepId: 'step_id text',
    type: 'type text', payload: 'payload jsonb', llmTrace: 'llm_trace jsonb', createdAt: 'created_at timestamp with time zone' },
  veristOutbox: { id: 'id bigserial', workflowId: 'workflow_id text', runId: 'run_id text', stepId: 'step_id text',
    command: 'command jsonb', dedupeKey: 'dedupe_key text', status: 'status text', leaseOwner: 'lease_owner text',
    leaseExpiresAt: 'lease_expires_at timestamp with time zone', failures: 'failures integer',
    lastError: 'last_error text', createdAt: 'created_at timestamp with time zone',
    dispatchedAt: 'dispatched_at timestamp with time zone' },
  veristBlocks: { id: 'id bigserial', workflowId: 'workflow_id text', runId: 'run_id text', stepId: 'step_id text',
    type: 'type text', reason: 'reason text', payload: 'payload jsonb', resumeStep: 'resume_step text',
    resolution: 'resolution jsonb', createdAt: 'created_at timestamp with time zone',
    resolvedAt: 'resolved_at timestamp with time zone' },
};

const sqlType = (t) => (t === 'bigserial' ? 'bigint' : t);
const dialect = new PgDialect();
/** An expression as text, without its table's name, quotes or outer parentheses. */
function exprText(text) {
  let t = text.replace(/"verist_[a-z_]+"\./g, '').replace(/"/g, '').replace(/\s+/g, ' ').trim();
  while (/^\(.*\)$/.test(t) && balanced(t.slice(1, -1))) t = t.slice(1, -1).trim();
  return t;
}
function balanced(t) {
  let depth = 0;
  for (const ch of t) {
    depth += ch === '(' ? 1 : ch === ')' ? -1 : 0;
    if (depth < 0) return false;
  }
  return depth === 0;
}
const drizzleExpr = (q) => exprText(dialect.sqlToQuery(q).sql);

/** A definition's column: name, type, NOT NULL, and a generated column's expression. */
const myColumn = (c) => `${c.name} ${sqlType(c.getSQLType())}${c.notNull ? ' not null' : ''}` +
  (c.generated ? ` generated always as (${drizzleExpr(c.generated.as)}) ${c.generated.mode}` : '');

async function dbColumns(name) {
  const r = await pool.query(
    `SELECT column_name, data_type, is_nullable, is_generated, generation_expression
     FROM information_schema.columns
     WHERE table_name = $1 ORDER BY ordinal_position`, [name]);
  return r.rows.map((c) => `${c.column_name} ${c.data_type}${c.is_nullable === 'NO' ? ' not null' : ''}` +
    (c.is_generated === 'ALWAYS' ? ` generated always as (${exprText(c.generation_expression)}) stored` : ''));
}

test('schema: the table and view definitions are exported from the root and from /schema, the same objects', () => {
  for (const exp of [...Object.values(TABLES), ...Object.values(VIEWS)]) {
    assert.ok(schema[exp], `/schema exports ${exp}`);
    assert.equal(root[exp], schema[exp], `root and /schema export the same ${exp}`);
  }
});

/** The extension's own tables or views (relkind 'r' or 'v'), by name. */
async function extensionRelations(relkind) {
  const r = await pool.query(
    `SELECT c.relname FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
     JOIN pg_extension e ON e.oid = d.refobjid
     WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND e.extname = 'verist' AND c.relkind = $1
     ORDER BY 1`, [relkind]);
  return r.rows.map((x) => x.relname);
}

test('schema: there is a definition of every table and view the extension creates (0.6.0; later versions may add)', async () => {
  assertDescribes(Object.keys(TABLES).sort(), await extensionRelations('r'), 'tables');
  assertDescribes(Object.keys(VIEWS).sort(), await extensionRelations('v'), 'views');
});

test('schema: every table definition has exactly the extension\'s columns (name, type, NOT NULL, generated expression) in order (0.6.0; later versions may add)', async () => {
  for (const [name, exp] of Object.entries(TABLES)) {
    const cfg = getTableConfig(schema[exp]);
    assert.equal(cfg.name, name);
    assertDescribes(cfg.columns.map(myColumn), await dbColumns(name), name);
  }
  // 0.6.0: the outbox's last column is generated, so drizzle never writes it
  const queued = getTableConfig(schema.veristOutbox).columns.at(-1);
  assert.equal(myColumn(queued),
    "queued boolean not null generated always as (status = ANY ('{pending,leased}'::text[])) stored");
});

test('schema: every table definition has the extension\'s indexes (name, unique, columns, predicate) and primary keys', async () => {
  for (const [name, exp] of Object.entries(TABLES)) {
    const cfg = getTableConfig(schema[exp]);
    const mine = cfg.indexes.map((i) => `${i.config.name}${i.config.unique ? ' unique' : ''}` +
      ` (${i.config.columns.map((c) => c.name).join(', ')})` +
      (i.config.where ? ` where ${drizzleExpr(i.config.where)}` : ''));
    const r = await pool.query(
      `SELECT i.relname, x.indisunique, pg_get_expr(x.indpred, x.indrelid) AS pred, x.indisprimary,
              (SELECT string_agg(a.attname, ', ' ORDER BY k.n)
               FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, n)
               JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum) AS cols
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
       WHERE t.relname = $1`, [name]);
    const theirs = r.rows.filter((x) => !x.indisprimary)
      .map((x) => `${x.relname}${x.indisunique ? ' unique' : ''} (${x.cols})${x.pred ? ` where ${exprText(x.pred)}` : ''}`);
    assertDescribes([...mine].sort(), [...theirs].sort(), name);
    const pk = r.rows.find((x) => x.indisprimary);
    const myPk = cfg.primaryKeys.length
      ? cfg.primaryKeys[0].getName()
      : cfg.columns.filter((c) => c.primary).map((c) => c.name).join();
    assert.ok(pk, `${name} has a primary key`);
    if (cfg.primaryKeys.length) assert.equal(myPk, pk.relname);
    else assert.equal(`${name}_pkey`, pk.relname);
  }
});

test('schema: every table definition names the extension\'s CHECK constraints; the defaults are the database\'s', async () => {
  for (const [name, exp] of Object.entries(TABLES)) {
    const cfg = getTableConfig(schema[exp]);
    const mine = cfg.checks.map((c) => c.name).sort();
    const r = await pool.query(
      `SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c' ORDER BY 1`, [name]);
    assertDescribes(mine, r.rows.map((x) => x.conname), `${name} checks`);
  }
  // the new table's default and checks at work: updated_at defaults to now(),
  // a negative cap and an empty workflow id are refused by the table
  const w = newWorkflow();
  const { rows: [row] } = await pool.query(
    'INSERT INTO verist_workflow_limits (workflow_id, max_in_flight) VALUES ($1, 3) RETURNING updated_at, now() AS now', [w]);
  assert.equal(row.updated_at.getTime(), row.now.getTime());
  await pool.query('DELETE FROM verist_workflow_limits WHERE workflow_id = $1', [w]);
  for (const [id, n, conname] of [[w, -1, 'verist_workflow_limits_max_in_flight_check'], ['', 1, 'verist_workflow_limits_workflow_id_check']]) {
    await assert.rejects(pool.query('INSERT INTO verist_workflow_limits (workflow_id, max_in_flight) VALUES ($1, $2)', [id, n]),
      (err) => err.code === '23514' && err.constraint === conname);
  }
  const limits = getTableConfig(schema.veristWorkflowLimits);
  assert.ok(limits.columns.find((c) => c.name === 'updated_at').hasDefault, 'updated_at has a default');
});

test('schema: the view definitions have exactly the columns of the extension\'s operator views and can be queried', async () => {
  for (const [name, exp] of Object.entries(VIEWS)) {
    const cfg = getViewConfig(schema[exp]);
    assert.equal(cfg.name, name);
    assert.ok(cfg.isExisting, `${name} is declared .existing()`);
    const mine = Object.values(cfg.selectedFields).map((c) => c.name);
    const theirs = (await dbColumns(name)).map((c) => c.split(' ')[0]);
    assertDescribes(mine, theirs, name);
    await db.select().from(schema[exp]).limit(1);
  }
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  expectOk(await store.commit({ ...ids, stepId: 's', expectedVersion: 0, output: {},
    commands: [{ type: 'review', reason: 'see' }, { type: 'emit', topic: 't', payload: 1 }] }));
  const [summary] = await db.select().from(schema.veristRunSummary)
    .where(and(eq(schema.veristRunSummary.workflowId, ids.workflowId), eq(schema.veristRunSummary.runId, 'r')));
  assert.equal(summary.version, 1);
  assert.equal(summary.activeBlock, 'review');
  assert.equal(summary.deferredCommands, 1);
  assert.equal(summary.pendingCommands, 0);
  const [stats] = await db.select().from(schema.veristOutboxStats);
  assert.equal(typeof stats.deferred, 'number');
  assert.ok(stats.deferred >= 1);
});

test('schema: the adapter\'s columns (property names, SQL names and types) are all there, unrenamed', () => {
  for (const [exp, cols] of Object.entries(ADAPTER_COLUMNS)) {
    for (const [prop, def] of Object.entries(cols)) {
      const col = schema[exp][prop];
      assert.ok(col, `${exp}.${prop}`);
      assert.equal(`${col.name} ${col.getSQLType()}`, def, `${exp}.${prop}`);
    }
  }
});

test('schema: users\' own drizzle queries run on the extension\'s tables (select, join, order, count)', async () => {
  const { veristState, veristEvents, veristOutbox } = schema;
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  expectOk(await store.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: { x: 1 },
    events: [{ type: 'one' }, { type: 'two', payload: { n: 2 } }], commands: [{ type: 'invoke', step: 'b', input: 1 }] }));
  const joined = await db
    .select({ version: veristState.version, type: veristEvents.type, seq: veristEvents.seq, id: veristEvents.id })
    .from(veristState)
    .innerJoin(veristEvents, and(eq(veristEvents.workflowId, veristState.workflowId), eq(veristEvents.runId, veristState.runId)))
    .where(eq(veristState.workflowId, ids.workflowId))
    .orderBy(desc(veristEvents.seq));
  assert.deepEqual(joined.map((r) => [r.version, r.type, r.seq]), [[1, 'two', 2], [1, 'one', 1]]);
  assert.equal(typeof joined[0].id, 'bigint');
  const [{ n }] = await db.select({ n: sql`count(*)::int` }).from(veristOutbox)
    .where(and(eq(veristOutbox.workflowId, ids.workflowId), eq(veristOutbox.status, 'pending')));
  assert.equal(n, 1);
  // 0.6.0's generated column reads as a boolean, and filters as the ready index does
  const queued = await db.select({ status: veristOutbox.status, queued: veristOutbox.queued }).from(veristOutbox)
    .where(and(eq(veristOutbox.workflowId, ids.workflowId), veristOutbox.queued));
  assert.deepEqual(queued, [{ status: 'pending', queued: true }]);
});

test('schema: the event log refuses an UPDATE through drizzle (append-only by trigger)', async () => {
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  expectOk(await store.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: {}, events: [{ type: 'kept' }] }));
  await assert.rejects(
    db.update(schema.veristEvents).set({ type: 'changed' }).where(eq(schema.veristEvents.workflowId, ids.workflowId)),
    (err) => (err.cause ?? err).code === 'VRA01',
  );
});

// ---------------------------------------------------------------- transactions

test('drizzle transaction: the store works on tx; a refused call leaves the transaction usable; a rollback undoes the commit', async () => {
  const ids = { workflowId: newWorkflow(), runId: 'r' };
  const marker = new Error('roll back');
  await assert.rejects(db.transaction(async (tx) => {
    const s = createPgRunStore({ db: tx });
    expectOk(await s.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: { inTx: true } }));
    expectErr(await s.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: {} }), 'conflict', 'run_exists');
    expectErr(await s.setOverlay(newWorkflow(), 'missing', {}), 'not_found');
    // still usable: the refused calls were rolled back to their savepoints
    const r = await tx.execute(sql`SELECT version FROM verist_state WHERE workflow_id = ${ids.workflowId}`);
    assert.equal(r.rows[0].version, 1);
    expectOk(await s.commit({ ...ids, stepId: 'b', expectedVersion: 1, output: { more: 1 } }));
    throw marker;
  }), (e) => e === marker);
  expectErr(await store.load(ids.workflowId, ids.runId), 'not_found');

  await db.transaction(async (tx) => {
    const s = createPgRunStore({ db: tx });
    expectOk(await s.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: { kept: true } }));
    expectErr(await s.commit({ ...ids, stepId: 'b', expectedVersion: 7, output: {} }), 'conflict', 'version_mismatch');
  });
  assert.deepEqual(expectOk(await store.load(ids.workflowId, ids.runId)).computed, { kept: true });
});

test('drizzle transaction with a pg before 8.21 (no getTransactionStatus): still under savepoints', async () => {
  const saved = pg.Client.prototype.getTransactionStatus;
  delete pg.Client.prototype.getTransactionStatus;
  try {
    const ids = { workflowId: newWorkflow(), runId: 'r' };
    await db.transaction(async (tx) => {
      const s = createPgRunStore({ db: tx });
      expectOk(await s.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: { old: true } }));
      expectErr(await s.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: {} }), 'conflict', 'run_exists');
      expectOk(await s.commit({ ...ids, stepId: 'b', expectedVersion: 1, output: { after: 1 } }));
    });
    assert.equal(expectOk(await store.load(ids.workflowId, ids.runId)).version, 2);
  } finally {
    pg.Client.prototype.getTransactionStatus = saved;
  }
});

test('pg.Client inside BEGIN: the store joins the caller\'s transaction; refusals leave it usable', async () => {
  const client = new pg.Client();
  await client.connect();
  try {
    const s = createPgRunStore({ db: client });
    const ids = { workflowId: newWorkflow(), runId: 'r' };
    await client.query('BEGIN');
    expectOk(await s.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: { n: 1 } }));
    expectErr(await s.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: {} }), 'conflict', 'run_exists');
    const { rows } = await client.query('SELECT version FROM verist_state WHERE workflow_id = $1', [ids.workflowId]);
    assert.equal(rows[0].version, 1);
    expectErr(await store.load(ids.workflowId, ids.runId), 'not_found'); // not committed yet
    await client.query('COMMIT');
    assert.equal(expectOk(await store.load(ids.workflowId, ids.runId)).version, 1);
    // outside a transaction: one statement each, autocommit
    expectOk(await s.commit({ ...ids, stepId: 'b', expectedVersion: 1, output: {} }));
    assert.equal(expectOk(await store.load(ids.workflowId, ids.runId)).version, 2);
  } finally {
    await client.end();
  }
});

// ---------------------------------------------------------------- errors that are not verist's

test('errors: anything that is not verist\'s own SQLSTATE is connection_error (the adapter\'s catch-all), never a throw', async () => {
  // a role that may connect but was granted nothing: permission denied (42501)
  const role = `noexec_${Math.random().toString(36).slice(2)}`;
  await pool.query(`CREATE ROLE ${role} LOGIN`);
  const p = new pg.Pool({ user: role, max: 1 });
  p.on('error', () => {});
  try {
    const s = createPgRunStore({ db: drizzle(p) });
    const e = expectErr(await s.commit({ workflowId: 'w', runId: 'r', stepId: 's', expectedVersion: 0, output: {} }), 'connection_error');
    assert.match(e.message, /permission denied/);
    expectErr(await s.load('w', 'r'), 'connection_error');
    expectErr(await s.leaseOutbox('o', 1), 'connection_error');
  } finally {
    await p.end();
    await pool.query(`DROP ROLE ${role}`);
  }
  // a statement timeout (57014)
  const slow = new pg.Pool({ max: 1, statement_timeout: 300 });
  slow.on('error', () => {});
  try {
    const client = await slow.connect();
    await client.query('BEGIN');
    const s = createPgRunStore({ db: client });
    // hold the run's row from another session so the commit waits past the timeout
    const ids = { workflowId: newWorkflow(), runId: 'r' };
    expectOk(await store.commit({ ...ids, stepId: 'a', expectedVersion: 0, output: {} }));
    const locker = await pool.connect();
    await locker.query('BEGIN');
    await locker.query('SELECT 1 FROM verist_state WHERE workflow_id = $1 FOR UPDATE', [ids.workflowId]);
    const e = expectErr(await s.commit({ ...ids, stepId: 'b', expectedVersion: 1, output: {} }), 'connection_error');
    assert.match(e.message, /statement timeout/);
    await locker.query('ROLLBACK');
    locker.release();
    await client.query('ROLLBACK');
    client.release();
  } finally {
    await slow.end();
  }
});

test('errors: STORAGE_ERRORS maps every verist SQLSTATE to the adapter\'s {code, reason}', () => {
  assert.deepEqual(root.STORAGE_ERRORS, {
    VRC01: { code: 'conflict', reason: 'run_exists' },
    VRC02: { code: 'conflict', reason: 'version_mismatch' },
    VRC03: { code: 'conflict', reason: 'active_block' },
    VRC04: { code: 'conflict', reason: 'command_exists' },
    VRC05: { code: 'conflict', reason: 'lease_mismatch' },
    VRC06: { code: 'conflict', reason: 'not_failed' },
    VRN01: { code: 'not_found' },
    VRS01: { code: 'serialization_error' },
  });
  // drizzle wraps driver errors: the SQLSTATE is read from the cause too
  const wrapped = new Error('Failed query');
  wrapped.cause = Object.assign(new Error('version mismatch'), { code: 'VRC02', detail: 'expected 1' });
  assert.deepEqual(root.toStorageError(wrapped),
    { code: 'conflict', reason: 'version_mismatch', message: 'Failed query (expected 1)' });
  assert.deepEqual(root.toStorageError(Object.assign(new Error('x'), { code: '08006' })),
    { code: 'connection_error', message: 'x' });
});
