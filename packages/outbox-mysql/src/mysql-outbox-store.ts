import {
  type ClaimedBatch,
  type ClaimOptions,
  type DeadLetterEntry,
  type DeadRecord,
  type FailingRecord,
  type ListDeadOptions,
  type Logger,
  type MigrationResult,
  OutboxConfigError,
  type OutboxEvent,
  type OutboxStats,
  type OutboxStore,
  type ReleaseEntry,
  type SubjectBacklog,
} from '@outboxkit/outbox-core';
import {
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_EVENT_BYTES,
  type EncodedEvent,
  encodeEvents,
  isSqlExecutor,
  noopLogger,
  type SqlExecutor,
  validateBoolean,
  validateByteLimit,
  validateInteger,
} from '@outboxkit/outbox-core/driver';
import { assertExecutorInTransaction, assertInTransaction } from './assert-in-transaction.js';
import { type CandidateStrategy, claimHeads } from './claim.js';
import { applyMigrations, checkSchemaVersion } from './migrate.js';
import { OUTBOX_SCHEMA_VERSION, outboxMigrations, stampTriggerLookup } from './migrations/outbox-migrations.js';
import { connectionOf } from './mysql-executor.js';
import { isPoolLike, type MysqlConnectionLike, type MysqlPoolLike, runStatement, selectRows } from './mysql-like.js';
import { toDeadRecord, toUtcDatetime } from './records.js';
import { replayDead } from './replay-dead.js';
import { type DeadRow, type OutboxSql, outboxSql } from './sql/outbox-sql.js';
import { stampPlan } from './subject-sequence.js';
import { resolveTableName, type TableName } from './table-name.js';
import { translateMysqlError, withRetry } from './translate-mysql-error.js';

/** Options of {@link MysqlOutboxStore}. */
export interface MysqlOutboxStoreOptions {
  /** A mysql2/promise pool. The store checks connections out for claims and migrations; it never closes the pool. */
  readonly pool: MysqlPoolLike;
  /**
   * The outbox table. Letters, digits and `_`, at most 52 characters (`<table>_subject_seq` must fit
   * MySQL's 64). @defaultValue `'outbox'`
   */
  readonly table?: string;
  /** The database holding the table. @defaultValue the pool's current database */
  readonly database?: string;
  /**
   * A dead row holds back the later rows of its subject until it is retried or purged: strict
   * per-subject order at the cost of that subject's availability. By default dead rows hold back
   * nothing, and a retried dead event reaches the stream after newer events of its subject.
   * @defaultValue false
   */
  readonly deadBlocksSubject?: boolean;
  /**
   * Stamp each event with its place among its subject's events (`OutboxRecord.sequence`, column
   * `subject_seq`): `enqueue` increments the subject's row in `<table>_subject_seq` in the caller's
   * transaction, so the numbers follow the subjects' commit order, without holes (a rollback gives
   * its numbers back). The counter's row lock serialises the transactions that write events of one
   * subject: the second waits for the first to commit. Consumers with `order: 'subject'` need it.
   * `false` writes no sequence (no counter row, no wait between producers, one statement less).
   * @defaultValue true
   */
  readonly subjectSequence?: boolean;
  /**
   * The largest event `enqueue` writes: `data` plus headers as JSON, in UTF-8 bytes. A row whose
   * payload is larger (written before the limit, or by hand) is claimed without its payload and
   * dead-lettered by the relay. @defaultValue `DEFAULT_MAX_EVENT_BYTES` (1 MiB)
   */
  readonly maxEventBytes?: number;
  /** @defaultValue a logger that drops everything */
  readonly logger?: Logger;
}

/** Longest `last_error` kept, in characters: the column is TEXT and errors can be long. */
const MAX_ERROR_LENGTH = 4000;
/** Dead rows deleted per statement by `purgeDead()` without ids. */
const PURGE_BATCH = 5000;

