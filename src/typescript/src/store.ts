// createPgRunStore: the PgRunStore of @verist/storage-pg on the verist
// extension.  Each method is one call of a verist SQL function (one round
// trip, one transaction); the extension validates, versions, routes and
// locks.  This file passes arguments, maps rows to the adapter's shapes and
// SQLSTATEs to its error codes, and answers the few inputs where verist is
// stricter than the adapter the way the adapter does (see README,
// "Differences from @verist/storage-pg").  No method throws: every failure is
// a Result with ok: false.
import type { PgDatabase } from "drizzle-orm/pg-core";
import {
  guardIdleErrors,
  makeRunner,
  resolveClient,
  type Queryable,
} from "./connection.js";
import { fail, ok, storageError, toStorageError } from "./errors.js";
import type {
  Block,
  BlockType,
  BrokenRun,
  ChainVerification,
  CommitParams,
  LeaseOptions,
  OutboxEntry,
  OutboxRecord,
  OutboxStatus,
  ResolvedBlock,
  Result,
  RetryPolicy,
  ReviewResolution,
  RunDigest,
  RunState,
  StorageError,
  StoredEvent,
  SuspendResolution,
  VeristCounter,
  VeristRunStore,
  VeristStorageError,
  WorkflowLimit,
} from "./types.js";

