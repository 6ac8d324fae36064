import {
  type InboxCleanupOptions,
  type InboxItem,
  type InboxOutcome,
  type InboxStore,
  type Logger,
  OutboxConfigError,
  type ProcessBatchOptions,
  type ProcessOptions,
  type SubjectGap,
  type SubjectPosition,
} from '@outboxkit/outbox-core';
import {
  findHandlerFailure,
  handlerFailureError,
  type InboxSteps,
  isTransactionRunner,
  noopLogger,
  type OrderSteps,
  processBatchInTransaction,
  processInTransaction,
  recordGapInTransaction,
  type SqlExecutor,
  type SqlResult,
  type TransactionRunner,
  validateGap,
  validateInteger,
  validateOrderKey,
  validatePositionsOptions,
} from '@outboxkit/outbox-core/driver';
import { MysqlInboxOrder } from './inbox-order-steps.js';
import { applyMigrations, checkSchemaVersion } from './migrate.js';
import { INBOX_SCHEMA_VERSION, inboxMigrations } from './migrations/inbox-migrations.js';
import { mysqlExecutor } from './mysql-executor.js';
import { giveBack, isPoolLike, type MysqlConnectionLike, type MysqlPoolLike, runStatement } from './mysql-like.js';
import { inboxOrderSql } from './sql/inbox-order-sql.js';
import { resolveTableName, type TableName } from './table-name.js';
import { rollbackQuietly } from './transaction.js';
import { classifyHandlerError, isDuplicateKeyError, translateMysqlError } from './translate-mysql-error.js';

/** Options of {@link MysqlInboxStore}: `pool` (raw mysql2 connections) or `transactions` (your library's transactions). */
export type MysqlInboxStoreOptions<Tx = MysqlConnectionLike> = MysqlInboxStoreSettings &
  (
    | {
        /** A mysql2/promise pool; each `process` call checks one connection out. The store never closes it. */
        readonly pool: MysqlPoolLike;
        readonly transactions?: undefined;
      }
    | {
        /**
         * Runs `process` and `processBatch` in your library's transactions: the handler receives the
         * library's transaction object, and the inbox row is written through the runner's executor
         * on the same transaction. Without `pool`, `isRecorded` and `cleanup` run in transactions of
         * their own through it too.
         */
        readonly transactions: TransactionRunner<Tx>;
        /** Optional with `transactions`: the store's own statements (cleanup, migrations) then run on it. */
        readonly pool?: MysqlPoolLike;
      }
  );

/** The settings of {@link MysqlInboxStore} besides where its transactions come from. */
export interface MysqlInboxStoreSettings {
  /** The inbox table. @defaultValue `'inbox'` */
  readonly table?: string;
  /** The database holding the table. @defaultValue the pool's current database */
  readonly database?: string;
  /** @defaultValue a logger that drops everything */
  readonly logger?: Logger;
}

const SAVEPOINT = 'outboxkit_item';

/**
 * The consumer's dedup table on MySQL 8 or MariaDB 10.6+: `(consumer, message_id)` inserted in the
 * same local transaction as the handler's writes, so a redelivered message takes effect once.
 *
 * A plain `INSERT` (not `INSERT IGNORE`, which also turns other errors into warnings) and only
 * `ER_DUP_ENTRY` from that statement means duplicate: a handler's own duplicate-key error on another
 * table is a failure, never a silent skip. Safe to use concurrently: two deliveries of one message
 * serialise on the primary key and the second sees a duplicate once the first commits.
 *
 * With an `OrderKey` it keeps strict per-subject order: the `(consumer, subject)` row of
 * `<table>_position` is locked and moved with the inbox row (see the `InboxStore` contract), and
 * `<table>_gap` holds the sequences recorded as never to be applied.
 *
 * @example
 * ```ts
 * const inbox = new MysqlInboxStore({ pool });
 * await inbox.migrate();
 * const outcome = await inbox.process('basket', event.id, async (connection) => {
 *   await connection.query('UPDATE basket_items SET price = ? WHERE product_id = ?', [price, productId]);
 * });
 * ```
 */
