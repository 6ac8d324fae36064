import { createHash, randomUUID } from 'node:crypto';
import {
  type ClaimedBatch,
  type ClaimOptions,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_EVENT_BYTES,
  type DeadLetterEntry,
  type DeadRecord,
  encodeEvents,
  type FailingRecord,
  type ListDeadOptions,
  type Logger,
  type MigrationResult,
  noopLogger,
  OutboxConfigError,
  type OutboxEvent,
  type OutboxRecord,
  type OutboxStats,
  type OutboxStore,
  type OutboxStoreCapabilities,
  OutboxUsageError,
  type ReleaseEntry,
  type SubjectBacklog,
  validateByteLimit,
  validateInteger,
  type WaitForWorkOptions,
} from '@outboxkit/outbox-core';
import pg from 'pg';
import { type TableNames, tableNames } from './identifiers.js';
import { assertSchemaVersion, latestVersion, type MigrationTarget, runMigrations } from './migrate.js';
import { outboxMigrations } from './migrations/0001-outbox-init.js';
import { translatePgError } from './pg-errors.js';
import {
  absorbClientErrors,
  isPoolLike,
  type PgClientLike,
  type PgPoolLike,
  type PgQueryConfigLike,
  type PgQueryResultLike,
} from './pg-like.js';
import { preparedStatement } from './prepared.js';
import { claimParamTypes, type OutboxSql, orderedWalk, outboxSql } from './sql/outbox-sql.js';
import { type PgListenClientLike, WakeupListener } from './wakeup-listener.js';

/** Options of {@link PgOutboxStore}. */
export interface PgOutboxStoreOptions {
  /** The pool the store claims and administers through (never closed by the store). */
  readonly pool: PgPoolLike;
  /** @defaultValue `'public'` */
  readonly schema?: string;
  /** At most 52 characters (`<table>_migrations` must fit 63). @defaultValue `'outbox'` */
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
   * The largest event `enqueue` writes: `data` plus headers as JSON, in UTF-8 bytes. A row whose
   * payload is larger (written before the limit, or by hand) is claimed without its payload and
   * dead-lettered by the relay. @defaultValue `DEFAULT_MAX_EVENT_BYTES` (1 MiB)
   */
  readonly maxEventBytes?: number;
  /** @defaultValue a no-op logger */
  readonly logger?: Logger;
}

