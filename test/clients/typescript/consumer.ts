// Type-level compatibility, compiled with tsc --noEmit against the installed
// tarball's .d.ts (types.test.mjs).  The interfaces below are
// @verist/storage-pg's PgRunStore and @verist/storage's RunStore as their
// packages declare them (written out here, so that no Verist package is
// needed): the package's store must be assignable to them, and code written
// against them must compile unchanged.  Each @ts-expect-error line must be an
// error, or tsc fails.
import pg from "pg";
import { drizzle } from "drizzle-orm/node-postgres";
import { eq } from "drizzle-orm";
import {
  createPgRunStore,
  veristEvents,
  type Block,
  type CommitParams,
  type LeaseMode,
  type VeristCounter,
  type WorkflowLimit,
  type OutboxEntry,
  type PgRunStore,
  type Result,
  type RunState,
  type StorageError,
  type VeristRunStore,
} from "@verist/storage-pg-verist";
import { veristOutbox, veristState } from "@verist/storage-pg-verist/schema";

type R<T> = { ok: true; value: T } | { ok: false; error: { code: "not_found" | "conflict" | "connection_error" | "serialization_error"; message: string; reason?: "run_exists" | "version_mismatch" | "active_block" | "command_exists" | "lease_mismatch" } };
interface Snap<T = unknown> { workflowId: string; runId: string; version: number; computed: T; overlay: Partial<T>; createdAt: Date; updatedAt: Date }
interface AdapterEvent { type: string; payload?: Record<string, unknown>; llmTrace?: { model: string; promptTokens: number; completionTokens: number; durationMs: number; inputHash: string; outputHash: string; input?: unknown; output?: unknown } }
type AdapterCommand =
  | { type: "invoke"; step: string; input: unknown }
  | { type: "fanout"; step: string; inputs: unknown[] }
  | { type: "review"; reason: string; payload?: unknown }
  | { type: "emit"; topic: string; payload: unknown }
  | { type: "suspend"; reason: string; checkpoint: unknown; resumeStep?: string };
interface AdapterCommitParams<T = unknown> { workflowId: string; runId: string; stepId: string; expectedVersion: number; output: Partial<T>; events?: AdapterEvent[]; commands?: AdapterCommand[] }
interface AdapterRunStore {
  load<T = unknown>(workflowId: string, runId: string): Promise<R<Snap<T>>>;
  commit<T>(params: AdapterCommitParams<T>): Promise<R<Snap<T>>>;
  setOverlay<T>(workflowId: string, runId: string, overlay: Partial<T>): Promise<R<Snap<T>>>;
}
interface AdapterPgRunStore extends AdapterRunStore {
  getBlock(workflowId: string, runId: string): Promise<R<{ id: string; workflowId: string; runId: string; stepId: string; type: "review" | "suspend"; reason: string; payload: unknown; resumeStep: string | null; createdAt: Date } | null>>;
  resolveBlock(workflowId: string, runId: string, resolution: { approved: boolean } | { resumeData: unknown }): Promise<R<{ id: string; type: "review" | "suspend"; resolution: { approved: boolean } | { resumeData: unknown } } | null>>;
  leaseOutbox(leaseOwner: string, limit: number, leaseDurationMs?: number): Promise<R<{ id: string; workflowId: string; runId: string; stepId: string; command: AdapterCommand; dedupeKey: string; status: "pending" | "deferred" | "leased" | "dispatched" | "rejected" | "failed"; lastError: string | null; createdAt: Date }[]>>;
  markDispatched(outboxId: string, leaseOwner: string): Promise<R<void>>;
  markFailed(outboxId: string, leaseOwner: string, error: string): Promise<R<void>>;
}

const pool = new pg.Pool();
const db = drizzle(pool);

// The factory takes what the adapter takes, and a pool or client.
const store: AdapterPgRunStore = createPgRunStore({ db });
const fromPool: AdapterPgRunStore = createPgRunStore({ db: pool });
const bare: VeristRunStore = createPgRunStore(pool);
const client = new pg.Client();
const fromClient: PgRunStore = createPgRunStore({ db: client });
void fromPool; void bare; void fromClient;
// @ts-expect-error not a database
createPgRunStore({ db: 42 });

// And the package's own interfaces are the adapter's, both ways.
const asAdapter: AdapterPgRunStore = null as unknown as PgRunStore;
const back: PgRunStore = null as unknown as AdapterPgRunStore;
void asAdapter; void back;

interface Doc { score: number; status: string }

