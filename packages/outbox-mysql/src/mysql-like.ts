/**
 * The part of a mysql2/promise connection outboxkit uses: a `PoolConnection` from
 * `pool.getConnection()` or a `Connection` from `createConnection()`. Results are mysql2's
 * `[rows, fields]` pair; rows must be mysql2's default row objects (not `rowsAsArray`).
 */
export interface MysqlConnectionLike {
  /** Runs one statement on this connection (inside the caller's transaction, when one is open). */
  query(sql: string, values?: unknown): Promise<[unknown, unknown]>;
  /** Runs one statement as a prepared statement, cached per connection by mysql2. */
  execute(sql: string, values?: unknown): Promise<[unknown, unknown]>;
  /** Present on pooled connections: hands the connection back to its pool. */
  release?(): void;
  /** Present on mysql2 connections: closes a connection whose state is unknown instead of pooling it. */
  destroy?(): void;
}

/** The part of a mysql2/promise `Pool` outboxkit uses: it checks connections out and runs single statements. */
export interface MysqlPoolLike {
  /** Checks a connection out; the caller releases it. */
  getConnection(): Promise<MysqlConnectionLike>;
  /** Runs one statement on any free connection of the pool. */
  query(sql: string, values?: unknown): Promise<[unknown, unknown]>;
}

/** What mysql2 returns for INSERT, UPDATE, DELETE and `DO`: the server's OK packet. */
export interface MysqlResultHeader {
  readonly affectedRows: number;
  readonly serverStatus?: number;
}

/** True for an object that looks like a pool (it hands out connections) rather than a connection. */
export function isPoolLike(value: unknown): value is MysqlPoolLike {
  return typeof value === 'object' && value !== null && typeof (value as { getConnection?: unknown }).getConnection === 'function';
}

/** Runs a statement whose result is a list of row objects. */
export async function selectRows<Row>(target: MysqlConnectionLike | MysqlPoolLike, sql: string, values?: unknown): Promise<Row[]> {
  const [rows] = await target.query(sql, values);
  return rows as Row[];
}

/** Runs a statement whose result is an OK packet (INSERT, UPDATE, DELETE, DO). */
export async function runStatement(target: MysqlConnectionLike | MysqlPoolLike, sql: string, values?: unknown): Promise<MysqlResultHeader> {
  const [header] = await target.query(sql, values);
  return header as MysqlResultHeader;
}

/**
 * Hands a connection back: to its pool when the transaction state is known to be clean, otherwise
 * closes it, so a connection stuck inside a half-finished transaction never serves another caller.
 */
export function giveBack(connection: MysqlConnectionLike, clean: boolean): void {
  if (!clean && typeof connection.destroy === 'function') {
    connection.destroy();
    return;
  }
  connection.release?.();
}
