import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { OutboxRecord } from '../contracts/outbox-store.js';
import { defineEvent } from '../event/define-event.js';
import type { OutboxEvent } from '../event/event.js';
import { ManualClock } from '../testing/manual-clock.js';
import { MemoryBus } from '../testing/memory-bus.js';
import { MemoryInboxStore } from '../testing/memory-inbox-store.js';
import type { MemoryTransaction } from '../testing/memory-outbox-store.js';
import { Consumer } from './consumer.js';
import type { ConsumerEvent } from './consumer-events.js';

// `onBatch`: a batch handler gets the events of a fetch in one call. What a user relies on: every
// event applied once, each subject in order, a failing event failing alone.

const PriceChanged = defineEvent('catalog.product.price-changed', {
  schema: z.object({ productId: z.string(), newPrice: z.number().positive() }),
  source: 'catalog',
});
const Renamed = defineEvent('catalog.product.renamed', {
  schema: z.object({ productId: z.string(), name: z.string() }),
  source: 'catalog',
});

function price(subject: string, sequence: number): OutboxRecord {
  const event = PriceChanged.create({ productId: subject, newPrice: sequence }, { subject });
  return { ...event, payload: JSON.stringify(event.data), attempts: 0, sequence };
}

function renamed(subject: string, sequence: number): OutboxRecord {
  const event = Renamed.create({ productId: subject, name: `n${sequence}` }, { subject });
  return { ...event, payload: JSON.stringify(event.data), attempts: 0, sequence };
}

const label = (event: OutboxEvent): string => `${event.subject}${event.sequence}`;

