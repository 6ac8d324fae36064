import type { SubjectGap } from './subscriber.js';

/**
 * Where an event stands in its subject: with it, the inbox applies the subject's events strictly in
 * `sequence` order, checking and moving the `(consumer, subject)` position in the same transaction
 * as the inbox row and the handler's writes.
 */
export interface OrderKey {
  readonly subject: string;
  /** The event's `sequence` (1, 2, 3...). */
  readonly sequence: number;
  /**
   * When the consumer has no position for the subject yet: `false` (the default) runs only
   * sequence 1 and makes a later one wait; `true` takes this event as the subject's start (a
   * consumer created on a stream whose older events it will never see).
   */
  readonly baseline?: boolean;
}

/** An incoming message to record in the inbox before its handler runs. */
export interface InboxItem {
  readonly messageId: string;
  /** Present for an event with a sequence, when the consumer keeps subject order. */
  readonly order?: OrderKey | undefined;
}

/** Options of `InboxStore.process`. */
export interface ProcessOptions {
  /** Checks and moves the subject's position with the inbox row; see `OrderKey`. */
  readonly order?: OrderKey | undefined;
}

/**
 * What happened to one message handed to the inbox. `waiting`: the event has a sequence and its
 * predecessor is neither applied nor recorded as a gap; nothing ran and nothing changed;
 * `position` is the last sequence of the subject applied or skipped (0: none).
 */
export type InboxOutcome<T = void> =
  | { readonly status: 'applied'; readonly value: T }
  | { readonly status: 'duplicate' }
  | { readonly status: 'waiting'; readonly position: number }
  | { readonly status: 'failed'; readonly error: unknown };

/** A subject's position at one consumer (`InboxStore.positions`). */
export interface SubjectPosition {
  readonly subject: string;
  /** The last sequence applied or skipped; the subject's next event must be `position + 1`. */
  readonly position: number;
  /** Gaps recorded beyond the position, waiting for the events before them (sorted). */
  readonly gapsAhead: readonly number[];
  readonly updatedAt: Date;
}

/** Options of `InboxStore.processBatch`. */
export interface ProcessBatchOptions<Tx = unknown> {
  /**
   * A savepoint per item, so that a throwing item is rolled back alone. Without them the batch
   * costs one round trip less per item, and the first item that throws rolls back the whole batch:
   * `processBatch` then throws `BatchRolledBackError` and nothing is applied. @defaultValue true
   */
  readonly savepoints?: boolean;
  /**
   * Runs once after the last item, in the same transaction, before the positions are written and
   * the transaction commits (stores with `finishesBatches`): the consumer's batch handlers run here
   * for the items that `fn` only collected. Throwing rolls the whole batch back: `processBatch`
   * throws `BatchRolledBackError` with the index of the last item run, and nothing is applied.
   */
  readonly finish?: ((tx: Tx) => Promise<void>) | undefined;
}

/** Options of `InboxStore.cleanup`: which rows go, and how much one call may do. */
export interface InboxCleanupOptions {
  /** Rows recorded longer ago than this are removed. */
  readonly olderThanMs: number;
  /** Rows per statement. @defaultValue 1000 */
  readonly batchSize?: number;
  /** Statements per call, so a cleanup never runs unbounded. @defaultValue 100 */
  readonly maxBatches?: number;
}

