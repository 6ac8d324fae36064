import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  DeadLetterHeaders,
  ensureConsumer,
  ensureDeadLetterStream,
  ensureStream,
  listDeadLetters,
  NatsPublisher,
  NatsSubscriber,
} from '@outboxkit/bus-nats';
import { Consumer, type ConsumerEvent, defineEvent, OutboxConfigError } from '@outboxkit/outbox-core';
import { MemoryInboxStore } from '@outboxkit/outbox-core/testing';
import { waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { natsPerFile, record, uniqueName } from './nats.js';

let nc: NatsConnection;
let jsm: JetStreamManager;
const streams = natsPerFile((connection, manager) => {
  nc = connection;
  jsm = manager;
});

const Changed = defineEvent('catalog.product.changed', { schema: z.object({ v: z.number() }).passthrough() });

async function setup(options: { dlq?: boolean; maxDeliver?: number } = {}) {
  const stream = uniqueName('DLS');
  const dlqStream = uniqueName('DLQ');
  const dlqPrefix = uniqueName('dlq');
  streams.push(stream, dlqStream);
  await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
  if (options.dlq !== false) await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
  await ensureConsumer(nc, { stream, name: 'basket', maxDeliver: options.maxDeliver ?? 2, ackWaitMs: 2_000 });
  return { stream, dlqStream, dlqPrefix, publisher: new NatsPublisher({ connection: nc, subjectPrefix: stream }) };
}

describe('dead letters are never dropped', () => {
  it('NatsSubscriber.create refuses a consumer whose dead letters no stream stores', async () => {
    const { stream, dlqPrefix } = await setup({ dlq: false });
    const creating = NatsSubscriber.create({ connection: nc, stream, consumer: 'basket', deadLetterPrefix: dlqPrefix });
    await expect(creating).rejects.toThrow(OutboxConfigError);
    await expect(creating).rejects.toMatchObject({
      setting: 'deadLetterPrefix',
      message: expect.stringContaining('ensureDeadLetterStream'),
    });
  });

  it('keeps a message whose dead-letter stream was deleted, reports it, and dead-letters it once the stream exists again', async () => {
    const { stream, dlqStream, dlqPrefix, publisher } = await setup();
    const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: 'basket', deadLetterPrefix: dlqPrefix });
    await jsm.streams.delete(dlqStream);
    await publisher.publish([1, 2].map((v) => record(Changed.type, { subject: 'product-1', payload: JSON.stringify({ v }) })));
    const events: ConsumerEvent[] = [];
    const applied: number[] = [];
    const consumer = new Consumer({
      subscriber,
      inbox: new MemoryInboxStore(),
      fetchExpiresMs: 100,
      backoff: { initialMs: 50, maxMs: 50 },
      deadLetterBackoff: { initialMs: 200, maxMs: 500 },
      onEvent: (event) => events.push(event),
    }).on(Changed, async (event) => {
      if (event.data.v === 1) throw new Error('handler bug');
      applied.push(event.data.v);
    });
    await consumer.start();
    try {
      // Failed dead-letterings over more than an ack wait (2 s; 10 attempts at least 100, 200, then 250 ms apart take
      // longer): the message at max_deliver is kept alive, not dropped by the server.
      const failures = () => events.filter((event) => event.type === 'dead-letter-failed');
      await waitUntil('10 failed dead-letterings', () => failures().length >= 10, 20_000);
      expect(consumer.ready).toBe(false);
      expect(consumer.status().pendingDeadLetters).toBe(1);
      expect(applied).toEqual([]);
      const info = await jsm.consumers.info(stream, 'basket');
      expect(info.num_ack_pending).toBe(2);
      await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
      await waitUntil('the dead letter stored and v2 applied', () => applied.length === 1, 15_000);
      const letters = await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix });
      expect(letters.map((letter) => [letter.code, letter.error, letter.deliveryCount])).toEqual([['HANDLER_FAILED', 'handler bug', 2]]);
      expect(events.filter((event) => event.type === 'dead')).toHaveLength(1);
      expect(consumer.ready).toBe(true);
      await waitUntil(
        'nothing pending on the consumer',
        async () => (await jsm.consumers.info(stream, 'basket')).num_ack_pending === 0,
        10_000,
      );
    } finally {
      await consumer.stop();
    }
  });

  it('cuts the error text, never the payload, so a message near max_payload fits the dead-letter stream', async () => {
    const { stream, dlqStream, dlqPrefix, publisher } = await setup({ maxDeliver: 1 });
    const maxPayload = nc.info?.max_payload ?? 1_048_576;
    // Leaves ~600 bytes under max_payload for the message's own headers: far less than the dead-letter headers and a 2,000-character error need.
    const filler = 'x'.repeat(maxPayload - 1_200);
    const big = record(Changed.type, { subject: 'product-big', payload: JSON.stringify({ v: 1, filler }) });
    const [published] = await publisher.publish([big]);
    expect(published?.ok).toBe(true);
    const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: 'basket', deadLetterPrefix: dlqPrefix });
    const consumer = new Consumer({ subscriber, inbox: new MemoryInboxStore(), fetchExpiresMs: 100 }).on(Changed, async () => {
      throw new Error(`handler bug: ${'e'.repeat(5_000)}`);
    });
    const dead: string[] = [];
    await consumer.runOnce();
    await waitUntil(
      'the dead letter',
      async () => {
        dead.push(...(await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix })).map((letter) => letter.data));
        return dead.length > 0;
      },
      5_000,
    );
    const [letter] = await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix });
    expect(letter?.data).toBe(big.payload);
    expect(letter?.error?.startsWith('handler bug: eee')).toBe(true);
    expect(letter?.error?.endsWith('...')).toBe(true);
    expect(letter?.headers[DeadLetterHeaders.code]).toBe('HANDLER_FAILED');
    expect((await jsm.consumers.info(stream, 'basket')).num_ack_pending).toBe(0);
    await consumer.stop();
  });

  it("cuts the error text to the dead-letter stream's max_msg_size, read at create", async () => {
    const { stream, dlqStream, dlqPrefix, publisher } = await setup({ dlq: false, maxDeliver: 1 });
    await jsm.streams.add({ name: dlqStream, subjects: [`${dlqPrefix}.>`], max_msg_size: 4_000 });
    const payload = JSON.stringify({ v: 1, filler: 'x'.repeat(2_000) });
    await publisher.publish([record(Changed.type, { subject: 'product-1', payload })]);
    const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: 'basket', deadLetterPrefix: dlqPrefix });
    const consumer = new Consumer({ subscriber, inbox: new MemoryInboxStore(), fetchExpiresMs: 100 }).on(Changed, async () => {
      throw new Error(`handler bug: ${'e'.repeat(1_900)}`);
    });
    await consumer.runOnce();
    const [letter] = await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix });
    expect(letter?.data).toBe(payload);
    expect(letter?.error?.endsWith('...')).toBe(true);
    expect(letter?.error?.length).toBeLessThan(1_900);
    expect(consumer.status().pendingDeadLetters).toBe(0);
    await consumer.stop();
  });
});

