// The types of the Verist storage contract, as @verist/storage and
// @verist/storage-pg declare them (same names, same shapes), plus the types of
// verist's additional methods.  Written here so that the package has no
// dependency on the Verist kernel packages: a value of these types is
// assignable to and from the kernel's own.

/** Result of every store method: never a thrown exception. */
export type Result<T, E = Error> =
  | { ok: true; value: T }
  | { ok: false; error: E };

// ---------------------------------------------------------------- kernel values

/** LLM call trace (kernel invariant #8: the hashes are mandatory). */
export interface LLMTrace {
  model: string;
  promptTokens: number;
  completionTokens: number;
  durationMs: number;
  inputHash: string;
  outputHash: string;
  input?: unknown;
  output?: unknown;
}

/** Audit event emitted by a step. */
export interface AuditEvent {
  type: string;
  payload?: Record<string, unknown>;
  llmTrace?: LLMTrace;
}

export interface InvokeCommand {
  type: "invoke";
  step: string;
  input: unknown;
}
export interface FanoutCommand {
  type: "fanout";
  step: string;
  inputs: unknown[];
}
export interface ReviewCommand {
  type: "review";
  reason: string;
  payload?: unknown;
}
export interface EmitCommand {
  type: "emit";
  topic: string;
  payload: unknown;
}
export interface SuspendCommand {
  type: "suspend";
  reason: string;
  checkpoint: unknown;
  resumeStep?: string;
}
/** The five kernel commands a step may return. */
export type Command =
  | InvokeCommand
  | FanoutCommand
  | ReviewCommand
  | EmitCommand
  | SuspendCommand;

// ---------------------------------------------------------------- RunStore

/** A run's state: computed by steps, overlay from humans. */
export interface RunState<T = unknown> {
  workflowId: string;
  runId: string;
  version: number;
  computed: T;
  overlay: Partial<T>;
  createdAt: Date;
  updatedAt: Date;
}
/** The name @verist/storage used before RunState (same type). */
export type StateSnapshot<T = unknown> = RunState<T>;

interface CommitParamsBase {
  workflowId: string;
  runId: string;
  stepId: string;
  /** Expected current version: 0 creates the run. */
  expectedVersion: number;
  /** Audit events, appended in order with this stepId (default []). */
  events?: AuditEvent[];
  /** Commands: to the outbox, or a review/suspend block (default []). */
  commands?: Command[];
}
/**
 * One step's commit.  `output` is shallow-merged into `computed`; `delta` is
 * the name @verist/storage used before `output` and is accepted the same way.
 */
export type CommitParams<T = unknown> = CommitParamsBase &
  (
    | { output: Partial<T>; delta?: undefined }
    | {
        /** @deprecated renamed `output` in @verist/storage */
        delta: Partial<T>;
        output?: undefined;
      }
  );

export type StorageErrorCode =
  | "not_found"
  | "conflict"
  | "connection_error"
  | "serialization_error";

/** Why a `conflict`: always set when code is "conflict". */
export type ConflictReason =
  | "run_exists"
  | "version_mismatch"
  | "active_block"
  | "command_exists"
  | "lease_mismatch";

export interface StorageError {
  code: StorageErrorCode;
  message: string;
  reason?: ConflictReason;
}

/** The RunStore interface of @verist/storage. */
export interface RunStore {
  load<T = unknown>(
    workflowId: string,
    runId: string,
  ): Promise<Result<RunState<T>, StorageError>>;
  commit<T>(params: CommitParams<T>): Promise<Result<RunState<T>, StorageError>>;
  setOverlay<T>(
    workflowId: string,
    runId: string,
    overlay: Partial<T>,
  ): Promise<Result<RunState<T>, StorageError>>;
}

// ---------------------------------------------------------------- PgRunStore

export type OutboxStatus =
  | "pending"
  | "deferred"
  | "leased"
  | "dispatched"
  | "rejected"
  | "failed";

/** An outbox row as leaseOutbox returns it. */
export interface OutboxEntry {
  id: string;
  workflowId: string;
  runId: string;
  stepId: string;
  command: Command;
  dedupeKey: string;
  status: OutboxStatus;
  lastError: string | null;
  createdAt: Date;
}

export type BlockType = "review" | "suspend";

/** The active block of a run. */
export interface Block {
  id: string;
  workflowId: string;
  runId: string;
  stepId: string;
  type: BlockType;
  reason: string;
  payload: unknown;
  resumeStep: string | null;
  createdAt: Date;
}

export interface ReviewResolution {
  approved: boolean;
}
export interface SuspendResolution {
  resumeData: unknown;
}
export interface ResolvedBlock {
  id: string;
  type: BlockType;
  resolution: ReviewResolution | SuspendResolution;
}

/** The PgRunStore interface of @verist/storage-pg. */
export interface PgRunStore extends RunStore {
  getBlock(
    workflowId: string,
    runId: string,
  ): Promise<Result<Block | null, StorageError>>;
  resolveBlock(
    workflowId: string,
    runId: string,
    resolution: ReviewResolution | SuspendResolution,
  ): Promise<Result<ResolvedBlock | null, StorageError>>;
  leaseOutbox(
    leaseOwner: string,
    limit: number,
    leaseDurationMs?: number,
  ): Promise<Result<OutboxEntry[], StorageError>>;
  markDispatched(
    outboxId: string,
    leaseOwner: string,
  ): Promise<Result<void, StorageError>>;
  markFailed(
    outboxId: string,
    leaseOwner: string,
    error: string,
  ): Promise<Result<void, StorageError>>;
}

// ---------------------------------------------------------------- verist's extras

/** requeue's conflict: the row is not a dead letter (SQLSTATE VRC06). */
export type VeristConflictReason = ConflictReason | "not_failed";