/** What createPgRunStore accepts: the adapter's config ({ db }), or a pool/client itself. */
export interface PgAdapterConfig {
  /**
   * A drizzle node-postgres database (drizzle(pool) from
   * drizzle-orm/node-postgres) or transaction, as for @verist/storage-pg;
   * or a pg.Pool, pg.Client or PoolClient.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db: PgDatabase<any, any, any> | Queryable;
}

type Row = Record<string, any>;

const STATE_COLUMNS =
  "workflow_id, run_id, version, computed, overlay, created_at, updated_at";
const BLOCK_COLUMNS =
  "id, workflow_id, run_id, step_id, type, reason, payload, resume_step, created_at";
const ENTRY_COLUMNS =
  "id, workflow_id, run_id, step_id, command, dedupe_key, status, last_error, created_at";

const SQL = {
  load: `SELECT ${STATE_COLUMNS} FROM verist_load($1, $2)`,
  commit: `SELECT ${STATE_COLUMNS} FROM verist_commit($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb)`,
  setOverlay: `SELECT ${STATE_COLUMNS} FROM verist_set_overlay($1, $2, $3::jsonb)`,
  effective: "SELECT verist_effective_state($1, $2) AS state",
  getBlock: `SELECT ${BLOCK_COLUMNS} FROM verist_get_block($1, $2)`,
  resolveBlock: "SELECT id, type FROM verist_resolve_block($1, $2, $3::jsonb)",
  lease: `SELECT ${ENTRY_COLUMNS} FROM verist_lease_outbox($1, $2, make_interval(secs => $3::float8 / 1000))`,
  leaseInMode: `SELECT ${ENTRY_COLUMNS} FROM verist_lease_outbox($1, $2, make_interval(secs => $3::float8 / 1000), $4::text)`,
  dispatched: "SELECT verist_mark_dispatched($1::bigint, $2)",
  failed: "SELECT verist_mark_failed($1::bigint, $2, $3)",
  batch: "SELECT id FROM verist_mark_dispatched_batch($1::bigint[], $2) AS id",
  retry:
    "SELECT * FROM verist_mark_retry($1::bigint, $2, $3, $4," +
    " make_interval(secs => $5::float8 / 1000), make_interval(secs => $6::float8 / 1000))",
  requeue: "SELECT * FROM verist_requeue($1::bigint)",
  purge:
    "SELECT verist_purge_outbox(make_interval(secs => $1::float8 / 1000), $2) AS deleted",
  readEvents: "SELECT * FROM verist_read_events($1::bigint, $2)",
  verifyRun:
    "SELECT valid, events_checked, first_broken_seq, reason FROM verist_verify_run($1, $2)",
  verifyAll: "SELECT * FROM verist_verify_all()",
  digest: "SELECT seq, hash FROM verist_run_digest($1, $2)",
  setLimit:
    "INSERT INTO verist_workflow_limits (workflow_id, max_in_flight) VALUES ($1, $2)" +
    " ON CONFLICT (workflow_id) DO UPDATE SET max_in_flight = excluded.max_in_flight, updated_at = now()" +
    " RETURNING workflow_id, max_in_flight, updated_at",
  deleteLimit: "DELETE FROM verist_workflow_limits WHERE workflow_id = $1",
  counters: "SELECT counter, reason, value, since FROM verist_counters",
} as const;

/** The adapter's default lease. */
const DEFAULT_LEASE_MS = 30_000;
/** verist's bound for leases and delays, '100 years' (a year = 360 days in interval comparison). */
const MAX_INTERVAL_MS = 100 * 360 * 86_400_000;
/** A lease of 0 ms or less: expired at once, as the adapter's now + 0. */
const EXPIRED_LEASE_MS = 0.001;
const INT4_MAX = 2_147_483_647;
/** verist's bound on ids (octet_length <= 512, as its tables' CHECKs). */
const MAX_ID_BYTES = 512;
const OUTBOX_ID = /^\d+$/;

const toDate = (v: unknown): Date =>
  v instanceof Date ? v : new Date(v as string);
const toDateOrNull = (v: unknown): Date | null =>
  v === null || v === undefined ? null : toDate(v);

function stateOf<T>(row: Row): RunState<T> {
  return {
    workflowId: row.workflow_id,
    runId: row.run_id,
    version: Number(row.version),
    computed: row.computed as T,
    overlay: row.overlay as Partial<T>,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function blockOf(row: Row): Block {
  return {
    id: String(row.id),
    workflowId: row.workflow_id,
    runId: row.run_id,
    stepId: row.step_id,
    type: row.type as BlockType,
    reason: row.reason,
    payload: row.payload,
    resumeStep: row.resume_step,
    createdAt: toDate(row.created_at),
  };
}

function entryOf(row: Row): OutboxEntry {
  return {
    id: String(row.id),
    workflowId: row.workflow_id,
    runId: row.run_id,
    stepId: row.step_id,
    command: row.command,
    dedupeKey: row.dedupe_key,
    status: row.status as OutboxStatus,
    lastError: row.last_error,
    createdAt: toDate(row.created_at),
  };
}

function recordOf(row: Row): OutboxRecord {
  return {
    ...entryOf(row),
    leaseOwner: row.lease_owner,
    leaseExpiresAt: toDateOrNull(row.lease_expires_at),
    failures: Number(row.failures),
    dispatchedAt: toDateOrNull(row.dispatched_at),
  };
}

function eventOf(row: Row): StoredEvent {
  return {
    id: String(row.id),
    workflowId: row.workflow_id,
    runId: row.run_id,
    stepId: row.step_id,
    type: row.type,
    payload: row.payload,
    llmTrace: row.llm_trace,
    createdAt: toDate(row.created_at),
    seq: Number(row.seq),
    hash: row.hash,
  };
}

const intOrNull = (v: unknown): number | null =>
  v === null || v === undefined ? null : Number(v);

/** Thrown by json() below; answered as serialization_error. */
class Unserializable extends Error {}

/** JSON text for a ::jsonb parameter; undefined is SQL NULL (verist refuses it where required). */
function json(value: unknown, what: string): string | null {
  if (value === undefined) return null;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? null : text;
  } catch (err) {
    throw new Unserializable(
      `${what} cannot be serialized to JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

/**
 * An event as the adapter wrote it: only type, payload and llmTrace (it
 * dropped any other key; verist would refuse one).
 */
function eventArg(event: unknown): unknown {
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    return event;
  }
  const { type, payload, llmTrace } = event as Record<string, unknown>;
  return { type, payload, llmTrace };
}

/** Milliseconds as verist's interval argument, within what verist takes. */
function durationMs(ms: number): number {
  if (ms <= 0) return EXPIRED_LEASE_MS;
  return ms > MAX_INTERVAL_MS ? MAX_INTERVAL_MS : ms;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Length of a string in UTF-8, as PostgreSQL's octet_length. */
function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

/**
 * Create the store.
 *
 *   createPgRunStore({ db: drizzle(pool) })   // as @verist/storage-pg
 *   createPgRunStore({ db: pool })            // a pg.Pool (or pg.Client)
 *   createPgRunStore(pool)
 *
 * Throws a TypeError only here, for a `db` it cannot run SQL on.
 */
export function createPgRunStore(
  config: PgAdapterConfig | Queryable,
): VeristRunStore {
  const target =
    isPlainObject(config) && "db" in config
      ? (config as PgAdapterConfig).db
      : config;
  const resolved = resolveClient(target);
  guardIdleErrors(resolved.client);
  const run = makeRunner(resolved);

  /** One statement; rows shaped by `shape`; any failure as a Result. */
  async function call<V>(
    text: string,
    values: () => unknown[],
    shape: (rows: Row[]) => V,
  ): Promise<Result<V, StorageError>> {
    let params: unknown[];
    try {
      params = values();
    } catch (err) {
      if (err instanceof Unserializable) {
        return fail(storageError("serialization_error", err.message));
      }
      return fail(toStorageError(err) as StorageError);
    }
    try {
      const rows = await run(text, params);
      return ok(shape(rows));
    } catch (err) {
      return fail(toStorageError(err) as StorageError);
    }
  }

  const runNotFound = (workflowId: string, runId: string) =>
    fail(storageError("not_found", `Run not found: ${workflowId}/${runId}`));

  // verist refuses empty ids (serialization_error); the adapter found no row
  // for them.  No run can have an empty id in verist, so a read answers
  // "nothing there" as the adapter did, without asking.
  const emptyId = (...ids: unknown[]) => ids.some((id) => id === "");

  const badOutboxId = (id: unknown) =>
    fail(storageError("serialization_error", `Invalid outbox ID: ${String(id)}`));

  const store: VeristRunStore = {
    async load<T = unknown>(
      workflowId: string,
      runId: string,
    ): Promise<Result<RunState<T>, StorageError>> {
      if (emptyId(workflowId, runId)) return runNotFound(workflowId, runId);
      const r = await call(SQL.load, () => [workflowId, runId], (rows) =>
        rows.length ? stateOf<T>(rows[0]) : null,
      );
      if (r.ok && r.value === null) return runNotFound(workflowId, runId);
      return r as Result<RunState<T>, StorageError>;
    },

    async commit<T>(
      params: CommitParams<T>,
    ): Promise<Result<RunState<T>, StorageError>> {
      if (!isPlainObject(params)) {
        return fail(storageError("serialization_error", "commit() needs a params object"));
      }
      const { workflowId, runId, stepId, expectedVersion } = params;
      const output = params.output !== undefined ? params.output : params.delta;
      const events = params.events ?? [];
      const commands = params.commands ?? [];

      // No version is below 0 (or absent): the adapter's version-checked
      // update matched no row and it reported why.  verist refuses such an
      // argument outright; answer as the adapter did.
      if (
        expectedVersion === null ||
        expectedVersion === undefined ||
        (typeof expectedVersion === "number" && expectedVersion < 0)
      ) {
        const current = await call(SQL.load, () => [workflowId, runId], (rows) =>
          rows.length ? Number(rows[0].version) : null,
        );
        if (!current.ok) return current;
        if (current.value === null) {
          return fail(
            storageError(
              "not_found",
              `Run not found: ${workflowId}/${runId} (expectedVersion was ${String(expectedVersion)}, not 0)`,
            ),
          );
        }
        return fail(
          storageError(
            "conflict",
            `expected version ${String(expectedVersion)}, got ${current.value}`,
            "version_mismatch",
          ),
        );
      }

      return call(
        SQL.commit,
        () => [
          workflowId,
          runId,
          stepId,
          expectedVersion,
          json(output, "output"),
          json(Array.isArray(events) ? events.map(eventArg) : events, "events"),
          json(commands, "commands"),
        ],
        (rows) => stateOf<T>(rows[0]),
      );
    },

    async setOverlay<T>(
      workflowId: string,
      runId: string,
      overlay: Partial<T>,
    ): Promise<Result<RunState<T>, StorageError>> {
      if (emptyId(workflowId, runId)) {
        return fail(storageError("not_found", `State not found: ${workflowId}/${runId}`));
      }
      return call(
        SQL.setOverlay,
        () => [workflowId, runId, json(overlay, "overlay")],
        (rows) => stateOf<T>(rows[0]),
      );
    },

    async getBlock(
      workflowId: string,
      runId: string,
    ): Promise<Result<Block | null, StorageError>> {
      if (emptyId(workflowId, runId)) return ok(null);
      return call(SQL.getBlock, () => [workflowId, runId], (rows) =>
        rows.length ? blockOf(rows[0]) : null,
      );
    },

    async resolveBlock(
      workflowId: string,
      runId: string,
      resolution: ReviewResolution | SuspendResolution,
    ): Promise<Result<ResolvedBlock | null, StorageError>> {
      if (emptyId(workflowId, runId)) return ok(null);
      if (!isPlainObject(resolution)) {
        // verist refuses a resolution that is not a JSON object even when
        // there is no block; the adapter looked for the block first.
        const block = await call(SQL.getBlock, () => [workflowId, runId], (rows) =>
          rows.length ? (rows[0].type as BlockType) : null,
        );
        if (!block.ok) return block;
        if (block.value === null) return ok(null);
        const message =
          typeof resolution !== "object" || resolution === null
            ? "Resolution must be an object"
            : block.value === "review"
              ? "Review resolution requires 'approved: boolean'"
              : "Suspend resolution requires 'resumeData' field";
        return fail(storageError("serialization_error", message));
      }
      // The adapter stored { resumeData: undefined } as null.
      let given: ReviewResolution | SuspendResolution = resolution;
      if ("resumeData" in resolution && resolution.resumeData === undefined) {
        given = { ...resolution, resumeData: null };
      }
      return call(
        SQL.resolveBlock,
        () => [workflowId, runId, json(given, "resolution")],
        (rows) =>
          rows.length
            ? {
                id: String(rows[0].id),
                type: rows[0].type as BlockType,
                resolution: given,
              }
            : null,
      );
    },

    async leaseOutbox(
      leaseOwner: string,
      limit: number,
      leaseDurationMs: number = DEFAULT_LEASE_MS,
      options?: LeaseOptions,
    ): Promise<Result<OutboxEntry[], StorageError>> {
      // Extra: { mode } leases in one of verist 0.5.0's lease modes; verist
      // checks the mode (VRS01 for an unknown one or null).  Without it, the
      // three-argument lease, as before 0.5.0.
      if (options !== undefined && options !== null && !isPlainObject(options)) {
        return fail(
          storageError(
            "serialization_error",
            `leaseOutbox's options must be an object such as { mode: "per_run" }, not ${String(options)}`,
          ),
        );
      }
      const inMode = isPlainObject(options) && options.mode !== undefined;
      // The adapter's LIMIT: 0 leases nothing, no limit leases everything.
      if (limit === 0) return ok([]);
      const max =
        limit === null || limit === undefined || limit > INT4_MAX ? INT4_MAX : limit;
      const ms = leaseDurationMs === null ? 0 : leaseDurationMs;
      if (typeof ms !== "number" || !Number.isFinite(ms)) {
        return fail(
          storageError(
            "serialization_error",
            `leaseDurationMs must be a finite number of milliseconds, not ${String(leaseDurationMs)}`,
          ),
        );
      }
      if (inMode) {
        return call(
          SQL.leaseInMode,
          () => [leaseOwner, max, durationMs(ms), options!.mode],
          (rows) => rows.map(entryOf),
        );
      }
      return call(SQL.lease, () => [leaseOwner, max, durationMs(ms)], (rows) =>
        rows.map(entryOf),
      );
    },

