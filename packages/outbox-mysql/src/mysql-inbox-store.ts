import {
  type InboxCleanupOptions,
  type InboxItem,
  type InboxOutcome,
  type InboxStore,
  type Logger,
  OutboxConfigError,
  type ProcessBatchOptions,
} from '@outboxkit/outbox-core';
import { BatchRolledBackError, noopLogger, validateInteger } from '@outboxkit/outbox-core/driver';
import { applyMigrations } from './migrate.js';
import { inboxMigrations } from './migrations/inbox-migrations.js';
import { giveBack, isPoolLike, type MysqlConnectionLike, type MysqlPoolLike, runStatement } from './mysql-like.js';
import { resolveTableName, type TableName } from './table-name.js';
import { rollbackQuietly } from './transaction.js';
import { classifyHandlerError, isDuplicateKeyError, translateMysqlError } from './translate-mysql-error.js';

/** Options of {@link MysqlInboxStore}. */
export interface MysqlInboxStoreOptions {
  /** A mysql2/promise pool; each `process` call checks one connection out. The store never closes it. */
  readonly pool: MysqlPoolLike;
  /** The inbox table. @defaultValue `'inbox'` */
  readonly table?: string;
  /** The database holding the table. @defaultValue the pool's current database */
  readonly database?: string;
  /** @defaultValue a logger that drops everything */
  readonly logger?: Logger;
}

const SAVEPOINT = 'outboxkit_item';

/** Written into a formatted statement as is (mysql2 calls `toSqlString`): the server's UTC clock, as the single-row insert uses. */
const utcNow = { toSqlString: () => 'UTC_TIMESTAMP(3)' };

