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
  type OutboxStoreCapabilities,
  type ReleaseEntry,
  type SubjectBacklog,
  type WaitForWorkOptions,
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
import pg from 'pg';
import {
  assertClient,
  assertExecutor,
  assertExecutorInTransaction,
  assertInTransaction,
  failedTransaction,
} from './assert-in-transaction.js';
import { type ClaimStrategy, type ClaimTarget, claimHeads, prepareClaims } from './claim.js';
import { assertSchemaVersion, latestVersion, type MigrationTarget, runMigrations } from './migrate.js';
import { outboxMigrations } from './migrations/outbox-migrations.js';
import { clientOf } from './pg-executor.js';
import type { PgClientLike, PgPoolLike, PgQueryConfigLike } from './pg-like.js';
import { preparedStatement } from './prepared.js';
import { toDeadRecord } from './records.js';
import { type DeadRow, type OutboxSql, outboxSql } from './sql/outbox-sql.js';
import { type TableNames, tableNames } from './table-name.js';
import { translatePgError } from './translate-pg-error.js';
import { channelName, Wakeup } from './wakeup.js';
import { type PgListenClientLike, WakeupListener } from './wakeup-listener.js';

/** Options of {@link PgOutboxStore}. */
export interface PgOutboxStoreOptions {
  /** The pool the store claims and administers through (never closed by the store). */
  readonly pool: PgPoolLike;
  /** @defaultValue `'public'` */
  readonly schema?: string;
  /** At most 51 characters (`<table>_subject_seq` must fit 63). @defaultValue `'outbox'` */
  readonly table?: string;
  /** Open a LISTEN connection so `waitForWork` wakes within milliseconds of a commit. @defaultValue true */
  readonly listen?: boolean;
  /** Opens the dedicated LISTEN connection. @defaultValue `new pg.Client(pool.options)` */
  readonly listenClient?: () => Promise<PgListenClientLike> | PgListenClientLike;
  /** How long `waitForWork` waits at most before re-checking while a producer transaction that may have missed the wake-up is still open. @defaultValue 50 */
  readonly stragglerPollMs?: number;
  /**
   * Send the store's parameterised statements (`enqueue`, complete, release, ...) as named
   * prepared statements, parsed and planned once per connection. Turn off behind a pooler that
   * cannot keep them per client (PgBouncer before 1.21 in transaction mode). @defaultValue true
   */
  readonly preparedStatements?: boolean;
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
   * `false` writes no sequence (no counter row, no wait between producers). @defaultValue true
   */
  readonly subjectSequence?: boolean;
  /**
   * The largest event `enqueue` writes: `data` plus headers as JSON, in UTF-8 bytes. A row whose
   * payload is larger (written before the limit, or by hand) is claimed without its payload and
   * dead-lettered by the relay. @defaultValue `DEFAULT_MAX_EVENT_BYTES` (1 MiB)
   */
  readonly maxEventBytes?: number;
  /** @defaultValue a no-op logger */
  readonly logger?: Logger;
}

/**
 * The outbox on PostgreSQL. Safe to share: every method runs one statement (or one short
 * transaction) on the pool, except `enqueue`, which runs on the caller's transaction.
 *
 * @example
 * ```ts
 * const outbox = new PgOutboxStore({ pool });
 * await outbox.migrate();
 * await transaction(pool, async (client) => {
 *   await client.query('UPDATE products SET price = $1 WHERE id = $2', [price, id]);
 *   await outbox.enqueue(client, PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * });
 * ```
 */
export class PgOutboxStore implements OutboxStore<PgClientLike | SqlExecutor> {
  readonly capabilities: OutboxStoreCapabilities;
  readonly #pool: PgPoolLike;
  readonly #names: TableNames;
  readonly #sql: OutboxSql;
  readonly #target: MigrationTarget;
  readonly #channel: string;
  readonly #wakeup: Wakeup | undefined;
  readonly #statements: Record<
    Exclude<keyof OutboxSql, 'claim' | 'claimBySubject' | 'claimTurn' | 'armWithBarrier' | 'arm'>,
    (values: unknown[]) => PgQueryConfigLike
  >;
  readonly #claimTarget: ClaimTarget;
  readonly #strategy: ClaimStrategy = { fewSubjects: false };
  readonly maxEventBytes: number;

