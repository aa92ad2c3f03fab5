// Latency overhead of @verist/storage-pg-verist over a bare pool.query of
// verist_commit.  Run by test/bench/ts_overhead.sh from a scratch project
// where the packed tarball is installed (libpq environment variables name the
// server).
//
// Four ways to commit the same step, all on one connection (a pool of 1),
// one call at a time:
//   bare     pool.query("SELECT * FROM verist_commit($1..$7::jsonb)", [...JSON.stringify...])
//   bare7    the same, selecting the seven columns the package selects
//   package  createPgRunStore(pool).commit(params)
//   drizzle  createPgRunStore({ db: drizzle(pool) }).commit(params)
// One iteration creates a run (expected version 0, two events, one command)
// and commits its next step (expected version 1) with each variant in turn,
// in a new random order every iteration, so that whatever else the machine
// does hits all variants alike.  Reported: each variant's median latency per
// commit, and the median of the per-iteration differences to the bare
// queries (paired, so drift cancels), relative to the bare query's median.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { createPgRunStore } from '@verist/storage-pg-verist';

const ITERATIONS = Number(process.env.ITERATIONS ?? 3000);
const WARMUP = Number(process.env.WARMUP ?? 100);

const COMMIT_SQL =
  'SELECT * FROM verist_commit($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb)';
// The columns the package asks for (RunState's seven), for a baseline that
// differs from the package only on the client side.
const COMMIT_SQL_COLUMNS =
  'SELECT workflow_id, run_id, version, computed, overlay, created_at, updated_at' +
  ' FROM verist_commit($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb)';

function step(workflowId, runId, n, version) {
  return {
    workflowId,
    runId,
    stepId: version === 0 ? 'extract' : 'score',
    expectedVersion: version,
    output: version === 0
      ? { vendor: 'ACME GmbH', total: 1250 + n, lines: ['consulting', 'travel'] }
      : { score: 0.87, verdict: 'accept' },
    events: [
      { type: 'step_started', payload: { n } },
      { type: 'llm_call', llmTrace: { model: 'm', promptTokens: 120, completionTokens: 30, durationMs: 812, inputHash: 'sha256:a', outputHash: 'sha256:b' } },
    ],
    commands: [{ type: 'emit', topic: version === 0 ? 'extracted' : 'scored', payload: { n } }],
  };
}

function bareCommit(pool, text) {
  return async (p) => {
    const r = await pool.query(text, [
      p.workflowId, p.runId, p.stepId, p.expectedVersion,
      JSON.stringify(p.output), JSON.stringify(p.events), JSON.stringify(p.commands),
    ]);
    if (r.rows.length !== 1) throw new Error('no row');
  };
}

function storeCommit(store) {
  return async (p) => {
    const r = await store.commit(p);
    if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** One iteration of a variant: two commits (create, then the next step); their latencies in µs. */
async function iteration(commit, wf, i) {
  const lat = [];
  for (const v of [0, 1]) {
    const p = step(wf, `r${i}`, i, v);
    const t = process.hrtime.bigint();
    await commit(p);
    lat.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  return lat;
}

// One pool of one connection under all three: the same backend serves every
// variant, so only the client side differs.
const pool = new pg.Pool({ max: 1 });
const variants = {
  bare: bareCommit(pool, COMMIT_SQL),
  bare7: bareCommit(pool, COMMIT_SQL_COLUMNS),
  package: storeCommit(createPgRunStore(pool)),
  drizzle: storeCommit(createPgRunStore({ db: drizzle(pool) })),
};

const settings = (await pool.query(
  "SELECT current_setting('server_version') AS v, current_setting('fsync') AS fsync, " +
  "current_setting('synchronous_commit') AS sc, " +
  "(SELECT extversion FROM pg_extension WHERE extname = 'verist') AS ext")).rows[0];
console.log(`PostgreSQL ${settings.v}, verist ${settings.ext}, fsync=${settings.fsync}, ` +
  `synchronous_commit=${settings.sc}; node ${process.version}; ${ITERATIONS} iterations of 2 commits ` +
  `per variant, interleaved`);

const names = Object.keys(variants);
const wf = Object.fromEntries(names.map((k) => [k, `bench-${k}-${randomUUID()}`]));
for (let i = 0; i < WARMUP; i++) for (const k of names) await iteration(variants[k], `warm-${wf[k]}`, i);

const lat = Object.fromEntries(names.map((k) => [k, []]));      // per commit
const iter = Object.fromEntries(names.map((k) => [k, []]));     // per iteration (sum of its two commits)
for (let i = 0; i < ITERATIONS; i++) {
  const order = [...names].sort(() => Math.random() - 0.5);
  for (const k of order) {
    const l = await iteration(variants[k], wf[k], i);
    lat[k].push(...l);
    iter[k].push(l[0] + l[1]);
  }
}

const m = Object.fromEntries(names.map((k) => [k, median(lat[k])]));
/** Median of the per-iteration difference a - b, relative to b's median per iteration. */
const paired = (a, b) => {
  const d = median(iter[a].map((x, i) => x - iter[b][i])) / median(iter[b]) * 100;
  return `${d >= 0 ? '+' : ''}${d.toFixed(2)} %`;
};
console.log('variant   median µs/commit   paired vs bare (SELECT *)   paired vs bare7 (same columns)');
for (const k of names) {
  console.log(`${k.padEnd(9)} ${m[k].toFixed(1).padStart(16)}   ${(k === 'bare' ? '—' : paired(k, 'bare')).padStart(25)}   ` +
    `${(k === 'bare7' ? '—' : paired(k, 'bare7')).padStart(30)}`);
}
const over = (k) => Math.max(...['bare', 'bare7'].map((b) => median(iter[k].map((x, i) => x - iter[b][i])) / median(iter[b]) * 100));
console.log(`overhead, worst of package and drizzle against either bare query: ${Math.max(over('package'), over('drizzle')).toFixed(2)} % (target < 5 %)`);
await pool.end();

// The client side alone: the same calls against a stand-in for the pool that
// answers at once with a state row, so only the JavaScript work is timed.
const row = { workflow_id: 'w', run_id: 'r', version: 2, computed: { a: 1 }, overlay: {}, created_at: new Date(), updated_at: new Date() };
const instant = { query: async () => ({ rows: [row] }) };
const cpu = { bare: bareCommit(instant, COMMIT_SQL), package: storeCommit(createPgRunStore(instant)) };
const CPU_CALLS = 100_000;
const cpuTimes = { bare: [], package: [] };
for (let r = 0; r < 6; r++) {
  for (const k of r % 2 ? ['package', 'bare'] : ['bare', 'package']) {
    const p = step('w', 'r', 1, 1);
    const t = process.hrtime.bigint();
    for (let i = 0; i < CPU_CALLS; i++) await cpu[k](p);
    cpuTimes[k].push(Number(process.hrtime.bigint() - t) / CPU_CALLS / 1000);
  }
}
console.log(`client-side work per commit (no database, median of 6 x ${CPU_CALLS} calls): ` +
  `bare ${median(cpuTimes.bare).toFixed(2)} µs, package ${median(cpuTimes.package).toFixed(2)} µs`);
