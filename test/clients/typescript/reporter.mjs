// node --test reporter for the suite: one "ok - NAME" / "not ok - NAME" line
// per top-level test (with the failure's first lines), then a count line
// "# N passed, M failed" that test/suites/clients_ts.sh adds up.
import { inspect } from 'node:util';

function describe(error) {
  const cause = error?.cause ?? error;
  const text = cause instanceof Error
    ? `${cause.name}: ${cause.message}` + (cause.stack ? `\n${cause.stack.split('\n').slice(1, 4).join('\n')}` : '')
    : inspect(cause, { depth: 4 });
  return text.split('\n').slice(0, 30).map((l) => `    ${l}`).join('\n');
}

export default async function* reporter(source) {
  let passed = 0;
  let failed = 0;
  for await (const event of source) {
    const { type, data } = event;
    if (type === 'test:pass' && data.nesting === 0) {
      if (data.skip || data.todo) {
        failed++; // nothing here may be skipped: a skipped test proves nothing
        yield `not ok - ${data.name} (skipped)\n`;
      } else {
        passed++;
        yield `ok - ${data.name} (${Math.round(data.details.duration_ms)} ms)\n`;
      }
    } else if (type === 'test:fail' && data.nesting === 0) {
      failed++;
      yield `not ok - ${data.name}\n${describe(data.details.error)}\n`;
    } else if (type === 'test:stderr' || type === 'test:stdout') {
      yield `    | ${data.message.trimEnd().split('\n').join('\n    | ')}\n`;
    }
  }
  yield `# ${passed} passed, ${failed} failed\n`;
}