export class MysqlInboxStore<Tx = MysqlConnectionLike> implements InboxStore<Tx> {
  /** Positions and gaps are kept: `OrderKey`, `recordGap` and `positions` are supported. */
  readonly ordering = true;
  /** `processBatch` runs `finish`: batch handlers get a fetch's events in one call. */
  readonly finishesBatches = true;
  readonly #pool: MysqlPoolLike | undefined;
  readonly #transactions: TransactionRunner<Tx> | undefined;
  readonly #table: TableName;
  readonly #insert: string;
  readonly #forget: string;
  readonly #logger: Logger;
  readonly #order: MysqlInboxOrder;

  /** @throws OutboxConfigError naming `pool`, `transactions`, `table` (at most 52 characters) or `database`. */
  constructor(options: MysqlInboxStoreOptions<Tx>) {
    const transactions = options?.transactions;
    if (transactions !== undefined) {
      if (!isTransactionRunner(transactions) || transactions.dialect !== 'mysql') {
        throw new OutboxConfigError(
          'transactions',
          'MysqlInboxStore { transactions } needs a TransactionRunner of MySQL: { dialect: "mysql", transaction(fn) }',
        );
      }
      this.#transactions = transactions;
    }
    if (options?.pool !== undefined || transactions === undefined) {
      if (!isPoolLike(options?.pool)) {
        throw new OutboxConfigError(
          'pool',
          'MysqlInboxStore needs `pool`: a mysql2/promise pool (createPool(...)), or `transactions`: a TransactionRunner',
        );
      }
      this.#pool = options.pool;
    }
    this.#table = resolveTableName(options.table ?? 'inbox', options.database, 'table', '_recorded_at');
    this.#order = new MysqlInboxOrder(inboxOrderSql(this.#table));
    this.#insert = `INSERT INTO ${this.#table.quoted} (consumer, message_id, recorded_at) VALUES (?, ?, UTC_TIMESTAMP(3))`;
    this.#forget = `DELETE FROM ${this.#table.quoted} WHERE consumer = ? AND message_id = ?`;
    this.#logger = options.logger ?? noopLogger;
  }

  /**
   * `START TRANSACTION`, insert the inbox row, `fn(connection)`, `COMMIT`. A row already there means
   * duplicate: `fn` does not run. If `fn` throws, everything (the inbox row too) is rolled back and
   * its error is rethrown unchanged. With `options.order`, the subject's position row is locked
   * first (created at 0 when there is none) and decides: `duplicate` at or below the position,
   * `waiting` beyond the next one, and the next one moves the position with the inbox row.
   * @throws OutboxUsageError for a bad order key, before anything is written.
   */
  async process<T>(
    consumer: string,
    messageId: string,
    fn: (tx: Tx) => Promise<T>,
    options: ProcessOptions = {},
  ): Promise<InboxOutcome<T>> {
    const order = options.order === undefined ? undefined : validateOrderKey(options.order);
    return this.#inTransaction((tx, sql) => processInTransaction(tx, this.#steps(sql, consumer), messageId, fn, order));
  }

  /**
   * One transaction for the whole batch, a `SAVEPOINT` per item: a throwing item rolls back to its
   * savepoint and is reported `failed`. An error that ends the whole transaction (a deadlock, a lost
   * connection) makes the batch throw with nothing applied, as does a failed commit.
   */
  async processBatch<Item extends InboxItem>(
    consumer: string,
    items: readonly Item[],
    fn: (tx: Tx, item: Item) => Promise<void>,
    options: ProcessBatchOptions<Tx> = {},
  ): Promise<InboxOutcome[]> {
    if (items.length === 0) return [];
    const savepoints = options.savepoints ?? true;
    for (const [index, item] of items.entries()) if (item.order !== undefined) validateOrderKey(item.order, `items[${index}].order`);
    return this.#inTransaction((tx, sql) =>
      processBatchInTransaction(tx, this.#steps(sql, consumer), items, fn, savepoints, classifyHandlerError, options.finish),
    );
  }

  /**
   * Records that `gap.sequence` of `gap.subject` will never be applied by `consumer` (a row of
   * `<table>_gap`), under the subject's position lock, and moves the position over it when it is
   * next. Idempotent. Resolves to the subject's position afterwards.
   * @throws OutboxUsageError for a bad gap, before anything is written.
   */
  async recordGap(consumer: string, gap: SubjectGap): Promise<number> {
    const valid = validateGap(gap);
    return this.#inTransaction((_tx, sql) =>
      recordGapInTransaction(this.#steps(sql, consumer).order as OrderSteps, (row) => this.#order.insertGap(sql, consumer, row), valid),
    );
  }

