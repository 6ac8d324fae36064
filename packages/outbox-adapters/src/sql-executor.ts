// Local copy of the executor seam of `@outboxkit/outbox-core/driver`, until that entry lands;
// the shapes are the same, so the adapters switch by changing this file's exports to re-exports.

/** The SQL dialect a statement is written in: PostgreSQL (`$1`) or MySQL/MariaDB (`?`). */
export type SqlDialect = 'postgres' | 'mysql';

/** What one statement returned: its rows (empty for a write without RETURNING) and how many rows it changed. */
export interface SqlResult<Row> {
  readonly rows: Row[];
  readonly affectedRows: number;
}

/** Runs one statement on the caller's transaction; placeholders are the dialect's (`$1` / `?`). */
export interface SqlExecutor {
  readonly dialect: SqlDialect;
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<SqlResult<Row>>;
  /** True inside an open transaction, false outside one, undefined when the executor cannot tell. */
  inTransaction?(): boolean | undefined;
}

/** The consumer side: begins a transaction with the library, commits when `fn` resolves, rolls back when it throws. */
export interface TransactionRunner<Tx> {
  readonly dialect: SqlDialect;
  transaction<T>(fn: (tx: Tx, sql: SqlExecutor) => Promise<T>): Promise<T>;
}
