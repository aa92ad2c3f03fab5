// @verist/storage-pg-verist: @verist/storage-pg's PgRunStore on the verist
// PostgreSQL extension.  Switching is changing the import; the factory, the
// types and the table definitions have the adapter's names.
export { createPgRunStore, type PgAdapterConfig } from "./store.js";
export type { Queryable } from "./connection.js";
export { STORAGE_ERRORS, toStorageError } from "./errors.js";
export {
  veristState,
  veristEvents,
  veristOutbox,
  veristBlocks,
  veristLedger,
  veristRetired,
  veristWorkflowLimits,
  veristOutboxStats,
  veristActiveBlocks,
  veristRunSummary,
  veristCounters,
} from "./schema.js";
export type * from "./types.js";
