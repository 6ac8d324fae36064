import type { InboxCleanupOptions, InboxItem, InboxOutcome, InboxStore, ProcessBatchOptions } from '../contracts/inbox-store.js';
import { BatchRolledBackError } from '../errors.js';
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
    const outcomes: InboxOutcome[] = [];
    await memoryTransaction(async (outer) => {
      const recordedNow = new Set<string>();
      for (const [index, item] of items.entries()) {
        const id = key(consumer, item.messageId);
        if (this.#recorded.has(id) || recordedNow.has(id)) {
          outcomes.push({ status: 'duplicate' });
          continue;
        }
        // A savepoint: the item's writes join the outer transaction only if its handler resolves.
        const writes: Array<() => void> = [];
        const savepoint: MemoryTransaction = {
          get open() {
            return outer.open;
          },
          onCommit: (apply) => writes.push(apply),
        };
        try {
          await fn(savepoint, item);
          recordedNow.add(id);
          for (const write of writes) outer.onCommit(write);
          outer.onCommit(() => this.#recorded.set(id, Date.now()));
          outcomes.push({ status: 'applied', value: undefined });
        } catch (error) {
          // Thrown out of the transaction: none of its writes are applied.
          if (!savepoints) throw new BatchRolledBackError(index, error);
          outcomes.push({ status: 'failed', error });
        }
      }
    });
    return outcomes;
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
