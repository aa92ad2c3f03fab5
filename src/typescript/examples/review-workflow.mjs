// A two-step Verist workflow with a human review gate, and a dispatcher that
// LISTENs for verist's wake-ups — written against @verist/storage-pg-verist as
// a Verist user would.  Run it on a database of its own with the verist
// extension (libpq environment variables: PGHOST, PGDATABASE, ...):
//
//   node examples/review-workflow.mjs
//
// Step "extract" reads an invoice; above 1000 EUR it asks for a review, which
// holds back its "pay" command.  A reviewer corrects the total and approves;
// the dispatcher is woken by NOTIFY, delivers "pay", whose step commits and
// emits "invoice.paid", which the dispatcher publishes.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { and, eq } from 'drizzle-orm';
import { createPgRunStore, veristOutbox } from '@verist/storage-pg-verist';

const POLL_MS = Number(process.env.POLL_MS ?? 5000); // fallback when no wake-up comes

// Sessions that commit send NOTIFY verist_outbox when commands become pending.
const pool = new pg.Pool({ options: '-c verist.notify=on' });
const db = drizzle(pool);
const store = createPgRunStore({ db });

const workflowId = 'invoice-approval';
const runId = `inv-${randomUUID()}`;

/** The value of a Result, or stop with its error. */
function must(result, what) {
  if (!result.ok) throw new Error(`${what}: ${result.error.code} ${result.error.reason ?? ''} ${result.error.message}`);
  return result.value;
}

// ---- the workflow's two steps: pure functions of their input -------------

function extract(invoice) {
  const commands = [{ type: 'invoke', step: 'pay', input: { invoice: invoice.number } }];
  if (invoice.total > 1000) {
    // a review gate: the commands next to it wait for the reviewer
    commands.unshift({ type: 'review', reason: 'total above 1000 EUR', payload: { total: invoice.total } });
  }
  return {
    output: { vendor: invoice.vendor, total: invoice.total, currency: 'EUR' },
    events: [{ type: 'extracted', payload: { lines: invoice.lines.length } }],
    commands,
  };
}

function pay(state) {
  return {
    output: { paid: true, paidAmount: state.total },
    events: [{ type: 'paid', payload: { amount: state.total } }],
    commands: [{ type: 'emit', topic: 'invoice.paid', payload: { vendor: state.vendor, amount: state.total } }],
  };
}

// ---- the worker: runs a step that a dispatched invoke asks for ------------

async function runStep(entry) {
  const run = must(await store.load(entry.workflowId, entry.runId), 'load');
  const effective = { ...run.computed, ...run.overlay }; // a human correction wins
  const { output, events, commands } = pay(effective);
  const r = await store.commit({
    workflowId: entry.workflowId, runId: entry.runId, stepId: entry.command.step,
    expectedVersion: run.version, output, events, commands,
  });
  // Delivered twice (a lease expired mid-delivery)?  The step's commands are
  // already in the outbox: the first delivery committed.
  if (!r.ok && r.error.reason === 'command_exists') return;
  console.log(`step ${entry.command.step}: committed version ${must(r, 'commit pay').version}`);
}

// ---- the dispatcher: LISTEN, lease, deliver, finalise ---------------------

async function dispatch({ owner, done }) {
  const listener = new pg.Client();
  await listener.connect();
  await listener.query('LISTEN verist_outbox');
  let notified = false;
  let wake = () => {};
  listener.on('notification', () => { notified = true; wake(); });
  try {
    while (!done()) {
      const leased = await store.leaseOutbox(owner, 10, 30_000);
      if (!leased.ok) { // connection_error: the database is away; try again soon
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      for (const entry of leased.value) {
        if (entry.command.type === 'invoke') {
          await runStep(entry);
          console.log(`dispatcher: delivered invoke ${entry.command.step}`);
        } else if (entry.command.type === 'emit') {
          console.log(`dispatcher: published ${entry.command.topic} ${JSON.stringify(entry.command.payload)}`);
          published.push(entry.command.topic);
        }
        must(await store.markDispatched(entry.id, owner), 'markDispatched');
      }
      if (leased.value.length === 0 && !notified && !done()) {
        // sleep until a wake-up, or the polling interval (expired leases come back without one)
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, POLL_MS);
          wake = () => { clearTimeout(timer); resolve(); };
        });
      }
      notified = false;
    }
  } finally {
    await listener.end();
  }
}

// ---- the run ---------------------------------------------------------------

const published = [];
const dispatcher = dispatch({ owner: `dispatcher-${process.pid}`, done: () => published.length > 0 });

const invoice = { number: 'INV-2041', vendor: 'ACME GmbH', total: 1250, lines: ['consulting', 'travel'] };
const step1 = extract(invoice);
const created = must(await store.commit({
  workflowId, runId, stepId: 'extract', expectedVersion: 0, ...step1,
}), 'commit extract');
console.log(`step extract: committed version ${created.version} (total ${created.computed.total})`);

// What the reviewer sees: the active block, and (a query of your own on the
// extension's tables) the command it holds back.
const block = must(await store.getBlock(workflowId, runId), 'getBlock');
console.log(`run blocked: ${block.type} "${block.reason}" ${JSON.stringify(block.payload)}`);
const held = await db.select({ command: veristOutbox.command, status: veristOutbox.status })
  .from(veristOutbox)
  .where(and(eq(veristOutbox.workflowId, workflowId), eq(veristOutbox.runId, runId)));
for (const row of held) console.log(`outbox: ${row.command.type} ${row.command.step} is ${row.status}`);

// The reviewer corrects the total (overlay: no new version) and approves.
must(await store.setOverlay(workflowId, runId, { total: 1200 }), 'setOverlay');
console.log('reviewer: corrects the total to 1200 and approves');
const resolved = must(await store.resolveBlock(workflowId, runId, { approved: true }), 'resolveBlock');
if (resolved === null) throw new Error('someone else resolved the block first');

await dispatcher;

const final = must(await store.load(workflowId, runId), 'load');
const effective = { ...final.computed, ...final.overlay };
const sorted = Object.fromEntries(Object.keys(effective).sort().map((k) => [k, effective[k]]));
console.log(`final state (version ${final.version}): ${JSON.stringify(sorted)}`);
const chain = must(await store.verifyRun(workflowId, runId), 'verifyRun');
console.log(`audit chain: ${chain.valid ? 'valid' : 'BROKEN'}, ${chain.eventsChecked} events checked`);
await pool.end();
