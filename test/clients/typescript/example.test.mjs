// The README's worked example (examples/review-workflow.mjs, shipped in the
// tarball): run as a user would, on a database of its own, its output checked
// line by line; and the README shows exactly that file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { newPool } from './helpers.mjs';

const run = promisify(execFile);
const pkgDir = dirname(createRequire(import.meta.url).resolve('@verist/storage-pg-verist/package.json'));
const example = join(pkgDir, 'examples', 'review-workflow.mjs');
const database = `verist_example_${process.pid}`;
let admin;

before(async () => {
  admin = newPool({ max: 1 });
  await admin.query(`CREATE DATABASE ${database}`);
  const p = newPool({ database, max: 1 });
  await p.query('CREATE EXTENSION verist');
  await p.end();
});
after(async () => {
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.end();
});

const EXPECTED = [
  'step extract: committed version 1 (total 1250)',
  'run blocked: review "total above 1000 EUR" {"total":1250}',
  'outbox: invoke pay is deferred',
  'reviewer: corrects the total to 1200 and approves',
  'step pay: committed version 2',
  'dispatcher: delivered invoke pay',
  'dispatcher: published invoice.paid {"amount":1200,"vendor":"ACME GmbH"}',
  'final state (version 2): {"currency":"EUR","paid":true,"paidAmount":1200,"total":1200,"vendor":"ACME GmbH"}',
  'audit chain: valid, 2 events checked',
];

test('example: the review workflow runs end to end, woken by NOTIFY (polling set to 60 s), with the expected output', async () => {
  const t0 = Date.now();
  let stdout;
  let stderr;
  try {
    ({ stdout, stderr } = await run(process.execPath, [example], {
      cwd: process.cwd(),
      env: { ...process.env, PGDATABASE: database, POLL_MS: '60000' },
      timeout: 20_000,
    }));
  } catch (err) {
    assert.fail(`the example failed (${err.killed ? `killed after ${Date.now() - t0} ms` : `exit ${err.code}`}):\n` +
      `stdout:\n${err.stdout}\nstderr:\n${err.stderr}`);
  }
  assert.equal(stderr, '');
  assert.deepEqual(stdout.trimEnd().split('\n'), EXPECTED);
  assert.ok(Date.now() - t0 < 20_000);
  // what it left in the database: both commands dispatched, the block resolved
  const p = newPool({ database, max: 1 });
  try {
    const out = await p.query('SELECT command->>\'type\' AS type, status FROM verist_outbox ORDER BY id');
    assert.deepEqual(out.rows, [{ type: 'invoke', status: 'dispatched' }, { type: 'emit', status: 'dispatched' }]);
    const blocks = await p.query('SELECT type, resolution FROM verist_blocks WHERE resolved_at IS NOT NULL');
    assert.deepEqual(blocks.rows, [{ type: 'review', resolution: { approved: true } }]);
  } finally {
    await p.end();
  }
});

test('example: the package README shows the example file verbatim', async () => {
  const readme = await readFile(join(pkgDir, 'README.md'), 'utf8');
  const m = readme.match(/<!-- example:begin -->\n```js\n([\s\S]*?)```\n<!-- example:end -->/);
  assert.ok(m, 'README has the example block');
  assert.equal(m[1], await readFile(example, 'utf8'));
});