    async markDispatched(
      outboxId: string,
      leaseOwner: string,
    ): Promise<Result<void, StorageError>> {
      if (!OUTBOX_ID.test(String(outboxId))) return badOutboxId(outboxId);
      if (leaseOwner === "") return leaseMismatch(outboxId);
      return call(SQL.dispatched, () => [String(outboxId), leaseOwner], () => undefined);
    },

    async markFailed(
      outboxId: string,
      leaseOwner: string,
      error: string,
    ): Promise<Result<void, StorageError>> {
      if (!OUTBOX_ID.test(String(outboxId))) return badOutboxId(outboxId);
      if (leaseOwner === "") return leaseMismatch(outboxId);
      return call(
        SQL.failed,
        () => [String(outboxId), leaseOwner, errorText(error)],
        () => undefined,
      );
    },

    // ------------------------------------------------------------ verist's extras

    async getEffectiveState<T = unknown>(
      workflowId: string,
      runId: string,
    ): Promise<Result<T, StorageError>> {
      if (emptyId(workflowId, runId)) return runNotFound(workflowId, runId);
      const r = await call(SQL.effective, () => [workflowId, runId], (rows) =>
        rows[0].state as T | null,
      );
      if (r.ok && r.value === null) return runNotFound(workflowId, runId);
      return r as Result<T, StorageError>;
    },

