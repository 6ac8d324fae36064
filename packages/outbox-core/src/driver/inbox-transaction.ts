import type { InboxItem, InboxOutcome } from '../contracts/inbox-store.js';
import { BatchRolledBackError } from '../errors.js';

/**
 * The statements an inbox runs inside one open transaction, written by each dialect: the rest of
 * `process` and `processBatch` (which item is a duplicate, where the savepoints go, what a
 * throwing handler undoes) is {@link processInTransaction} and {@link processBatchInTransaction},
 * the same on every dialect.
 */
export interface InboxSteps {
  /** Records `messageId`; false when it was recorded already (a duplicate), by this transaction or a committed one. */
  record(messageId: string): Promise<boolean>;
  /**
   * Records every id in one statement and returns those recorded now (an id twice counts once); or
   * `undefined` when the dialect recorded nothing because one was there already, and then each item
   * is recorded on its own, under its savepoint.
   */
  recordAll(messageIds: readonly string[]): Promise<Set<string> | undefined>;
  /** Sets the item savepoint; `replacing` when an earlier item's savepoint is still set (it may be released first). */
  savepoint(replacing: boolean): Promise<void>;
  /** Undoes everything since the last savepoint, even after a statement that aborted the transaction. */
  rollbackToSavepoint(): Promise<void>;
  /** Deletes the inbox row of `messageId` recorded earlier in this transaction. */
  forget(messageId: string): Promise<void>;
}

/**
 * A handler's error on its way out of the transaction: the transaction is rolled back and the
 * error reported as the handler's (see {@link handlerFailureError}), never translated as one of the
 * store's own statements. An `Error`, so transaction helpers that expect one pass it on unchanged.
 */
export class HandlerFailure extends Error {
  override readonly name = 'HandlerFailure';

  constructor(
    /** What the handler threw. */
    readonly error: unknown,
    /** Without savepoints: the item whose handler threw, which rolls the whole batch back. */
    readonly batchIndex?: number,
    /** With savepoints: rolling back to the item's savepoint failed, so nothing of the batch survives. */
    readonly savepointLost = false,
  ) {
    super('the handler failed', { cause: error });
  }
}

/** The {@link HandlerFailure} in `error`'s cause chain (an ORM may wrap what the callback threw), if any. */
export function findHandlerFailure(error: unknown): HandlerFailure | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; current = current.cause, depth++) {
    if (current instanceof HandlerFailure) return current;
  }
  return undefined;
}

/**
 * What `process` / `processBatch` throw for a handler failure, after the rollback: the handler's own
 * error, or the infrastructure `StoreError` when the database failed under it (`classify` is the
 * dialect's `classifyHandlerError`); `BatchRolledBackError` around it for an item of a batch
 * without savepoints. `rollbackFailed`: the rollback itself failed, so the connection is gone.
 */
export function handlerFailureError(
  failure: HandlerFailure,
  rollbackFailed: boolean,
  classify: (error: unknown, connectionBroken: boolean) => unknown,
): unknown {
  if (failure.batchIndex !== undefined) return new BatchRolledBackError(failure.batchIndex, classify(failure.error, rollbackFailed));
  if (failure.savepointLost) {
    // The savepoint is gone: the server rolled the whole transaction back (a deadlock) or the
    // connection died. Whatever the handler's error says, the database failed under it.
    const classified = classify(failure.error, rollbackFailed);
    return classified !== failure.error ? classified : classify(failure.error, true);
  }
  return classify(failure.error, rollbackFailed);
}

/**
 * The body of `InboxStore.process` inside an open transaction: record, then run `fn`. Resolves to
 * the outcome (commit either way: a duplicate wrote nothing); rejects with a {@link HandlerFailure}
 * when `fn` throws (roll back), or with a statement's own error.
 */
export async function processInTransaction<Tx, T>(
  tx: Tx,
  steps: InboxSteps,
  messageId: string,
  fn: (tx: Tx) => Promise<T>,
): Promise<InboxOutcome<T>> {
  if (!(await steps.record(messageId))) return { status: 'duplicate' };
  let value: T;
  try {
    value = await fn(tx);
  } catch (error) {
    throw new HandlerFailure(error);
  }
  return { status: 'applied', value };
}

/**
 * The body of `InboxStore.processBatch` inside an open transaction. The batch is recorded up front
 * in one statement when the dialect can (in key order, so two batches sharing ids lock them in the
 * same order); each fresh item then runs under its savepoint, and a throwing item is rolled back to
 * it and its inbox row deleted again, so a redelivery runs it again, while earlier items stay.
 * Without savepoints, the first throwing item rejects with a {@link HandlerFailure} carrying its
 * index (roll the whole batch back). `classify` is the dialect's `classifyHandlerError`.
 */
export async function processBatchInTransaction<Tx, Item extends InboxItem>(
  tx: Tx,
  steps: InboxSteps,
  items: readonly Item[],
  fn: (tx: Tx, item: Item) => Promise<void>,
  savepoints: boolean,
  classify: (error: unknown, connectionBroken: boolean) => unknown,
): Promise<InboxOutcome[]> {
  const fresh = await steps.recordAll(items.map((item) => item.messageId));
  const outcomes: InboxOutcome[] = [];
  let savepointSet = false;
  for (const [index, item] of items.entries()) {
    // Not recorded by us: delivered before (or earlier in this batch).
    if (fresh !== undefined && !fresh.delete(item.messageId)) {
      outcomes.push({ status: 'duplicate' });
      continue;
    }
    if (savepoints) {
      await steps.savepoint(savepointSet);
      savepointSet = true;
    }
    // A failed insert is undone by itself (MySQL rolls back the statement, not the transaction).
    if (fresh === undefined && !(await steps.record(item.messageId))) {
      outcomes.push({ status: 'duplicate' });
      continue;
    }
    try {
      await fn(tx, item);
    } catch (error) {
      if (!savepoints) throw new HandlerFailure(error, index);
      try {
        // Undoes this item's writes (even SQL that aborted the transaction), then its inbox row.
        await steps.rollbackToSavepoint();
        if (fresh !== undefined) await steps.forget(item.messageId);
      } catch {
        throw new HandlerFailure(error, undefined, true);
      }
      outcomes.push({ status: 'failed', error: classify(error, false) });
      continue;
    }
    outcomes.push({ status: 'applied', value: undefined });
  }
  return outcomes;
}