  /** `consumer`'s positions: of `subjects`, or the most recently moved ones (`limit`, default 100), newest first. */
  async positions(
    consumer: string,
    options?: { readonly subjects?: readonly string[]; readonly limit?: number },
  ): Promise<SubjectPosition[]> {
    const { subjects, limit } = validatePositionsOptions(options);
    if (subjects?.length === 0) return [];
    const executor: SqlExecutor = {
      dialect: 'mysql',
      query: async <Row>(sql: string, values?: readonly unknown[]) => (await this.#statement(sql, [...(values ?? [])])) as SqlResult<Row>,
    };
    return this.#order.positions(executor, consumer, subjects, limit);
  }

  /** The schema version this package's inbox migrations build (`INBOX_SCHEMA_VERSION`). */
  get schemaVersion(): number {
    return INBOX_SCHEMA_VERSION;
  }

  /** Whether `(consumer, messageId)` is recorded: the message was applied, here or by another instance. */
  async isRecorded(consumer: string, messageId: string): Promise<boolean> {
    const { rows } = await this.#statement(`SELECT 1 FROM ${this.#table.quoted} WHERE consumer = ? AND message_id = ?`, [
      consumer,
      messageId,
    ]);
    return rows.length > 0;
  }

  /**
   * Deletes inbox rows older than `olderThanMs`, oldest first, then gap rows the position is past
   * recorded before it: `batchSize` rows per statement, at most `maxBatches` statements in all (the
   * gaps get what the inbox rows left). Position rows are never deleted: they decide what a
   * redelivery is.
   */
  async cleanup(options: InboxCleanupOptions): Promise<number> {
    const olderThanMs = validateInteger(options.olderThanMs, 'olderThanMs', 0);
    const batchSize = validateInteger(options.batchSize ?? 1000, 'batchSize', 1, 100_000);
    const maxBatches = validateInteger(options.maxBatches ?? 100, 'maxBatches', 1);
    const sql = `DELETE FROM ${this.#table.quoted}
      WHERE recorded_at < TIMESTAMPADD(MICROSECOND, -? * 1000, UTC_TIMESTAMP(3))
      ORDER BY recorded_at LIMIT ?`;
    let total = 0;
    let batches = 0;
    while (batches < maxBatches) {
      batches++;
      const { affectedRows } = await this.#statement(sql, [olderThanMs, batchSize]);
      total += affectedRows;
      if (affectedRows < batchSize) break;
    }
    while (batches < maxBatches) {
      batches++;
      const { rows } = await this.#statement(this.#order.sql.oldGaps, [olderThanMs, batchSize]);
      const keys = rows as Array<{ consumer: string; subject: string; sequence: number | string }>;
      if (keys.length > 0) {
        const values = keys.flatMap((key) => [key.consumer, key.subject, key.sequence]);
        total += (await this.#statement(this.#order.sql.deleteGaps(keys.length), values)).affectedRows;
      }
      if (keys.length < batchSize) break;
    }
    this.#logger.debug({ table: this.#table.display, removed: total }, 'inbox cleanup');
    return total;
  }

  /** Applies the inbox migrations under `GET_LOCK` on a connection of its own. */
  async migrate(): Promise<{ version: number; applied: number[] }> {
    if (this.#pool === undefined) throw new OutboxConfigError('pool', 'MysqlInboxStore.migrate() needs { pool } besides { transactions }');
    try {
      return await applyMigrations(this.#pool, this.#table, inboxMigrations, 'inbox');
    } catch (error) {
      throw translateMysqlError(error, { expectedVersion: INBOX_SCHEMA_VERSION });
    }
  }

  /** @throws SchemaVersionError when the inbox table is missing, older or newer than this package knows, saying what to run. */
  async assertSchema(): Promise<void> {
    if (this.#pool === undefined) {
      throw new OutboxConfigError('pool', 'MysqlInboxStore.assertSchema() needs { pool } besides { transactions }');
    }
    try {
      await checkSchemaVersion(this.#pool, this.#table, INBOX_SCHEMA_VERSION, 'inbox');
    } catch (error) {
      throw translateMysqlError(error, { expectedVersion: INBOX_SCHEMA_VERSION });
    }
  }

  /** Nothing to close: the pool or the runner belongs to the caller. */
  async close(): Promise<void> {}

  /** The statements of one inbox transaction of `consumer`. */
  #steps(sql: SqlExecutor, consumer: string): InboxSteps {
    return {
      order: this.#order.steps(sql, consumer),
      record: async (messageId) => {
        try {
          await sql.query(this.#insert, [consumer, messageId]);
          return true;
        } catch (error) {
          // A failed statement is rolled back by itself; the transaction survives.
          if (isDuplicateKeyError(error)) return false;
          throw error;
        }
      },
      // Usually no item was delivered before: one statement records them all, and each item then
      // costs one SAVEPOINT round trip. A duplicate anywhere fails that statement alone (InnoDB
      // rolls back the statement, not the transaction): then each item is recorded on its own.
      recordAll: async (messageIds) => {
        const values: unknown[] = [];
        for (const messageId of messageIds) values.push(consumer, messageId);
        try {
          await sql.query(
            `INSERT INTO ${this.#table.quoted} (consumer, message_id, recorded_at) VALUES ${messageIds.map(() => '(?, ?, UTC_TIMESTAMP(3))').join(', ')}`,
            values,
          );
        } catch (error) {
          if (isDuplicateKeyError(error)) return undefined;
          throw error;
        }
        return new Set(messageIds);
      },
      // MySQL replaces a savepoint of the same name: no release needed.
      savepoint: async () => {
        await sql.query(`SAVEPOINT ${SAVEPOINT}`);
      },
      rollbackToSavepoint: async () => {
        await sql.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
      },
      forget: async (messageId) => {
        await sql.query(this.#forget, [consumer, messageId]);
      },
    };
  }

  /** Runs `body` in a transaction: START TRANSACTION/COMMIT on a pooled connection, or the caller's runner. */
  async #inTransaction<R>(body: (tx: Tx, sql: SqlExecutor) => Promise<R>): Promise<R> {
    if (this.#transactions === undefined) return this.#withConnection(body);
    try {
      return await this.#transactions.transaction(body);
    } catch (error) {
      const failure = findHandlerFailure(error);
      if (failure !== undefined) throw handlerFailureError(failure, false, classifyHandlerError);
      throw translateMysqlError(error, { expectedVersion: INBOX_SCHEMA_VERSION });
    }
  }

  /** Runs one of the store's own statements outside any handler: on the pool, or in a transaction of the runner. */
  async #statement(sql: string, values: unknown[]): Promise<{ rows: unknown[]; affectedRows: number }> {
    try {
      if (this.#pool !== undefined) {
        const [result] = await this.#pool.query(sql, values);
        return Array.isArray(result)
          ? { rows: result, affectedRows: 0 }
          : { rows: [], affectedRows: Number((result as { affectedRows?: unknown }).affectedRows ?? 0) };
      }
      return await (this.#transactions as TransactionRunner<Tx>).transaction((_tx, executor) => executor.query(sql, values));
    } catch (error) {
      throw translateMysqlError(error, { expectedVersion: INBOX_SCHEMA_VERSION });
    }
  }

  /** Begins a transaction on a pooled connection, runs `body`, commits; rolls back and reports when it throws. */
  async #withConnection<R>(body: (tx: Tx, sql: SqlExecutor) => Promise<R>): Promise<R> {
    const pool = this.#pool as MysqlPoolLike;
    let connection: MysqlConnectionLike;
    try {
      connection = await pool.getConnection();
    } catch (error) {
      throw translateMysqlError(error, { expectedVersion: INBOX_SCHEMA_VERSION });
    }
    let clean = false;
    try {
      await runStatement(connection, 'START TRANSACTION').catch((error: unknown) => {
        throw translateMysqlError(error, { expectedVersion: INBOX_SCHEMA_VERSION });
      });
      let result: R;
      try {
        result = await body(connection as Tx, mysqlExecutor(connection));
      } catch (error) {
        clean = await rollbackQuietly(connection);
        const failure = findHandlerFailure(error);
        if (failure !== undefined) throw handlerFailureError(failure, !clean, classifyHandlerError);
        throw translateMysqlError(error, { expectedVersion: INBOX_SCHEMA_VERSION });
      }
      try {
        await runStatement(connection, 'COMMIT');
      } catch (error) {
        clean = await rollbackQuietly(connection);
        throw translateMysqlError(error, { expectedVersion: INBOX_SCHEMA_VERSION });
      }
      clean = true;
      return result;
    } finally {
      giveBack(connection, clean);
    }
  }
}
