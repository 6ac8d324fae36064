import type { InboxItem, InboxOutcome, OrderKey } from '../contracts/inbox-store.js';
import type { SubjectGap } from '../contracts/subscriber.js';
import { BatchRolledBackError, OutboxUsageError } from '../errors.js';
import { type OrderSteps, passGaps, SubjectState, sortedSubjects, validateOrderKey } from './inbox-order.js';

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
  /** Present when the store keeps subject positions: the items' `OrderKey`s are checked and moved with them. */
  readonly order?: OrderSteps | undefined;
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
 *
 * With `order`, the subject's position row is locked first and decides (see the `InboxStore`
 * contract): `duplicate` at or below it, `waiting` beyond the next one, and the next one is recorded
 * and moves the position before `fn` runs (a throwing `fn` rolls both back). An inbox row already
 * there for the next sequence means the event was applied without its position (by a consumer that
 * did not keep order then): `duplicate`, and the position moves to it.
 */
export async function processInTransaction<Tx, T>(
  tx: Tx,
  steps: InboxSteps,
  messageId: string,
  fn: (tx: Tx) => Promise<T>,
  order?: OrderKey,
): Promise<InboxOutcome<T>> {
  if (order !== undefined) {
    const key = validateOrderKey(order);
    const ordering = orderSteps(steps);
    const state = new SubjectState(required((await ordering.lockPositions([key.subject])).get(key.subject), key.subject));
    const decision = state.decide(key);
    if (decision !== 'run') {
      if (state.moved) await ordering.movePositions(new Map([[key.subject, state.position]]));
      return decision === 'duplicate' ? { status: 'duplicate' } : { status: 'waiting', position: state.position };
    }
    state.advance(key.sequence);
    let recorded: boolean;
    if (ordering.recordAndMove) recorded = await ordering.recordAndMove(messageId, key.subject, state.position);
    else {
      recorded = await steps.record(messageId);
      await ordering.movePositions(new Map([[key.subject, state.position]]));
    }
    if (!recorded) return { status: 'duplicate' };
  } else if (!(await steps.record(messageId))) return { status: 'duplicate' };
  let value: T;
  try {
    value = await fn(tx);
  } catch (error) {
    throw new HandlerFailure(error);
  }
  return { status: 'applied', value };
}

function orderSteps(steps: InboxSteps): OrderSteps {
  if (steps.order === undefined) {
    throw new OutboxUsageError('this inbox store does not keep subject positions (ordering is not set): process without an order key');
  }
  return steps.order;
}

function required<V>(value: V | undefined, subject: string): V {
  if (value === undefined) throw new Error(`the store's lockPositions returned no position for subject ${JSON.stringify(subject)}`);
  return value;
}

/**
 * The body of `InboxStore.processBatch` inside an open transaction. The batch is recorded up front
 * in one statement when the dialect can (in key order, so two batches sharing ids lock them in the
 * same order); each fresh item then runs under its savepoint, and a throwing item is rolled back to
 * it and its inbox row deleted again, so a redelivery runs it again, while earlier items stay.
 * Without savepoints, the first throwing item rejects with a {@link HandlerFailure} carrying its
 * index (roll the whole batch back). `classify` is the dialect's `classifyHandlerError`.
 *
 * Items with an `order` key: the position rows of their subjects are locked first, in one statement
 * and in sorted subject order (two batches sharing subjects cannot deadlock on them); each item is
 * then decided in item order against its subject's position as the items before it left it, so a
 * failed item does not move its subject and the later items of that subject wait. Only the items
 * that will run are recorded up front; the moved positions are written in one statement at the end.
 *
 * `finish` runs after the last item, before the positions are written (see
 * `ProcessBatchOptions.finish`); it throwing rejects with a {@link HandlerFailure} carrying the
 * index of the last item run, with or without savepoints (roll the whole batch back).
 */
