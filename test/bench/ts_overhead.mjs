// Latency overhead of @verist/storage-pg-verist over a bare pool.query of
// verist_commit.  Run by test/bench/ts_overhead.sh from a scratch project
// where the packed tarball is installed (libpq environment variables name the
// server).
//
// Three ways to commit the same step, all on one connection (a pool of 1),
// one call at a time:
//   bare     pool.query("SELECT * FROM verist_commit($1..$7::jsonb)", [...JSON.stringify...])
//   package  createPgRunStore(pool).commit(params)
//   drizzle  createPgRunStore({ db: drizzle(pool) }).commit(params)
// Every call creates a run (expected version 0) with two events and one
// command, then commits its next step (expected version 1): two commits per
// iteration.  The variants are interleaved in blocks (ROUNDS blocks of
// BLOCK iterations each, the order shuffled per round) so that drift of the
// machine hits all alike; a variant's figure is the median over rounds of
// the per-block median latency.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { createPgRunStore } from '@verist/storage-pg-verist';

const ROUNDS = Number(process.env.ROUNDS ?? 30);
const BLOCK = Number(process.env.BLOCK ?? 100);
const WARMUP = Number(process.env.WARMUP ?? 300);

const COMMIT_SQL =
  'SELECT * FROM verist_commit($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb)';

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

function bareCommit(pool) {
  return async (p) => {
    const r = await pool.query(COMMIT_SQL, [
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

async function block(commit, tag, iterations) {
  const lat = [];
  const wf = `bench-${tag}-${randomUUID()}`;
  for (let i = 0; i < iterations; i++) {
    const runId = `r${i}`;
    for (const v of [0, 1]) {
      const p = step(wf, runId, i, v);
      const t = process.hrtime.bigint();
      await commit(p);
      lat.push(Number(process.hrtime.bigint() - t) / 1000); // µs
    }
  }
  return median(lat);
}

// One pool of one connection under all three: the same backend serves every
// variant, so only the client side differs.
const pool = new pg.Pool({ max: 1 });
const variants = {
  bare: bareCommit(pool),
  package: storeCommit(createPgRunStore(pool)),
  drizzle: storeCommit(createPgRunStore({ db: drizzle(pool) })),
};

const settings = (await pool.query(
  "SELECT current_setting('server_version') AS v, current_setting('fsync') AS fsync, " +
  "current_setting('synchronous_commit') AS sc, " +
  "(SELECT extversion FROM pg_extension WHERE extname = 'verist') AS ext")).rows[0];
console.log(`PostgreSQL ${settings.v}, verist ${settings.ext}, fsync=${settings.fsync}, ` +
  `synchronous_commit=${settings.sc}; node ${process.version}; ${ROUNDS} rounds x ${BLOCK} iterations ` +
  `(2 commits each) per variant, interleaved`);

for (const [name, commit] of Object.entries(variants)) await block(commit, `warm-${name}`, WARMUP / 2);

const perRound = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) {
  const order = Object.keys(variants).sort(() => Math.random() - 0.5);
  for (const name of order) perRound[name].push(await block(variants[name], name, BLOCK));
}

const base = median(perRound.bare);
console.log('variant   median µs/commit   vs bare pool.query');
for (const [name, xs] of Object.entries(perRound)) {
  const m = median(xs);
  const pct = ((m - base) / base) * 100;
  console.log(`${name.padEnd(9)} ${m.toFixed(1).padStart(16)}   ${name === 'bare' ? '—' : `${pct >= 0 ? '+' : ''}${pct.toFixed(2)} %`}`);
}
const worst = Math.max(...['package', 'drizzle'].map((k) => (median(perRound[k]) - base) / base * 100));
console.log(`overhead (worst of package, drizzle): ${worst.toFixed(2)} % (target < 5 %)`);
await pool.end();
