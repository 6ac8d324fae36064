import {
  type InboxCleanupOptions,
  type InboxItem,
  type InboxOutcome,
  type InboxStore,
  type MigrationResult,
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
  type OrderSteps,
  processBatchInTransaction,
  processInTransaction,
  recordGapInTransaction,
  type SqlExecutor,
  type TransactionRunner,
  validateGap,
  validateInteger,
  validateOrderKey,
  validatePositionsOptions,
} from '@outboxkit/outbox-core/driver';
import { PgInboxOrder, type Run } from './inbox-order-steps.js';
import { assertSchemaVersion, latestVersion, type MigrationTarget, runMigrations } from './migrate.js';
import { inboxMigrations } from './migrations/inbox-migrations.js';
import { clientOf } from './pg-executor.js';
import { absorbClientErrors, type PgClientLike, type PgPoolLike, type PgQueryConfigLike } from './pg-like.js';
import { preparedStatement } from './prepared.js';
import { inboxOrderSql } from './sql/inbox-order-sql.js';
import { type TableNames, tableNames } from './table-name.js';
import { classifyHandlerError, translatePgError } from './translate-pg-error.js';

/** Options of {@link PgInboxStore}: `pool` (raw pg clients) or `transactions` (your library's transactions). */
export type PgInboxStoreOptions<Tx = PgClientLike> = PgInboxStoreSettings &
  (
    | {
        /** The pool each `process` call takes a client from (never closed by the store). */
        readonly pool: PgPoolLike;
        readonly transactions?: undefined;
      }
    | {
        /**
         * Runs `process` and `processBatch` in your library's transactions: the handler receives the
         * library's transaction object, and the inbox row is written through the runner's executor
         * on the same transaction. Without `pool`, `isRecorded`, `cleanup`, `migrate` and
         * `assertSchema` run in transactions of their own through it too.
         */
        readonly transactions: TransactionRunner<Tx>;
        /** Optional with `transactions`: the store's own statements (cleanup, migrations) then run on it. */
        readonly pool?: PgPoolLike;
      }
  );

/** The settings of {@link PgInboxStore} besides where its transactions come from. */
export interface PgInboxStoreSettings {
  /** @defaultValue `'public'` */
  readonly schema?: string;
  /** @defaultValue `'inbox'` */
  readonly table?: string;
  /** Send the inbox insert as a named prepared statement (see `PgOutboxStoreOptions.preparedStatements`). @defaultValue true */
  readonly preparedStatements?: boolean;
}

type PooledClient = Awaited<ReturnType<PgPoolLike['connect']>>;

const SAVEPOINT = 'outboxkit_item';

/**
 * The consumer's dedup table on PostgreSQL. The inbox row and the handler's writes share one local
 * transaction, so a message takes effect once however often it is delivered. Safe to share between
 * concurrent handlers: each call takes its own client from the pool (or transaction from the runner).
 * With an `OrderKey` it keeps strict per-subject order: the `(consumer, subject)` row of
 * `<table>_position` is locked and moved with the inbox row (see the `InboxStore` contract), and
 * `<table>_gap` holds the sequences recorded as never to be applied.
 *
 * @example
 * ```ts
 * const inbox = new PgInboxStore({ pool });
 * await inbox.process('basket', event.id, async (client) => {
 *   await client.query('UPDATE basket_items SET price = $1 WHERE product_id = $2', [price, productId]);
 * });
 * ```
 */
export class PgInboxStore<Tx = PgClientLike> implements InboxStore<Tx> {
  /** Positions and gaps are kept: `OrderKey`, `recordGap` and `positions` are supported. */
  readonly ordering = true;
  /** `processBatch` runs `finish`: batch handlers get a fetch's events in one call. */
  readonly finishesBatches = true;
  readonly #pool: PgPoolLike | undefined;
  readonly #transactions: TransactionRunner<Tx> | undefined;
  readonly #names: TableNames;
  readonly #target: MigrationTarget;
  readonly #sql: { record: string; recordMany: string; forget: string; lookup: string; cleanup: string };
  readonly #record: (values: unknown[]) => PgQueryConfigLike;
  readonly #recordMany: (values: unknown[]) => PgQueryConfigLike;
  readonly #forget: (values: unknown[]) => PgQueryConfigLike;
  readonly #order: PgInboxOrder;

