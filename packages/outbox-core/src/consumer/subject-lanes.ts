import type { OrderKey } from '../contracts/inbox-store.js';
import type { Delivery } from '../contracts/subscriber.js';
import type { OutboxEvent } from '../event/event.js';
import type { Clock } from '../util/clock.js';

/** A batch handler's run: applies `items`, in their order, inside the transaction `tx`. */
export type BatchRun = (items: readonly Decoded[], tx: unknown) => Promise<void>;

/** A delivery decoded into an event, with the handler that applies it. */
export interface Decoded {
  readonly delivery: Delivery;
  readonly event: OutboxEvent;
  readonly handler: (event: OutboxEvent, tx: unknown) => Promise<void>;
  /**
   * The batch handler of the event's type (`Consumer.onBatch`), one function per type: consecutive
   * items with the same one may be applied by one call. `handler` then calls it with this item alone.
   */
  readonly many?: BatchRun | undefined;
  readonly messageId: string;
  /** The event's place in its subject, when the consumer keeps subject order (see `ConsumerOptions.order`). */
  readonly order?: OrderKey | undefined;
}

interface Lane {
  /** The failed message the subject waits for. */
  blocker: Decoded;
  /**
   * When the blocker is due back from the bus (it was given back with a delay), or `Infinity`
   * while this instance keeps it in hand (its database is down, its dead letter not yet stored).
   */
  dueAt: number;
  /** Next time to ask the inbox whether another instance applied the blocker. */
  nextCheckAt: number;
  /** Later messages of the subject, in stream order. */
  held: Decoded[];
}

/** Bounds of {@link SubjectLanes}. */
export interface SubjectLanesOptions {
  /** How long past its due time a subject waits for a blocker given back to the bus before its held messages run anyway. */
  readonly maxWaitMs: number;
  /** Held messages at most, over all subjects; the newest beyond it are given back to the bus. */
  readonly maxHeld: number;
  /** How often held messages are kept from redelivery. */
  readonly keepAliveMs: number;
  /** The consumer's clock, for the keep-alive pace. */
  readonly clock: Pick<Clock, 'now'>;
}

/** A lane whose blocker is due: ask whether it was applied elsewhere; `overdue` lanes are released anyway. */
export interface DueLane {
  readonly subject: string;
  readonly blocker: Decoded;
  readonly overdue: boolean;
}

/** The inbox is asked about one overdue blocker at most this often. */
const checkEveryMs = 1_000;

/**
 * The consumer's per-subject order keeping: when a message fails, its subject is blocked until that
 * message is settled, and later messages of the subject wait here in order. Other subjects are
 * never held.
 *
 * With several instances on one durable, a blocker given back to the bus may be redelivered to
 * another instance and settled there, which this one cannot see. So no lane outlives its blocker
 * unbounded: once the blocker is due back, the consumer asks the inbox whether it was applied
 * (`due`), and releases the lane when it was or when it is `maxWaitMs` overdue. Held messages are
 * bounded in count (`overflow`) and kept alive with `inProgress` meanwhile.
 */
export class SubjectLanes {
  readonly #lanes = new Map<string, Lane>();
  readonly #released: Decoded[] = [];
  readonly #options: SubjectLanesOptions;
  #held = 0;
  #lastKeepAlive: number;

  constructor(options: SubjectLanesOptions) {
    this.#options = options;
    this.#lastKeepAlive = options.clock.now();
  }

  /** Messages waiting behind a blocker. */
  get heldCount(): number {
    return this.#held;
  }

  /**
   * Holds `item` if its subject waits for another message, returning whether it did. `force`: the
   * item was held back behind a failure earlier in the same fetch; if that failure is already
   * settled, the item is queued to run right after the fetch instead.
   */
  hold(item: Decoded, force = false): boolean {
    const lane = this.#lanes.get(item.event.subject);
    if (!lane) {
      if (force) this.#released.push(item);
      return force;
    }
    if (lane.blocker.messageId === item.messageId) return false;
    // A held message redelivered (its ack wait ran out): keep its place, take the newer delivery.
    const index = lane.held.findIndex((held) => held.messageId === item.messageId);
    if (index >= 0) lane.held[index] = item;
    else {
      insertInOrder(lane.held, item);
      this.#held++;
    }
    return true;
  }