/**
 * The consumer side's dedup table: `(consumer, message id)` recorded in the same local transaction
 * as the handler's writes, so each message takes effect exactly once.
 *
 * Contract, checked by `describeInboxStore`:
 * - `process` begins a transaction, inserts the inbox row, runs `fn` with the transaction, commits;
 *   a row already there means duplicate: nothing runs, `{ status: 'duplicate' }`;
 *   `fn` throwing rolls everything back (the inbox row too) and `process` rethrows;
 * - `processBatch` runs all items in one transaction with a savepoint each: a throwing item rolls
 *   back to its savepoint and is reported `failed` while the others commit; if the commit itself
 *   fails, it throws and nothing is applied; with `savepoints: false`, a throwing item rolls back
 *   the whole batch and it throws `BatchRolledBackError`; with `finishesBatches`, `finish` runs
 *   after the last item in the same transaction, and a throwing `finish` rolls back the whole batch
 *   (`BatchRolledBackError`);
 * - only a duplicate-key error counts as a duplicate; any other error propagates;
 * - a handler error caused by the database failing under it (the connection lost, a deadlock or
 *   serialization failure) is reported as a `StoreError` with `infrastructure: true` and the
 *   handler's error as `cause`; any other handler error is reported unchanged;
 * - with an `OrderKey` (stores with `ordering: true`): the `(consumer, subject)` position row is
 *   locked for the check, so two deliveries of one subject racing on two instances are serialised;
 *   gaps recorded right after the position are passed over first; then `sequence <= position` is
 *   `duplicate` (applied or skipped before, whatever the inbox row says), `sequence == position + 1`
 *   runs `fn` and moves the position to `sequence` in the same transaction, and a larger sequence is
 *   `waiting` with nothing changed. In `processBatch`, items of one subject are checked in their order.
 */
export interface InboxStore<Tx = unknown> {
  /**
   * Records `(consumer, messageId)` and runs `fn` in one transaction: `applied` with `fn`'s value,
   * or `duplicate` (nothing runs) when the row is already there. Rethrows what `fn` throws, after
   * rolling everything back.
   */
  process<T>(consumer: string, messageId: string, fn: (tx: Tx) => Promise<T>, options?: ProcessOptions): Promise<InboxOutcome<T>>;

  /** The store keeps per-subject positions: `OrderKey`, `recordGap` and `positions` are supported. */
  readonly ordering?: boolean;

  /**
   * `processBatch` runs `ProcessBatchOptions.finish`: the consumer then gives a batch handler
   * (`Consumer.onBatch`) the events of a fetch in one call; without it, one call per event.
   */
  readonly finishesBatches?: boolean;

  /**
   * Records that `gap.sequence` of `gap.subject` will never be applied by `consumer`, in a
   * transaction of its own, so the subject's next event may pass (the position moves over it once
   * it is reached). Idempotent. Returns the subject's position afterwards.
   */
  recordGap?(consumer: string, gap: SubjectGap): Promise<number>;

  /**
   * Operators' view of `consumer`'s positions: the given subjects, or the most recently moved
   * (`limit`, default 100).
   */
  positions?(consumer: string, options?: { readonly subjects?: readonly string[]; readonly limit?: number }): Promise<SubjectPosition[]>;

  /**
   * `process` for several messages in one transaction, one outcome per item in their order; see the
   * interface's contract for savepoints and `BatchRolledBackError`.
   */
  processBatch<Item extends InboxItem>(
    consumer: string,
    items: readonly Item[],
    fn: (tx: Tx, item: Item) => Promise<void>,
    options?: ProcessBatchOptions<Tx>,
  ): Promise<InboxOutcome[]>;

  /**
   * Whether `(consumer, messageId)` is recorded, i.e. the message was applied by any instance. The
   * consumer asks it to release a subject whose failed message another instance took over; without
   * it such a subject is released only after its time bound.
   */
  isRecorded?(consumer: string, messageId: string): Promise<boolean>;

  /** Removes expired rows in bounded batches; returns how many. */
  cleanup(options: InboxCleanupOptions): Promise<number>;

  /** Creates or upgrades the inbox table; safe to call from several instances at once. */
  migrate(): Promise<{ readonly version: number; readonly applied: readonly number[] }>;

  /**
   * Checks that the inbox table is at the schema version this store knows.
   * @throws SchemaVersionError when it is missing, older or newer, saying what to run.
   */
  assertSchema?(): Promise<void>;
  /** Releases what the store opened itself; the caller's pool stays open. */
  close(): Promise<void>;
}
