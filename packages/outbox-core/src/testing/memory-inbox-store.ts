import type {
  InboxCleanupOptions,
  InboxItem,
  InboxOutcome,
  InboxStore,
  ProcessBatchOptions,
  ProcessOptions,
  SubjectPosition,
} from '../contracts/inbox-store.js';
import type { SubjectGap } from '../contracts/subscriber.js';
import { type LockedPosition, type OrderSteps, validateGap, validateOrderKey, validatePositionsOptions } from '../driver/inbox-order.js';
import {
  findHandlerFailure,
  handlerFailureError,
  type InboxSteps,
  processBatchInTransaction,
  processInTransaction,
  recordGapInTransaction,
} from '../driver/inbox-transaction.js';
import { type MemoryTransaction, memoryTransaction } from './memory-outbox-store.js';

interface GapRow {
  readonly reason: string;
  readonly eventId: string | undefined;
  recordedAt: number;
}

/**
 * An `InboxStore` in memory: `(consumer, message id)` recorded together with the handler's
 * `onCommit` writes, or not at all, and the `(consumer, subject)` positions and gaps of subject
 * order, each position locked (a queue per subject) until the transaction that read it ends. For
 * unit tests of consumers.
 */
export class MemoryInboxStore implements InboxStore<MemoryTransaction> {
  readonly ordering = true;
  /**
   * `processBatch` runs `finish`: batch handlers get a fetch's events in one call. Set it to `false`
   * to test code against a store without it (the consumer then calls a batch handler once per event).
   */
  finishesBatches = true;
  readonly #recorded = new Map<string, number>();
  /** Like a row lock on an uncommitted inbox row: a second process of the same id waits for the first. */
  readonly #inProgress = new Map<string, Promise<unknown>>();
  readonly #positions = new Map<string, { subject: string; position: number; updatedAt: number }>();
  readonly #gaps = new Map<string, Map<number, GapRow>>();
  /** The tail of each position row's lock queue. */
  readonly #locks = new Map<string, Promise<void>>();
  #lockWaiters = 0;

  /** How many `(consumer, message id)` pairs are recorded. */
  get size(): number {
    return this.#recorded.size;
  }

  /** How many transactions are waiting for the lock of a position row (for tests of racing deliveries). */
  get lockWaiters(): number {
    return this.#lockWaiters;
  }

  /** Whether `(consumer, messageId)` is recorded, synchronously (for assertions). */
  has(consumer: string, messageId: string): boolean {
    return this.#recorded.has(key(consumer, messageId));
  }

  async isRecorded(consumer: string, messageId: string): Promise<boolean> {
    return this.has(consumer, messageId);
  }

  async process<T>(
    consumer: string,
    messageId: string,
    fn: (tx: MemoryTransaction) => Promise<T>,
    options: ProcessOptions = {},
  ): Promise<InboxOutcome<T>> {
    if (options.order !== undefined) {
      const order = validateOrderKey(options.order);
      return this.#transaction(consumer, (tx, steps) => processInTransaction(tx, steps, messageId, fn, order));
    }
    const id = key(consumer, messageId);
    for (let running = this.#inProgress.get(id); running; running = this.#inProgress.get(id)) {
      await running.catch(() => {});
    }
    if (this.#recorded.has(id)) return { status: 'duplicate' };
    const transaction = memoryTransaction(async (tx) => {
      tx.onCommit(() => this.#recorded.set(id, Date.now()));
      return fn(tx);
    });
    this.#inProgress.set(id, transaction);
    try {
      return { status: 'applied', value: await transaction };
    } finally {
      this.#inProgress.delete(id);
    }
  }

  async processBatch<Item extends InboxItem>(
    consumer: string,
    items: readonly Item[],
    fn: (tx: MemoryTransaction, item: Item) => Promise<void>,
    options: ProcessBatchOptions<MemoryTransaction> = {},
  ): Promise<InboxOutcome[]> {
    const savepoints = options.savepoints ?? true;
    for (const [index, item] of items.entries()) if (item.order !== undefined) validateOrderKey(item.order, `items[${index}].order`);
    return this.#transaction(consumer, (tx, steps) =>
      processBatchInTransaction(tx, steps, items, fn, savepoints, (error) => error, options.finish),
    );
  }

  async recordGap(consumer: string, gap: SubjectGap): Promise<number> {
    const valid = validateGap(gap);
    return this.#transaction(consumer, (tx, steps) =>
      recordGapInTransaction(
        steps.order as OrderSteps,
        async (row) => {
          tx.onCommit(() => {
            const gaps = this.#gaps.get(key(consumer, row.subject)) ?? new Map<number, GapRow>();
            this.#gaps.set(key(consumer, row.subject), gaps);
            if (!gaps.has(row.sequence)) gaps.set(row.sequence, { reason: row.reason, eventId: row.eventId, recordedAt: Date.now() });
          });
        },
        valid,
      ),
    );
  }

