import { OutboxUsageError } from '@outboxkit/outbox-core';
import type { SqlDialect, SqlExecutor, SqlResult, TransactionRunner } from '@outboxkit/outbox-core/driver';
import type { Knex } from 'knex';
import { splitPlaceholders } from './placeholders.js';

/**
 * The outbox's view of a Knex transaction: `outbox.enqueue(knexExecutor(trx), event)` writes the
 * event with the transaction's connection, so it commits or rolls back with `trx`. Statements run
 * through `trx.raw`; a PostgreSQL statement's `$1` placeholders become Knex's `?` bindings.
 *
 * @throws OutboxUsageError for a Knex instance that is not a transaction (each statement would
 * commit on its own), a transaction already committed or rolled back, or a client other than
 * `pg` and `mysql2`/`mysql`.
 *
 * @example
 * ```ts
 * await db.transaction(async (trx) => {
 *   await trx('products').update({ price }).where({ id });
 *   await outbox.enqueue(knexExecutor(trx), PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * });
 * ```
 */
export function knexExecutor(trx: Knex.Transaction): SqlExecutor {
  if (!trx || typeof trx.raw !== 'function') {
    throw new OutboxUsageError('knexExecutor() needs a Knex transaction: the trx of knex.transaction(async (trx) => ...)');
  }
  if (trx.isTransaction !== true || typeof trx.isCompleted !== 'function') {
    throw new OutboxUsageError(
      'knexExecutor() needs a Knex transaction; got a Knex instance, whose statements each commit on their own. ' +
        'Use knex.transaction(async (trx) => outbox.enqueue(knexExecutor(trx), event))',
    );
  }
  if (trx.isCompleted()) {
    throw new OutboxUsageError('knexExecutor() got a Knex transaction that has already committed or rolled back');
  }
  const dialect = dialectOf(trx);
  return {
    dialect,
    async query<Row>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<Row>> {
      const [text, bindings] = dialect === 'postgres' ? toKnexBindings(sql, params) : [sql, [...params]];
      const response = await trx.raw(text, bindings as Knex.RawBinding[]);
      return dialect === 'postgres' ? fromPg<Row>(response) : fromMysql<Row>(response);
    },
    inTransaction: () => !trx.isCompleted(),
  };
}

/**
 * The consumer's transactions on a Knex instance: `new MysqlInboxStore({ transactions: knexTransactions(db) })`.
 * Each handler gets the `trx` of `knex.transaction()`, so `trx.transaction()` inside it is a
 * savepoint; the runner commits when the handler resolves and rolls back when it throws.
 *
 * @throws OutboxUsageError for a client other than `pg` and `mysql2`/`mysql`.
 */
export function knexTransactions(db: Knex): TransactionRunner<Knex.Transaction> {
  const dialect = dialectOf(db);
  return {
    dialect,
    transaction<T>(fn: (tx: Knex.Transaction, sql: SqlExecutor) => Promise<T>): Promise<T> {
      return db.transaction((trx) => fn(trx, knexExecutor(trx)));
    },
  };
}

function dialectOf(db: Knex): SqlDialect {
  const client = db.client as { dialect?: string; driverName?: string } | undefined;
  if (client?.dialect === 'postgresql') return 'postgres';
  if (client?.dialect === 'mysql') return 'mysql';
  throw new OutboxUsageError(
    `outboxkit runs on Knex's pg, mysql2 and mysql clients; this Knex uses ${client?.driverName ?? 'an unknown client'}`,
  );
}

// Knex reads every `?` of a raw statement as a binding, even PostgreSQL's jsonb operators: those
// are escaped (`\?`), and each `$n` becomes a `?` whose binding is the n-th parameter.
function toKnexBindings(sql: string, params: readonly unknown[]): [string, unknown[]] {
  const { texts, indexes } = splitPlaceholders(sql, 'postgres');
  let text = texts[0]!.replaceAll('?', '\\?');
  const bindings: unknown[] = [];
  indexes.forEach((index, i) => {
    if (index >= params.length) throw new OutboxUsageError(`the statement uses $${index + 1} but has ${params.length} parameters`);
    bindings.push(params[index]);
    text += `?${texts[i + 1]!.replaceAll('?', '\\?')}`;
  });
  return [text, bindings];
}

function fromPg<Row>(response: { rows?: Row[]; rowCount?: number | null }): SqlResult<Row> {
  return { rows: response.rows ?? [], affectedRows: response.rowCount ?? 0 };
}

// mysql2 answers [rows, fields] for a SELECT and [ResultSetHeader, undefined] for a write.
function fromMysql<Row>(response: [unknown, unknown]): SqlResult<Row> {
  const [result] = response;
  if (Array.isArray(result)) return { rows: result as Row[], affectedRows: 0 };
  return { rows: [], affectedRows: (result as { affectedRows?: number } | undefined)?.affectedRows ?? 0 };
}
