// SQLSTATE -> StorageError.  verist raises its own SQLSTATEs (class VR, see
// verist's README "Errors"); everything else that can go wrong on the way to
// the database is a connection_error, as in @verist/storage-pg.
import type {
  Result,
  StorageError,
  StorageErrorCode,
  VeristConflictReason,
  VeristStorageError,
} from "./types.js";

const BY_SQLSTATE: Record<
  string,
  { code: StorageErrorCode; reason?: VeristConflictReason }
> = {
  VRC01: { code: "conflict", reason: "run_exists" },
  VRC02: { code: "conflict", reason: "version_mismatch" },
  VRC03: { code: "conflict", reason: "active_block" },
  VRC04: { code: "conflict", reason: "command_exists" },
  VRC05: { code: "conflict", reason: "lease_mismatch" },
  VRC06: { code: "conflict", reason: "not_failed" },
  VRN01: { code: "not_found" },
  VRS01: { code: "serialization_error" },
};

/** The SQLSTATE → {code, reason} table, for reference and tests. */
export const STORAGE_ERRORS: Readonly<
  Record<string, { code: StorageErrorCode; reason?: VeristConflictReason }>
> = Object.freeze({ ...BY_SQLSTATE });

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const fail = <E>(error: E): Result<never, E> => ({ ok: false, error });

/** A StorageError with the adapter's key order: code, reason (conflicts), message. */
export function storageError(
  code: StorageErrorCode,
  message: string,
  reason?: VeristConflictReason,
): StorageError {
  return (reason ? { code, reason, message } : { code, message }) as StorageError;
}

/** Map anything a call threw to a StorageError. */
export function toStorageError(cause: unknown): VeristStorageError {
  const e = cause as {
    code?: unknown;
    message?: unknown;
    detail?: unknown;
    hint?: unknown;
    cause?: { code?: unknown; detail?: unknown; hint?: unknown };
  } | null;
  const sqlstate =
    typeof e?.code === "string"
      ? e.code
      : typeof e?.cause?.code === "string"
        ? e.cause.code
        : undefined;
  let message =
    cause instanceof Error
      ? cause.message
      : typeof e?.message === "string"
        ? e.message
        : String(cause);
  const mapped = sqlstate ? BY_SQLSTATE[sqlstate] : undefined;
  if (!mapped) {
    // Connection refused or lost, a terminated backend, a timeout, and
    // whatever else is not verist's own answer: the adapter's catch-all.
    // (A refused connection to a host with several addresses is an
    // AggregateError with an empty message: say what its parts say.)
    const parts = (cause as { errors?: unknown[] } | null)?.errors;
    if (!message && Array.isArray(parts)) {
      message = parts
        .map((p) => (p instanceof Error ? p.message : String(p)))
        .join("; ");
    }
    if (!message) message = sqlstate ?? "connection error";
    // The server's hint says what to do, e.g. for verist_counters without
    // shared_preload_libraries (55000): "Add verist to ...".
    const hint = e?.hint ?? e?.cause?.hint;
    if (typeof hint === "string" && hint) message += ` (${hint})`;
    return storageError("connection_error", message);
  }
  const detail = e?.detail ?? e?.cause?.detail;
  if (typeof detail === "string" && detail) message += ` (${detail})`;
  return storageError(mapped.code, message, mapped.reason);
}
