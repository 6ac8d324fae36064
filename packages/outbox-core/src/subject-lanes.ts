import type { OutboxEvent } from './event.js';
import type { Delivery } from './subscriber.js';

/** A delivery decoded into an event, with the handler that applies it. */
export interface Decoded {
  readonly delivery: Delivery;
  readonly event: OutboxEvent;
  readonly handler: (event: OutboxEvent, tx: unknown) => Promise<void>;
  readonly messageId: string;
}

interface Lane {
  /** The failed message the subject waits for. */
  blocker: string;
  /** Later messages of the subject, in stream order. */
  held: Decoded[];
}

/** Redelivery of a held message is pushed back at most this often. */
const keepAliveEveryMs = 5_000;

/**
 * The consumer's per-subject order keeping: when a message fails, its subject is blocked until that
 * message is applied or dead-lettered, and later messages of the subject wait here in order.
 * Other subjects are never held.
 */
export class SubjectLanes {
  readonly #lanes = new Map<string, Lane>();
  readonly #released: Decoded[] = [];
  #lastKeepAlive = Date.now();

  /**
   * Holds `item` if its subject waits for another message, returning whether it did. `force`: the
   * item was held back behind a failure earlier in the same fetch; if that failure is already
   * settled (dead-lettered), the item is queued to run right after the fetch instead.
   */
  hold(item: Decoded, force = false): boolean {
    const lane = this.#lanes.get(item.event.subject);
    if (!lane) {
      if (force) this.#released.push(item);
      return force;
    }
    if (lane.blocker === item.messageId) return false;
    // A held message redelivered (its ack wait ran out): keep its place, take the newer delivery.
    const index = lane.held.findIndex((held) => held.messageId === item.messageId);
    if (index >= 0) lane.held[index] = item;
    else lane.held.push(item);
    return true;
  }

  /** `item` failed and will be redelivered: its subject waits for it. */
  block(item: Decoded): void {
    const lane = this.#lanes.get(item.event.subject);
    if (lane) lane.blocker = item.messageId;
    else this.#lanes.set(item.event.subject, { blocker: item.messageId, held: [] });
  }

  /** `item` was applied, found a duplicate, or dead-lettered: release its subject's held messages. */
  settled(item: Decoded): void {
    const lane = this.#lanes.get(item.event.subject);
    if (!lane || lane.blocker !== item.messageId) return;
    this.#lanes.delete(item.event.subject);
    this.#released.push(...lane.held);
  }

  /** The next released message to run, in order; a failure re-blocks its subject, holding the rest. */
  nextReleased(): Decoded | undefined {
    const next = this.#released.shift();
    if (!next) return undefined;
    const lane = this.#lanes.get(next.event.subject);
    if (lane) {
      // Its subject was blocked again by an earlier released message: wait behind it.
      lane.held.push(next);
      return this.nextReleased();
    }
    return next;
  }

  /** Tells the bus that held messages are still being worked on, so they are not redelivered early. */
  async keepAlive(): Promise<void> {
    if (Date.now() - this.#lastKeepAlive < keepAliveEveryMs) return;
    this.#lastKeepAlive = Date.now();
    const touches: Promise<void>[] = [];
    for (const lane of this.#lanes.values()) {
      for (const item of lane.held) if (item.delivery.inProgress) touches.push(item.delivery.inProgress().catch(() => {}));
    }
    await Promise.all(touches);
  }
}
