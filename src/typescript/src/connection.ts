// What the store runs its SQL on: the pg.Pool / pg.Client under a drizzle
// node-postgres database or transaction, or one given directly.

/** Anything with node-postgres' query(text, values): pg.Pool, pg.Client, a PoolClient. */
export interface Queryable {
  query(text: string, values?: any[]): Promise<{ rows: any[] }>;
}

type Runner = (text: string, values: unknown[]) => Promise<any[]>;

interface Emitter {
  on(event: "error", listener: (err: Error) => void): unknown;
  listenerCount(event: string): number;
}

function isQueryable(x: unknown): x is Queryable {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as { query?: unknown }).query === "function"
  );
}

/** The client, and whether `db` was a drizzle transaction (always inside one). */
export interface Resolved {
  client: Queryable;
  drizzleTransaction: boolean;
}

/**
 * The node-postgres client behind `db`: drizzle keeps it in `$client` (a
 * database) or `session.client` (a transaction, where it is the PoolClient
 * that holds the transaction).
 */
export function resolveClient(db: unknown): Resolved {
  const d = db as {
    $client?: unknown;
    session?: { client?: unknown };
    rollback?: unknown;
  } | null;
  if (d && typeof d === "object") {
    if (isQueryable(d.$client)) return { client: d.$client, drizzleTransaction: false };
    if (d.session && isQueryable(d.session.client)) {
      return {
        client: d.session.client,
        drizzleTransaction: typeof d.rollback === "function",
      };
    }
    if (isQueryable(d)) return { client: d, drizzleTransaction: false };
  }
  throw new TypeError(
    "createPgRunStore: `db` must be a drizzle node-postgres database or transaction " +
      "(drizzle-orm/node-postgres), a pg.Pool or a pg.Client",
  );
}

/**
 * Keep a connection lost while idle from crashing the process: pg.Pool and
 * pg.Client emit "error" for it, and an EventEmitter with no listener for
 * "error" throws.  The pool has already discarded the connection; the next
 * call gets a new one (or connection_error while the server is down).
 */
export function guardIdleErrors(client: Queryable): void {
  const e = client as unknown as Partial<Emitter>;
  if (typeof e.on === "function" && typeof e.listenerCount === "function") {
    if (e.listenerCount("error") === 0) e.on("error", () => {});
  }
}

let savepoints = 0;

/**
 * Run one statement and return its rows.  Autocommit (a pool, an idle
 * client) is one round trip.  Inside the caller's transaction (a drizzle
 * transaction, a pg.Client after BEGIN) the statement runs under a savepoint,
 * as the adapter's nested drizzle transaction did, so a refused call leaves
 * the caller's transaction usable.
 */
export function makeRunner({ client, drizzleTransaction }: Resolved): Runner {
  // pg >= 8.21 tells whether a client is inside a transaction; a drizzle
  // transaction always is.
  const txStatus = (client as { getTransactionStatus?: () => string | null })
    .getTransactionStatus;
  const inTransaction = drizzleTransaction
    ? () => true
    : typeof txStatus === "function"
      ? () => txStatus.call(client) === "T"
      : () => false;
  return async (text, values) => {
    if (!inTransaction()) {
      const r = await client.query(text, values);
      return r.rows;
    }
    const sp = `verist_sp_${++savepoints}`;
    await client.query(`SAVEPOINT ${sp}`);
    let rows: any[];
    try {
      rows = (await client.query(text, values)).rows;
    } catch (err) {
      try {
        await client.query(`ROLLBACK TO SAVEPOINT ${sp}`);
        await client.query(`RELEASE SAVEPOINT ${sp}`);
      } catch {
        // the connection is gone: the caller's transaction is too
      }
      throw err;
    }
    await client.query(`RELEASE SAVEPOINT ${sp}`);
    return rows;
  };
}
