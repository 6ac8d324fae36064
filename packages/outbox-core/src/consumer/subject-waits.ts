import type { Delivery } from '../contracts/subscriber.js';
import type { Clock } from '../util/clock.js';
import type { Decoded } from './subject-lanes.js';

/** An ordered item: one with an `OrderKey`. */
type Ordered = Decoded & { readonly order: NonNullable<Decoded['order']> };

interface Wait {
  /** The subject's waiting messages, by sequence. */
  readonly items: Ordered[];
  /** `position + 1` as the inbox last answered; `undefined` while the subject is being retried. */
  waitingFor: number | undefined;
  /** When the current wait began (epoch ms). */
  since: number;
  /** Next time the lowest waiting message is tried again; `-Infinity`: at once. */
  nextCheckAt: number;
  /** The delay before the check after next: doubles from `firstRecheckMs` up to `recheckMs`. */
  recheckDelayMs: number;
}

/** One waiting subject, as `Consumer.status()` reports it. */
export interface SubjectWaitStatus {
  readonly subject: string;
  /** The sequence the subject waits for (its position + 1). */
  readonly waitingFor: number;
  /** When the wait began (epoch ms). */
  readonly since: number;
  /** Messages of the subject kept in hand meanwhile. */
  readonly held: number;
}

/** Bounds of {@link SubjectWaits}. */
export interface SubjectWaitsOptions {
  /**
   * How often, at most, a waiting subject's lowest message is tried again without news of its
   * predecessor: the checks start `firstRecheckMs` after the wait begins and double up to this.
   */
  readonly recheckMs: number;
  /**
   * The first check's delay. Another instance on the same durable usually applies the predecessor
   * within milliseconds (it holds it in the same fetch), so the first checks come soon.
   * @defaultValue 25
   */
  readonly firstRecheckMs?: number;
  readonly clock: Pick<Clock, 'now'>;
}

/**
 * The messages the inbox answered `waiting` for (their subject's predecessor is neither applied nor
 * recorded as a gap), kept in hand by subject and sequence until it is. A subject is retried at once
 * when a message of it is applied or a gap of it recorded here (`wake`), and otherwise after
 * `firstRecheckMs`, doubling up to every `recheckMs` (`due`): another instance may have applied
 * the predecessor.
 *
 * Waiting is not a failure: a waiting message costs no delivery and is never dead-lettered for it.
 * The sibling {@link SubjectLanes} holds messages behind a failed one; a subject may be in both.
 */
export class SubjectWaits {
  readonly #waits = new Map<string, Wait>();
  readonly #options: SubjectWaitsOptions;
  #count = 0;

  constructor(options: SubjectWaitsOptions) {
    this.#options = options;
  }

  /** Messages waiting, over all subjects. */
  get count(): number {
    return this.#count;
  }

