import type { InboxCleanupOptions, InboxItem, InboxOutcome, InboxStore, ProcessBatchOptions } from '../contracts/inbox-store.js';
import { findHandlerFailure, handlerFailureError, type InboxSteps, processBatchInTransaction } from '../driver/inbox-transaction.js';
import { type MemoryTransaction, memoryTransaction } from './memory-outbox-store.js';

/**
 * An `InboxStore` in memory: `(consumer, message id)` recorded together with the handler's
 * `onCommit` writes, or not at all. For unit tests of consumers.
 */
export class MemoryInboxStore implements InboxStore<MemoryTransaction> {
  readonly #recorded = new Map<string, number>();
  /** Like a row lock on an uncommitted inbox row: a second process of the same id waits for the first. */
  readonly #inProgress = new Map<string, Promise<unknown>>();

  /** How many `(consumer, message id)` pairs are recorded. */
  get size(): number {
    return this.#recorded.size;
  }

  /** Whether `(consumer, messageId)` is recorded, synchronously (for assertions). */
  has(consumer: string, messageId: string): boolean {
    return this.#recorded.has(key(consumer, messageId));
  }

  async isRecorded(consumer: string, messageId: string): Promise<boolean> {
    return this.has(consumer, messageId);
  }

  async process<T>(consumer: string, messageId: string, fn: (tx: MemoryTransaction) => Promise<T>): Promise<InboxOutcome<T>> {
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
    options: ProcessBatchOptions = {},
  ): Promise<InboxOutcome[]> {
    const savepoints = options.savepoints ?? true;
    // Core's batch state machine, as the SQL stores run it, over writes kept in a list: a savepoint
    // is a position in it, rolling back to it drops what came after.
    return memoryTransaction(async (outer) => {
      const writes: Array<() => void> = [];
      const recordedNow = new Set<string>();
      let mark = 0;
      const tx: MemoryTransaction = {
        get open() {
          return outer.open;
        },
        onCommit: (apply) => writes.push(apply),
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
      };
      let outcomes: InboxOutcome[];
      try {
        outcomes = await processBatchInTransaction(tx, steps, items, fn, savepoints, (error) => error);
      } catch (error) {
        // Thrown out of the transaction: none of its writes are applied.
        const failure = findHandlerFailure(error);
        throw failure === undefined ? error : handlerFailureError(failure, false, (cause) => cause);
      }
      for (const write of writes) outer.onCommit(write);
      for (const id of recordedNow) outer.onCommit(() => this.#recorded.set(id, Date.now()));
      return outcomes;
    });
  }

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
    return removed;
  }

  /** Moves every recorded time back by `ms` (for cleanup tests). */
  age(ms: number): void {
    for (const [id, recordedAt] of this.#recorded) this.#recorded.set(id, recordedAt - ms);
  }

  async migrate(): Promise<{ version: number; applied: number[] }> {
    return { version: 1, applied: [] };
  }

  async close(): Promise<void> {}
}

function key(consumer: string, messageId: string): string {
  return `${consumer}\u0000${messageId}`;
}
