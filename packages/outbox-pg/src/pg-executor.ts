import type { SqlExecutor, SqlResult, TransactionRunner } from '@outboxkit/outbox-core/driver';
import type { PgClientLike, PgPoolLike } from './pg-like.js';
import { transaction } from './transaction.js';

/** The raw client behind each executor `pgExecutor` made, so the stores keep their fast path for it. */
const clients = new WeakMap<SqlExecutor, PgClientLike>();

/**
 * An `SqlExecutor` on a node-postgres client (a `pg.Client` or a client checked out of a
 * pool), for code that hands executors around. The stores take the client itself just as well,
 * and treat this executor exactly as the client: same checks, same prepared statements, no
 * extra round trip. `inTransaction()` reads the client's transaction status when it reports one.
 *
 * @example
 * ```ts
 * await transaction(pool, async (client) => {
 *   await outbox.enqueue(pgExecutor(client), PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * });
 * ```
 */
export function pgExecutor(client: PgClientLike): SqlExecutor {
  const executor: SqlExecutor = {
    dialect: 'postgres',
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<SqlResult<Row>> {
      const result = await client.query<Row>(sql, params === undefined ? undefined : [...params]);
      return { rows: result.rows, affectedRows: result.rowCount ?? 0 };
    },
    inTransaction() {
      // 'I' may be a BEGIN still queued on the client: only 'T' is known.
      return typeof client.getTransactionStatus === 'function' && client.getTransactionStatus() === 'T' ? true : undefined;
    },
  };
  clients.set(executor, client);
  return executor;
}

/** The client behind an executor made by {@link pgExecutor}; undefined for any other executor. */
export function clientOf(executor: SqlExecutor): PgClientLike | undefined {
  return clients.get(executor);
}

/**
 * A `TransactionRunner` on a pool with node-postgres' own client as the transaction object:
 * `BEGIN`, `fn(client, pgExecutor(client))`, `COMMIT` (see {@link transaction}). What `PgInboxStore`
 * does with `{ pool }`, as a runner, for code written against runners.
 */
export function pgTransactions(pool: PgPoolLike): TransactionRunner<PgClientLike> {
  return {
    dialect: 'postgres',
    transaction: (fn) => transaction(pool, (client) => fn(client, pgExecutor(client))),
  };
}
