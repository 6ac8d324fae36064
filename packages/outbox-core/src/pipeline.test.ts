import { waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { Consumer } from './consumer/consumer.js';
import { PublishError } from './errors.js';
import { defineEvent } from './event/define-event.js';
import type { StandardSchemaV1 } from './event/standard-schema.js';
import { Relay } from './relay/relay.js';
import { MemoryBus } from './testing/memory-bus.js';
import { MemoryInboxStore } from './testing/memory-inbox-store.js';
import { MemoryOutboxStore, type MemoryTransaction, memoryTransaction } from './testing/memory-outbox-store.js';

/** A tiny Standard Schema so core's tests need no schema library. */
const sampleSchema: StandardSchemaV1<unknown, { n: number }> = {
  '~standard': {
    version: 1,
    vendor: 'outboxkit-tests',
    validate: (value) =>
      typeof value === 'object' && value !== null && typeof (value as { n?: unknown }).n === 'number'
        ? { value: value as { n: number } }
        : { issues: [{ message: 'expected { n: number }', path: ['n'] }] },
  },
};
const Sample = defineEvent('test.sample.happened', { schema: sampleSchema, source: 'tests' });

/** A seeded generator, so the injected failures are the same on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('relay and consumer together', () => {
  it('moves 10,000 events on 100 subjects exactly once and in per-subject order through ~5% publish and handler failures', async () => {
    const random = seeded(42);
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    const inbox = new MemoryInboxStore();
    const events = Array.from({ length: 10_000 }, (_, n) => Sample.create({ n }, { subject: `product-${n % 100}` }));
    const poison = events[5_000]!;
    for (let from = 0; from < events.length; from += 500) {
      await memoryTransaction((tx) => store.enqueue(tx, events.slice(from, from + 500)));
    }

    let publishFailures = 0;
    bus.failPublish = () => {
      if (random() >= 0.05) return undefined;
      publishFailures++;
      return new PublishError('PUBLISH_TIMEOUT', 'injected publish timeout', true);
    };
    const applied = new Map<string, number[]>();
    let appliedCount = 0;
    let handlerFailures = 0;
    const consumerEvents = new Map<string, number>();
    const consumer = new Consumer<MemoryTransaction>({
      subscriber: bus.subscriber({ name: 'basket', maxDeliver: 6, ackWaitMs: 60_000 }),
      inbox,
      fetchSize: 200,
      fetchExpiresMs: 20,
      backoff: { initialMs: 1, maxMs: 5 },
      onEvent: (event) => consumerEvents.set(event.type, (consumerEvents.get(event.type) ?? 0) + 1),
    }).on(Sample, async (event, tx) => {
      if (event.id === poison.id || random() < 0.05) {
        handlerFailures++;
        throw new Error('injected handler failure');
      }
      tx.onCommit(() => {
        applied.set(event.subject, [...(applied.get(event.subject) ?? []), event.data.n]);
        appliedCount++;
      });
    });
    const relay = new Relay({ store, publisher: bus.publisher(), batchSize: 100, backoff: { initialMs: 1, maxMs: 5 } });

    await relay.start();
    await consumer.start();
    await waitUntil('every event applied or dead-lettered', () => appliedCount === 9_999 && bus.deadLetters.length === 1, 50_000, 10).catch(
      async (error: Error) => {
        // What stalled: which subjects miss events, from which one on, and what the consumer reported.
        const missing = [...new Set(events.map((event) => event.subject))].flatMap((subject) => {
          const got = applied.get(subject) ?? [];
          const want = events.filter((event) => event.subject === subject && event.id !== poison.id).map((event) => event.data.n);
          return got.length === want.length ? [] : [`${subject}: ${got.length}/${want.length} applied, next ${want[got.length]}`];
        });
        const state = `applied ${appliedCount}, dead letters ${bus.deadLetters.length}, published ${bus.messages.length}, outbox ${JSON.stringify(await store.stats())}, consumer events ${JSON.stringify(Object.fromEntries(consumerEvents))}`;
        throw new Error(`${error.message}; ${state}; ${missing.slice(0, 5).join('; ')}`);
      },
    );
    await relay.stop();
    await consumer.stop();

    expect(publishFailures).toBeGreaterThan(200);
    expect(handlerFailures).toBeGreaterThan(200);
    expect(bus.messages).toHaveLength(10_000);
    expect(new Set(bus.messages.map((message) => message.headers['ce-id'])).size).toBe(10_000);
    expect(await store.stats()).toMatchObject({ pending: 0, dead: 0 });

    const expected = new Map<string, number[]>();
    for (const event of events) {
      if (event.id === poison.id) continue;
      expected.set(event.subject, [...(expected.get(event.subject) ?? []), event.data.n]);
    }
    expect(applied).toEqual(expected);
    expect(bus.deadLetters.map((dead) => [dead.message.headers['ce-id'], dead.reason.code, dead.deliveryCount])).toEqual([
      [poison.id, 'HANDLER_FAILED', 6],
    ]);
  });
});