type RecordRow = {
  id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  payload: string;
  headers: Record<string, string>;
  attempts: number;
  /** Claims only: the payload's size, and whether it was left out for being over `maxEventBytes`. */
  payload_bytes?: number | string;
  oversized?: boolean;
};
type DeadRow = RecordRow & { last_error: string | null; dead_at: Date };

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
 *   await outbox.enqueue(client, priceChanged.create({ source: 'catalog', subject: id, data: { price } }));
 * });
 * ```
 */
export class PgOutboxStore implements OutboxStore<PgClientLike> {
  readonly capabilities: OutboxStoreCapabilities;
  readonly #pool: PgPoolLike;
  readonly #names: TableNames;
  readonly #sql: OutboxSql;
  readonly #target: MigrationTarget;
  readonly #channel: string;
  readonly #stragglerPollMs: number;
  readonly #listener: WakeupListener | undefined;
  readonly #statements: Record<
    Exclude<keyof OutboxSql, 'claim' | 'claimBySubject' | 'armWithBarrier' | 'arm'>,
    (values: unknown[]) => PgQueryConfigLike
  >;
  readonly #logger: Logger;
  /** The claim statements, PREPAREd per connection; undefined when statements are not prepared. */
  readonly #claims: Record<ClaimKind, { name: string; text: string }> | undefined;
  /** The disarm sent when `waitForWork` last returned; the next arm waits for it. */
  #disarming: Promise<void> | undefined;

  /** @throws OutboxConfigError naming `schema`, `table`, `pool`, `listenClient` or `stragglerPollMs` when one is invalid. */
  /** The last claim found fewer heads than a batch: start with the subject-by-subject claim. */
  #fewSubjects = false;
  readonly maxEventBytes: number;

  constructor(options: PgOutboxStoreOptions) {
    if (!options?.pool || typeof options.pool.query !== 'function') {
      throw new OutboxConfigError('pool', 'PgOutboxStore needs { pool }: a pg.Pool');
    }
    this.#pool = options.pool;
    this.#names = tableNames(options.schema ?? 'public', options.table ?? 'outbox');
    this.#sql = outboxSql(this.#names, { deadBlocksSubject: options.deadBlocksSubject ?? false });
    const prepared = options.preparedStatements ?? true;
    const sql = this.#sql;
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
    this.#logger = options.logger ?? noopLogger;
    this.maxEventBytes = validateByteLimit(options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES, 'maxEventBytes');
    const claimParams = { batchSize: '$1', leaseMs: '$2', token: '$3', maxBatchBytes: '$4', maxEventBytes: '$5' };
    const claimStatement = (kind: ClaimKind) => {
      const text = sql[kind](claimParams);
      return { name: `outboxkit_${kind.toLowerCase()}_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`, text };
    };
    this.#claims = prepared ? { claim: claimStatement('claim'), claimBySubject: claimStatement('claimBySubject') } : undefined;
    this.#target = { names: this.#names, migrations: outboxMigrations, kind: 'outbox' };
    this.#stragglerPollMs = validateInteger(options.stragglerPollMs ?? 50, 'stragglerPollMs', 1);
    this.#channel = channelName(this.#names);
    const listen = options.listen ?? true;
    this.capabilities = { wakeUp: listen, concurrentClaimers: true };
    if (listen) {
      const poolOptions = this.#pool.options;
      if (!options.listenClient && !poolOptions) {
        throw new OutboxConfigError(
          'listenClient',
          'listen needs a pg.Pool (its options open the LISTEN connection) or a listenClient factory',
        );
      }
      const open = options.listenClient ?? (() => new pg.Client(poolOptions as pg.ClientConfig) as PgListenClientLike);
      this.#listener = new WakeupListener(this.#channel, async () => open(), options.logger ?? noopLogger);
    }
    if (!listen) this.waitForWork = undefined;
  }

  /** The schema version this package's migrations build. */
  get schemaVersion(): number {
    return latestVersion(this.#target);
  }

  async enqueue(tx: PgClientLike, events: OutboxEvent | readonly OutboxEvent[]): Promise<void> {
    // Validation first: a bad event must fail before anything reaches the database.
    const encoded = encodeEvents(events, { maxEventBytes: this.maxEventBytes });
    if (isPoolLike(tx)) {
      throw new OutboxUsageError(
        'enqueue() needs the client of an open transaction; got a pg.Pool. Use transaction(pool, (client) => outbox.enqueue(client, event))',
      );
    }
    if (!tx || typeof tx.query !== 'function') {
      throw new OutboxUsageError('enqueue() needs the client of an open transaction (a pg client inside BEGIN)');
    }
    if (encoded.length === 0) return;
    await this.#assertInTransaction(tx);
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
    try {
      await tx.query(this.#statements.enqueue([...columns, this.#channel]));
    } catch (error) {
      throw failedTransaction(error) ?? translatePgError(error, { operation: 'enqueue()', expectedVersion: this.schemaVersion });
    }
  }

  // Cheap and exact: recent pg clients report the status of the last ReadyForQuery ('T' inside a
  // transaction), so the usual call costs no round trip. 'I' may also mean a BEGIN still queued
  // on the client, and other clients may not report a status at all, so then the server decides:
  // LOCK TABLE fails with 25P01 outside a transaction block and, inside one, takes only the lock
  // the INSERT takes anyway. A transaction with no writes yet passes both checks (unlike
  // txid_current_if_assigned()), and `now() <> statement_timestamp()` cannot be used: with the
  // extended protocol, Parse starts the implicit transaction before Execute sets the statement time.
  async #assertInTransaction(tx: PgClientLike): Promise<void> {
    const status = typeof tx.getTransactionStatus === 'function' ? tx.getTransactionStatus() : undefined;
    if (status === 'T') return;
    if (status === 'E') {
      throw new OutboxUsageError('enqueue() got a client whose transaction has failed; roll it back and start a new one');
    }
    try {
      await tx.query(this.#statements.lockForEnqueue([]));
    } catch (error) {
      if ((error as { code?: unknown }).code === '25P01') {
        throw new OutboxUsageError(
          'enqueue() needs the client of an open transaction; this client is not inside BEGIN. Use transaction(pool, (client) => ...)',
          { cause: error },
        );
      }
      throw failedTransaction(error) ?? translatePgError(error, { operation: 'enqueue()', expectedVersion: this.schemaVersion });
    }
  }

  async claim(options: ClaimOptions): Promise<ClaimedBatch> {
    const batchSize = validateInteger(options.batchSize, 'batchSize', 1);
    const leaseMs = validateInteger(options.leaseMs, 'leaseMs', 1);
    const maxBatchBytes = validateByteLimit(options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES, 'maxBatchBytes');
    const token = randomUUID();
    // The lease runs on the server's clock (now() + leaseMs); the relay's deadline is taken on its
    // own clock before the claim is sent, so it ends before the server's lease whatever the skew.
    const leaseUntil = new Date(Date.now() + leaseMs);
    type ClaimRow = RecordRow & { seq: string };
    const claimWith = async (kind: ClaimKind, size: number, budget: number): Promise<ClaimRow[]> =>
      (await this.#claimRows(kind, size, leaseMs, token, budget)) as ClaimRow[];
    // Two ways to find subject heads (see the SQL): a walk of the oldest rows, cheap when many
    // subjects interleave, and a jump from subject to subject, cheap when few subjects hold the
    // backlog. The store keeps using the one that last filled the batch.
    let rows: ClaimRow[];
    if (this.#fewSubjects) {
      rows = await claimWith('claimBySubject', batchSize, maxBatchBytes);
      if (rows.length === batchSize) this.#fewSubjects = false;
    } else {
      rows = await claimWith('claim', batchSize, maxBatchBytes);
      const left = maxBatchBytes - loadedBytes(rows);
      // Short of heads (not of budget): top up from the subject-by-subject walk, with what is left of the budget.
      if (rows.length < batchSize && left > 0) {
        const more = await claimWith('claimBySubject', batchSize - rows.length, left);
        if (more.length > 0) rows = [...rows, ...more].sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq)));
        this.#fewSubjects = true;
      }
    }
    return { token, records: rows.map(toRecord), leaseUntil };
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

  async replayDead(ids: readonly string[] | 'all'): Promise<number> {
    if (ids !== 'all' && ids.length === 0) return 0;
    const result =
      ids === 'all'
        ? await this.#run('replayDead()', this.#statements.replayAll([]))
        : await this.#run('replayDead()', this.#statements.replayIds([ids]));
    return result.rowCount ?? 0;
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
    const listener = this.#listener;
    if (!listener || options.signal?.aborted) return;
    // Registered before arming, so a NOTIFY that arrives before we start waiting still counts.
    const waiting = listener.wait(options.timeoutMs, options.signal);
    // A (re)connect that hangs must not hold the relay past its poll.
    await Promise.race([listener.ensure(), waiting.promise]);
    if (!listener.listening) {
      await waiting.promise;
      return;
    }
    // The last wake-up's disarm must not land after this arm.
    await this.#disarming;
    let ready: boolean;
    let fenced = true;
    try {
      const results = await this.#pool.query(this.#sql.armWithBarrier);
      ready = (lastResult(results).rows[0] as { ready: boolean } | undefined)?.ready === true;
    } catch (error) {
      // 55P03: a transaction that wrote the outbox (a producer that may have read the flag
      // unarmed, or another relay settling a batch) is still open.
      if ((error as { code?: unknown }).code !== '55P03') {
        waiting.cancel();
        throw translatePgError(error, { operation: 'waitForWork()', expectedVersion: this.schemaVersion });
      }
      fenced = false;
      const results = await this.#run('waitForWork()', this.#sql.arm);
      ready = (lastResult(results).rows[0] as { ready: boolean } | undefined)?.ready === true;
    }
    try {
      if (ready) {
        waiting.cancel();
      } else if (fenced) {
        await waiting.promise;
      } else {
        // Unfenced: a straggler's row may become visible without a NOTIFY, so look again soon.
        const straggler = listener.wait(Math.min(this.#stragglerPollMs, options.timeoutMs), options.signal);
        await Promise.race([waiting.promise, straggler.promise]);
        waiting.cancel();
        straggler.cancel();
      }
    } finally {
      this.#disarming = this.#run('waitForWork()', this.#statements.disarm([])).then(
        () => undefined,
        // Left armed, producers notify on every commit until the next disarm: a cost, not a loss.
        (error: unknown) => this.#logger.warn({ err: error }, 'could not disarm the outbox wake-up flag'),
      );
    }
  }

  async close(): Promise<void> {
    await this.#disarming;
    await this.#listener?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Runs one claim statement after `orderedWalk`, in one simple-protocol round trip. Prepared, the
   * statement is PREPAREd once per connection and EXECUTEd with literal arguments (integers we
   * validated, a UUID we generated); unprepared, its text carries those literals.
   */
  async #claimRows(kind: ClaimKind, batchSize: number, leaseMs: number, token: string, maxBatchBytes: number): Promise<unknown[]> {
    const prepared = this.#claims?.[kind];
    if (!prepared) {
      const text = this.#sql[kind]({
        batchSize: String(batchSize),
        leaseMs: String(leaseMs),
        token: `'${token}'`,
        maxBatchBytes: String(maxBatchBytes),
        maxEventBytes: String(this.maxEventBytes),
      });
      return lastResult(await this.#run('claim()', `${orderedWalk}\n${text}`)).rows;
    }
    let client: Awaited<ReturnType<PgPoolLike['connect']>>;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw translatePgError(error, { operation: 'claim()', expectedVersion: this.schemaVersion });
    }
    const stopAbsorbing = absorbClientErrors(client);
    let broken: Error | undefined;
    try {
      await prepareOnce(client, prepared.name, prepared.text);
      const results = await client.query(
        `${orderedWalk}\nEXECUTE ${prepared.name}(${batchSize}, ${leaseMs}, '${token}', ${maxBatchBytes}, ${this.maxEventBytes})`,
      );
      return lastResult(results).rows;
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error));
      throw translatePgError(error, { operation: 'claim()', expectedVersion: this.schemaVersion });
    } finally {
      stopAbsorbing();
      client.release(broken);
    }
  }

  async #run(operation: string, statement: string | PgQueryConfigLike) {
    try {
      return await this.#pool.query(statement);
    } catch (error) {
      throw translatePgError(error, { operation, expectedVersion: this.schemaVersion });
    }
  }
}

// NOTIFY channels are identifiers: at most 63 bytes. Long schema/table pairs get a stable hash.
function channelName(names: TableNames): string {
  const plain = `outboxkit.${names.schema}.${names.table}`;
  if (plain.length <= 63) return plain;
  return `outboxkit.${createHash('sha256').update(`${names.schema}.${names.table}`).digest('hex').slice(0, 40)}`;
}

/**
 * 25P02 (in_failed_sql_transaction) as the usage error it is. The transaction status check above
 * cannot always see it: pg rejects a failed query on the error message, before the ReadyForQuery
 * that carries the 'E' status, so a caller that catches the error and calls enqueue at once may
 * still find 'T' (outbox-store.test.ts failed so in 2 of 12 runs; 0 of 8 with this).
 */
function failedTransaction(error: unknown): OutboxUsageError | undefined {
  if ((error as { code?: unknown })?.code !== '25P02') return undefined;
  return new OutboxUsageError('enqueue() got a client whose transaction has failed; roll it back and start a new one', {
    cause: error,
  });
}

type ClaimKind = 'claim' | 'claimBySubject';

/** The SQL-level prepared statements (PREPARE ... AS) each pooled connection already holds. */
const preparedOnConnection = new WeakMap<object, Set<string>>();

async function prepareOnce(client: PgClientLike, name: string, text: string): Promise<void> {
  let names = preparedOnConnection.get(client);
  if (names?.has(name)) return;
  try {
    await client.query(`PREPARE ${name} ${claimParamTypes} AS ${text}`);
  } catch (error) {
    // 42P05: this connection has it already (another store on the same table prepared it).
    if ((error as { code?: unknown }).code !== '42P05') throw error;
  }
  if (!names) {
    names = new Set();
    preparedOnConnection.set(client, names);
  }
  names.add(name);
}

// A simple-protocol string with several statements resolves to an array of results.
function lastResult(results: PgQueryResultLike | PgQueryResultLike[]): PgQueryResultLike {
  return Array.isArray(results) ? (results.at(-1) as PgQueryResultLike) : results;
}

function toRecord(row: RecordRow): OutboxRecord {
  const record: OutboxRecord = {
    id: row.id,
    type: row.type,
    source: row.source,
    subject: row.subject,
    time: row.time,
    payload: row.payload,
    headers: row.headers ?? {},
    attempts: row.attempts,
  };
  return row.oversized ? { ...record, oversizedBytes: Number(row.payload_bytes) } : record;
}

/** The payload bytes a claim brought into memory (oversized rows count 0: their payload stayed behind). */
function loadedBytes(rows: readonly RecordRow[]): number {
  let bytes = 0;
  for (const row of rows) if (!row.oversized) bytes += Number(row.payload_bytes ?? 0);
  return bytes;
}

function toDeadRecord(row: DeadRow): DeadRecord {
  return { ...toRecord(row), lastError: row.last_error ?? '', deadAt: row.dead_at };
}
