import type {
  ClaimedBatch,
  ClaimOptions,
  DeadLetterEntry,
  DeadRecord,
  FailingRecord,
  ListDeadOptions,
  MigrationResult,
  OutboxRecord,
  OutboxStats,
  OutboxStore,
  ReleaseEntry,
  SubjectBacklog,
  WaitForWorkOptions,
} from '../contracts/outbox-store.js';
import { OutboxUsageError, SchemaVersionError } from '../errors.js';
import { type EncodedEvent, encodeEvents } from '../event/encode.js';
import type { OutboxEvent } from '../event/event.js';
import { DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_EVENT_BYTES, validateByteLimit } from '../settings/byte-budget.js';
import { validateBoolean, validateInteger } from '../settings/identifiers.js';
import type { Clock } from '../util/clock.js';

/** The transaction handle of the in-memory stores: writes become visible on commit. */
export interface MemoryTransaction {
  readonly open: boolean;
  /** Runs `apply` when the transaction commits; dropped on rollback. */
  onCommit(apply: () => void): void;
}

interface Row {
  seq: number;
  readonly event: EncodedEvent;
  /** The subject's sequence; undefined for a row written without one. */
  sequence: number | undefined;
  /** UTF-8 bytes of `event.payload`. */
  readonly payloadBytes: number;
  state: 'pending' | 'dead';
  attempts: number;
  availableAt: number;
  lockedUntil: number;
  token: string | undefined;
  lastError: string | undefined;
  deadAt: number | undefined;
}

/**
 * Runs `fn` in an in-memory transaction: its `onCommit` writes apply if `fn` resolves, and are
 * dropped if it throws (the error is rethrown).
 */
export async function memoryTransaction<T>(fn: (tx: MemoryTransaction) => Promise<T>): Promise<T> {
  const writes: Array<() => void> = [];
  let open = true;
  const tx: MemoryTransaction = {
    get open() {
      return open;
    },
    onCommit(apply) {
      if (!open) throw new OutboxUsageError('the transaction is over');
      writes.push(apply);
    },
  };
  try {
    const value = await fn(tx);
    for (const write of writes) write();
    return value;
  } finally {
    open = false;
  }
}

/**
 * The store's own clock for leases and retries, as a database's `now()` is for the SQL stores: the
 * monotonic clock, so a test that moves the caller's `Date` sees the behaviour of a skewed relay.
 */
