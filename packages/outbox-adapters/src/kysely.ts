import { OutboxUsageError } from '@outboxkit/outbox-core';
import type { SqlDialect, SqlExecutor, TransactionRunner } from '@outboxkit/outbox-core/driver';
import { CompiledQuery, type ControlledTransaction, type Kysely, MysqlAdapter, PostgresAdapter, type QueryResult } from 'kysely';

/** Options of {@link kyselyExecutor} and {@link kyselyTransactions}. */
export interface KyselyAdapterOptions {
  /** The dialect of the Kysely instance. @defaultValue read from its adapter (`PostgresAdapter` or `MysqlAdapter`) */
  readonly dialect?: SqlDialect;
}

/** What the executor uses of a Kysely `Transaction` (or `ControlledTransaction`), whatever its database type. */
export interface KyselyTransactionLike {
  /** True for a transaction, false for a `Kysely` instance. */
  readonly isTransaction: boolean;
  /** Runs a compiled query on the transaction's connection. */
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
  /** The executor, whose adapter tells the dialect. */
  getExecutor(): { readonly adapter: object };
}

/**
 * The outbox's view of a Kysely transaction: `outbox.enqueue(kyselyExecutor(trx), event)` writes
 * the event with the transaction's connection, so it commits or rolls back with `trx`.
 *
 * @throws OutboxUsageError for a `Kysely` instance that is not a transaction (each statement would
 * commit on its own), or a dialect other than PostgreSQL and MySQL without `options.dialect`.
 *
 * @example
 * ```ts
 * await db.transaction().execute(async (trx) => {
 *   await trx.updateTable('products').set({ price }).where('id', '=', id).execute();
 *   await outbox.enqueue(kyselyExecutor(trx), PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * });
 * ```
 */
export function kyselyExecutor(trx: KyselyTransactionLike, options: KyselyAdapterOptions = {}): SqlExecutor {
  if (!trx || typeof trx.executeQuery !== 'function') {
    throw new OutboxUsageError('kyselyExecutor() needs a Kysely transaction: the trx of db.transaction().execute(async (trx) => ...)');
  }
  if (trx.isTransaction !== true) {
    throw new OutboxUsageError(
      'kyselyExecutor() needs a Kysely transaction; got a Kysely instance, whose statements each commit on their own. ' +
        'Use db.transaction().execute(async (trx) => outbox.enqueue(kyselyExecutor(trx), event))',
    );
  }
  const dialect = options.dialect ?? dialectOf(trx);
  const controlled = trx as { readonly isCommitted?: boolean; readonly isRolledBack?: boolean };
  return {
    dialect,
    async query<Row>(sql: string, params: readonly unknown[] = []) {
      const result = await trx.executeQuery(CompiledQuery.raw(sql, [...params]));
      return { rows: result.rows as Row[], affectedRows: Number(result.numAffectedRows ?? 0n) };
    },
    // A controlled transaction knows when it is over; a callback transaction is open while its callback runs.
    inTransaction: () => !(controlled.isCommitted === true || controlled.isRolledBack === true),
  };
}

/**
 * The consumer's transactions on a Kysely instance: `new PgInboxStore({ transactions: kyselyTransactions(db) })`.
 * Each handler gets a `ControlledTransaction`, so it can set savepoints of its own; the runner
 * commits when the handler resolves and rolls back when it throws.
 *
 * @throws OutboxUsageError for a dialect other than PostgreSQL and MySQL without `options.dialect`.
 */
export function kyselyTransactions<DB>(db: Kysely<DB>, options: KyselyAdapterOptions = {}): TransactionRunner<ControlledTransaction<DB>> {
  const dialect = options.dialect ?? dialectOf(db);
  return {
    dialect,
    async transaction<T>(fn: (tx: ControlledTransaction<DB>, sql: SqlExecutor) => Promise<T>): Promise<T> {
      const trx = await db.startTransaction().execute();
      let value: T;
      try {
        value = await fn(trx, kyselyExecutor(trx, { dialect }));
      } catch (error) {
        // The handler's error is the one to report; a failed rollback means the connection is gone,
        // and Kysely releases it either way.
        await trx
          .rollback()
          .execute()
          .catch(() => {});
        throw error;
      }
      await trx.commit().execute();
      return value;
    },
  };
}

function dialectOf(db: { getExecutor(): { readonly adapter: object } }): SqlDialect {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof PostgresAdapter) return 'postgres';
  if (adapter instanceof MysqlAdapter) return 'mysql';
  throw new OutboxUsageError(
    `the Kysely instance's dialect (${adapter.constructor.name}) is neither PostgreSQL nor MySQL: pass { dialect: 'postgres' } or { dialect: 'mysql' } if it speaks one of them`,
  );
}
