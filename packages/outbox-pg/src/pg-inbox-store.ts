import {
  type InboxCleanupOptions,
  type InboxItem,
  type InboxOutcome,
  type InboxStore,
  type MigrationResult,
  OutboxConfigError,
  type ProcessBatchOptions,
} from '@outboxkit/outbox-core';
import { BatchRolledBackError, validateInteger } from '@outboxkit/outbox-core/driver';
import { assertSchemaVersion, latestVersion, type MigrationTarget, runMigrations } from './migrate.js';
import { inboxMigrations } from './migrations/inbox-migrations.js';
import { absorbClientErrors, type PgClientLike, type PgPoolLike, type PgQueryConfigLike } from './pg-like.js';
import { preparedStatement } from './prepared.js';
import { type TableNames, tableNames } from './table-name.js';
import { classifyHandlerError, translatePgError } from './translate-pg-error.js';

/** Options of {@link PgInboxStore}. */
export interface PgInboxStoreOptions {
  /** The pool each `process` call takes a client from (never closed by the store). */
  readonly pool: PgPoolLike;
  /** @defaultValue `'public'` */
  readonly schema?: string;
  /** @defaultValue `'inbox'` */
  readonly table?: string;
  /** Send the inbox insert as a named prepared statement (see `PgOutboxStoreOptions.preparedStatements`). @defaultValue true */
  readonly preparedStatements?: boolean;
}

type PooledClient = Awaited<ReturnType<PgPoolLike['connect']>>;

/**
 * The consumer's dedup table on PostgreSQL. The inbox row and the handler's writes share one local
 * transaction, so a message takes effect once however often it is delivered. Safe to share between
 * concurrent handlers: each call takes its own client from the pool.
 *
 * @example
 * ```ts
 * const inbox = new PgInboxStore({ pool });
 * await inbox.process('basket', event.id, async (client) => {
 *   await client.query('UPDATE basket_items SET price = $1 WHERE product_id = $2', [price, productId]);
 * });
 * ```
 */
export class PgInboxStore implements InboxStore<PgClientLike> {
  readonly #pool: PgPoolLike;
  readonly #names: TableNames;
  readonly #target: MigrationTarget;
  readonly #record: (values: unknown[]) => PgQueryConfigLike;
  readonly #recordMany: (values: unknown[]) => PgQueryConfigLike;
  readonly #forget: (values: unknown[]) => PgQueryConfigLike;
  readonly #cleanup: string;
  readonly #lookup: string;