/**
 * The outbox table of one service on MySQL 8 or MariaDB 10.6+, on mysql2/promise.
 *
 * `enqueue` writes inside the caller's transaction; `claim` leases ready subject heads in a short
 * READ COMMITTED transaction of its own, so several relays can share the table while every subject
 * is published in write order. No method keeps a transaction open across calls. Safe to use
 * concurrently from any number of processes.
 *
 * @example
 * ```ts
 * const outbox = new MysqlOutboxStore({ pool });
 * await outbox.migrate();
 * await transaction(pool, async (connection) => {
 *   await connection.query('UPDATE products SET price = ? WHERE id = ?', [price, id]);
 *   await outbox.enqueue(connection, PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * });
 * ```
 */
export class MysqlOutboxStore implements OutboxStore<MysqlConnectionLike | SqlExecutor> {
  /**
   * No push signal on MySQL (no LISTEN/NOTIFY): the relay polls adaptively. `deadBlocksSubject` is
   * the option's value. `claimAhead`: the relay claims its next batch while it publishes one,
   * unless its own `claimAhead` says otherwise.
   */
  readonly capabilities: {
    readonly wakeUp: false;
    readonly concurrentClaimers: true;
    readonly deadBlocksSubject: boolean;
    readonly claimAhead: true;
  };
  readonly #pool: MysqlPoolLike;
  readonly #table: TableName;
  readonly #sql: OutboxSql;
  readonly #subjectSequence: boolean;
  /** replayDead gives rows with a sequence a new one (not with deadBlocksSubject: they keep their place). */
  readonly #restamp: boolean;
  readonly #logger: Logger;
  readonly #strategy: CandidateStrategy = { skipWindow: 0 };
  /** Whether the table has migration 3's stamp trigger; looked up by the first `enqueue` that can use it. */
  #stampTrigger: boolean | undefined;
  readonly maxEventBytes: number;

  /**
   * @throws OutboxConfigError naming `pool`, `table` (at most 52 characters), `database`,
   *   `deadBlocksSubject`, `subjectSequence` or `maxEventBytes`.
   */
  constructor(options: MysqlOutboxStoreOptions) {
    if (!isPoolLike(options?.pool)) {
      throw new OutboxConfigError('pool', 'MysqlOutboxStore needs `pool`: a mysql2/promise pool (createPool(...))');
    }
    this.#pool = options.pool;
    this.#table = resolveTableName(options.table ?? 'outbox', options.database, 'table', '_subject_seq');
    const deadBlocksSubject = validateBoolean(options.deadBlocksSubject ?? false, 'deadBlocksSubject');
    this.#subjectSequence = validateBoolean(options.subjectSequence ?? true, 'subjectSequence');
    this.#restamp = this.#subjectSequence && !deadBlocksSubject;
    // The claim reads a window of the oldest pending rows by primary key (claim.ts): rows other
    // relays hold leased cost it little, so the relay claims ahead by default (docs/design/relay-claims.md).
    this.capabilities = { wakeUp: false, concurrentClaimers: true, deadBlocksSubject, claimAhead: true };
    this.#sql = outboxSql(this.#table, { deadBlocksSubject });
    this.#logger = options.logger ?? noopLogger;
    this.maxEventBytes = validateByteLimit(options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES, 'maxEventBytes');
  }