describe('Consumer onBatch', () => {
  it("gives a batch handler a fetch's events in one call, each subject in order, a duplicate left out", async () => {
    const bus = new MemoryBus();
    const inbox = new MemoryInboxStore();
    const records = [price('a', 1), price('b', 1), price('a', 2), price('c', 1), price('b', 2), price('a', 3)];
    await bus.publisher().publish(records);
    // a1 applied already (by another instance, before a lost ack): a duplicate, left out of the call.
    await inbox.process('basket', (records[0] as OutboxRecord).id, async () => {}, { order: { subject: 'a', sequence: 1 } });
    const calls: string[][] = [];
    const applied: string[] = [];
    const consumer = new Consumer<MemoryTransaction>({ subscriber: bus.subscriber({ name: 'basket' }), inbox, fetchExpiresMs: 10 }).onBatch(
      PriceChanged,
      async (events, tx) => {
        calls.push(events.map(label));
        tx.onCommit(() => applied.push(...events.map(label)));
      },
    );
    expect(await consumer.runOnce()).toBe(6);
    expect(calls).toEqual([['b1', 'a2', 'c1', 'b2', 'a3']]);
    expect(applied).toEqual(['b1', 'a2', 'c1', 'b2', 'a3']);
    expect(records.every((record) => inbox.has('basket', record.id))).toBe(true);
    expect(await consumer.runOnce()).toBe(0);
  });

  it('splits a fetch into runs of consecutive events of one type, an on() handler between them, keeping each subject in order', async () => {
    const bus = new MemoryBus();
    const inbox = new MemoryInboxStore();
    await bus.publisher().publish([price('a', 1), price('b', 1), renamed('a', 2), price('a', 3), price('b', 2)]);
    const order: string[] = [];
    const calls: string[][] = [];
    const consumer = new Consumer<MemoryTransaction>({ subscriber: bus.subscriber({ name: 'basket' }), inbox, fetchExpiresMs: 10 })
      .onBatch(PriceChanged, async (events, tx) => {
        calls.push(events.map(label));
        tx.onCommit(() => order.push(...events.map(label)));
      })
      .on(Renamed, async (event, tx) => tx.onCommit(() => order.push(`${label(event)}:${event.data.name}`)));
    expect(await consumer.runOnce()).toBe(5);
    expect(calls).toEqual([
      ['a1', 'b1'],
      ['a3', 'b2'],
    ]);
    expect(order).toEqual(['a1', 'b1', 'a2:n2', 'a3', 'b2']);
  });

  it('runs the events of a failed call again one by one: only the failing event and its subject wait, then apply in order', async () => {
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    const inbox = new MemoryInboxStore();
    await bus.publisher().publish([price('a', 1), price('b', 1), price('a', 2), price('b', 2), price('c', 1)]);
    const calls: string[][] = [];
    const applied: string[] = [];
    const events: ConsumerEvent[] = [];
    let failB1 = true;
    const consumer = new Consumer<MemoryTransaction>({
      subscriber: bus.subscriber({ name: 'basket' }),
      inbox,
      fetchExpiresMs: 10,
      backoff: { initialMs: 20, maxMs: 20, jitter: 0 },
      clock,
      onEvent: (event) => events.push(event),
    }).onBatch(PriceChanged, async (batch, tx) => {
      calls.push(batch.map(label));
      if (failB1 && batch.some((event) => label(event) === 'b1')) throw new Error('price table locked by a migration');
      tx.onCommit(() => applied.push(...batch.map(label)));
    });
    await consumer.runOnce();
    // The whole fetch once, then each event alone under its savepoint; b2 is held behind b1 unrun.
    expect(calls).toEqual([['a1', 'b1', 'a2', 'b2', 'c1'], ['a1'], ['b1'], ['a2'], ['c1']]);
    expect(applied).toEqual(['a1', 'a2', 'c1']);
    expect(events.filter((event) => event.type === 'retry')).toHaveLength(1);
    failB1 = false;
    await clock.advance(20);
    await consumer.runOnce();
    expect(applied).toEqual(['a1', 'a2', 'c1', 'b1', 'b2']);
    expect(bus.deadLetters).toEqual([]);
  });

  it('dead-letters an event its schema refuses, alone, and applies the rest of the call', async () => {
    const bus = new MemoryBus();
    const inbox = new MemoryInboxStore();
    const bad = { ...price('b', 1), payload: '{"productId":"b","newPrice":-1}' };
    await bus.publisher().publish([price('a', 1), bad, price('c', 1)]);
    const applied: string[] = [];
    const consumer = new Consumer<MemoryTransaction>({ subscriber: bus.subscriber({ name: 'basket' }), inbox, fetchExpiresMs: 10 }).onBatch(
      PriceChanged,
      async (events, tx) => tx.onCommit(() => applied.push(...events.map(label))),
    );
    await consumer.runOnce();
    expect(applied).toEqual(['a1', 'c1']);
    expect(bus.deadLetters.map((dead) => [dead.reason.code, dead.deliveryCount])).toEqual([['EVENT_INVALID', 1]]);
  });

  it('calls it with one event at a time in per-message mode, and with a store that does not run finish', async () => {
    for (const setup of ['message mode', 'store without finishesBatches'] as const) {
      const bus = new MemoryBus();
      const inbox = new MemoryInboxStore();
      if (setup === 'store without finishesBatches') inbox.finishesBatches = false;
      await bus.publisher().publish([price('a', 1), price('b', 1), price('a', 2)]);
      const calls: string[][] = [];
      const consumer = new Consumer<MemoryTransaction>({
        subscriber: bus.subscriber({ name: 'basket' }),
        inbox,
        fetchExpiresMs: 10,
        ...(setup === 'message mode' ? { mode: 'message' as const } : {}),
      }).onBatch(PriceChanged, async (events) => {
        calls.push(events.map(label));
      });
      expect(await consumer.runOnce()).toBe(3);
      expect(calls.sort()).toEqual([['a1'], ['a2'], ['b1']]);
    }
  });

  it('refuses a second handler for a type, on() or onBatch(), and registration after start', async () => {
    const bus = new MemoryBus();
    const consumer = new Consumer({
      subscriber: bus.subscriber({ name: 'basket' }),
      inbox: new MemoryInboxStore(),
      fetchExpiresMs: 10,
    }).onBatch(PriceChanged, async () => {});
    expect(() => consumer.on(PriceChanged, async () => {})).toThrow(/already registered/);
    expect(() => consumer.onBatch(PriceChanged, async () => {})).toThrow(/already registered/);
    await consumer.runOnce();
    expect(() => consumer.onBatch(Renamed, async () => {})).toThrow(/before start/);
  });
});
