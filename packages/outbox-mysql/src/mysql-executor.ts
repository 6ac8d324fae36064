import type { SqlExecutor, SqlResult, TransactionRunner } from '@outboxkit/outbox-core/driver';
import type { MysqlConnectionLike, MysqlPoolLike, MysqlResultHeader } from './mysql-like.js';
import { transaction } from './transaction.js';

/** The raw connection behind each executor `mysqlExecutor` made, so the stores keep their fast path for it. */
const connections = new WeakMap<SqlExecutor, MysqlConnectionLike>();

/**
 * An `SqlExecutor` on a mysql2/promise connection, for code that hands executors around. The
 * stores take the connection itself just as well, and treat this executor exactly as the
 * connection: same checks (the transaction state read from the server's status flags), no extra
 * round trip. `inTransaction()` is undefined: mysql2 does not track transactions.
 *
 * @example
 * ```ts
 * await transaction(pool, async (connection) => {
 *   await outbox.enqueue(mysqlExecutor(connection), PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * });
 * ```
 */
export function mysqlExecutor(connection: MysqlConnectionLike): SqlExecutor {
  const executor: SqlExecutor = {
    dialect: 'mysql',
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<SqlResult<Row>> {
      const [result] = await connection.query(sql, params === undefined ? undefined : [...params]);
      if (Array.isArray(result)) return { rows: result as Row[], affectedRows: 0 };
      return { rows: [], affectedRows: (result as MysqlResultHeader).affectedRows ?? 0 };
    },
  };
  connections.set(executor, connection);
  return executor;
}

/** The connection behind an executor made by {@link mysqlExecutor}; undefined for any other executor. */
export function connectionOf(executor: SqlExecutor): MysqlConnectionLike | undefined {
  return connections.get(executor);
}

/**
 * A `TransactionRunner` on a pool with mysql2's own connection as the transaction object:
 * `START TRANSACTION`, `fn(connection, mysqlExecutor(connection))`, `COMMIT` (see {@link transaction}).
 * What `MysqlInboxStore` does with `{ pool }`, as a runner, for code written against runners.
 */
export function mysqlTransactions(pool: MysqlPoolLike): TransactionRunner<MysqlConnectionLike> {
  return {
    dialect: 'mysql',
    transaction: (fn) => transaction(pool, (connection) => fn(connection, mysqlExecutor(connection))),
  };
}