export async function processBatchInTransaction<Tx, Item extends InboxItem>(
  tx: Tx,
  steps: InboxSteps,
  items: readonly Item[],
  fn: (tx: Tx, item: Item) => Promise<void>,
  savepoints: boolean,
  classify: (error: unknown, connectionBroken: boolean) => unknown,
  finish?: (tx: Tx) => Promise<void>,
): Promise<InboxOutcome[]> {
  const keys = items.map((item, index) => (item.order === undefined ? undefined : validateOrderKey(item.order, `items[${index}].order`)));
  const subjects = sortedSubjects(keys);
  const states = new Map<string, SubjectState>();
  // Which items will run if every one before them succeeds: only those are recorded up front.
  const planned = new Set<number>();
  let ordering: OrderSteps | undefined;
  if (subjects.length > 0) {
    ordering = orderSteps(steps);
    const locked = await ordering.lockPositions(subjects);
    const simulated = new Map<string, SubjectState>();
    for (const subject of subjects) {
      const stored = required(locked.get(subject), subject);
      states.set(subject, new SubjectState(stored));
      simulated.set(subject, new SubjectState(stored));
    }
    for (const [index, key] of keys.entries()) {
      const state = key === undefined ? undefined : (simulated.get(key.subject) as SubjectState);
      if (key === undefined || state === undefined) planned.add(index);
      else if (state.decide(key) === 'run') {
        planned.add(index);
        state.advance(key.sequence);
      }
    }
  } else for (const index of items.keys()) planned.add(index);
  const toRecord = items.filter((_, index) => planned.has(index)).map((item) => item.messageId);
  const fresh = toRecord.length === 0 ? new Set<string>() : await steps.recordAll(toRecord);
  const outcomes: InboxOutcome[] = [];
  let savepointSet = false;
  let lastRun = items.length - 1;
  for (const [index, item] of items.entries()) {
    const key = keys[index];
    const state = key === undefined ? undefined : (states.get(key.subject) as SubjectState);
    if (key !== undefined && state !== undefined) {
      const decision = state.decide(key);
      // The id was recorded up front for this item only if it was planned to run: a copy of the id
      // elsewhere in the batch that does not run must leave the row to the copy that does.
      if (decision === 'duplicate') {
        // Planned, yet a duplicate now: not applied here, so its row goes again.
        if (planned.has(index) && fresh?.delete(item.messageId)) await steps.forget(item.messageId);
        outcomes.push({ status: 'duplicate' });
        continue;
      }
      if (decision === 'waiting' || !planned.has(index)) {
        // Planned, but an item before it failed: not applied, so its row goes again.
        if (planned.has(index) && fresh?.delete(item.messageId)) await steps.forget(item.messageId);
        outcomes.push({ status: 'waiting', position: state.position });
        continue;
      }
    }
    // Not recorded by us: delivered before (or earlier in this batch).
    if (fresh !== undefined && !fresh.delete(item.messageId)) {
      // Applied without its position (see processInTransaction): the position moves to it.
      if (key !== undefined && state !== undefined) state.advance(key.sequence);
      outcomes.push({ status: 'duplicate' });
      continue;
    }
    if (savepoints) {
      await steps.savepoint(savepointSet);
      savepointSet = true;
    }
    // A failed insert is undone by itself (MySQL rolls back the statement, not the transaction).
    if (fresh === undefined && !(await steps.record(item.messageId))) {
      if (key !== undefined && state !== undefined) state.advance(key.sequence);
      outcomes.push({ status: 'duplicate' });
      continue;
    }
    lastRun = index;
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
    if (key !== undefined && state !== undefined) state.advance(key.sequence);
    outcomes.push({ status: 'applied', value: undefined });
  }
  if (finish !== undefined) {
    try {
      await finish(tx);
    } catch (error) {
      throw new HandlerFailure(error, lastRun);
    }
  }
  if (ordering !== undefined) {
    const moves = new Map<string, number>();
    for (const [subject, state] of states) if (state.moved) moves.set(subject, state.position);
    if (moves.size > 0) await ordering.movePositions(moves);
  }
  return outcomes;
}

/**
 * The body of `InboxStore.recordGap` inside an open transaction of its own: lock the subject's
 * position row, insert the gap row (`insertGap`, a no-op when it is there already), and move the
 * position over the gaps right after it. Resolves to the subject's position afterwards.
 */
export async function recordGapInTransaction(
  steps: OrderSteps,
  insertGap: (gap: SubjectGap) => Promise<void>,
  gap: SubjectGap,
): Promise<number> {
  const locked = required((await steps.lockPositions([gap.subject])).get(gap.subject), gap.subject);
  await insertGap(gap);
  const gaps = [...new Set([...locked.gapsAhead, gap.sequence])].sort((a, b) => a - b);
  const position = passGaps(locked.position, gaps);
  if (position !== locked.position) await steps.movePositions(new Map([[gap.subject, position]]));
  return position;
}