export async function usage(): Promise<void> {
  const loaded = await store.load<Doc>("wf", "run");
  if (loaded.ok) {
    const score: number = loaded.value.computed.score;
    const when: Date = loaded.value.updatedAt;
    void score; void when;
  } else {
    const code: "not_found" | "conflict" | "connection_error" | "serialization_error" = loaded.error.code;
    void code;
  }

  const mine = createPgRunStore({ db });
  const r: Result<RunState<Doc>, StorageError> = await mine.commit<Doc>({
    workflowId: "wf", runId: "run", stepId: "s", expectedVersion: 0,
    output: { score: 1 },
    events: [{ type: "scored", payload: { by: "model" } }],
    commands: [{ type: "review", reason: "check" }, { type: "invoke", step: "next", input: { a: 1 } }],
  });
  if (!r.ok && r.error.code === "conflict") {
    const reason: "run_exists" | "version_mismatch" | "active_block" | "command_exists" | "lease_mismatch" | undefined = r.error.reason;
    void reason;
  }
  const legacy: CommitParams<Doc> = { workflowId: "w", runId: "r", stepId: "s", expectedVersion: 0, delta: { score: 2 } };
  await mine.commit(legacy);
  // @ts-expect-error output (or delta) is required
  await mine.commit<Doc>({ workflowId: "w", runId: "r", stepId: "s", expectedVersion: 0 });
  // @ts-expect-error not a kernel command
  await mine.commit({ workflowId: "w", runId: "r", stepId: "s", expectedVersion: 0, output: {}, commands: [{ type: "teleport" }] });
  // @ts-expect-error an event needs a type
  await mine.commit({ workflowId: "w", runId: "r", stepId: "s", expectedVersion: 0, output: {}, events: [{ payload: {} }] });

  const leased = await mine.leaseOutbox("owner", 10);
  if (leased.ok) {
    const e: OutboxEntry | undefined = leased.value[0];
    if (e) {
      const id: string = e.id;
      // @ts-expect-error ids are strings, not numbers
      const n: number = e.id;
      void id; void n;
      await mine.markDispatched(e.id, "owner");
    }
  }
  const block = await mine.getBlock("wf", "run");
  if (block.ok && block.value) {
    const b: Block = block.value;
    const resumeStep: string | null = b.resumeStep;
    void resumeStep;
  }
  await mine.resolveBlock("wf", "run", { approved: true });
  await mine.resolveBlock("wf", "run", { resumeData: { any: "thing" } });

  // verist's extras
  const rq = await mine.requeue("1");
  if (!rq.ok && rq.error.reason === "not_failed") { /* a dead letter only */ }
  const ids: Result<string[], StorageError> = await mine.markDispatchedBatch(["1", "2"], "owner");
  const retried = await mine.markRetry("1", "owner", "timeout", { maxAttempts: 5, baseDelayMs: 500 });
  if (retried.ok) { const f: number = retried.value.failures; void f; }
  const eff = await mine.getEffectiveState<Doc>("wf", "run");
  if (eff.ok) { const s: string = eff.value.status; void s; }
  const digest = await mine.runDigest("wf", "run");
  if (digest.ok) { const h: string = digest.value.hash; void h; }
  void ids;

  // 0.5.0 extras: lease modes, caps, counters
  const mode: LeaseMode = "per_run";
  const inMode = await mine.leaseOutbox("owner", 10, 30_000, { mode });
  if (inMode.ok) { const e: OutboxEntry | undefined = inMode.value[0]; void e; }
  await mine.leaseOutbox("owner", 10, undefined, { mode: "fair_per_run" });
  // @ts-expect-error not a lease mode
  await mine.leaseOutbox("owner", 10, 30_000, { mode: "round_robin" });
  // @ts-expect-error the mode goes in an options object
  await mine.leaseOutbox("owner", 10, 30_000, "per_run");
  // the adapter's interface has no options: a store typed as the adapter's cannot pass them
  // @ts-expect-error Expected 2-3 arguments
  await store.leaseOutbox("owner", 10, 30_000, { mode: "per_run" });
  const cap = await mine.setWorkflowLimit("wf", 20);
  if (cap.ok && cap.value) { const l: WorkflowLimit = cap.value; const n: number = l.maxInFlight; const d: Date = l.updatedAt; void n; void d; }
  const removed: Result<WorkflowLimit | null, StorageError> = await mine.setWorkflowLimit("wf", null);
  void removed;
  // @ts-expect-error a cap is a number or null
  await mine.setWorkflowLimit("wf", "20");
  const counted = await mine.readCounters();
  if (counted.ok) {
    const c: VeristCounter | undefined = counted.value[0];
    if (c) { const v: number = c.value; const r: string | null = c.reason; const since: Date = c.since; void v; void r; void since; }
  }

  // the drizzle tables, for users' own queries
  const rows = await db.select().from(veristOutbox).where(eq(veristOutbox.status, "failed"));
  const status: string = rows[0]!.status;
  const bigId: bigint = rows[0]!.id;
  const states = await db.select({ v: veristState.version, c: veristState.chainSeq }).from(veristState);
  const v: number = states[0]!.v;
  const events = await db.select({ seq: veristEvents.seq, hash: veristEvents.hash }).from(veristEvents);
  const seq: number = events[0]!.seq;
  void status; void bigId; void v; void seq;
}