/**
 * The consumer's dedup table on MySQL 8 or MariaDB 10.6+: `(consumer, message_id)` inserted in the
 * same local transaction as the handler's writes, so a redelivered message takes effect once.
 *
 * A plain `INSERT` (not `INSERT IGNORE`, which also turns other errors into warnings) and only
 * `ER_DUP_ENTRY` from that statement means duplicate: a handler's own duplicate-key error on another
 * table is a failure, never a silent skip. Safe to use concurrently: two deliveries of one message
 * serialise on the primary key and the second sees a duplicate once the first commits.
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
export class MysqlInboxStore implements InboxStore<MysqlConnectionLike> {
  readonly #pool: MysqlPoolLike;
  readonly #table: TableName;
  readonly #insert: string;
  readonly #insertMany: string;
  readonly #forget: string;
  readonly #logger: Logger;

  /** @throws OutboxConfigError naming `pool`, `table` or `database`. */
  constructor(options: MysqlInboxStoreOptions) {
    if (!isPoolLike(options?.pool)) {
      throw new OutboxConfigError('pool', 'MysqlInboxStore needs `pool`: a mysql2/promise pool (createPool(...))');
    }
    this.#pool = options.pool;
    this.#table = resolveTableName(options.table ?? 'inbox', options.database);
    this.#insert = `INSERT INTO ${this.#table.quoted} (consumer, message_id, recorded_at) VALUES (?, ?, UTC_TIMESTAMP(3))`;
    // mysql2 expands the nested array into (?, ?, ?), (?, ?, ?), ... (see `utcNow`).
    this.#insertMany = `INSERT INTO ${this.#table.quoted} (consumer, message_id, recorded_at) VALUES ?`;
    this.#forget = `DELETE FROM ${this.#table.quoted} WHERE consumer = ? AND message_id = ?`;
    this.#logger = options.logger ?? noopLogger;
  }

  /**
   * `START TRANSACTION`, insert the inbox row, `fn(connection)`, `COMMIT`. A row already there means
   * duplicate: `fn` does not run. If `fn` throws, everything (the inbox row too) is rolled back and
   * its error is rethrown unchanged.
   */
  async process<T>(consumer: string, messageId: string, fn: (connection: MysqlConnectionLike) => Promise<T>): Promise<InboxOutcome<T>> {
    return this.#withTransaction<InboxOutcome<T>>(async (connection) => {
      try {
        await runStatement(connection, this.#insert, [consumer, messageId]);
      } catch (error) {
        if (isDuplicateKeyError(error)) return { outcome: { status: 'duplicate' }, commit: false };
        throw translateMysqlError(error);
      }
      const value = await fn(connection);
      return { outcome: { status: 'applied', value }, commit: true };
    });
  }

  /**
   * One transaction for the whole batch, a `SAVEPOINT` per item: a throwing item rolls back to its
   * savepoint and is reported `failed`. An error that ends the whole transaction (a deadlock, a lost
   * connection) makes the batch throw with nothing applied, as does a failed commit.
   */
  async processBatch<Item extends InboxItem>(
    consumer: string,
    items: readonly Item[],
    fn: (connection: MysqlConnectionLike, item: Item) => Promise<void>,
    options: ProcessBatchOptions = {},
  ): Promise<InboxOutcome[]> {
    if (items.length === 0) return [];
    const savepoints = options.savepoints ?? true;
    return this.#withTransaction(async (connection) => {
      // Usually no item was delivered before: one statement records them all, and each item then
      // costs one SAVEPOINT round trip. A duplicate anywhere fails that statement alone (InnoDB
      // rolls back the statement, not the transaction): then each item is recorded on its own.
      let recorded = true;
      try {
        await runStatement(connection, this.#insertMany, [items.map((item) => [consumer, item.messageId, utcNow])]);
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw translateMysqlError(error);
        recorded = false;
      }
      const outcomes: InboxOutcome[] = [];
      for (const [index, item] of items.entries()) {
        if (savepoints) await runStatement(connection, `SAVEPOINT ${SAVEPOINT}`);
        if (!recorded) {
          try {
            await runStatement(connection, this.#insert, [consumer, item.messageId]);
          } catch (error) {
            // A failed statement is rolled back by itself; the transaction and the savepoint survive.
            if (isDuplicateKeyError(error)) {
              outcomes.push({ status: 'duplicate' });
              continue;
            }
            throw translateMysqlError(error);
          }
        }
        try {
          await fn(connection, item);
          outcomes.push({ status: 'applied', value: undefined });
        } catch (error) {
          // Out of the transaction body: it is rolled back as a whole.
          if (!savepoints) throw new BatchRolledBackError(index, classifyHandlerError(error, false));
          try {
            await runStatement(connection, `ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
            // Recorded up front, before the savepoint: forget it, so a redelivery runs the item again.
            if (recorded) await runStatement(connection, this.#forget, [consumer, item.messageId]);
          } catch {
            // The savepoint is gone: InnoDB rolled the whole transaction back (deadlock) or the
            // connection died. Nothing of the batch survives, so the batch fails as a whole.
            const classified = classifyHandlerError(error, false);
            throw classified !== error ? classified : classifyHandlerError(error, true);
          }
          outcomes.push({ status: 'failed', error: classifyHandlerError(error, false) });
        }
      }
      return { outcome: outcomes, commit: true };
    });
  }

  /** Whether `(consumer, messageId)` is recorded: the message was applied, here or by another instance. */
  async isRecorded(consumer: string, messageId: string): Promise<boolean> {
    try {
      const [rows] = await this.#pool.query(`SELECT 1 FROM ${this.#table.quoted} WHERE consumer = ? AND message_id = ?`, [
        consumer,
        messageId,
      ]);
      return Array.isArray(rows) && rows.length > 0;
    } catch (error) {
      throw translateMysqlError(error);
    }
  }

  /** Deletes rows older than `olderThanMs`, oldest first, `batchSize` rows per statement, at most `maxBatches` statements. */
  async cleanup(options: InboxCleanupOptions): Promise<number> {
    const olderThanMs = validateInteger(options.olderThanMs, 'olderThanMs', 0);
    const batchSize = validateInteger(options.batchSize ?? 1000, 'batchSize', 1, 100_000);
    const maxBatches = validateInteger(options.maxBatches ?? 100, 'maxBatches', 1);
    const sql = `DELETE FROM ${this.#table.quoted}
      WHERE recorded_at < TIMESTAMPADD(MICROSECOND, -? * 1000, UTC_TIMESTAMP(3))
      ORDER BY recorded_at LIMIT ?`;
    let total = 0;
    try {
      for (let batch = 0; batch < maxBatches; batch++) {
        const { affectedRows } = await runStatement(this.#pool, sql, [olderThanMs, batchSize]);
        total += affectedRows;
        if (affectedRows < batchSize) break;
      }
    } catch (error) {
      throw translateMysqlError(error);
    }
    this.#logger.debug({ table: this.#table.display, removed: total }, 'inbox cleanup');
    return total;
  }

  /** Applies the inbox migrations under `GET_LOCK` on a connection of its own. */
  async migrate(): Promise<{ version: number; applied: number[] }> {
    try {
      return await applyMigrations(this.#pool, this.#table, inboxMigrations);
    } catch (error) {
      throw translateMysqlError(error);
    }
  }

  /** Nothing to close: the pool belongs to the caller. */
  async close(): Promise<void> {}

  /** Begins a transaction, runs `body`, commits or rolls back as it says; rolls back and rethrows if it throws. */
  async #withTransaction<R>(body: (connection: MysqlConnectionLike) => Promise<{ outcome: R; commit: boolean }>): Promise<R> {
    let connection: MysqlConnectionLike;
    try {
      connection = await this.#pool.getConnection();
    } catch (error) {
      throw translateMysqlError(error);
    }
    let clean = false;
    try {
      await runStatement(connection, 'START TRANSACTION').catch((error: unknown) => {
        throw translateMysqlError(error);
      });
      let result: { outcome: R; commit: boolean };
      try {
        result = await body(connection);
      } catch (error) {
        clean = await rollbackQuietly(connection);
        // A handler's error stays its own unless the database failed under it.
        throw classifyHandlerError(error, !clean);
      }
      try {
        await runStatement(connection, result.commit ? 'COMMIT' : 'ROLLBACK');
      } catch (error) {
        clean = await rollbackQuietly(connection);
        throw translateMysqlError(error);
      }
      clean = true;
      return result.outcome;
    } finally {
      giveBack(connection, clean);
    }
  }
}