export interface VeristStorageError {
  code: StorageErrorCode;
  message: string;
  reason?: VeristConflictReason;
}

/**
 * Every column of an outbox row (markRetry, requeue), but verist 0.6.0's
 * generated `queued`, which is `status` pending or leased.
 */
export interface OutboxRecord extends OutboxEntry {
  leaseOwner: string | null;
  /** For a leased row: end of the lease; for a pending row in backoff: not leasable before. */
  leaseExpiresAt: Date | null;
  failures: number;
  dispatchedAt: Date | null;
}

/** Retry policy of markRetry: exponential backoff, dead letter at maxAttempts. */
export interface RetryPolicy {
  maxAttempts: number;
  /** First delay (default 1000 ms), doubled at each failure. */
  baseDelayMs?: number;
  /** Cap of the delay (default 300000 ms). */
  maxDelayMs?: number;
}

/** An event of the audit log, with its place in the run's hash chain. */
export interface StoredEvent {
  id: string;
  workflowId: string;
  runId: string;
  stepId: string;
  type: string;
  payload: Record<string, unknown> | null;
  llmTrace: LLMTrace | null;
  createdAt: Date;
  seq: number;
  hash: string;
}

export interface ChainVerification {
  valid: boolean;
  eventsChecked: number;
  firstBrokenSeq: number | null;
  reason: string | null;
}

export interface BrokenRun {
  workflowId: string;
  runId: string;
  eventsChecked: number;
  firstBrokenSeq: number | null;
  reason: string | null;
}

export interface RunDigest {
  seq: number;
  hash: string;
}

/**
 * verist 0.5.0's lease modes (verist's README, "Lease modes"): `oldest` is
 * leaseOutbox's default; `per_run` leases a run's commands one at a time in
 * commit order; `fair` round-robins over workflows within their caps
 * (setWorkflowLimit); `fair_per_run` is both.
 */
export type LeaseMode = "oldest" | "per_run" | "fair" | "fair_per_run";

/** leaseOutbox's optional fourth argument (an extra; needs verist 0.5.0). */
export interface LeaseOptions {
  /** Omitted: verist's three-argument lease (oldest first), as the adapter. */
  mode?: LeaseMode;
}

/** A row of verist_workflow_limits, as setWorkflowLimit stored it. */
export interface WorkflowLimit {
  workflowId: string;
  /** The most rows of the workflow leased at once by fair leases (0 pauses it). */
  maxInFlight: number;
  updatedAt: Date;
}

/** A row of the verist_counters view (verist 0.5.0, this database's counters). */
export interface VeristCounter {
  /** commits, creates, replays, conflicts, not_found, serialization_errors, leases, rows_leased, dispatched, retried, dead_lettered */
  counter: string;
  /** For conflicts: the conflict's reason (run_exists, ...); otherwise null. */
  reason: string | null;
  value: number;
  /** When counting started: the server's start or the last verist_reset_counters(). */
  since: Date;
}

/** PgRunStore plus what verist adds. */
export interface VeristRunStore extends PgRunStore {
  /**
   * The adapter's leaseOutbox; with `{ mode }` (extra, verist 0.5.0) it leases
   * in that lease mode.  An unknown mode is serialization_error.
   */
  leaseOutbox(
    leaseOwner: string,
    limit: number,
    leaseDurationMs?: number,
    options?: LeaseOptions,
  ): Promise<Result<OutboxEntry[], StorageError>>;
  /**
   * Cap the workflow's leased rows under the fair lease modes (0 pauses it);
   * null removes the cap.  The row as stored, or null when removed.
   */
  setWorkflowLimit(
    workflowId: string,
    maxInFlight: number | null,
  ): Promise<Result<WorkflowLimit | null, StorageError>>;
  /**
   * This database's counters (verist_counters).  connection_error when the
   * server does not preload verist (SQLSTATE 55000).
   */
  readCounters(): Promise<Result<VeristCounter[], StorageError>>;
  /** computed || overlay of the run; not_found when it does not exist. */
  getEffectiveState<T = unknown>(
    workflowId: string,
    runId: string,
  ): Promise<Result<T, StorageError>>;
  /** Finalise, in one statement, the listed rows the owner still leases; their ids. */
  markDispatchedBatch(
    outboxIds: string[],
    leaseOwner: string,
  ): Promise<Result<string[], StorageError>>;
  /** A failure under a retry policy: pending after a backoff, or failed at maxAttempts. */
  markRetry(
    outboxId: string,
    leaseOwner: string,
    error: string,
    policy: RetryPolicy,
  ): Promise<Result<OutboxRecord, StorageError>>;
  /** A dead letter back to pending (failures reset). */
  requeue(outboxId: string): Promise<Result<OutboxRecord, VeristStorageError>>;
  /** Delete up to maxRows dispatched/rejected rows finished more than olderThanMs ago. */
  purgeOutbox(
    olderThanMs: number,
    maxRows?: number,
  ): Promise<Result<number, StorageError>>;
  /** Events with id > afterId in id order, never past an id still being written. */
  readEvents(
    afterId: string,
    limit: number,
  ): Promise<Result<StoredEvent[], StorageError>>;
  /** Recompute the run's event hash chain. */
  verifyRun(
    workflowId: string,
    runId: string,
  ): Promise<Result<ChainVerification, StorageError>>;
  /** Verify every run; the broken ones ([] when every chain holds). */
  verifyAll(): Promise<Result<BrokenRun[], StorageError>>;
  /** The chain head, to anchor outside the database. */
  runDigest(
    workflowId: string,
    runId: string,
  ): Promise<Result<RunDigest, StorageError>>;
}