function monotonicClock(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * An `OutboxStore` in memory, with the same claim rules as the SQL stores: subject heads only,
 * leases fenced by a token, retries that hold back their own subject. For unit tests of code that
 * uses a store, and as the reference the conformance suite is checked against.
 */
export class MemoryOutboxStore implements OutboxStore<MemoryTransaction> {
  readonly capabilities: { readonly wakeUp: true; readonly concurrentClaimers: true; readonly deadBlocksSubject: boolean };
  readonly #rows: Row[] = [];
  readonly #waiters = new Set<() => void>();
  #seq = 0;
  #tokens = 0;
  #migrated: boolean;
  readonly #deadBlocksSubject: boolean;
  readonly #subjectSequence: boolean;
  /** The last sequence of each subject: the SQL stores' `<table>_subject_seq`. */
  readonly #counters = new Map<string, number>();
  readonly #now: () => number;
  readonly maxEventBytes: number;

  /**
   * @param options.migrated - false: `assertSchema` throws until `migrate` runs. @defaultValue true
   * @param options.deadBlocksSubject - a dead row holds back the later rows of its subject until it is retried or purged. @defaultValue false
   * @param options.subjectSequence - stamp each event with its subject's next sequence when its
   *   transaction commits (the SQL stores' commit order, without their lock waits). @defaultValue true
   * @param options.maxEventBytes - as on the SQL stores. @defaultValue `DEFAULT_MAX_EVENT_BYTES`
   * @param options.clock - the store's clock for leases and retry delays (a database's `now()`):
   *   share a `ManualClock` with the relay to let a retry delay pass without waiting for it.
   *   @defaultValue the monotonic clock
   * @throws OutboxConfigError on an invalid `maxEventBytes`, `deadBlocksSubject` or `subjectSequence`.
   */
  constructor(
    options: {
      migrated?: boolean;
      deadBlocksSubject?: boolean | undefined;
      subjectSequence?: boolean | undefined;
      maxEventBytes?: number;
      clock?: Pick<Clock, 'now'>;
    } = {},
  ) {
    const clock = options.clock;
    this.#now = clock ? () => clock.now() : monotonicClock;
    this.#migrated = options.migrated ?? true;
    this.#deadBlocksSubject = validateBoolean(options.deadBlocksSubject ?? false, 'deadBlocksSubject');
    this.#subjectSequence = validateBoolean(options.subjectSequence ?? true, 'subjectSequence');
    this.capabilities = { wakeUp: true, concurrentClaimers: true, deadBlocksSubject: this.#deadBlocksSubject };
    this.maxEventBytes = validateByteLimit(options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES, 'maxEventBytes');
  }
  /**
   * Appends events without `enqueue`'s checks, as rows written by hand or by an older version
   * would be: for tests of what the relay does with them. Duplicate ids still throw.
   */
  insertUnchecked(rows: readonly EncodedEvent[]): void {
    for (const event of rows) this.#append(event, undefined);
    for (const wake of this.#waiters) wake();
  }

  #append(event: EncodedEvent, sequence: number | undefined): void {
    if (this.#rows.some((row) => row.event.id === event.id)) throw new OutboxUsageError(`duplicate event id ${event.id}`);
    this.#rows.push({
      seq: ++this.#seq,
      event,
      sequence,
      payloadBytes: Buffer.byteLength(event.payload),
      state: 'pending',
      attempts: 0,
      availableAt: 0,
      lockedUntil: 0,
      token: undefined,
      lastError: undefined,
      deadAt: undefined,
    });
  }

  /** Every row still in the store, in write order (published rows are gone). */
  get size(): number {
    return this.#rows.length;
  }

  async enqueue(tx: MemoryTransaction, events: OutboxEvent | readonly OutboxEvent[]): Promise<void> {
    if (!tx || typeof tx.onCommit !== 'function' || !tx.open) {
      throw new OutboxUsageError('enqueue() needs the handle of an open transaction (memoryTransaction(fn) gives one)');
    }
    const encoded = encodeEvents(events, { maxEventBytes: this.maxEventBytes });
    tx.onCommit(() => {
      for (const event of encoded) this.#append(event, this.#subjectSequence ? this.#nextSequence(event.subject) : undefined);
      for (const wake of this.#waiters) wake();
    });
  }

  async claim(options: ClaimOptions): Promise<ClaimedBatch> {
    // The drivers' limit, so a test on the fake fails where production would.
    validateInteger(options.batchSize, 'batchSize', 1, 10_000);
    const callerDeadline = Date.now() + options.leaseMs;
    const now = this.#now();
    const token = `memory-${++this.#tokens}`;
    const leaseUntil = now + options.leaseMs;
    const records: OutboxRecord[] = [];
    const maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    let bytes = 0;
    for (const row of this.#readyHeads(now)) {
      if (records.length >= options.batchSize || bytes >= maxBatchBytes) break;
      row.token = token;
      row.lockedUntil = leaseUntil;
      if (row.payloadBytes > this.maxEventBytes) {
        records.push({ ...toRecord(row), payload: '', oversizedBytes: row.payloadBytes });
      } else {
        bytes += row.payloadBytes;
        records.push(toRecord(row));
      }
    }
    return { token, records, leaseUntil: new Date(callerDeadline) };
  }

  async complete(token: string, ids: readonly string[]): Promise<number> {
    const wanted = new Set(ids);
    let count = 0;
    for (let index = this.#rows.length - 1; index >= 0; index--) {
      const row = this.#rows[index] as Row;
      if (wanted.has(row.event.id) && this.#holds(row, token)) {
        this.#rows.splice(index, 1);
        count++;
      }
    }
    return count;
  }

  async release(token: string, entries: readonly ReleaseEntry[]): Promise<number> {
    let count = 0;
    for (const entry of entries) {
      const row = this.#find(entry.id);
      if (!row || !this.#holds(row, token)) continue;
      row.token = undefined;
      row.lockedUntil = 0;
      row.availableAt = this.#now() + entry.retryAfterMs;
      row.lastError = entry.error;
      if (entry.countAttempt) row.attempts++;
      count++;
    }
    return count;
  }

  async deadLetter(token: string, entries: readonly DeadLetterEntry[]): Promise<number> {
    let count = 0;
    for (const entry of entries) {
      const row = this.#find(entry.id);
      if (!row || !this.#holds(row, token)) continue;
      row.state = 'dead';
      row.token = undefined;
      row.lockedUntil = 0;
      row.attempts++;
      row.lastError = entry.error;
      row.deadAt = Date.now();
      count++;
    }
    return count;
  }

  async listDead(options: ListDeadOptions = {}): Promise<DeadRecord[]> {
    const after = options.afterId === undefined ? 0 : (this.#find(options.afterId)?.seq ?? 0);
    return this.#rows
      .filter((row) => row.state === 'dead' && row.seq > after)
      .slice(0, options.limit ?? 100)
      .map(toDeadRecord);
  }

  async getDead(id: string): Promise<DeadRecord | undefined> {
    const row = this.#find(id);
    return row?.state === 'dead' ? toDeadRecord(row) : undefined;
  }

  /**
   * Makes dead rows pending again. A row with a sequence gets a new one at the end of its subject
   * and moves to the end of the write order, unless `deadBlocksSubject` (then it keeps both).
   */
  async replayDead(ids: readonly string[] | 'all'): Promise<number> {
    const wanted = ids === 'all' ? undefined : new Set(ids);
    let count = 0;
    const moved: Row[] = [];
    for (const row of this.#rows) {
      if (row.state !== 'dead' || (wanted && !wanted.has(row.event.id))) continue;
      row.state = 'pending';
      row.attempts = 0;
      row.availableAt = 0;
      row.deadAt = undefined;
      if (row.sequence !== undefined && !this.#deadBlocksSubject) moved.push(row);
      count++;
    }
    for (const row of moved) {
      this.#rows.splice(this.#rows.indexOf(row), 1);
      row.seq = ++this.#seq;
      row.sequence = this.#nextSequence(row.event.subject);
      this.#rows.push(row);
    }
    for (const wake of this.#waiters) wake();
    return count;
  }

  async purgeDead(ids?: readonly string[]): Promise<number> {
    const wanted = ids === undefined ? undefined : new Set(ids);
    const before = this.#rows.length;
    for (let index = this.#rows.length - 1; index >= 0; index--) {
      const row = this.#rows[index] as Row;
      if (row.state === 'dead' && (!wanted || wanted.has(row.event.id))) this.#rows.splice(index, 1);
    }
    return before - this.#rows.length;
  }

  async stats(): Promise<OutboxStats> {
    const pending = this.#rows.filter((row) => row.state === 'pending');
    const oldest = pending.reduce((min, row) => Math.min(min, Date.parse(row.event.time)), Number.POSITIVE_INFINITY);
    return {
      pending: pending.length,
      oldestPendingAgeMs: pending.length === 0 ? null : Math.max(0, Date.now() - oldest),
      dead: this.#rows.length - pending.length,
    };
  }

  async subjectBacklog(limit: number): Promise<SubjectBacklog[]> {
    const bySubject = new Map<string, { pending: number; oldest: number }>();
    for (const row of this.#rows) {
      if (row.state !== 'pending') continue;
      const entry = bySubject.get(row.event.subject) ?? { pending: 0, oldest: Number.POSITIVE_INFINITY };
      entry.pending++;
      entry.oldest = Math.min(entry.oldest, Date.parse(row.event.time));
      bySubject.set(row.event.subject, entry);
    }
    return [...bySubject.entries()]
      .sort((a, b) => b[1].pending - a[1].pending)
      .slice(0, limit)
      .map(([subject, entry]) => ({ subject, pending: entry.pending, oldestPendingAgeMs: Math.max(0, Date.now() - entry.oldest) }));
  }

  async listFailing(limit: number): Promise<FailingRecord[]> {
    const now = this.#now();
    return this.#rows
      .filter((row) => row.state === 'pending' && row.attempts > 0)
      .sort((a, b) => b.attempts - a.attempts || a.seq - b.seq)
      .slice(0, limit)
      .map((row) => ({
        id: row.event.id,
        subject: row.event.subject,
        type: row.event.type,
        attempts: row.attempts,
        lastError: row.lastError ?? null,
        retryInMs: Math.max(0, row.availableAt - now),
      }));
  }

  async migrate(): Promise<MigrationResult> {
    const applied = this.#migrated ? [] : [1];
    this.#migrated = true;
    return { version: 1, applied };
  }

  async assertSchema(): Promise<void> {
    if (!this.#migrated) throw new SchemaVersionError(null, 1, 'the in-memory outbox is not migrated: call store.migrate()');
  }

  async waitForWork(options: WaitForWorkOptions): Promise<void> {
    if (options.signal?.aborted) return;
    if (this.#hasReady()) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        options.signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, options.timeoutMs);
      this.#waiters.add(done);
      options.signal?.addEventListener('abort', done, { once: true });
    });
  }

  async close(): Promise<void> {
    for (const wake of this.#waiters) wake();
  }

  #hasReady(): boolean {
    return !this.#readyHeads(this.#now()).next().done;
  }

  /** Rows a claim may take, in write order: pending subject heads that are due and not leased. */
  *#readyHeads(now: number): Generator<Row> {
    const blocked = new Set<string>();
    for (const row of this.#rows) {
      const subject = row.event.subject;
      if (row.state !== 'pending') {
        if (this.#deadBlocksSubject) blocked.add(subject);
        continue;
      }
      if (blocked.has(subject)) continue;
      blocked.add(subject);
      if (row.availableAt > now || row.lockedUntil > now) continue;
      yield row;
    }
  }

  #nextSequence(subject: string): number {
    const next = (this.#counters.get(subject) ?? 0) + 1;
    this.#counters.set(subject, next);
    return next;
  }

  #find(id: string): Row | undefined {
    return this.#rows.find((row) => row.event.id === id);
  }

  #holds(row: Row, token: string): boolean {
    return row.token === token && row.state === 'pending';
  }
}

function toRecord(row: Row): OutboxRecord {
  const { id, type, source, subject, time, payload, headers } = row.event;
  return {
    id,
    type,
    source,
    subject,
    time,
    payload,
    headers: JSON.parse(headers),
    attempts: row.attempts,
    ...(row.sequence === undefined ? {} : { sequence: row.sequence }),
  };
}

function toDeadRecord(row: Row): DeadRecord {
  return { ...toRecord(row), lastError: row.lastError ?? '', deadAt: new Date(row.deadAt ?? 0) };
}