  /** `item` failed: its subject waits for it until `dueAt` (see {@link Lane.dueAt}). */
  block(item: Decoded, dueAt: number): void {
    const lane = this.#lanes.get(item.event.subject);
    if (lane) {
      lane.blocker = item;
      lane.dueAt = dueAt;
      lane.nextCheckAt = dueAt;
    } else this.#lanes.set(item.event.subject, { blocker: item, dueAt, nextCheckAt: dueAt, held: [] });
  }

  /** `item` was applied, found a duplicate, or dead-lettered: release its subject's held messages. */
  settled(item: Decoded): void {
    const lane = this.#lanes.get(item.event.subject);
    if (!lane || lane.blocker.messageId !== item.messageId) return;
    this.release(item.event.subject);
  }

  /** Releases a subject whatever its blocker: its held messages run next, in order. */
  release(subject: string): void {
    const lane = this.#lanes.get(subject);
    if (!lane) return;
    this.#lanes.delete(subject);
    this.#held -= lane.held.length;
    this.#released.push(...lane.held);
  }

  /** The next released message to run, in order; a failure re-blocks its subject, holding the rest. */
  nextReleased(): Decoded | undefined {
    const next = this.#released.shift();
    if (!next) return undefined;
    const lane = this.#lanes.get(next.event.subject);
    if (lane) {
      // Its subject was blocked again by an earlier released message: wait behind it.
      insertInOrder(lane.held, next);
      this.#held++;
      return this.nextReleased();
    }
    return next;
  }

  /** Lanes whose blocker was given back to the bus and is due by `now`, each at most once a second. */
  due(now: number): DueLane[] {
    const due: DueLane[] = [];
    for (const [subject, lane] of this.#lanes) {
      if (lane.nextCheckAt > now) continue;
      lane.nextCheckAt = now + checkEveryMs;
      due.push({ subject, blocker: lane.blocker, overdue: now - lane.dueAt >= this.#options.maxWaitMs });
    }
    return due;
  }

  /**
   * Takes out the held messages beyond `maxHeld` (the newest of the longest lanes first), with the
   * delay to give each back to the bus: its lane's remaining wait, between 1 and 30 s. Messages that
   * `canGiveBack` refuses (their deliveries nearly spent: the bus would not send them again) stay.
   */
  overflow(now: number, canGiveBack: (item: Decoded) => boolean = () => true): { item: Decoded; delayMs: number }[] {
    const out: { item: Decoded; delayMs: number }[] = [];
    let excess = this.#held - this.#options.maxHeld;
    if (excess <= 0) return out;
    const lanes = [...this.#lanes.values()].sort((a, b) => b.held.length - a.held.length);
    for (const lane of lanes) {
      for (let index = lane.held.length - 1; index >= 0 && excess > 0; index--) {
        const item = lane.held[index] as Decoded;
        if (!canGiveBack(item)) continue;
        lane.held.splice(index, 1);
        this.#held--;
        excess--;
        const wait = Number.isFinite(lane.dueAt) ? lane.dueAt - now : 5_000;
        out.push({ item, delayMs: Math.min(30_000, Math.max(1_000, wait)) });
      }
      if (excess <= 0) break;
    }
    return out;
  }

  /**
   * Tells the bus that held messages (and `others` kept in hand) are still being worked on, so they
   * are not redelivered early; at most once per `keepAliveMs` unless `force`.
   */
  async keepAlive(others: Iterable<Delivery> = [], force = false): Promise<void> {
    const now = this.#options.clock.now();
    if (!force && now - this.#lastKeepAlive < this.#options.keepAliveMs) return;
    this.#lastKeepAlive = now;
    const touches: Promise<void>[] = [];
    const touch = (delivery: Delivery): void => {
      if (delivery.inProgress) touches.push(delivery.inProgress().catch(() => {}));
    };
    for (const lane of this.#lanes.values()) for (const item of lane.held) touch(item.delivery);
    for (const delivery of others) touch(delivery);
    await Promise.all(touches);
  }
}

/**
 * Appends `item`, or inserts it before the held messages of a higher sequence: a redelivered older
 * event that arrives after a newer one still runs first.
 */
function insertInOrder(held: Decoded[], item: Decoded): void {
  let index = held.length;
  const sequence = item.order?.sequence;
  if (sequence !== undefined) {
    while (index > 0) {
      const before = held[index - 1]?.order?.sequence;
      if (before === undefined || before <= sequence) break;
      index--;
    }
  }
  held.splice(index, 0, item);
}