  /** Subjects with waiting messages. */
  get subjects(): number {
    let subjects = 0;
    for (const wait of this.#waits.values()) if (wait.items.length > 0) subjects++;
    return subjects;
  }

  /**
   * Takes a fetched `item` straight into its subject's wait, without asking the inbox, when the
   * subject waits for an earlier sequence; returns whether it did. A redelivery of a waiting message
   * replaces the older delivery in place.
   */
  hold(item: Decoded): boolean {
    if (!isOrdered(item)) return false;
    const wait = this.#waits.get(item.order.subject);
    if (!wait) return false;
    const index = wait.items.findIndex((waiting) => waiting.messageId === item.messageId);
    if (index >= 0) {
      wait.items[index] = item;
      return true;
    }
    if (wait.waitingFor === undefined || item.order.sequence <= wait.waitingFor) return false;
    this.#insert(wait, item);
    return true;
  }

  /**
   * The inbox answered `waiting` for `item` at `position`: keep it. `started`: a new wait began (the
   * subject was not waiting, or now waits for a later sequence), to be reported once; `waitedMs`:
   * the wait it replaces is over (its awaited sequence passed), after so long.
   */
  add(item: Decoded, position: number): { started: boolean; waitedMs: number | undefined } {
    if (!isOrdered(item)) throw new Error('only an item with an order key can wait');
    const now = this.#options.clock.now();
    const waitingFor = position + 1;
    let wait = this.#waits.get(item.order.subject);
    if (!wait) {
      wait = { items: [], waitingFor: undefined, since: now, nextCheckAt: now, recheckDelayMs: 0 };
      this.#waits.set(item.order.subject, wait);
    }
    const index = wait.items.findIndex((waiting) => waiting.messageId === item.messageId);
    if (index >= 0) wait.items[index] = item;
    else this.#insert(wait, item);
    if (wait.waitingFor !== undefined && wait.waitingFor >= waitingFor) return { started: false, waitedMs: undefined };
    const waitedMs = wait.waitingFor === undefined ? undefined : now - wait.since;
    wait.waitingFor = waitingFor;
    wait.since = now;
    this.#backOffFrom(wait, now, this.#firstRecheckMs());
    return { started: true, waitedMs };
  }

  /** A message of `subject` was applied, or a gap of it recorded: retry its waiting messages at once. */
  wake(subject: string): void {
    const wait = this.#waits.get(subject);
    if (!wait) return;
    wait.nextCheckAt = Number.NEGATIVE_INFINITY;
    wait.recheckDelayMs = this.#firstRecheckMs();
  }

  /**
   * The subjects to retry now: woken ones, and those whose next check is due; each is not due again
   * for its current delay, which then doubles (at most `recheckMs`).
   */
  due(now: number): string[] {
    const due: string[] = [];
    for (const [subject, wait] of this.#waits) {
      if (wait.nextCheckAt > now) continue;
      this.#backOffFrom(wait, now, wait.recheckDelayMs);
      due.push(subject);
    }
    return due;
  }

  #firstRecheckMs(): number {
    return Math.min(this.#options.firstRecheckMs ?? 25, this.#options.recheckMs);
  }

  /** The next check of `wait` comes `delayMs` after `now`; the one after it twice as late. */
  #backOffFrom(wait: Wait, now: number, delayMs: number): void {
    const delay = Math.max(this.#firstRecheckMs(), Math.min(delayMs, this.#options.recheckMs));
    wait.nextCheckAt = now + delay;
    wait.recheckDelayMs = Math.min(delay * 2, this.#options.recheckMs);
  }

  /** Takes out the lowest waiting message of `subject`, to run it; the subject's wait stays until `ended`. */
  next(subject: string): Decoded | undefined {
    const item = this.#waits.get(subject)?.items.shift();
    if (item) this.#count--;
    return item;
  }

  /**
   * A message taken out with `next` ran (applied, or found applied): the subject's wait is over.
   * Returns how long it lasted, or `undefined` if the subject was not waiting.
   */
  ended(subject: string): number | undefined {
    const wait = this.#waits.get(subject);
    if (!wait || wait.waitingFor === undefined) return undefined;
    wait.waitingFor = undefined;
    return this.#options.clock.now() - wait.since;
  }

  /** Forgets `subject` if nothing of it waits any more. */
  prune(subject: string): void {
    const wait = this.#waits.get(subject);
    if (wait && wait.items.length === 0) this.#waits.delete(subject);
  }

  /** The deliveries of every waiting message, to keep them from redelivery. */
  *deliveries(): Iterable<Delivery> {
    for (const wait of this.#waits.values()) for (const item of wait.items) yield item.delivery;
  }

  /**
   * Takes out waiting messages beyond `max` (the highest sequences of the longest waits first) that
   * may be given back to the bus: `canGiveBack` refuses those that would not come back (their
   * deliveries nearly spent), which stay in hand over the bound.
   */
  overflow(max: number, canGiveBack: (item: Decoded) => boolean): Decoded[] {
    const out: Decoded[] = [];
    let excess = this.#count - max;
    if (excess <= 0) return out;
    const candidates = [...this.#waits.values()].sort((a, b) => b.items.length - a.items.length);
    for (const wait of candidates) {
      for (let index = wait.items.length - 1; index >= 0 && excess > 0; index--) {
        const item = wait.items[index] as Ordered;
        if (!canGiveBack(item)) continue;
        wait.items.splice(index, 1);
        this.#count--;
        excess--;
        out.push(item);
      }
      if (excess <= 0) break;
    }
    for (const [subject, wait] of this.#waits) if (wait.items.length === 0) this.#waits.delete(subject);
    return out;
  }

  /** The waiting subjects, longest waiting first, at most `limit`. */
  snapshot(limit: number): SubjectWaitStatus[] {
    const entries: SubjectWaitStatus[] = [];
    for (const [subject, wait] of this.#waits) {
      if (wait.items.length === 0 || wait.waitingFor === undefined) continue;
      entries.push({ subject, waitingFor: wait.waitingFor, since: wait.since, held: wait.items.length });
    }
    return entries.sort((a, b) => a.since - b.since).slice(0, limit);
  }

  #insert(wait: Wait, item: Ordered): void {
    let index = wait.items.length;
    while (index > 0 && (wait.items[index - 1] as Ordered).order.sequence > item.order.sequence) index--;
    wait.items.splice(index, 0, item);
    this.#count++;
  }
}

function isOrdered(item: Decoded): item is Ordered {
  return item.order !== undefined;
}
