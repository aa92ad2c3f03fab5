// The package's TypeScript declarations, as a TypeScript user compiles them:
// tsc --noEmit on consumer.ts (strict) against the installed tarball.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const require = createRequire(import.meta.url);

test('types: the tarball ships .d.ts for both entry points', () => {
  const pkgDir = dirname(require.resolve('@verist/storage-pg-verist/package.json'));
  const pkg = require('@verist/storage-pg-verist/package.json');
  assert.equal(pkg.exports['.'].types, './dist/index.d.ts');
  assert.equal(pkg.exports['./schema'].types, './dist/schema.d.ts');
  for (const f of ['dist/index.d.ts', 'dist/schema.d.ts', 'dist/types.d.ts', 'dist/index.js', 'dist/schema.js']) {
    assert.ok(existsSync(join(pkgDir, f)), f);
  }
});

test('types: consumer.ts (the adapter\'s interfaces, drop-in use, @ts-expect-error checks) compiles with tsc --strict', async () => {
  const tsc = require.resolve('typescript/bin/tsc');
  try {
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: process.cwd(), timeout: 120_000 });
  } catch (err) {
    assert.fail(`tsc failed:\n${err.stdout}${err.stderr}`);
  }
});
