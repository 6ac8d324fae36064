import { waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Delivery, Subscriber } from '../contracts/subscriber.js';
import { InfrastructureError, StoreError } from '../errors.js';
import { defineEvent } from '../event/define-event.js';
import { ManualClock } from '../testing/manual-clock.js';
import { MemoryBus } from '../testing/memory-bus.js';
import { MemoryInboxStore } from '../testing/memory-inbox-store.js';
import type { MemoryTransaction } from '../testing/memory-outbox-store.js';
import { Consumer } from './consumer.js';
import type { ConsumerEvent } from './consumer-events.js';

const Changed = defineEvent('test.item.changed', { schema: z.object({ n: z.number() }), source: 'test' });

function records(subject: string, count: number, from = 1) {
  return Array.from({ length: count }, (_, index) => {
    const event = Changed.create({ n: from + index }, { subject });
    return { ...event, payload: JSON.stringify(event.data), attempts: 0 };
  });
}

/** Records the delivery count of every delivery the consumer fetched. */
function counting(subscriber: Subscriber): { subscriber: Subscriber; counts: number[] } {
  const counts: number[] = [];
  return {
    counts,
    subscriber: {
      name: subscriber.name,
      maxDeliver: subscriber.maxDeliver,
      ...(subscriber.ackWaitMs === undefined ? {} : { ackWaitMs: subscriber.ackWaitMs }),
      close: () => subscriber.close(),
      fetch: async (options) => {
        const deliveries: readonly Delivery[] = await subscriber.fetch(options);
        for (const delivery of deliveries) counts.push(delivery.deliveryCount);
        return deliveries;
      },
    },
  };
}

/** Waits for a state, checked every 5 ms, for at most 10 s. */
const until = (what: string, check: () => boolean): Promise<void> => waitUntil(what, check, 10_000, 5);

