import { OutboxUsageError } from '@outboxkit/outbox-core';
import type { SqlDialect, SqlExecutor, SqlResult, TransactionRunner } from '@outboxkit/outbox-core/driver';
import type { DataSource, EntityManager } from 'typeorm';

/**
 * The outbox's view of a TypeORM transaction: `outbox.enqueue(typeormExecutor(manager), event)`
 * writes the event through the manager's query runner, so it commits or rolls back with the
 * transaction. Nested `manager.transaction()` calls are savepoints; an event enqueued inside one
 * goes with it.
 *
 * @throws OutboxUsageError for a manager without an active transaction (`dataSource.manager`,
 * whose statements each commit on their own, or a manager whose transaction is over), or a data
 * source other than `postgres`, `mysql` and `mariadb`.
 *
 * @example
 * ```ts
 * await dataSource.transaction(async (manager) => {
 *   await manager.update(Product, { id }, { price });
 *   await outbox.enqueue(typeormExecutor(manager), PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * });
 * ```
 */
export function typeormExecutor(manager: EntityManager): SqlExecutor {
  if (!manager || typeof manager.query !== 'function' || !manager.connection) {
    throw new OutboxUsageError(
      'typeormExecutor() needs the EntityManager of a transaction: dataSource.transaction(async (manager) => ...)',
    );
  }
  const runner = manager.queryRunner;
  if (!runner?.isTransactionActive || runner.isReleased) {
    throw new OutboxUsageError(
      runner
        ? 'typeormExecutor() got an EntityManager whose transaction is not active (committed, rolled back or never started)'
        : 'typeormExecutor() needs the EntityManager of a transaction; got one without a query runner (dataSource.manager), ' +
            'whose statements each commit on their own. Use dataSource.transaction(async (manager) => outbox.enqueue(typeormExecutor(manager), event))',
    );
  }
  const dialect = dialectOf(manager.connection);
  return {
    dialect,
    async query<Row>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<Row>> {
      const result = await runner.query(sql, [...params], true);
      return { rows: (result.records ?? []) as Row[], affectedRows: result.affected ?? 0 };
    },
    inTransaction: () => runner.isTransactionActive && !runner.isReleased,
  };
}

/**
 * The consumer's transactions on a TypeORM data source: `new PgInboxStore({ transactions: typeormTransactions(dataSource) })`.
 * Each handler gets the transaction's `EntityManager` (repositories from `manager.getRepository()`
 * share the transaction, and `manager.transaction()` inside it is a savepoint); the runner commits
 * when the handler resolves and rolls back when it throws.
 *
 * @throws OutboxUsageError for a data source other than `postgres`, `mysql` and `mariadb`.
 */
export function typeormTransactions(dataSource: DataSource): TransactionRunner<EntityManager> {
  const dialect = dialectOf(dataSource);
  return {
    dialect,
    transaction<T>(fn: (tx: EntityManager, sql: SqlExecutor) => Promise<T>): Promise<T> {
      return dataSource.transaction((manager) => fn(manager, typeormExecutor(manager)));
    },
  };
}

function dialectOf(dataSource: DataSource): SqlDialect {
  const type = dataSource.options.type;
  if (type === 'postgres') return 'postgres';
  if (type === 'mysql' || type === 'mariadb') return 'mysql';
  throw new OutboxUsageError(`outboxkit runs on TypeORM's postgres, mysql and mariadb data sources; this one is ${type}`);
}
