// Drizzle definitions of the tables and views the verist extension creates
// (CREATE EXTENSION verist; 0.6.0), for your own queries:
//
//   import { veristOutbox } from "@verist/storage-pg-verist/schema";
//   await db.select().from(veristOutbox).where(eq(veristOutbox.status, "failed"));
//
// The column names and types are the adapter's (@verist/storage-pg), so its
// queries keep working, plus the columns of verist's audit chain
// (chainSeq/chainHash, seq/hash), the ledger's head (ledgerSeq/ledgerHash)
// and verist's own tables: the ledger and the seals of retired runs (0.4.0),
// the per-workflow caps of fair leasing (0.5.0), the outbox's generated
// queued column (0.6.0).  The extension owns these objects: do not
// let drizzle-kit create, alter or drop them (leave this file out of
// drizzle.config's `schema`, or use `tablesFilter: ["!verist_*"]`), and do
// not write to them except through the store: verist_events refuses UPDATE,
// DELETE and TRUNCATE, and a row written around verist_commit has no place in
// the hash chain.
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  interval,
  jsonb,
  pgTable,
  pgView,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

const tz = { withTimezone: true } as const;

/** One row per run: computed state (steps), overlay (humans), version, chain head. */
export const veristState = pgTable(
  "verist_state",
  {
    workflowId: text("workflow_id").notNull(),
    runId: text("run_id").notNull(),
    version: integer("version").notNull(),
    computed: jsonb("computed").notNull().default({}),
    overlay: jsonb("overlay").notNull().default({}),
    createdAt: timestamp("created_at", tz).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", tz).notNull().defaultNow(),
    /** 0.2.0: sequence number of the last event in the run's hash chain (0: none). */
    chainSeq: integer("chain_seq").notNull().default(0),
    /** 0.2.0: hash of that event (the chain's genesis when there is none). */
    chainHash: text("chain_hash").notNull(),
    /** 0.4.0: sequence number of the run's last ledger entry. */
    ledgerSeq: integer("ledger_seq").notNull().default(0),
    /** 0.4.0: hash of that entry (the ledger's genesis when there is none). */
    ledgerHash: text("ledger_hash").notNull(),
  },
  (t) => [
    primaryKey({ name: "verist_state_pkey", columns: [t.workflowId, t.runId] }),
  ],
);

/** The append-only, hash-chained audit log. */
export const veristEvents = pgTable(
  "verist_events",
  {
    /** bigint: the store returns it as a string. */
    id: bigserial("id", { mode: "bigint" }).primaryKey(),
    workflowId: text("workflow_id").notNull(),
    runId: text("run_id").notNull(),
    stepId: text("step_id").notNull(),
    type: text("type").notNull(),
    payload: jsonb("payload"),
    llmTrace: jsonb("llm_trace"),
    createdAt: timestamp("created_at", tz).notNull().defaultNow(),
    /** 0.2.0: place in the run's chain, 1, 2, ... without gaps. */
    seq: integer("seq").notNull(),
    /** 0.2.0: the event's chained hash (README of verist: "Audit chain"). */
    hash: text("hash").notNull(),
  },
  (t) => [index("verist_events_run_idx").on(t.workflowId, t.runId)],
);

/**
 * Commands waiting for, or done with, dispatch.  0.6.0 also sets the table's
 * fillfactor to 50 (half of each page free for the versions leases write),
 * a storage parameter drizzle's pgTable has no place for.
 */