    async markDispatchedBatch(
      outboxIds: string[],
      leaseOwner: string,
    ): Promise<Result<string[], StorageError>> {
      if (!Array.isArray(outboxIds)) {
        return fail(storageError("serialization_error", "outboxIds must be an array"));
      }
      const bad = outboxIds.find((id) => !OUTBOX_ID.test(String(id)));
      if (bad !== undefined) return badOutboxId(bad);
      if (leaseOwner === "" || outboxIds.length === 0) return ok([]);
      return call(
        SQL.batch,
        () => [outboxIds.map(String), leaseOwner],
        (rows) => rows.map((row) => String(row.id)),
      );
    },

    async markRetry(
      outboxId: string,
      leaseOwner: string,
      error: string,
      policy: RetryPolicy,
    ): Promise<Result<OutboxRecord, StorageError>> {
      if (!OUTBOX_ID.test(String(outboxId))) return badOutboxId(outboxId);
      if (leaseOwner === "") return leaseMismatch(outboxId);
      const p = policy ?? ({} as RetryPolicy);
      return call(
        SQL.retry,
        () => [
          String(outboxId),
          leaseOwner,
          errorText(error),
          p.maxAttempts,
          p.baseDelayMs ?? 1000,
          p.maxDelayMs ?? 300_000,
        ],
        (rows) => recordOf(rows[0]),
      );
    },

