/** The SQL dialects outboxkit's stores speak; an executor names its own so a store can refuse the wrong one. */
export type SqlDialect = 'postgres' | 'mysql';

/** What one statement returned: its rows (empty for INSERT, UPDATE, DELETE without RETURNING) and how many rows it changed. */
export interface SqlResult<Row = Record<string, unknown>> {
  /** The rows the statement returned, as objects keyed by column name. */
  readonly rows: Row[];
  /** How many rows the statement inserted, updated or deleted (0 for a query). */
  readonly affectedRows: number;
}

/**
 * Runs one parameterised statement on a connection or transaction the caller holds: the seam
 * between the stores and whatever carries the caller's transaction (a raw `pg` client, a `mysql2`
 * connection, an ORM's transaction object). The stores only ever send statements through it; they
 * never begin, commit or release what it runs on.
 *
 * Contract for implementations:
 * - `sql` holds one statement; placeholders are the dialect's (`$1`, `$2`, ... on PostgreSQL, `?`
 *   on MySQL) and `params` are bound in order: strings, numbers, booleans, `null`, and (PostgreSQL)
 *   arrays of strings, numbers or booleans, sent as the matching array type;
 * - a failed statement rejects with the driver's native error, or with an error whose `cause`
 *   chain holds it (the store looks for the PostgreSQL SQLSTATE in `code`, the MySQL error in
 *   `errno` / `code`), so the store can translate it into its typed errors;
 * - it is used by one caller at a time, as a transaction is.
 *
 * @example
 * ```ts
 * const executor: SqlExecutor = {
 *   dialect: 'postgres',
 *   async query(sql, params) {
 *     const result = await client.query(sql, params ? [...params] : []);
 *     return { rows: result.rows, affectedRows: result.rowCount ?? 0 };
 *   },
 *   inTransaction: () => true,
 * };
 * await outbox.enqueue(executor, PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * ```
 */
export interface SqlExecutor {
  /** The dialect of the connection it runs on: a store refuses an executor of another. */
  readonly dialect: SqlDialect;
  /** Runs `sql` with `params` bound in order, on the caller's transaction (see the contract above). */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<SqlResult<Row>>;
  /**
   * Whether a transaction is open on what the executor runs on: `true` or `false` when the
   * carrier knows (an ORM's transaction object is one by construction), `undefined` when it cannot
   * tell, and then the store asks the server with a statement. A store refuses to write through an
   * executor that is not in a transaction, with an `OutboxUsageError`, as it refuses a pool.
   */
  inTransaction?(): boolean | undefined;
}

/**
 * Opens a transaction with the caller's library, so an inbox store can run a handler inside it:
 * `fn` receives the library's own transaction object (what the handler writes through) and an
 * executor on the same transaction (what the store records the inbox row and its savepoints
 * through). Commits when `fn` resolves and resolves to its value; rolls back when `fn` rejects and
 * rejects with `fn`'s error (or with the error of a failed commit).
 *
 * @example
 * ```ts
 * const transactions: TransactionRunner<PgClientLike> = {
 *   dialect: 'postgres',
 *   transaction: (fn) => transaction(pool, (client) => fn(client, pgExecutor(client))),
 * };
 * const inbox = new PgInboxStore({ transactions });
 * ```
 */
export interface TransactionRunner<Tx> {
  /** The dialect of the connections it opens transactions on: a store refuses a runner of another. */
  readonly dialect: SqlDialect;
  /** Runs `fn` in a new transaction: commits when it resolves, rolls back when it rejects. */
  transaction<T>(fn: (tx: Tx, sql: SqlExecutor) => Promise<T>): Promise<T>;
}

/**
 * True for an {@link SqlExecutor}: an object with a `dialect` and a `query` method. Raw driver
 * clients (`pg.Client`, `mysql2` connections) have no `dialect`, so a store can accept both.
 */
export function isSqlExecutor(value: unknown): value is SqlExecutor {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { dialect?: unknown; query?: unknown };
  return (candidate.dialect === 'postgres' || candidate.dialect === 'mysql') && typeof candidate.query === 'function';
}

/** True for a {@link TransactionRunner}: an object with a `dialect` and a `transaction` method. */
export function isTransactionRunner(value: unknown): value is TransactionRunner<unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { dialect?: unknown; transaction?: unknown };
  return (candidate.dialect === 'postgres' || candidate.dialect === 'mysql') && typeof candidate.transaction === 'function';
}

/**
 * The driver's own error behind what an executor rejected with: the innermost error of the `cause`
 * chain (the error itself included) that carries a string `code` or a numeric `errno`, as ORMs wrap
 * the native error in their own (which may carry a code of its own); the error itself when none does.
 */
export function nativeError(error: unknown): unknown {
  let found: unknown = error;
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 8; depth++) {
    const candidate = current as { code?: unknown; errno?: unknown; cause?: unknown };
    if (typeof candidate.code === 'string' || typeof candidate.errno === 'number') found = current;
    current = candidate.cause;
  }
  return found;
}

/** What a driver's error translation (`translatePgError`, `translateMysqlError`) may add to the message. */
export interface TranslateContext {
  /** The operation that failed, e.g. `claim()`. */
  readonly operation?: string;
  /** The schema version the store expects, for a missing table (`SchemaVersionError.expected`). */
  readonly expectedVersion?: number;
}