describe('Consumer under infrastructure faults', () => {
  for (const mode of ['batch', 'message'] as const) {
    it(`an outage pauses the consumer and spends no delivery: nothing is dead-lettered at maxDeliver 2 (${mode} mode)`, async () => {
      const clock = new ManualClock();
      const bus = new MemoryBus({ clock });
      await bus.publisher().publish([...records('a', 5), ...records('b', 5)]);
      const { subscriber, counts } = counting(bus.subscriber({ name: 'basket', maxDeliver: 2, ackWaitMs: 300 }));
      const events: ConsumerEvent[] = [];
      const applied: number[] = [];
      let down = true;
      let attemptsWhileDown = 0;
      const consumer = new Consumer<MemoryTransaction>({
        subscriber,
        inbox: new MemoryInboxStore(),
        mode,
        fetchExpiresMs: 10,
        outageBackoff: { initialMs: 5, maxMs: 20 },
        onEvent: (event) => events.push(event),
        clock,
      }).on(Changed, async (event, tx) => {
        if (down) {
          attemptsWhileDown++;
          throw new InfrastructureError('the pricing API is unreachable');
        }
        tx.onCommit(() => applied.push(event.data.n));
      });
      await consumer.start();
      await until('the consumer to pause', () => consumer.status().paused);
      expect(consumer.ready).toBe(false);
      // Many attempts, several ack waits (300 ms) long: none may cost a delivery.
      await clock.advance(1_500);
      expect(attemptsWhileDown).toBeGreaterThanOrEqual(30);
      expect(consumer.status().paused).toBe(true);
      down = false;
      await clock.advance(20);
      await until('every event applied', () => applied.length === 10);
      expect(consumer.ready).toBe(true);
      await consumer.stop();
      expect(bus.deadLetters).toEqual([]);
      expect(events.filter((event) => event.type === 'retry' || event.type === 'dead')).toEqual([]);
      expect(events.filter((event) => event.type === 'paused')).toHaveLength(1);
      expect(events.filter((event) => event.type === 'resumed')).toHaveLength(1);
      expect(counts.every((count) => count === 1)).toBe(true);
      expect(counts).toHaveLength(10);
    });
  }

  it('a handler that hangs past ack_wait (a database that does not answer) keeps its fetch alive: no redelivery', async () => {
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    await bus.publisher().publish([...records('a', 3), ...records('b', 3)]);
    const durable = bus.subscriber({ name: 'basket', maxDeliver: 2, ackWaitMs: 300 });
    const { subscriber, counts } = counting(durable);
    const applied: number[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let hanging = 0;
    const consumer = new Consumer<MemoryTransaction>({
      subscriber,
      inbox: new MemoryInboxStore(),
      mode: 'message',
      fetchExpiresMs: 10,
      clock,
    }).on(Changed, async (event, tx) => {
      if (event.data.n === 1) {
        hanging++;
        await released;
      }
      tx.onCommit(() => applied.push(event.data.n));
    });
    await consumer.start();
    await until('both subjects to hang', () => hanging === 2);
    // Four ack waits later, another puller on the durable (as another instance would) gets nothing.
    await clock.advance(1_200);
    expect(await durable.fetch({ max: 10, expiresMs: 10 })).toEqual([]);
    release();
    await until('every event applied', () => applied.length === 6);
    await consumer.stop();
    expect(counts).toHaveLength(6);
    expect(counts.every((count) => count === 1)).toBe(true);
  });

  it('retries a deadlock in place, without a redelivery', async () => {
    const bus = new MemoryBus();
    await bus.publisher().publish(records('a', 3));
    const events: ConsumerEvent[] = [];
    const applied: number[] = [];
    let deadlocks = 2;
    const consumer = new Consumer<MemoryTransaction>({
      subscriber: bus.subscriber({ name: 'basket', maxDeliver: 1 }),
      inbox: new MemoryInboxStore(),
      mode: 'message',
      fetchExpiresMs: 10,
      onEvent: (event) => events.push(event),
    }).on(Changed, async (event, tx) => {
      if (event.data.n === 1 && deadlocks-- > 0) throw new StoreError('DEADLOCK', 'deadlock detected', true);
      tx.onCommit(() => applied.push(event.data.n));
    });
    await consumer.runOnce();
    expect(applied).toEqual([1, 2, 3]);
    expect(events.filter((event) => event.type === 'conflict-retry')).toHaveLength(2);
    expect(bus.deadLetters).toEqual([]);
  });

  it('keeps a message whose dead letter cannot be stored, with its subject held, until it can', async () => {
    const bus = new MemoryBus();
    bus.deadLettersDown = true;
    await bus.publisher().publish(records('a', 3));
    const events: ConsumerEvent[] = [];
    const applied: number[] = [];
    const consumer = new Consumer<MemoryTransaction>({
      subscriber: bus.subscriber({ name: 'basket', maxDeliver: 1, ackWaitMs: 300 }),
      inbox: new MemoryInboxStore(),
      fetchExpiresMs: 10,
      deadLetterBackoff: { initialMs: 20, maxMs: 50 },
      onEvent: (event) => events.push(event),
    }).on(Changed, async (event, tx) => {
      if (event.data.n === 1) throw new Error('poison');
      tx.onCommit(() => applied.push(event.data.n));
    });
    await consumer.start();
    // Across ack waits (300 ms): 20 attempts 20 to 50 ms apart.
    await until('20 failed dead letters', () => events.filter((event) => event.type === 'dead-letter-failed').length >= 20);
    expect(consumer.ready).toBe(false);
    expect(consumer.status().pendingDeadLetters).toBe(1);
    // Order: the subject waits behind its failed message until that one is dead-lettered.
    expect(applied).toEqual([]);
    bus.deadLettersDown = false;
    await until('the rest applied', () => applied.length === 2);
    await consumer.stop();
    expect(applied).toEqual([2, 3]);
    expect(bus.deadLetters.map((dead) => dead.reason.error)).toEqual(['poison']);
    expect(events.filter((event) => event.type === 'dead')).toHaveLength(1);
  });
});

describe('Consumer lanes are bounded', () => {
  it('a subject whose failed message never comes back (another instance took it) is released after laneWaitMs', async () => {
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    const [v1, ...rest] = records('a', 3);
    await bus.publisher().publish([v1 as (typeof rest)[number], ...rest]);
    const durable = bus.subscriber({ name: 'basket', maxDeliver: 5, ackWaitMs: 60_000 });
    // Another instance takes v1's redelivery: this one never sees it again.
    let seen = false;
    const subscriber: Subscriber = {
      name: durable.name,
      maxDeliver: durable.maxDeliver,
      close: () => durable.close(),
      fetch: async (options) =>
        (await durable.fetch(options)).filter((delivery) => {
          if (delivery.messageId !== v1?.id) return true;
          const first = !seen;
          seen = true;
          return first;
        }),
    };
    const events: ConsumerEvent[] = [];
    const applied: number[] = [];
    const consumer = new Consumer<MemoryTransaction>({
      subscriber,
      inbox: new MemoryInboxStore(),
      mode: 'message',
      fetchExpiresMs: 10,
      backoff: { initialMs: 10, maxMs: 10 },
      laneWaitMs: 300,
      onEvent: (event) => events.push(event),
      clock,
    }).on(Changed, async (event, tx) => {
      if (event.data.n === 1) throw new Error('fails here');
      tx.onCommit(() => applied.push(event.data.n));
    });
    await consumer.runOnce();
    expect(consumer.status().held).toBe(2);
    const start = clock.now();
    while (applied.length < 2 && clock.now() - start < 5_000) {
      await clock.advance(50);
      await consumer.runOnce();
    }
    expect(applied).toEqual([2, 3]);
    expect(clock.now() - start).toBeGreaterThanOrEqual(300);
    expect(events.filter((event) => event.type === 'lane-released')).toMatchObject([{ reason: 'timeout', blockerId: v1?.id }]);
  });

  it('holds at most maxHeld messages; the newest beyond it go back to the bus and are applied later, in order', async () => {
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    await bus.publisher().publish(records('a', 6));
    const applied: number[] = [];
    let failed = false;
    const consumer = new Consumer<MemoryTransaction>({
      subscriber: bus.subscriber({ name: 'basket', maxDeliver: 5 }),
      inbox: new MemoryInboxStore(),
      mode: 'message',
      fetchExpiresMs: 10,
      backoff: { initialMs: 2_000, maxMs: 2_000, jitter: 0 },
      maxHeld: 2,
      clock,
    }).on(Changed, async (event, tx) => {
      if (event.data.n === 1 && !failed) {
        failed = true;
        throw new Error('transient');
      }
      tx.onCommit(() => applied.push(event.data.n));
    });
    await consumer.runOnce();
    // v1 failed; of v2..v6 only v2 and v3 are held, v4..v6 were given back.
    expect(consumer.status().held).toBe(2);
    for (const deadline = clock.now() + 15_000; applied.length < 6 && clock.now() < deadline; ) {
      await clock.advance(250);
      await consumer.runOnce();
      expect(consumer.status().held).toBeLessThanOrEqual(2);
    }
    expect(applied).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