describe('bounded fetches', () => {
  it('asks each pull for at most maxBytes: 300 KB messages come three at a time under a 1 MiB bound', async () => {
    const { stream, dlqPrefix, publisher } = await setup();
    const maxPayload = nc.info?.max_payload ?? 1_048_576;
    const payload = JSON.stringify({ v: 1, filler: 'x'.repeat(300_000) });
    await publisher.publish(Array.from({ length: 8 }, (_, i) => record(Changed.type, { subject: `product-${i}`, payload })));
    const bounded = new NatsSubscriber({
      connection: nc,
      stream,
      consumer: 'basket',
      maxDeliver: 2,
      deadLetterPrefix: dlqPrefix,
      maxBytes: maxPayload,
    });
    const sizes: number[] = [];
    for (let taken = 0; taken < 8; ) {
      const batch = await bounded.fetch({ max: 100, expiresMs: 1_000 });
      sizes.push(batch.length);
      taken += batch.length;
      await Promise.all(batch.map((delivery) => delivery.ack()));
    }
    await bounded.close();
    expect(Math.max(...sizes)).toBe(Math.floor(maxPayload / 300_200));
    expect(sizes.reduce((sum, n) => sum + n, 0)).toBe(8);
  });

  it('refuses a maxBytes below max_payload (such a message could never be fetched)', () => {
    const maxPayload = nc.info?.max_payload ?? 1_048_576;
    expect(() => new NatsSubscriber({ connection: nc, stream: 'S', consumer: 'c', maxDeliver: 2, maxBytes: maxPayload - 1 })).toThrow(
      OutboxConfigError,
    );
  });
});