export const veristOutbox = pgTable(
  "verist_outbox",
  {
    id: bigserial("id", { mode: "bigint" }).primaryKey(),
    workflowId: text("workflow_id").notNull(),
    runId: text("run_id").notNull(),
    stepId: text("step_id").notNull(),
    command: jsonb("command").notNull(),
    /** SHA-256 of the canonical JSON of {workflowId, runId, stepId, command}. */
    dedupeKey: text("dedupe_key").notNull(),
    /** pending | deferred | leased | dispatched | rejected | failed */
    status: text("status").notNull().default("pending"),
    leaseOwner: text("lease_owner"),
    /** Leased rows: end of the lease.  Pending rows (0.3.0 retries): not leasable before. */
    leaseExpiresAt: timestamp("lease_expires_at", tz),
    failures: integer("failures").notNull().default(0),
    lastError: text("last_error"),
    createdAt: timestamp("created_at", tz).notNull().defaultNow(),
    dispatchedAt: timestamp("dispatched_at", tz),
    /**
     * 0.6.0: status is pending or leased, generated (read it, never write it):
     * the predicate of the indexes leasing reads, so that a lease is a HOT update.
     */
    queued: boolean("queued")
      .notNull()
      .generatedAlwaysAs(sql`status = ANY ('{pending,leased}'::text[])`),
  },
  (t) => [
    check(
      "verist_outbox_status_check",
      sql`${t.status} = ANY ('{pending,deferred,leased,dispatched,rejected,failed}'::text[])`,
    ),
    uniqueIndex("verist_outbox_dedupe_idx").on(t.dedupeKey),
    /** 0.6.0: WHERE queued (before, WHERE status IN ('pending', 'leased')). */
    index("verist_outbox_ready_idx").on(t.id).where(sql`${t.queued}`),
    index("verist_outbox_run_idx").on(t.workflowId, t.runId, t.stepId),
    /**
     * 0.5.0: the index the fair lease modes walk, one probe per workflow;
     * 0.6.0: (workflow_id, id) WHERE queued (before, (workflow_id, status, id)).
     */
    index("verist_outbox_workflow_ready_idx")
      .on(t.workflowId, t.id)
      .where(sql`${t.queued}`),
  ],
);

/** Review and suspend blocks; at most one unresolved per run. */
export const veristBlocks = pgTable(
  "verist_blocks",
  {
    id: bigserial("id", { mode: "bigint" }).primaryKey(),
    workflowId: text("workflow_id").notNull(),
    runId: text("run_id").notNull(),
    stepId: text("step_id").notNull(),
    /** review | suspend */
    type: text("type").notNull(),
    reason: text("reason").notNull(),
    /** review: the command's payload; suspend: its checkpoint. */
    payload: jsonb("payload"),
    /** suspend: the step that resumes (default: the suspending step). */
    resumeStep: text("resume_step"),
    /** {approved} or {resumeData}: only the key the block's type needs. */
    resolution: jsonb("resolution"),
    createdAt: timestamp("created_at", tz).notNull().defaultNow(),
    resolvedAt: timestamp("resolved_at", tz),
  },
  (t) => [
    check("verist_blocks_type_check", sql`${t.type} IN ('review', 'suspend')`),
    uniqueIndex("verist_blocks_active_idx")
      .on(t.workflowId, t.runId)
      .where(sql`${t.resolvedAt} IS NULL`),
    index("verist_blocks_run_idx").on(t.workflowId, t.runId),
  ],
);

/**
 * 0.4.0: the run's ledger, every action that changed a run in order, with who
 * did it (README of verist: "The ledger").  Append-only, written only by
 * verist's functions; read it through verist_run_history for the decoded form.
 */
export const veristLedger = pgTable(
  "verist_ledger",
  {
    workflowId: text("workflow_id").notNull(),
    runId: text("run_id").notNull(),
    seq: integer("seq").notNull(),
    /** commit | overlay | resolve | adopt */
    kind: text("kind").notNull(),
    version: integer("version").notNull(),
    stepId: text("step_id"),
    block: jsonb("block"),
    change: jsonb("change"),
    input: text("input"),
    /** current_user when the entry was written. */
    role: text("role").notNull(),
    /** session_user when the entry was written. */
    sessionRole: text("session_role").notNull(),
    /** the transaction's verist.actor setting, if any. */
    actor: text("actor"),
    eventsSeq: integer("events_seq").notNull(),
    eventsHash: text("events_hash").notNull(),
    createdAt: timestamp("created_at", tz).notNull(),
    hash: text("hash").notNull(),
  },
  (t) => [
    primaryKey({ name: "verist_ledger_pkey", columns: [t.workflowId, t.runId, t.seq] }),
    check(
      "verist_ledger_kind_check",
      sql`${t.kind} = ANY ('{commit,overlay,resolve,adopt}'::text[])`,
    ),
  ],
);