  /** @throws OutboxConfigError naming `pool`, `schema` or `table` when one is missing or not a plain identifier. */
  constructor(options: PgInboxStoreOptions) {
    if (!options?.pool || typeof options.pool.connect !== 'function') {
      throw new OutboxConfigError('pool', 'PgInboxStore needs { pool }: a pg.Pool');
    }
    this.#pool = options.pool;
    this.#names = tableNames(options.schema ?? 'public', options.table ?? 'inbox');
    this.#target = { names: this.#names, migrations: inboxMigrations, kind: 'inbox' };
    // No row back means the key is there already (committed, or ours earlier in this transaction):
    // a duplicate. A concurrent uncommitted insert of the same key makes this wait for its outcome.
    const prepared = options.preparedStatements ?? true;
    this.#record = preparedStatement(
      `INSERT INTO ${this.#names.qualified} (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1`,
      prepared,
    );
    // An id twice in one batch is inserted once: DO NOTHING skips the second as a conflict.
    this.#recordMany = preparedStatement(
      `INSERT INTO ${this.#names.qualified} (consumer, message_id)
SELECT $1, m FROM unnest($2::text[]) AS m ORDER BY m
ON CONFLICT DO NOTHING RETURNING message_id`,
      prepared,
    );
    this.#forget = preparedStatement(`DELETE FROM ${this.#names.qualified} WHERE consumer = $1 AND message_id = $2`, prepared);
    this.#lookup = `SELECT 1 FROM ${this.#names.qualified} WHERE consumer = $1 AND message_id = $2`;
    // ctid batches keep each DELETE short and bounded, whatever the backlog.
    this.#cleanup = `DELETE FROM ${this.#names.qualified} WHERE ctid IN (
  SELECT ctid FROM ${this.#names.qualified} WHERE recorded_at < now() - $1 * interval '1 millisecond' LIMIT $2)`;
  }

  async process<T>(consumer: string, messageId: string, fn: (tx: PgClientLike) => Promise<T>): Promise<InboxOutcome<T>> {
    return this.#withClient('process()', async (client) => {
      await this.#query(client, 'BEGIN');
      const recorded = await this.#query(client, this.#record([consumer, messageId]));
      if (recorded.rowCount === 0) {
        await this.#query(client, 'ROLLBACK');
        return { status: 'duplicate' };
      }
      let value: T;
      try {
        value = await fn(client);
      } catch (error) {
        let rollbackError: unknown;
        await this.#query(client, 'ROLLBACK').catch((caught: unknown) => {
          rollbackError = caught;
        });
        throw new HandlerError(classifyHandlerError(error, rollbackError !== undefined), rollbackError);
      }
      await this.#query(client, 'COMMIT');
      return { status: 'applied', value };
    });
  }

  async processBatch<Item extends InboxItem>(
    consumer: string,
    items: readonly Item[],
    fn: (tx: PgClientLike, item: Item) => Promise<void>,
    options: ProcessBatchOptions = {},
  ): Promise<InboxOutcome[]> {
    if (items.length === 0) return [];
    const savepoints = options.savepoints ?? true;
    return this.#withClient('processBatch()', async (client) => {
      await this.#query(client, 'BEGIN');
      // One statement records the whole batch (in key order, so that two batches sharing ids lock
      // them in the same order); a failed item's row is deleted again below.
      const recorded = await this.#query(client, this.#recordMany([consumer, items.map((item) => item.messageId)]));
      const fresh = new Set((recorded.rows as { message_id: string }[]).map((row) => row.message_id));
      const outcomes: InboxOutcome[] = [];
      let savepoint = false;
      for (const [index, item] of items.entries()) {
        // Not recorded by us: delivered before (or earlier in this batch).
        if (!fresh.delete(item.messageId)) {
          outcomes.push({ status: 'duplicate' });
          continue;
        }
        if (savepoints) {
          // One round trip per item: the last item's savepoint is released as the next one is set.
          await this.#query(client, savepoint ? 'RELEASE SAVEPOINT outboxkit_item; SAVEPOINT outboxkit_item' : 'SAVEPOINT outboxkit_item');
          savepoint = true;
        }
        try {
          await fn(client, item);
        } catch (error) {
          if (!savepoints) {
            const rollbackError = await this.#query(client, 'ROLLBACK').then(
              () => undefined,
              (caught: unknown) => caught,
            );
            throw new HandlerError(
              new BatchRolledBackError(index, classifyHandlerError(error, rollbackError !== undefined)),
              rollbackError,
            );
          }
          // Undoes this item's writes (even SQL that aborted the transaction), then its inbox row,
          // so a redelivery runs it again; earlier items stay in the transaction.
          await this.#query(client, 'ROLLBACK TO SAVEPOINT outboxkit_item');
          await this.#query(client, this.#forget([consumer, item.messageId]));
          outcomes.push({ status: 'failed', error: classifyHandlerError(error, false) });
          continue;
        }
        outcomes.push({ status: 'applied', value: undefined });
      }
      await this.#query(client, 'COMMIT');
      return outcomes;
    });
  }

  async isRecorded(consumer: string, messageId: string): Promise<boolean> {
    try {
      return ((await this.#pool.query(this.#lookup, [consumer, messageId])).rowCount ?? 0) > 0;
    } catch (error) {
      throw translatePgError(error, { operation: 'isRecorded()', expectedVersion: latestVersion(this.#target) });
    }
  }

  async cleanup(options: InboxCleanupOptions): Promise<number> {
    const olderThanMs = validateInteger(options.olderThanMs, 'olderThanMs', 0);
    const batchSize = validateInteger(options.batchSize ?? 1000, 'batchSize', 1);
    const maxBatches = validateInteger(options.maxBatches ?? 100, 'maxBatches', 1);
    let removed = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      let count: number;
      try {
        count = (await this.#pool.query(this.#cleanup, [olderThanMs, batchSize])).rowCount ?? 0;
      } catch (error) {
        throw translatePgError(error, { operation: 'cleanup()', expectedVersion: latestVersion(this.#target) });
      }
      removed += count;
      if (count < batchSize) break;
    }
    return removed;
  }

  migrate(): Promise<MigrationResult> {
    return runMigrations(this.#pool, this.#target);
  }

  /** @throws SchemaVersionError when the inbox table is missing, older or newer than this package knows. */
  assertSchema(): Promise<void> {
    return assertSchemaVersion(this.#pool, this.#target);
  }

  /** The store opens nothing of its own; the pool is the caller's. */
  async close(): Promise<void> {}

  // Runs `body` on a pooled client. A handler's error is rethrown as is, after the rollback; our
  // own statements' errors are translated, and a client that failed mid-transaction is destroyed.
  async #withClient<R>(operation: string, body: (client: PooledClient) => Promise<R>): Promise<R> {
    let client: PooledClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw translatePgError(error, { operation });
    }
    const stopAbsorbing = absorbClientErrors(client);
    let broken: Error | undefined;
    try {
      return await body(client);
    } catch (error) {
      if (error instanceof HandlerError) {
        if (error.rollbackError !== undefined) broken = new Error('rollback failed', { cause: error.rollbackError });
        throw error.original;
      }
      broken = error instanceof Error ? error : new Error(String(error));
      throw translatePgError(error, { operation, expectedVersion: latestVersion(this.#target) });
    } finally {
      stopAbsorbing();
      client.release(broken);
    }
  }

  #query(client: PgClientLike, statement: string | PgQueryConfigLike) {
    return client.query(statement);
  }
}

/** Carries a handler's own error past the translation of database errors. */
class HandlerError {
  constructor(
    readonly original: unknown,
    readonly rollbackError: unknown,
  ) {}
}