  /** @throws OutboxConfigError naming `pool`, `transactions`, `schema` or `table` when one is missing or invalid. */
  constructor(options: PgInboxStoreOptions<Tx>) {
    const transactions = options?.transactions;
    if (transactions !== undefined) {
      if (!isTransactionRunner(transactions) || transactions.dialect !== 'postgres') {
        throw new OutboxConfigError(
          'transactions',
          'PgInboxStore { transactions } needs a TransactionRunner of PostgreSQL: { dialect: "postgres", transaction(fn) }',
        );
      }
      this.#transactions = transactions;
    }
    if (options?.pool !== undefined || transactions === undefined) {
      if (!options?.pool || typeof options.pool.connect !== 'function') {
        throw new OutboxConfigError('pool', 'PgInboxStore needs { pool }: a pg.Pool (or { transactions }: a TransactionRunner)');
      }
      this.#pool = options.pool;
    }
    this.#names = tableNames(options.schema ?? 'public', options.table ?? 'inbox');
    this.#target = { names: this.#names, migrations: inboxMigrations, kind: 'inbox' };
    const t = this.#names.qualified;
    this.#sql = {
      // No row back means the key is there already (committed, or ours earlier in this transaction):
      // a duplicate. A concurrent uncommitted insert of the same key makes this wait for its outcome.
      record: `INSERT INTO ${t} (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1`,
      // An id twice in one batch is inserted once: DO NOTHING skips the second as a conflict.
      recordMany: `INSERT INTO ${t} (consumer, message_id)
SELECT $1, m FROM unnest($2::text[]) AS m ORDER BY m
ON CONFLICT DO NOTHING RETURNING message_id`,
      forget: `DELETE FROM ${t} WHERE consumer = $1 AND message_id = $2`,
      lookup: `SELECT 1 FROM ${t} WHERE consumer = $1 AND message_id = $2`,
      // ctid batches keep each DELETE short and bounded, whatever the backlog.
      cleanup: `DELETE FROM ${t} WHERE ctid IN (
  SELECT ctid FROM ${t} WHERE recorded_at < now() - $1 * interval '1 millisecond' LIMIT $2)`,
    };
    const prepared = options.preparedStatements ?? true;
    this.#record = preparedStatement(this.#sql.record, prepared);
    this.#recordMany = preparedStatement(this.#sql.recordMany, prepared);
    this.#forget = preparedStatement(this.#sql.forget, prepared);
    this.#order = new PgInboxOrder(inboxOrderSql(this.#names), prepared);
  }

  /**
   * Records `(consumer, messageId)` and runs `fn` in one transaction. With `options.order`, the
   * subject's position row is locked first (created at 0 when there is none) and decides:
   * `duplicate` at or below the position, `waiting` beyond the next one, and the next one moves the
   * position with the inbox row in one statement.
   * @throws OutboxUsageError for a bad order key, before anything is written.
   */
  async process<T>(
    consumer: string,
    messageId: string,
    fn: (tx: Tx) => Promise<T>,
    options: ProcessOptions = {},
  ): Promise<InboxOutcome<T>> {
    const order = options.order === undefined ? undefined : validateOrderKey(options.order);
    return this.#inTransaction('process()', (tx, steps) => processInTransaction(tx, steps(consumer), messageId, fn, order));
  }

  async processBatch<Item extends InboxItem>(
    consumer: string,
    items: readonly Item[],
    fn: (tx: Tx, item: Item) => Promise<void>,
    options: ProcessBatchOptions<Tx> = {},
  ): Promise<InboxOutcome[]> {
    if (items.length === 0) return [];
    const savepoints = options.savepoints ?? true;
    for (const [index, item] of items.entries()) if (item.order !== undefined) validateOrderKey(item.order, `items[${index}].order`);
    return this.#inTransaction('processBatch()', (tx, steps) =>
      processBatchInTransaction(tx, steps(consumer), items, fn, savepoints, classifyHandlerError, options.finish),
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
    return this.#inTransaction('recordGap()', (_tx, steps, run) =>
      recordGapInTransaction(steps(consumer).order as OrderSteps, (row) => this.#order.insertGap(run, consumer, row), valid),
    );
  }

  /** `consumer`'s positions: of `subjects`, or the most recently moved ones (`limit`, default 100), newest first. */
  async positions(
    consumer: string,
    options?: { readonly subjects?: readonly string[]; readonly limit?: number },
  ): Promise<SubjectPosition[]> {
    const { subjects, limit } = validatePositionsOptions(options);
    if (subjects?.length === 0) return [];
    return this.#statement('positions()', (run) => this.#order.positions(run, consumer, subjects, limit));
  }

  /** The schema version this package's inbox migrations build (`INBOX_SCHEMA_VERSION`). */
  get schemaVersion(): number {
    return latestVersion(this.#target);
  }

  async isRecorded(consumer: string, messageId: string): Promise<boolean> {
    return this.#statement('isRecorded()', async (run) => (await run(this.#sql.lookup, [consumer, messageId])).rows.length > 0);
  }

  /**
   * Deletes inbox rows, then gap rows the position is past, recorded before `olderThanMs`:
   * `batchSize` rows per statement, at most `maxBatches` statements in all (the gaps get what the
   * inbox rows left). Position rows are never deleted: they decide what a redelivery is.
   */
  async cleanup(options: InboxCleanupOptions): Promise<number> {
    const olderThanMs = validateInteger(options.olderThanMs, 'olderThanMs', 0);
    const batchSize = validateInteger(options.batchSize ?? 1000, 'batchSize', 1);
    const maxBatches = validateInteger(options.maxBatches ?? 100, 'maxBatches', 1);
    let removed = 0;
    let batches = 0;
    for (const sql of [this.#sql.cleanup, this.#order.sql.cleanupGaps]) {
      while (batches < maxBatches) {
        batches++;
        const count = await this.#statement('cleanup()', async (run) => (await run(sql, [olderThanMs, batchSize])).affectedRows);
        removed += count;
        if (count < batchSize) break;
      }
    }
    return removed;
  }

  async migrate(): Promise<MigrationResult> {
    return runMigrations(this.#requirePool('migrate()'), this.#target);
  }

  /** @throws SchemaVersionError when the inbox table is missing, older or newer than this package knows. */
  async assertSchema(): Promise<void> {
    return assertSchemaVersion(this.#requirePool('assertSchema()'), this.#target);
  }

  /** The store opens nothing of its own; the pool or the runner is the caller's. */
  async close(): Promise<void> {}

  #requirePool(operation: string): PgPoolLike {
    if (this.#pool === undefined) {
      throw new OutboxConfigError('pool', `PgInboxStore.${operation} needs { pool } besides { transactions }`);
    }
    return this.#pool;
  }

  /** The steps of one inbox transaction for `consumer`, on `run`. */
  #steps(run: Run, multiStatement: boolean): (consumer: string) => InboxSteps {
    return (consumer) => ({
      order: this.#order.steps(run, consumer),
      record: async (messageId) => (await run(this.#sql.record, [consumer, messageId], this.#record)).rows.length > 0,
      recordAll: async (messageIds) => {
        const recorded = await run(this.#sql.recordMany, [consumer, messageIds], this.#recordMany);
        return new Set((recorded.rows as { message_id: string }[]).map((row) => row.message_id));
      },
      savepoint: async (replacing) => {
        if (!replacing) await run(`SAVEPOINT ${SAVEPOINT}`, undefined);
        // A raw client sends both in one simple-protocol round trip; an executor may not take two statements.
        else if (multiStatement) await run(`RELEASE SAVEPOINT ${SAVEPOINT}; SAVEPOINT ${SAVEPOINT}`, undefined);
        else {
          await run(`RELEASE SAVEPOINT ${SAVEPOINT}`, undefined);
          await run(`SAVEPOINT ${SAVEPOINT}`, undefined);
        }
      },
      rollbackToSavepoint: async () => {
        await run(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`, undefined);
      },
      forget: async (messageId) => {
        await run(this.#sql.forget, [consumer, messageId], this.#forget);
      },
    });
  }

  /** Statements on a raw client: named prepared ones where the store has them. */
  #clientRun(client: PgClientLike): Run {
    return async (text, values, named) => {
      const result = await client.query(
        named !== undefined && values !== undefined ? named(values) : values === undefined ? text : { text, values },
      );
      return { rows: result.rows, affectedRows: result.rowCount ?? 0 };
    };
  }

  #executorRun(executor: SqlExecutor): Run {
    const client = clientOf(executor);
    if (client !== undefined) return this.#clientRun(client);
    return (text, values) => executor.query(text, values);
  }

  /** Runs `body` in a transaction: BEGIN/COMMIT on a pooled client, or the caller's runner. */
  async #inTransaction<R>(operation: string, body: (tx: Tx, steps: (consumer: string) => InboxSteps, run: Run) => Promise<R>): Promise<R> {
    const transactions = this.#transactions;
    if (transactions === undefined) {
      return this.#withClient(operation, (client) => {
        const run = this.#clientRun(client);
        return body(client as Tx, this.#steps(run, true), run);
      });
    }
    try {
      return await transactions.transaction((tx, sql) => {
        const run = this.#executorRun(sql);
        return body(tx, this.#steps(run, clientOf(sql) !== undefined), run);
      });
    } catch (error) {
      const failure = findHandlerFailure(error);
      if (failure !== undefined) throw handlerFailureError(failure, false, classifyHandlerError);
      throw translatePgError(error, { operation, expectedVersion: latestVersion(this.#target) });
    }
  }

  /** Runs one of the store's own statements outside any handler: on the pool, or in a transaction of the runner. */
  async #statement<R>(operation: string, body: (run: Run) => Promise<R>): Promise<R> {
    try {
      if (this.#pool !== undefined) {
        const pool = this.#pool;
        return await body(async (text, values) => {
          const result = await pool.query(text, values);
          return { rows: result.rows, affectedRows: result.rowCount ?? 0 };
        });
      }
      return await (this.#transactions as TransactionRunner<Tx>).transaction((_tx, sql) => body(this.#executorRun(sql)));
    } catch (error) {
      throw translatePgError(error, { operation, expectedVersion: latestVersion(this.#target) });
    }
  }

  // BEGIN, `body`, COMMIT on a pooled client. A handler's failure rolls back and is reported as the
  // handler's (see `handlerFailureError`); our own statements' errors are translated, and a client
  // that failed mid-transaction, or whose rollback failed, is destroyed instead of reused.
  async #withClient<R>(operation: string, body: (client: PooledClient) => Promise<R>): Promise<R> {
    const pool = this.#pool as PgPoolLike;
    let client: PooledClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw translatePgError(error, { operation });
    }
    const stopAbsorbing = absorbClientErrors(client);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      let result: R;
      try {
        result = await body(client);
      } catch (error) {
        const failure = findHandlerFailure(error);
        if (failure === undefined) throw error;
        let rollbackError: unknown;
        await client.query('ROLLBACK').catch((caught: unknown) => {
          rollbackError = caught;
        });
        if (rollbackError !== undefined) broken = new Error('rollback failed', { cause: rollbackError });
        throw new Reported(handlerFailureError(failure, rollbackError !== undefined, classifyHandlerError));
      }
      await client.query('COMMIT');
      return result;
    } catch (error) {
      if (error instanceof Reported) throw error.error;
      broken = error instanceof Error ? error : new Error(String(error));
      throw translatePgError(error, { operation, expectedVersion: latestVersion(this.#target) });
    } finally {
      stopAbsorbing();
      client.release(broken);
    }
  }
}

/** An error already in its final form, carried past the translation of the store's own errors. */
class Reported {
  constructor(readonly error: unknown) {}
}
