import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  DeadLetterHeaders,
  ensureConsumer,
  ensureDeadLetterStream,
  ensureStream,
  NatsPublisher,
  NatsSubscriber,
} from '@outboxkit/bus-nats';
import { Consumer, defineEvent } from '@outboxkit/outbox-core';
import { MemoryInboxStore } from '@outboxkit/outbox-core/testing';
import { waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { natsPerFile, readStream, record, uniqueName } from './nats.js';

let nc: NatsConnection;
let jsm: JetStreamManager;
const streams = natsPerFile((connection, manager) => {
  nc = connection;
  jsm = manager;
});

const PriceChanged = defineEvent('catalog.product.price-changed', { schema: z.object({ price: z.number() }) });

/** A stream of this test's own, its dead-letter stream, and the durable `basket` on it (maxDeliver 3); dropped after the file. */
async function durableBasket(name: string, ackWaitMs: number): Promise<{ stream: string; dlqStream: string; dlqPrefix: string }> {
  const stream = uniqueName(name);
  const dlqStream = uniqueName('DLQ');
  const dlqPrefix = uniqueName('dlq');
  streams.push(stream, dlqStream);
  await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
  await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
  await ensureConsumer(nc, { stream, name: 'basket', maxDeliver: 3, ackWaitMs });
  return { stream, dlqStream, dlqPrefix };
}

describe("core's Consumer on NatsSubscriber", () => {
  it('applies every event once, dead-letters the poisoned one after maxDeliver, and the malformed one at once', async () => {
    const { stream, dlqStream, dlqPrefix } = await durableBasket('CONS', 5_000);

    const good = Array.from({ length: 40 }, (_, index) =>
      record(PriceChanged.type, { subject: `product-${index % 4}`, payload: `{"price":${index}}` }),
    );
    const poison = record(PriceChanged.type, { subject: 'product-poison', payload: '{"price":-1}' });
    const malformed = record(PriceChanged.type, { subject: 'product-x', payload: '{"price":"free"}' });
    await new NatsPublisher({ connection: nc, subjectPrefix: stream }).publish([poison, malformed, ...good]);

    const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: 'basket', deadLetterPrefix: dlqPrefix });
    const applied: number[] = [];
    const dead: string[] = [];
    const consumer = new Consumer({
      subscriber,
      inbox: new MemoryInboxStore(),
      mode: 'message',
      fetchExpiresMs: 200,
      backoff: { initialMs: 10, maxMs: 50 },
      inboxRetentionMs: 7 * 86_400_000,
      onEvent: (event) => {
        if (event.type === 'dead' && event.id) dead.push(event.id);
      },
    }).on(PriceChanged, async (event) => {
      if (event.data.price < 0) throw new Error('price must not be negative');
      applied.push(event.data.price);
    });
    await consumer.start();
    // On timeout the assertions below say what is missing.
    await waitUntil(
      'every good event applied and both bad ones dead',
      () => applied.length >= good.length && dead.length >= 2,
      20_000,
      50,
    ).catch(() => undefined);
    await consumer.stop({ timeoutMs: 5_000 });
    await subscriber.close();

    expect(applied.sort((a, b) => a - b)).toEqual(good.map((_, index) => index));
    expect(dead.sort()).toEqual([poison.id, malformed.id].sort());
    const letters = await readStream(nc, dlqStream);
    const byId = new Map(letters.map((m) => [m.headers?.get('ce-id'), m]));
    expect(byId.get(poison.id)?.headers?.get(DeadLetterHeaders.deliveryCount)).toBe('3');
    expect(byId.get(poison.id)?.headers?.get(DeadLetterHeaders.error)).toContain('price must not be negative');
    expect(byId.get(malformed.id)?.headers?.get(DeadLetterHeaders.deliveryCount)).toBe('1');
    const info = await jsm.consumers.info(stream, 'basket');
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });

  it('fetches ahead under a backlog; after stop, nothing it fetched waits for ack_wait', async () => {
    const { stream, dlqPrefix } = await durableBasket('AHEAD', 60_000);
    const subjects = 10;
    const records = Array.from({ length: 1_000 }, (_, index) =>
      record(PriceChanged.type, {
        subject: `product-${index % subjects}`,
        sequence: Math.floor(index / subjects) + 1,
        payload: `{"price":${index}}`,
      }),
    );
    await new NatsPublisher({ connection: nc, subjectPrefix: stream }).publish(records);
    const inbox = new MemoryInboxStore();
    const applied: number[] = [];
    const run = async (fetchAhead: boolean, until: number) => {
      const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: 'basket', deadLetterPrefix: dlqPrefix });
      // A fetch that starts before every message fetched so far is applied was started ahead.
      let fetchedSoFar = applied.length;
      let ahead = 0;
      const fetch = subscriber.fetch.bind(subscriber);
      subscriber.fetch = async (options) => {
        if (applied.length < fetchedSoFar) ahead++;
        const deliveries = await fetch(options);
        fetchedSoFar += deliveries.length;
        return deliveries;
      };
      const consumer = new Consumer({
        subscriber,
        inbox,
        fetchSize: 50,
        fetchAhead,
        fetchExpiresMs: 200,
        inboxRetentionMs: 7 * 86_400_000,
      }).on(PriceChanged, async (event) => {
        applied.push(event.data.price);
      });
      await consumer.start();
      await waitUntil(`${until} events applied`, () => applied.length >= until, 20_000, 5);
      await consumer.stop({ timeoutMs: 5_000 });
      await subscriber.close();
      return ahead;
    };
    expect(await run(true, 300)).toBeGreaterThan(0);
    expect(applied.length).toBeLessThan(records.length);
    // Stopped mid-backlog: what it had fetched ahead was handled or given back (nak), so the next
    // consumer applies the rest well within ack_wait (60 s; run() waits at most 20 s).
    expect(await run(false, records.length)).toBe(0);
    const info = await jsm.consumers.info(stream, 'basket');
    expect(info.num_pending + info.num_ack_pending).toBe(0);
    // Each event once, each subject in its order.
    expect([...applied].sort((a, b) => a - b)).toEqual(records.map((_, index) => index));
    for (let subject = 0; subject < subjects; subject++) {
      const seen = applied.filter((price) => price % subjects === subject);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
    }
  });
});