    async requeue(
      outboxId: string,
    ): Promise<Result<OutboxRecord, VeristStorageError>> {
      if (!OUTBOX_ID.test(String(outboxId))) return badOutboxId(outboxId);
      return call(SQL.requeue, () => [String(outboxId)], (rows) =>
        recordOf(rows[0]),
      ) as Promise<Result<OutboxRecord, VeristStorageError>>;
    },

    async purgeOutbox(
      olderThanMs: number,
      maxRows = 10_000,
    ): Promise<Result<number, StorageError>> {
      return call(SQL.purge, () => [olderThanMs, maxRows], (rows) =>
        Number(rows[0].deleted),
      );
    },

    async readEvents(
      afterId: string,
      limit: number,
    ): Promise<Result<StoredEvent[], StorageError>> {
      if (!OUTBOX_ID.test(String(afterId))) {
        return fail(storageError("serialization_error", `Invalid event ID: ${String(afterId)}`));
      }
      return call(SQL.readEvents, () => [String(afterId), limit], (rows) =>
        rows.map(eventOf),
      );
    },

    async verifyRun(
      workflowId: string,
      runId: string,
    ): Promise<Result<ChainVerification, StorageError>> {
      if (emptyId(workflowId, runId)) return runNotFound(workflowId, runId);
      return call(SQL.verifyRun, () => [workflowId, runId], (rows) => ({
        valid: rows[0].valid === true,
        eventsChecked: Number(rows[0].events_checked),
        firstBrokenSeq: intOrNull(rows[0].first_broken_seq),
        reason: rows[0].reason ?? null,
      }));
    },

