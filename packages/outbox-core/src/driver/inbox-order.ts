import type { OrderKey } from '../contracts/inbox-store.js';
import type { SubjectGap } from '../contracts/subscriber.js';
import { OutboxUsageError } from '../errors.js';
import { MAX_SUBJECT_LENGTH } from '../event/event.js';

/** A subject's position row as the lock read it. */
export interface LockedPosition {
  /** The last sequence applied or skipped; 0: none yet (the row was created by this lock, or never moved). */
  readonly position: number;
  /** Gaps recorded beyond `position`, ascending (a store may read only the first ones). */
  readonly gapsAhead: readonly number[];
}

/**
 * The statements of subject order inside an inbox transaction, written by each dialect whose store
 * keeps positions (`InboxStore.ordering`). The decisions are core's (see `processInTransaction`).
 */
export interface OrderSteps {
  /**
   * Locks the `(consumer, subject)` position rows of `subjects` (distinct, sorted, so two batches
   * lock shared subjects in the same order), creating a row at 0 where there is none, and reads each
   * position with the gaps recorded beyond it. The locks are held until the transaction ends.
   */
  lockPositions(subjects: readonly string[]): Promise<ReadonlyMap<string, LockedPosition>>;
  /** Sets the positions of subjects locked by this transaction, in one statement where the dialect can. */
  movePositions(positions: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Optional: records `messageId` and sets `subject`'s position to `position` in one statement;
   * true when the inbox row was recorded now (the position moves either way). Without it, `record`
   * and `movePositions` run one after the other.
   */
  recordAndMove?(messageId: string, subject: string, position: number): Promise<boolean>;
}

/** Longest `reason` of a recorded gap; `eventId` has the inbox's message id limit. */
export const MAX_GAP_REASON_LENGTH = 255;
const MAX_EVENT_ID_LENGTH = 255;

/**
 * Checks an `OrderKey` before anything is written: a subject of 1 to 255 characters and a sequence
 * that is a positive safe integer.
 * @throws OutboxUsageError naming the bad value; nothing has been written.
 */
export function validateOrderKey(order: unknown, path = 'order'): OrderKey {
  if (order === null || typeof order !== 'object') {
    throw new OutboxUsageError(`${path} must be { subject, sequence, baseline? }; got ${order === null ? 'null' : typeof order}`);
  }
  const key = order as OrderKey;
  validateSubject(key.subject, `${path}.subject`);
  validateSequence(key.sequence, `${path}.sequence`);
  if (key.baseline !== undefined && typeof key.baseline !== 'boolean') {
    throw new OutboxUsageError(`${path}.baseline must be a boolean; got ${JSON.stringify(key.baseline)}`);
  }
  return key;
}

/**
 * Checks a gap handed to `recordGap`.
 * @throws OutboxUsageError naming the bad value; nothing has been written.
 */
export function validateGap(gap: unknown): SubjectGap {
  if (gap === null || typeof gap !== 'object') {
    throw new OutboxUsageError(`gap must be { subject, sequence, reason, eventId? }; got ${gap === null ? 'null' : typeof gap}`);
  }
  const value = gap as SubjectGap;
  validateSubject(value.subject, 'gap.subject');
  validateSequence(value.sequence, 'gap.sequence');
  if (typeof value.reason !== 'string' || value.reason.length === 0 || value.reason.length > MAX_GAP_REASON_LENGTH) {
    throw new OutboxUsageError(
      `gap.reason must be a string of 1 to ${MAX_GAP_REASON_LENGTH} characters; got ${JSON.stringify(value.reason)}`,
    );
  }
  if (
    value.eventId !== undefined &&
    (typeof value.eventId !== 'string' || value.eventId.length === 0 || value.eventId.length > MAX_EVENT_ID_LENGTH)
  ) {
    throw new OutboxUsageError(
      `gap.eventId must be a string of 1 to ${MAX_EVENT_ID_LENGTH} characters; got ${JSON.stringify(value.eventId)}`,
    );
  }
  return value;
}

/**
 * Checks the options of `InboxStore.positions`, returning the limit (default 100, at most 10,000).
 * @throws OutboxUsageError naming the bad value.
 */
export function validatePositionsOptions(options: { readonly subjects?: readonly string[]; readonly limit?: number } | undefined): {
  subjects: readonly string[] | undefined;
  limit: number;
} {
  const limit = options?.limit ?? 100;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new OutboxUsageError(`positions(): limit must be an integer from 1 to 10000; got ${JSON.stringify(limit)}`);
  }
  const subjects = options?.subjects;
  if (subjects !== undefined) {
    if (!Array.isArray(subjects)) throw new OutboxUsageError('positions(): subjects must be an array of subjects');
    for (const [index, subject] of subjects.entries()) validateSubject(subject, `positions(): subjects[${index}]`);
  }
  return { subjects, limit };
}

function validateSubject(subject: unknown, path: string): void {
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH) {
    throw new OutboxUsageError(`${path} must be a string of 1 to ${MAX_SUBJECT_LENGTH} characters; got ${JSON.stringify(subject)}`);
  }
}

function validateSequence(sequence: unknown, path: string): void {
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 1) {
    throw new OutboxUsageError(`${path} must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}; got ${JSON.stringify(sequence)}`);
  }
}

/** `position` moved over the gaps recorded right after it (`gaps` ascending). */
export function passGaps(position: number, gaps: readonly number[]): number {
  let next = position;
  for (const gap of gaps) {
    if (gap <= next) continue;
    if (gap !== next + 1) break;
    next = gap;
  }
  return next;
}

/** One subject's state during an inbox transaction: what the lock read, and where it stands now. */
export class SubjectState {
  /** The position the transaction will write if it differs from `stored`. */
  position: number;

  constructor(readonly stored: LockedPosition) {
    this.position = passGaps(stored.position, stored.gapsAhead);
  }

  /**
   * What `order` gets at the current position: `duplicate` (at or below it), `run` (the next one),
   * or `waiting`. A subject with no position yet (0, also after the gaps passed) takes a `baseline`
   * event as its start.
   */
  decide(order: OrderKey): 'duplicate' | 'run' | 'waiting' {
    if (order.baseline === true && this.position === 0) return 'run';
    if (order.sequence <= this.position) return 'duplicate';
    return order.sequence === this.position + 1 ? 'run' : 'waiting';
  }

  /** The event `sequence` is applied (or was, by the inbox row): the position moves to it and over the gaps after it. */
  advance(sequence: number): void {
    this.position = passGaps(sequence, this.stored.gapsAhead);
  }

  get moved(): boolean {
    return this.position !== this.stored.position;
  }
}

/** The distinct subjects of `keys`, sorted (the order in which their position rows are locked). */
export function sortedSubjects(keys: Iterable<OrderKey | undefined>): string[] {
  const subjects = new Set<string>();
  for (const key of keys) if (key !== undefined) subjects.add(key.subject);
  // Code-unit order, as the databases' binary collations sort.
  return [...subjects].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
