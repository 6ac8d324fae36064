import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OutboxUsageError } from '../errors.js';
import { defineEvent } from '../event/define-event.js';
import { MEMORY_REPLAY_HEADER, MemoryBus } from '../testing/memory-bus.js';
import { MemoryInboxStore } from '../testing/memory-inbox-store.js';
import type { MemoryTransaction } from '../testing/memory-outbox-store.js';
import { Consumer } from './consumer.js';
import type { ConsumerEvent } from './consumer-events.js';

const PriceChanged = defineEvent('catalog.product.price-changed', {
  schema: z.object({ productId: z.string(), newPrice: z.number().positive() }),
  source: 'catalog',
});

function ceHeaders(id: string, type: string, subject: string): Record<string, string> {
  return {
    'ce-specversion': '1.0',
    'ce-id': id,
    'ce-type': type,
    'ce-source': 'catalog',
    'ce-subject': subject,
    'ce-time': new Date().toISOString(),
  };
}

function consumerOn(
  bus: MemoryBus,
  name: string,
  applied: string[],
  events: ConsumerEvent[],
  options: { unknownTypes?: 'ack' | 'dead-letter' } = {},
) {
  return new Consumer<MemoryTransaction>({
    subscriber: bus.subscriber({ name, ackWaitMs: 0 }),
    inbox: new MemoryInboxStore(),
    fetchExpiresMs: 10,
    onEvent: (event) => events.push(event),
    ...options,
  }).on(PriceChanged, async (event, tx) => tx.onCommit(() => applied.push(`${name}:${event.id}`)));
}

describe('Consumer: messages acked without a handler', () => {
  it('acks an event of a type it has no handler for by default, counts it and reports it, without dead-lettering', async () => {
    const bus = new MemoryBus();
    bus.publishRaw(ceHeaders('new-1', 'catalog.product.renamed', 'p1'), '{"name":"x"}');
    bus.publishRaw(ceHeaders('known-1', PriceChanged.type, 'p1'), '{"productId":"p1","newPrice":2}');
    const applied: string[] = [];
    const events: ConsumerEvent[] = [];
    const consumer = consumerOn(bus, 'basket', applied, events);
    expect(await consumer.runOnce()).toBe(2);
    expect(applied).toEqual(['basket:known-1']);
    expect(bus.deadLetters).toEqual([]);
    expect(consumer.skipped).toEqual({ unknownType: 1, replayForAnotherConsumer: 0 });
    expect(events.filter((event) => event.type === 'skipped')).toEqual([
      { type: 'skipped', id: 'new-1', reason: 'unknown-type', eventType: 'catalog.product.renamed' },
    ]);
    // Acked: with ack_wait 0 anything unsettled would be delivered again at once.
    expect(await consumer.runOnce()).toBe(0);
  });

  it("dead-letters an unknown type at once with unknownTypes: 'dead-letter'", async () => {
    const bus = new MemoryBus();
    bus.publishRaw(ceHeaders('new-1', 'catalog.product.renamed', 'p1'), '{}');
    const consumer = consumerOn(bus, 'basket', [], [], { unknownTypes: 'dead-letter' });
    await consumer.runOnce();
    expect(bus.deadLetters.map((dead) => dead.reason.code)).toEqual(['UNKNOWN_EVENT_TYPE']);
    expect(consumer.skipped.unknownType).toBe(0);
  });

  it('rejects an unknownTypes value it does not know', () => {
    expect(
      () =>
        new Consumer({
          subscriber: new MemoryBus().subscriber({ name: 'basket' }),
          inbox: new MemoryInboxStore(),
          unknownTypes: 'drop' as 'ack',
        }),
    ).toThrow(OutboxUsageError);
  });

  it('applies a replay only on the consumer it is meant for; the others ack it unrun', async () => {
    const bus = new MemoryBus();
    bus.publishRaw({ ...ceHeaders('e-1', PriceChanged.type, 'p1'), [MEMORY_REPLAY_HEADER]: 'basket' }, '{"productId":"p1","newPrice":2}');
    const applied: string[] = [];
    const events: ConsumerEvent[] = [];
    const basket = consumerOn(bus, 'basket', applied, events);
    const ordering = consumerOn(bus, 'ordering', applied, events);
    expect(await ordering.runOnce()).toBe(1);
    expect(await basket.runOnce()).toBe(1);
    expect(applied).toEqual(['basket:e-1']);
    expect(ordering.skipped).toEqual({ unknownType: 0, replayForAnotherConsumer: 1 });
    expect(basket.skipped).toEqual({ unknownType: 0, replayForAnotherConsumer: 0 });
    expect(events.filter((event) => event.type === 'skipped')).toEqual([
      { type: 'skipped', id: 'e-1', reason: 'replay-for-another-consumer', eventType: undefined },
    ]);
    expect(await ordering.runOnce()).toBe(0);
  });
});