  async positions(
    consumer: string,
    options?: { readonly subjects?: readonly string[]; readonly limit?: number },
  ): Promise<SubjectPosition[]> {
    const { subjects, limit } = validatePositionsOptions(options);
    const rows = [...this.#positions.entries()]
      .filter(([id, row]) => id === key(consumer, row.subject) && (subjects === undefined || subjects.includes(row.subject)))
      .map(([, row]) => row)
      .sort((a, b) => b.updatedAt - a.updatedAt || (a.subject < b.subject ? 1 : a.subject > b.subject ? -1 : 0))
      .slice(0, limit);
    return rows.map((row) => ({
      subject: row.subject,
      position: row.position,
      gapsAhead: this.#gapsAhead(consumer, row.subject, row.position),
      updatedAt: new Date(row.updatedAt),
    }));
  }

  /**
   * One transaction of `consumer` over writes kept in a list, with core's state machine as the SQL
   * stores run it: a savepoint is a position in the list, rolling back to it drops what came after;
   * the position locks taken are released once the transaction is over.
   */
  async #transaction<R>(consumer: string, body: (tx: MemoryTransaction, steps: InboxSteps) => Promise<R>): Promise<R> {
    const releases: Array<() => void> = [];
    try {
      return await memoryTransaction(async (outer) => {
        const writes: Array<() => void> = [];
        const recordedNow = new Set<string>();
        let mark = 0;
        const tx: MemoryTransaction = {
          get open() {
            return outer.open;
          },
          onCommit: (apply) => writes.push(apply),
        };
        const order: OrderSteps = {
          lockPositions: async (subjects) => {
            const locked = new Map<string, LockedPosition>();
            for (const subject of subjects) {
              releases.push(await this.#lock(key(consumer, subject)));
              const position = this.#positions.get(key(consumer, subject))?.position ?? 0;
              // The row is created at 0 by the lock, and stays when the transaction commits.
              if (position === 0) {
                writes.push(() => {
                  if (!this.#positions.has(key(consumer, subject)))
                    this.#positions.set(key(consumer, subject), { subject, position: 0, updatedAt: Date.now() });
                });
              }
              locked.set(subject, { position, gapsAhead: this.#gapsAhead(consumer, subject, position) });
            }
            return locked;
          },
          movePositions: async (positions) => {
            writes.push(() => {
              for (const [subject, position] of positions)
                this.#positions.set(key(consumer, subject), { subject, position, updatedAt: Date.now() });
            });
          },
        };
        const steps: InboxSteps = {
          record: async (messageId) => {
            const id = key(consumer, messageId);
            if (this.#recorded.has(id) || recordedNow.has(id)) return false;
            recordedNow.add(id);
            return true;
          },
          recordAll: async (messageIds) => {
            const fresh = new Set<string>();
            for (const messageId of messageIds) if (await steps.record(messageId)) fresh.add(messageId);
            return fresh;
          },
          savepoint: async () => {
            mark = writes.length;
          },
          rollbackToSavepoint: async () => {
            writes.length = mark;
          },
          forget: async (messageId) => {
            recordedNow.delete(key(consumer, messageId));
          },
          order,
        };
        let result: R;
        try {
          result = await body(tx, steps);
        } catch (error) {
          // Thrown out of the transaction: none of its writes are applied.
          const failure = findHandlerFailure(error);
          throw failure === undefined ? error : handlerFailureError(failure, false, (cause) => cause);
        }
        for (const write of writes) outer.onCommit(write);
        for (const id of recordedNow) outer.onCommit(() => this.#recorded.set(id, Date.now()));
        return result;
      });
    } finally {
      for (const release of releases) release();
    }
  }

  /** Waits for the lock of one position row; resolves to its release. */
  async #lock(id: string): Promise<() => void> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    let release = (): void => {};
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.#locks.set(id, tail);
    this.#lockWaiters++;
    try {
      await previous;
    } finally {
      this.#lockWaiters--;
    }
    return () => {
      release();
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    };
  }

  #gapsAhead(consumer: string, subject: string, position: number): number[] {
    const gaps = this.#gaps.get(key(consumer, subject));
    if (gaps === undefined) return [];
    return [...gaps.keys()].filter((sequence) => sequence > position).sort((a, b) => a - b);
  }

  /** Removes inbox rows, and gap rows at or below their subject's position, recorded before the retention; positions stay. */
  async cleanup(options: InboxCleanupOptions): Promise<number> {
    const limit = (options.batchSize ?? 1000) * (options.maxBatches ?? 100);
    const cutoff = Date.now() - options.olderThanMs;
    let removed = 0;
    for (const [id, recordedAt] of this.#recorded) {
      if (removed >= limit) break;
      if (recordedAt < cutoff) {
        this.#recorded.delete(id);
        removed++;
      }
    }
    for (const [id, gaps] of this.#gaps) {
      const position = this.#positions.get(id)?.position ?? 0;
      for (const [sequence, gap] of gaps) {
        if (removed >= limit) return removed;
        if (sequence <= position && gap.recordedAt < cutoff) {
          gaps.delete(sequence);
          removed++;
        }
      }
    }
    return removed;
  }

  /** Moves every recorded time (inbox rows and gaps) back by `ms` (for cleanup tests). */
  age(ms: number): void {
    for (const [id, recordedAt] of this.#recorded) this.#recorded.set(id, recordedAt - ms);
    for (const gaps of this.#gaps.values()) for (const gap of gaps.values()) gap.recordedAt -= ms;
  }

  async migrate(): Promise<{ version: number; applied: number[] }> {
    return { version: 1, applied: [] };
  }

  async close(): Promise<void> {}
}

function key(consumer: string, messageId: string): string {
  return `${consumer}\u0000${messageId}`;
}