/** 0.4.0: the seal of each retired run, chained with every other seal. */
export const veristRetired = pgTable(
  "verist_retired",
  {
    seq: bigint("seq", { mode: "bigint" }).primaryKey(),
    workflowId: text("workflow_id").notNull(),
    runId: text("run_id").notNull(),
    version: integer("version").notNull(),
    ledgerSeq: integer("ledger_seq").notNull(),
    ledgerHash: text("ledger_hash").notNull(),
    eventsSeq: integer("events_seq").notNull(),
    eventsHash: text("events_hash").notNull(),
    documentHash: text("document_hash").notNull(),
    role: text("role").notNull(),
    sessionRole: text("session_role").notNull(),
    actor: text("actor"),
    retiredAt: timestamp("retired_at", tz).notNull(),
    hash: text("hash").notNull(),
  },
  (t) => [index("verist_retired_run_idx").on(t.workflowId, t.runId)],
);

/**
 * 0.5.0: an operator's cap on each workflow's leased rows, honoured by the
 * fair lease modes across all dispatchers (0 pauses the workflow; no row, no
 * cap).  Write it through the store's setWorkflowLimit, or by hand.
 */
export const veristWorkflowLimits = pgTable(
  "verist_workflow_limits",
  {
    workflowId: text("workflow_id").notNull(),
    maxInFlight: integer("max_in_flight").notNull(),
    updatedAt: timestamp("updated_at", tz).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: "verist_workflow_limits_pkey", columns: [t.workflowId] }),
    check(
      "verist_workflow_limits_workflow_id_check",
      sql`${t.workflowId} <> '' AND octet_length(${t.workflowId}) <= 512`,
    ),
    check("verist_workflow_limits_max_in_flight_check", sql`${t.maxInFlight} >= 0`),
  ],
);

/** 0.3.0 operator view: outbox rows by status (one row). */
export const veristOutboxStats = pgView("verist_outbox_stats", {
  pending: bigint("pending", { mode: "number" }),
  retryWaiting: bigint("retry_waiting", { mode: "number" }),
  deferred: bigint("deferred", { mode: "number" }),
  leased: bigint("leased", { mode: "number" }),
  expiredLeases: bigint("expired_leases", { mode: "number" }),
  dispatched: bigint("dispatched", { mode: "number" }),
  rejected: bigint("rejected", { mode: "number" }),
  failed: bigint("failed", { mode: "number" }),
  oldestPendingAt: timestamp("oldest_pending_at", tz),
  oldestPendingAge: interval("oldest_pending_age"),
}).existing();

/** 0.3.0 operator view: unresolved blocks with their age. */
export const veristActiveBlocks = pgView("verist_active_blocks", {
  id: bigint("id", { mode: "bigint" }),
  workflowId: text("workflow_id"),
  runId: text("run_id"),
  stepId: text("step_id"),
  type: text("type"),
  reason: text("reason"),
  resumeStep: text("resume_step"),
  createdAt: timestamp("created_at", tz),
  age: interval("age"),
}).existing();

/** 0.3.0 operator view: one row per run. */
export const veristRunSummary = pgView("verist_run_summary", {
  workflowId: text("workflow_id"),
  runId: text("run_id"),
  version: integer("version"),
  createdAt: timestamp("created_at", tz),
  updatedAt: timestamp("updated_at", tz),
  activeBlock: text("active_block"),
  blockedSince: timestamp("blocked_since", tz),
  pendingCommands: bigint("pending_commands", { mode: "number" }),
  deferredCommands: bigint("deferred_commands", { mode: "number" }),
  lastEventAt: timestamp("last_event_at", tz),
}).existing();

/**
 * 0.5.0: this database's counters (needs verist in shared_preload_libraries;
 * without it, selecting from the view raises 55000).  See the store's
 * readCounters.
 */
export const veristCounters = pgView("verist_counters", {
  counter: text("counter"),
  reason: text("reason"),
  value: bigint("value", { mode: "number" }),
  since: timestamp("since", tz),
}).existing();