  /**
   * @throws OutboxConfigError naming `schema`, `table` (at most 51 characters), `pool`, `listenClient`,
   *   `stragglerPollMs`, `deadBlocksSubject` or `subjectSequence` when one is invalid.
   */
  constructor(options: PgOutboxStoreOptions) {
    if (!options?.pool || typeof options.pool.query !== 'function') {
      throw new OutboxConfigError('pool', 'PgOutboxStore needs { pool }: a pg.Pool');
    }
    this.#pool = options.pool;
    this.#names = tableNames(options.schema ?? 'public', options.table ?? 'outbox', '_subject_seq');
    const deadBlocksSubject = validateBoolean(options.deadBlocksSubject ?? false, 'deadBlocksSubject');
    const subjectSequence = validateBoolean(options.subjectSequence ?? true, 'subjectSequence');
    const sql = outboxSql(this.#names, { deadBlocksSubject, subjectSequence });
    this.#sql = sql;
    const prepared = options.preparedStatements ?? true;
    const named = (text: string) => preparedStatement(text, prepared);
    this.#statements = {
      enqueue: named(sql.enqueue),
      lockForEnqueue: named(sql.lockForEnqueue),
      complete: named(sql.complete),
      release: named(sql.release),
      deadLetter: named(sql.deadLetter),
      listDead: named(sql.listDead),
      listDeadAfter: named(sql.listDeadAfter),
      getDead: named(sql.getDead),
      replayAll: named(sql.replayAll),
      replayIds: named(sql.replayIds),
      purgeAll: named(sql.purgeAll),
      purgeIds: named(sql.purgeIds),
      stats: named(sql.stats),
      subjectBacklog: named(sql.subjectBacklog),
      listFailing: named(sql.listFailing),
      disarm: named(sql.disarm),
    };
    const logger = options.logger ?? noopLogger;
    this.maxEventBytes = validateByteLimit(options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES, 'maxEventBytes');
    this.#target = { names: this.#names, migrations: outboxMigrations, kind: 'outbox' };
    this.#claimTarget = {
      pool: this.#pool,
      sql,
      prepared: prepared ? prepareClaims(sql) : undefined,
      schemaVersion: latestVersion(this.#target),
    };
    const stragglerPollMs = validateInteger(options.stragglerPollMs ?? 50, 'stragglerPollMs', 1);
    this.#channel = channelName(this.#names);
    const listen = options.listen ?? true;
    this.capabilities = { wakeUp: listen, concurrentClaimers: true, deadBlocksSubject };
    if (listen) {
      const poolOptions = this.#pool.options;
      if (!options.listenClient && !poolOptions) {
        throw new OutboxConfigError(
          'listenClient',
          'listen needs a pg.Pool (its options open the LISTEN connection) or a listenClient factory',
        );
      }
      const open = options.listenClient ?? (() => new pg.Client(poolOptions as pg.ClientConfig) as PgListenClientLike);
      this.#wakeup = new Wakeup({
        pool: this.#pool,
        listener: new WakeupListener(this.#channel, async () => open(), logger),
        armWithBarrier: sql.armWithBarrier,
        arm: sql.arm,
        disarm: this.#statements.disarm([]),
        stragglerPollMs,
        schemaVersion: this.#claimTarget.schemaVersion,
        logger,
      });
    }
    if (!listen) this.waitForWork = undefined;
  }

  /** The schema version this package's migrations build. */
  get schemaVersion(): number {
    return latestVersion(this.#target);
  }

  /**
   * Appends events in the caller's transaction with one statement (one round trip when the client
   * reports its transaction status, as recent pg clients and executors of ORM transactions do),
   * stamping each with its subject's next sequence unless the store was built with
   * `subjectSequence: false`. With the stamp, a transaction that writes an event of a subject
   * waits for any other open transaction that wrote one of that subject, until it ends.
   * `tx` is the pg client of an open transaction, or an `SqlExecutor` on one.
   * @throws OutboxUsageError for a pool, an executor of another dialect, or a client or executor outside a transaction; nothing is written.
   * @throws EventValidationError naming the offending path; nothing is written.
   * @throws StoreError `DUPLICATE` when an event id is already in the outbox.
   */
  async enqueue(tx: PgClientLike | SqlExecutor, events: OutboxEvent | readonly OutboxEvent[]): Promise<void> {
    // Validation first: a bad event must fail before anything reaches the database.
    const encoded = encodeEvents(events, { maxEventBytes: this.maxEventBytes });
    let client: PgClientLike;
    if (isSqlExecutor(tx)) {
      const raw = clientOf(tx);
      if (raw === undefined) return this.#enqueueThrough(tx, encoded);
      client = raw;
    } else {
      client = tx;
    }
    assertClient(client);
    if (encoded.length === 0) return;
    await assertInTransaction(client, this.#statements.lockForEnqueue, this.schemaVersion);
    try {
      await client.query(this.#statements.enqueue(this.#enqueueParams(encoded)));
    } catch (error) {
      throw failedTransaction(error) ?? translatePgError(error, { operation: 'enqueue()', expectedVersion: this.schemaVersion });
    }
  }

  async #enqueueThrough(executor: SqlExecutor, encoded: readonly EncodedEvent[]): Promise<void> {
    const known = assertExecutor(executor);
    if (encoded.length === 0) return;
    if (known !== true) await assertExecutorInTransaction(executor, this.#sql.lockForEnqueue, this.schemaVersion);
    try {
      await executor.query(this.#sql.enqueue, this.#enqueueParams(encoded));
    } catch (error) {
      throw failedTransaction(error) ?? translatePgError(error, { operation: 'enqueue()', expectedVersion: this.schemaVersion });
    }
  }

  /** The enqueue statement's parameters: one array per column, then the wake-up channel. */
  #enqueueParams(encoded: readonly EncodedEvent[]): unknown[] {
    const n = encoded.length;
    const columns: string[][] = [new Array(n), new Array(n), new Array(n), new Array(n), new Array(n), new Array(n), new Array(n)];
    for (let i = 0; i < n; i++) {
      const e = encoded[i]!;
      columns[0]![i] = e.id;
      columns[1]![i] = e.type;
      columns[2]![i] = e.source;
      columns[3]![i] = e.subject;
      columns[4]![i] = e.time;
      columns[5]![i] = e.payload;
      columns[6]![i] = e.headers;
    }
    return [...columns, this.#channel];
  }

  async claim(options: ClaimOptions): Promise<ClaimedBatch> {
    const batchSize = validateInteger(options.batchSize, 'batchSize', 1, 10_000);
    const leaseMs = validateInteger(options.leaseMs, 'leaseMs', 1);
    const maxBatchBytes = validateByteLimit(options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES, 'maxBatchBytes');
    return claimHeads(this.#claimTarget, this.#strategy, batchSize, leaseMs, { maxBatchBytes, maxEventBytes: this.maxEventBytes });
  }

  async complete(token: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await this.#run('complete()', this.#statements.complete([ids, token]));
    return result.rowCount ?? 0;
  }

  async release(token: string, entries: readonly ReleaseEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const result = await this.#run(
      'release()',
      this.#statements.release([
        entries.map((e) => e.id),
        entries.map((e) => e.retryAfterMs),
        entries.map((e) => e.error),
        entries.map((e) => e.countAttempt),
        token,
      ]),
    );
    return result.rowCount ?? 0;
  }

  async deadLetter(token: string, entries: readonly DeadLetterEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const result = await this.#run(
      'deadLetter()',
      this.#statements.deadLetter([entries.map((e) => e.id), entries.map((e) => e.error), token]),
    );
    return result.rowCount ?? 0;
  }

  async listDead(options: ListDeadOptions = {}): Promise<DeadRecord[]> {
    const limit = validateInteger(options.limit ?? 100, 'limit', 1);
    const result =
      options.afterId === undefined
        ? await this.#run('listDead()', this.#statements.listDead([limit]))
        : await this.#run('listDead()', this.#statements.listDeadAfter([limit, options.afterId]));
    return (result.rows as DeadRow[]).map(toDeadRecord);
  }

  async getDead(id: string): Promise<DeadRecord | undefined> {
    const result = await this.#run('getDead()', this.#statements.getDead([id]));
    const row = result.rows[0] as DeadRow | undefined;
    return row ? toDeadRecord(row) : undefined;
  }

  /**
   * Makes dead rows pending again, attempts reset, in one statement. A row with a sequence gets a
   * new one at the end of its subject (and goes after the subject's pending rows), unless the
   * store was built with `deadBlocksSubject`: then it keeps its sequence and its place.
   */
  async replayDead(ids: readonly string[] | 'all'): Promise<number> {
    if (ids !== 'all' && ids.length === 0) return 0;
    const result =
      ids === 'all'
        ? await this.#run('replayDead()', this.#statements.replayAll([]))
        : await this.#run('replayDead()', this.#statements.replayIds([ids]));
    return (result.rows[0] as { replayed: number } | undefined)?.replayed ?? 0;
  }

  async purgeDead(ids?: readonly string[]): Promise<number> {
    if (ids !== undefined && ids.length === 0) return 0;
    const result =
      ids === undefined
        ? await this.#run('purgeDead()', this.#statements.purgeAll([]))
        : await this.#run('purgeDead()', this.#statements.purgeIds([ids]));
    return result.rowCount ?? 0;
  }

  async stats(): Promise<OutboxStats> {
    const result = await this.#run('stats()', this.#statements.stats([]));
    const row = result.rows[0] as { pending: string; oldest_ms: number | null; dead: string };
    return {
      pending: Number(row.pending),
      oldestPendingAgeMs: row.oldest_ms === null ? null : Math.max(0, Math.round(row.oldest_ms)),
      dead: Number(row.dead),
    };
  }

  async subjectBacklog(limit: number): Promise<SubjectBacklog[]> {
    validateInteger(limit, 'limit', 1);
    const result = await this.#run('subjectBacklog()', this.#statements.subjectBacklog([limit]));
    return (result.rows as { subject: string; pending: string; oldest_ms: number }[]).map((row) => ({
      subject: row.subject,
      pending: Number(row.pending),
      oldestPendingAgeMs: Math.max(0, Math.round(row.oldest_ms)),
    }));
  }

  /** Pending rows that failed at least once, most attempts first (reads every pending row). */
  async listFailing(limit: number): Promise<FailingRecord[]> {
    validateInteger(limit, 'limit', 1, 100_000);
    const result = await this.#run('listFailing()', this.#statements.listFailing([limit]));
    return (
      result.rows as { id: string; subject: string; type: string; attempts: number; last_error: string | null; retry_in_ms: number }[]
    ).map((row) => ({
      id: row.id,
      subject: row.subject,
      type: row.type,
      attempts: row.attempts,
      lastError: row.last_error,
      retryInMs: Math.round(row.retry_in_ms),
    }));
  }

  migrate(): Promise<MigrationResult> {
    return runMigrations(this.#pool, this.#target);
  }

  assertSchema(): Promise<void> {
    return assertSchemaVersion(this.#pool, this.#target);
  }

  /**
   * Arms the wake-up flag, re-checks for claimable rows (so a row committed between the last empty
   * claim and arming is not missed), then waits for the NOTIFY of the first commit after arming,
   * or `timeoutMs`. On the way out it disarms the flag (without waiting for that), so producers
   * stop notifying while the relay works. Without a LISTEN connection it waits `timeoutMs` (the poll).
   */
  async waitForWork?(options: WaitForWorkOptions): Promise<void> {
    await this.#wakeup?.wait(options);
  }

  async close(): Promise<void> {
    await this.#wakeup?.close();
  }

  /** `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #run(operation: string, statement: string | PgQueryConfigLike) {
    try {
      return await this.#pool.query(statement);
    } catch (error) {
      throw translatePgError(error, { operation, expectedVersion: this.schemaVersion });
    }
  }
}