  /**
   * Appends events in the caller's transaction, after one status probe (`DO 0`, skipped for an
   * executor that knows its transaction), stamping each with its subject's next sequence. Events of
   * one subject: one multi-row INSERT that migration 3's trigger stamps (two round trips in all);
   * where the server did not let the migration create the trigger, and for events of several
   * subjects, one multi-row upsert of the subjects' counter rows first (three round trips, whatever
   * the number of events and subjects). The first call that could use the trigger looks it up, in
   * the caller's transaction, once per store. The counter's row lock makes a transaction that
   * writes an event of a subject wait for any other open transaction that wrote one of that
   * subject, until it ends; its events then come after the other's in sequence and in claim order.
   * With `subjectSequence: false`, the INSERT alone (two round trips), and rows are ordered by `seq`
   * only: lock the aggregate row before appending (update, then append) so that the write order of
   * a subject is its commit order.
   * @throws OutboxUsageError for a pool or a connection outside a transaction; nothing is written.
   * @throws EventValidationError naming the offending path; nothing is written.
   * @throws StoreError `DUPLICATE` when an event id is already in the outbox.
   */
  async enqueue(connection: MysqlConnectionLike | SqlExecutor, events: OutboxEvent | readonly OutboxEvent[]): Promise<void> {
    const encoded = encodeEvents(events, { maxEventBytes: this.maxEventBytes });
    if (isSqlExecutor(connection)) {
      const raw = connectionOf(connection);
      if (raw === undefined) return this.#enqueueThrough(connection, encoded);
      connection = raw;
    }
    const target = connection;
    await this.#run(async () => {
      await assertInTransaction(target);
      const select = (sql: string, values: unknown[]) => selectRows(target, sql, values);
      for (const [statement, values] of await this.#writes(encoded, select)) await runStatement(target, statement, values);
    });
  }

  async #enqueueThrough(executor: SqlExecutor, encoded: readonly EncodedEvent[]): Promise<void> {
    await this.#run(async () => {
      await assertExecutorInTransaction(executor);
      const select = async (sql: string, values: unknown[]) => (await executor.query(sql, values)).rows;
      for (const [statement, values] of await this.#writes(encoded, select)) await executor.query(statement, values);
    });
  }

  /**
   * The statements `enqueue` runs in the caller's transaction, in order, with their values.
   * `select` reads on that transaction: the trigger's lookup must not wait for a second pooled
   * connection while the caller holds one (a pool of one would wait forever).
   */
  async #writes(
    encoded: readonly EncodedEvent[],
    select: (sql: string, values: unknown[]) => Promise<unknown[]>,
  ): Promise<Array<[string, unknown[]]>> {
    if (encoded.length === 0) return [];
    if (!this.#subjectSequence) return [[this.#sql.insert(encoded.length), insertValues(encoded)]];
    const plan = stampPlan(encoded);
    // One counter row: the trigger takes its lock and numbers the rows in VALUES order. Several:
    // the upsert takes them in one order (stampPlan), where the trigger would take them in the
    // events' order and two transactions could deadlock on them.
    if (plan.subjects === 1 && (await this.#hasStampTrigger(select))) {
      return [[this.#sql.insertForTrigger(encoded.length), insertValues(encoded)]];
    }
    const values: unknown[] = [];
    encoded.forEach((event, index) => {
      values.push(event.id, event.type, event.source, event.subject, toUtcDatetime(event.time), event.payload, event.headers);
      values.push(event.subject, plan.offsets[index]);
    });
    return [
      [this.#sql.bumpCounters(plan.subjects), [...plan.counters]],
      [this.#sql.insertStamped(encoded.length), values],
    ];
  }

  /** Whether migration 3 created the stamp trigger, read once; a table without it is logged once. */
  async #hasStampTrigger(select: (sql: string, values: unknown[]) => Promise<unknown[]>): Promise<boolean> {
    if (this.#stampTrigger === undefined) {
      const lookup = stampTriggerLookup(this.#table);
      const found = (await select(lookup.sql, [...lookup.values])).length > 0;
      if (this.#stampTrigger === undefined && !found) {
        this.#logger.info(
          { table: this.#table.display },
          'the outbox has no stamp trigger (the server refused to create it during migrate: TRIGGER privilege, or SUPER or log_bin_trust_function_creators with a binary log): enqueue stamps with a statement of its own, 3 round trips instead of 2',
        );
      }
      this.#stampTrigger = found;
    }
    return this.#stampTrigger;
  }

  /** The schema version this package's outbox migrations build (`OUTBOX_SCHEMA_VERSION`). */
  get schemaVersion(): number {
    return OUTBOX_SCHEMA_VERSION;
  }

  /** Leases up to `batchSize` ready subject heads for `leaseMs`; see `claim.ts` for why it is safe. */
  async claim(options: ClaimOptions): Promise<ClaimedBatch> {
    const batchSize = validateInteger(options.batchSize, 'batchSize', 1, 10_000);
    const leaseMs = validateInteger(options.leaseMs, 'leaseMs', 1);
    const budget = {
      maxBatchBytes: validateByteLimit(options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES, 'maxBatchBytes'),
      maxEventBytes: this.maxEventBytes,
    };
    options.signal?.throwIfAborted();
    return withRetry(
      () => claimHeads(this.#pool, this.#sql, this.#strategy, batchSize, leaseMs, budget),
      this.#logger,
      'claim',
      OUTBOX_SCHEMA_VERSION,
    );
  }

  /** Deletes published rows still leased under `token` (unexpired) with one multi-row DELETE; returns how many. */
  async complete(token: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.#affected(this.#sql.complete(ids.length), [...ids, token]);
  }

  /** Ends the lease of rows whose publish failed, due again `retryAfterMs` after the server's now, in one UPDATE; returns how many. */
  async release(token: string, entries: readonly ReleaseEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const values: unknown[] = [];
    for (const entry of entries) values.push(entry.id, Math.round(entry.retryAfterMs));
    for (const entry of entries) values.push(entry.id, truncate(entry.error));
    for (const entry of entries) values.push(entry.id, entry.countAttempt ? 1 : 0);
    for (const entry of entries) values.push(entry.id);
    values.push(token);
    return this.#affected(this.#sql.release(entries.length), values);
  }

  /** Moves leased rows to the dead state with their last error (first 4,000 characters); returns how many. */
  async deadLetter(token: string, entries: readonly DeadLetterEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const values: unknown[] = [];
    for (const entry of entries) values.push(entry.id, truncate(entry.error));
    for (const entry of entries) values.push(entry.id);
    values.push(token);
    return this.#affected(this.#sql.deadLetter(entries.length), values);
  }

  /** Dead rows in write order, `limit` at a time, after `afterId` (keyset pagination). */
  async listDead(options: ListDeadOptions = {}): Promise<DeadRecord[]> {
    const limit = validateInteger(options.limit ?? 100, 'limit', 1, 10_000);
    const rows = await this.#run(() => selectRows<DeadRow>(this.#pool, this.#sql.listDead, [options.afterId ?? null, limit]));
    return rows.map(toDeadRecord);
  }

  /** One dead row, or `undefined` when `id` is not dead (or not there). */
  async getDead(id: string): Promise<DeadRecord | undefined> {
    const [row] = await this.#run(() => selectRows<DeadRow>(this.#pool, this.#sql.getDead, [id]));
    return row === undefined ? undefined : toDeadRecord(row);
  }

  /**
   * Makes dead rows pending again, attempts reset. A row with a sequence gets a new one at the end
   * of its subject and goes after the subject's pending rows (it is copied to the end of the table
   * in a short transaction, 500 rows at a time for `'all'`), unless the store was built with
   * `deadBlocksSubject`: then, like a row without a sequence, it keeps its sequence and its place,
   * before the later rows of its subject. Returns how many rows became pending.
   */
  async replayDead(ids: readonly string[] | 'all'): Promise<number> {
    if (ids !== 'all' && ids.length === 0) return 0;
    return withRetry(() => replayDead(this.#pool, this.#sql, ids, this.#restamp), this.#logger, 'replayDead', OUTBOX_SCHEMA_VERSION);
  }

  /** Deletes dead rows; without ids, all of them in batches of 5,000 rows per statement. */
  async purgeDead(ids?: readonly string[]): Promise<number> {
    if (ids !== undefined) return ids.length === 0 ? 0 : this.#affected(this.#sql.purgeDeadIds(ids.length), [...ids]);
    let total = 0;
    for (;;) {
      const removed = await this.#affected(this.#sql.purgeDeadBatch, [PURGE_BATCH]);
      total += removed;
      if (removed < PURGE_BATCH) return total;
    }
  }

  /** Pending and dead counts, and the age of the oldest pending row (first by `seq`, from its event time). */
  async stats(): Promise<OutboxStats> {
    const [row] = await this.#run(() =>
      selectRows<{ pending: number | string; dead: number | string; oldest_age_us: number | string | null }>(this.#pool, this.#sql.stats),
    );
    return {
      pending: Number(row?.pending ?? 0),
      dead: Number(row?.dead ?? 0),
      oldestPendingAgeMs: row?.oldest_age_us == null ? null : Math.max(0, Math.floor(Number(row.oldest_age_us) / 1000)),
    };
  }

  /** The `limit` subjects with the most pending rows, largest first. */
  async subjectBacklog(limit: number): Promise<SubjectBacklog[]> {
    validateInteger(limit, 'limit', 1, 100_000);
    const rows = await this.#run(() =>
      selectRows<{ subject: string; pending: number | string; oldest_age_us: number | string }>(this.#pool, this.#sql.subjectBacklog, [
        limit,
      ]),
    );
    return rows.map((row) => ({
      subject: row.subject,
      pending: Number(row.pending),
      oldestPendingAgeMs: Math.max(0, Math.floor(Number(row.oldest_age_us) / 1000)),
    }));
  }

  /** Pending rows that failed at least once, most attempts first (reads every pending row). */
  async listFailing(limit: number): Promise<FailingRecord[]> {
    validateInteger(limit, 'limit', 1, 100_000);
    const rows = await this.#run(() =>
      selectRows<{ id: string; subject: string; type: string; attempts: number; last_error: string | null; retry_in_us: number | string }>(
        this.#pool,
        this.#sql.listFailing,
        [limit],
      ),
    );
    return rows.map((row) => ({
      id: row.id,
      subject: row.subject,
      type: row.type,
      attempts: Number(row.attempts),
      lastError: row.last_error,
      retryInMs: Math.max(0, Math.round(Number(row.retry_in_us) / 1000)),
    }));
  }

  /** Applies the outbox migrations under `GET_LOCK` on a connection of its own (DDL commits implicitly on MySQL). */
  async migrate(): Promise<MigrationResult> {
    const result = await this.#run(() => applyMigrations(this.#pool, this.#table, outboxMigrations, 'outbox'));
    this.#stampTrigger = undefined; // looked up again: the migration may have just created it
    return result;
  }

  /** @throws SchemaVersionError when the table is missing, older or newer than this version knows, saying what to run. */
  async assertSchema(): Promise<void> {
    await this.#run(() => checkSchemaVersion(this.#pool, this.#table, OUTBOX_SCHEMA_VERSION, 'outbox'));
  }

  /** Nothing to close: the pool belongs to the caller. */
  async close(): Promise<void> {}

  async #affected(sql: string, values: unknown[]): Promise<number> {
    const header = await withRetry(() => runStatement(this.#pool, sql, values), this.#logger, 'update', OUTBOX_SCHEMA_VERSION);
    return header.affectedRows;
  }

  async #run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw translateMysqlError(error, { expectedVersion: OUTBOX_SCHEMA_VERSION });
    }
  }
}

/** The INSERT's values, row by row. */
function insertValues(encoded: readonly EncodedEvent[]): unknown[] {
  const values: unknown[] = [];
  for (const event of encoded) {
    values.push(event.id, event.type, event.source, event.subject, toUtcDatetime(event.time), event.payload, event.headers);
  }
  return values;
}

function truncate(text: string): string {
  return text.length <= MAX_ERROR_LENGTH ? text : `${text.slice(0, MAX_ERROR_LENGTH - 1)}…`;
}
