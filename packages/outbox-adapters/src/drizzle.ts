import { OutboxUsageError } from '@outboxkit/outbox-core';
import type { SqlDialect, SqlExecutor, SqlResult, TransactionRunner } from '@outboxkit/outbox-core/driver';
import { is, type SQL, type SQLChunk, sql } from 'drizzle-orm';
import { MySqlDatabase, MySqlTransaction } from 'drizzle-orm/mysql-core';
import { PgDatabase, PgTransaction } from 'drizzle-orm/pg-core';
import { splitPlaceholders } from './placeholders.js';

// biome-ignore lint/suspicious/noExplicitAny: any schema, any driver's result kind
type AnyPgTransaction = PgTransaction<any, any, any>;
// biome-ignore lint/suspicious/noExplicitAny: any schema, any driver's result kind
type AnyMysqlTransaction = MySqlTransaction<any, any, any, any>;
/** A Drizzle transaction on PostgreSQL or MySQL: the `tx` of `db.transaction(async (tx) => ...)`. */
export type DrizzleTransaction = AnyPgTransaction | AnyMysqlTransaction;
/** A Drizzle database on PostgreSQL or MySQL: what `drizzle(pool)` returns. */
// biome-ignore lint/suspicious/noExplicitAny: any schema, any driver's result kind
export type DrizzleDatabase = PgDatabase<any, any, any> | MySqlDatabase<any, any, any, any>;
/** The transaction type a Drizzle database hands to its `transaction()` callback. */
export type DrizzleTransactionOf<DB extends DrizzleDatabase> = Parameters<Parameters<DB['transaction']>[0]>[0];

/**
 * The outbox's view of a Drizzle transaction: `outbox.enqueue(drizzleExecutor(tx), event)` writes
 * the event with the transaction's connection, so it commits or rolls back with `tx`; inside a
 * nested `tx.transaction()` (a savepoint) it goes with the savepoint. Statements run through
 * `tx.execute()`, with each parameter bound as a Drizzle `sql.param`.
 *
 * @throws OutboxUsageError for a Drizzle database that is not a transaction (each statement would
 * commit on its own), or a database other than PostgreSQL and MySQL.
 *
 * @example
 * ```ts
 * await db.transaction(async (tx) => {
 *   await tx.update(products).set({ price }).where(eq(products.id, id));
 *   await outbox.enqueue(drizzleExecutor(tx), PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * });
 * ```
 */
export function drizzleExecutor(tx: DrizzleTransaction): SqlExecutor {
  const dialect = is(tx, PgTransaction) ? 'postgres' : is(tx, MySqlTransaction) ? 'mysql' : undefined;
  if (dialect === undefined) {
    throw new OutboxUsageError(
      is(tx, PgDatabase) || is(tx, MySqlDatabase)
        ? 'drizzleExecutor() needs a Drizzle transaction; got a Drizzle database, whose statements each commit on their own. ' +
            'Use db.transaction(async (tx) => outbox.enqueue(drizzleExecutor(tx), event))'
        : 'drizzleExecutor() needs a Drizzle transaction on PostgreSQL or MySQL: the tx of db.transaction(async (tx) => ...)',
    );
  }
  const execute = tx.execute.bind(tx) as (query: SQL) => Promise<unknown>;
  return {
    dialect,
    async query<Row>(text: string, params: readonly unknown[] = []): Promise<SqlResult<Row>> {
      return fromDrizzle<Row>(await execute(toDrizzleSql(text, params, dialect)));
    },
    // Drizzle hands out a transaction only inside its callback, and has no state to ask after it.
    inTransaction: () => true,
  };
}

/**
 * The consumer's transactions on a Drizzle database: `new PgInboxStore({ transactions: drizzleTransactions(db) })`.
 * Each handler gets the `tx` of `db.transaction()`, so `tx.transaction()` inside it is a
 * savepoint; the runner commits when the handler resolves and rolls back when it throws.
 *
 * @throws OutboxUsageError for a database other than PostgreSQL and MySQL.
 */
export function drizzleTransactions<DB extends DrizzleDatabase>(db: DB): TransactionRunner<DrizzleTransactionOf<DB>> {
  const dialect: SqlDialect | undefined = is(db, PgDatabase) ? 'postgres' : is(db, MySqlDatabase) ? 'mysql' : undefined;
  if (dialect === undefined) throw new OutboxUsageError('drizzleTransactions() needs a Drizzle database on PostgreSQL or MySQL');
  type Tx = DrizzleTransactionOf<DB>;
  const begin = db.transaction.bind(db) as <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>;
  return {
    dialect,
    transaction<T>(fn: (tx: Tx, sql: SqlExecutor) => Promise<T>): Promise<T> {
      return begin((tx) => fn(tx, drizzleExecutor(tx as DrizzleTransaction)));
    },
  };
}

// Drizzle numbers its parameters itself: the statement is cut at its placeholders and rebuilt
// from raw text and `sql.param` chunks (a param keeps an array whole, as `unnest($1::text[])` needs).
function toDrizzleSql(text: string, params: readonly unknown[], dialect: SqlDialect): SQL {
  const { texts, indexes } = splitPlaceholders(text, dialect);
  const chunks: SQLChunk[] = [sql.raw(texts[0]!)];
  indexes.forEach((index, i) => {
    if (index >= params.length) throw new OutboxUsageError(`the statement uses parameter ${index + 1} but has ${params.length} parameters`);
    chunks.push(sql.param(params[index]), sql.raw(texts[i + 1]!));
  });
  return sql.join(chunks);
}

// node-postgres answers a QueryResult, postgres.js an array of rows with `count`, mysql2
// [rows, fields] for a SELECT and [ResultSetHeader, fields] for a write.
function fromDrizzle<Row>(response: unknown): SqlResult<Row> {
  if (Array.isArray(response)) {
    const [first] = response;
    if (Array.isArray(first)) return { rows: first as Row[], affectedRows: 0 };
    if (first !== null && typeof first === 'object' && 'affectedRows' in first) {
      return { rows: [], affectedRows: Number((first as { affectedRows: number }).affectedRows) };
    }
    return { rows: response as Row[], affectedRows: Number((response as { count?: number }).count ?? 0) };
  }
  const result = response as { rows?: Row[]; rowCount?: number | null };
  return { rows: result.rows ?? [], affectedRows: result.rowCount ?? 0 };
}