    async verifyAll(): Promise<Result<BrokenRun[], StorageError>> {
      return call(SQL.verifyAll, () => [], (rows) =>
        rows.map((row) => ({
          workflowId: row.workflow_id,
          runId: row.run_id,
          eventsChecked: Number(row.events_checked),
          firstBrokenSeq: intOrNull(row.first_broken_seq),
          reason: row.reason ?? null,
        })),
      );
    },

    async setWorkflowLimit(
      workflowId: string,
      maxInFlight: number | null,
    ): Promise<Result<WorkflowLimit | null, StorageError>> {
      // The table's CHECKs, answered here as every malformed argument is
      // (serialization_error), not as the check_violation they would raise.
      if (
        typeof workflowId !== "string" ||
        workflowId === "" ||
        utf8Length(workflowId) > MAX_ID_BYTES
      ) {
        return fail(
          storageError(
            "serialization_error",
            `workflowId must be a non-empty string of at most ${MAX_ID_BYTES} bytes`,
          ),
        );
      }
      if (maxInFlight === null) {
        return call(SQL.deleteLimit, () => [workflowId], () => null);
      }
      if (
        typeof maxInFlight !== "number" ||
        !Number.isInteger(maxInFlight) ||
        maxInFlight < 0 ||
        maxInFlight > INT4_MAX
      ) {
        return fail(
          storageError(
            "serialization_error",
            `maxInFlight must be an integer from 0 to ${INT4_MAX}, or null to remove the cap, not ${String(maxInFlight)}`,
          ),
        );
      }
      return call(SQL.setLimit, () => [workflowId, maxInFlight], (rows) => ({
        workflowId: rows[0].workflow_id,
        maxInFlight: Number(rows[0].max_in_flight),
        updatedAt: toDate(rows[0].updated_at),
      }));
    },

    async readCounters(): Promise<Result<VeristCounter[], StorageError>> {
      // Without shared_preload_libraries = 'verist' the view raises 55000:
      // not verist's own answer, so connection_error (the adapter's
      // catch-all), its message saying why and what to do.
      return call(SQL.counters, () => [], (rows) =>
        rows.map((row) => ({
          counter: row.counter,
          reason: row.reason ?? null,
          value: Number(row.value),
          since: toDate(row.since),
        })),
      );
    },

    async runDigest(
      workflowId: string,
      runId: string,
    ): Promise<Result<RunDigest, StorageError>> {
      if (emptyId(workflowId, runId)) return runNotFound(workflowId, runId);
      return call(SQL.digest, () => [workflowId, runId], (rows) => ({
        seq: Number(rows[0].seq),
        hash: rows[0].hash,
      }));
    },
  };
  return store;
}

function leaseMismatch(outboxId: unknown): Result<never, StorageError> {
  return fail(
    storageError(
      "conflict",
      `Outbox entry ${String(outboxId)} not finalizable by this owner`,
      "lease_mismatch",
    ),
  );
}

/** verist requires error text; the adapter stored what it was given (NULL for none). */
function errorText(error: unknown): string {
  if (typeof error === "string") return error;
  if (error === null || error === undefined) return "";
  if (error instanceof Error) return error.message;
  return String(error);
}

export type { VeristStorageError };
