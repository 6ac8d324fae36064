import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineEvent } from '../event/define-event.js';
import { ManualClock } from '../testing/manual-clock.js';
import { MemoryBus } from '../testing/memory-bus.js';
import { MemoryInboxStore } from '../testing/memory-inbox-store.js';
import type { MemoryTransaction } from '../testing/memory-outbox-store.js';
import { Consumer } from './consumer.js';
import type { ConsumerEvent } from './consumer-events.js';

const PriceChanged = defineEvent('catalog.product.price-changed', {
  schema: z.object({ productId: z.string(), newPrice: z.number().positive() }),
  source: 'catalog',
});

function record(event: ReturnType<typeof PriceChanged.create>) {
  return { ...event, payload: JSON.stringify(event.data), attempts: 0 };
}

describe('Consumer', () => {
  for (const mode of ['batch', 'message'] as const) {
    it(`dead-letters undecodable messages at once and keeps consuming (${mode} mode)`, async () => {
      const bus = new MemoryBus();
      const inbox = new MemoryInboxStore();
      const good = PriceChanged.create({ productId: 'p1', newPrice: 10 }, { subject: 'p1' });
      const unknown = { ...record(PriceChanged.create({ productId: 'p2', newPrice: 1 }, { subject: 'p2' })), type: 'catalog.unknown' };
      const badSchema = { ...record(PriceChanged.create({ productId: 'p3', newPrice: 1 }, { subject: 'p3' })), payload: '{"productId":3}' };
      bus.publishRaw({ 'ce-type': PriceChanged.type }, '{}');
      bus.publishRaw(
        { 'ce-id': 'x', 'ce-type': PriceChanged.type, 'ce-source': 's', 'ce-subject': 'p', 'ce-time': new Date().toISOString() },
        '{not json',
      );
      await bus.publisher().publish([unknown, badSchema, record(good)]);
      const applied: string[] = [];
      const events: ConsumerEvent[] = [];
      const consumer = new Consumer<MemoryTransaction>({
        subscriber: bus.subscriber({ name: 'basket' }),
        inbox,
        mode,
        fetchExpiresMs: 10,
        unknownTypes: 'dead-letter',
        onEvent: (event) => events.push(event),
      }).on(PriceChanged, async (event, tx) => tx.onCommit(() => applied.push(event.data.productId)));
      expect(await consumer.runOnce()).toBe(5);
      expect(applied).toEqual(['p1']);
      expect(bus.deadLetters.map((dead) => dead.reason.code)).toEqual([
        'DECODE_FAILED',
        'DECODE_FAILED',
        'UNKNOWN_EVENT_TYPE',
        'EVENT_INVALID',
      ]);
      expect(bus.deadLetters.every((dead) => dead.reason.consumer === 'basket' && dead.deliveryCount === 1)).toBe(true);
      expect(events.filter((event) => event.type === 'dead')).toHaveLength(4);
      expect(await consumer.runOnce()).toBe(0);
    });
  }

  it('applies a redelivered message once', async () => {
    const bus = new MemoryBus();
    const inbox = new MemoryInboxStore();
    const event = PriceChanged.create({ productId: 'p1', newPrice: 10 }, { subject: 'p1' });
    await bus.publisher().publish([record(event)]);
    let runs = 0;
    const make = () =>
      new Consumer<MemoryTransaction>({ subscriber: bus.subscriber({ name: 'basket' }), inbox, fetchExpiresMs: 10 }).on(
        PriceChanged,
        async () => {
          runs++;
        },
      );
    // Two durable subscribers with the same name stand for a redelivery after a lost ack.
    await make().runOnce();
    await make().runOnce();
    expect(runs).toBe(1);
    expect(inbox.has('basket', event.id)).toBe(true);
  });

  it('holds later events of a failing subject until it is applied, while other subjects flow', async () => {
    // The bus counts the redelivery delay on its clock: shared with the consumer, the delay passes at once.
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    const inbox = new MemoryInboxStore();
    const a1 = PriceChanged.create({ productId: 'a', newPrice: 1 }, { subject: 'a' });
    const a2 = PriceChanged.create({ productId: 'a', newPrice: 2 }, { subject: 'a' });
    const b1 = PriceChanged.create({ productId: 'b', newPrice: 1 }, { subject: 'b' });
    await bus.publisher().publish([a1, a2, b1].map(record));
    const applied: number[] = [];
    let failOnce = true;
    const consumer = new Consumer<MemoryTransaction>({
      subscriber: bus.subscriber({ name: 'basket' }),
      inbox,
      fetchExpiresMs: 10,
      backoff: { initialMs: 20, maxMs: 20, jitter: 0 },
      clock,
    }).on(PriceChanged, async (event, tx) => {
      if (event.id === a1.id && failOnce) {
        failOnce = false;
        throw new Error('database hiccup');
      }
      tx.onCommit(() => applied.push(event.data.newPrice * (event.subject === 'a' ? 1 : 100)));
    });
    await consumer.runOnce();
    expect(applied).toEqual([100]);
    await clock.advance(19);
    await consumer.runOnce();
    expect(applied).toEqual([100]);
    await clock.advance(1);
    await consumer.runOnce();
    expect(applied).toEqual([100, 1, 2]);
  });

  it('refuses an inbox retention shorter than the redelivery horizon, naming the setting', () => {
    const bus = new MemoryBus();
    const consumer = new Consumer({
      subscriber: bus.subscriber({ name: 'basket', maxDeliver: 5, ackWaitMs: 60_000 }),
      inbox: new MemoryInboxStore(),
      inboxRetentionMs: 60_000,
    }).on(PriceChanged, async () => {});
    return expect(consumer.start()).rejects.toMatchObject({ code: 'CONFIG', setting: 'inboxRetentionMs' });
  });
});
