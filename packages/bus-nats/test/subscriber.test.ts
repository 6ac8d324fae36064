import { type JetStreamClient, type JetStreamManager, jetstream } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import {
  DeadLetterHeaders,
  ensureConsumer,
  ensureDeadLetterStream,
  ensureStream,
  type NatsDelivery,
  NatsPublisher,
  NatsSubscriber,
} from '@outboxkit/bus-nats';
import { EventDecodeError, OutboxConfigError, OutboxUsageError } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { natsPerFile, readStream, record, uniqueName } from './nats.js';

let nc: NatsConnection;
let jsm: JetStreamManager;
let js: JetStreamClient;
const streams = natsPerFile((connection, manager) => {
  nc = connection;
  jsm = manager;
  js = jetstream(connection);
});

interface Setup {
  stream: string;
  dlqStream: string;
  dlqPrefix: string;
  publisher: NatsPublisher;
  subscriber: () => Promise<NatsSubscriber>;
}

async function setup(consumer: { maxDeliver?: number; ackWaitMs?: number } = {}): Promise<Setup> {
  const stream = uniqueName('SUB');
  const dlqStream = uniqueName('DLQ');
  const dlqPrefix = uniqueName('dlq');
  streams.push(stream, dlqStream);
  await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
  await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
  await ensureConsumer(nc, { stream, name: 'basket', maxDeliver: consumer.maxDeliver ?? 3, ackWaitMs: consumer.ackWaitMs ?? 30_000 });
  return {
    stream,
    dlqStream,
    dlqPrefix,
    publisher: new NatsPublisher({ connection: nc, subjectPrefix: stream }),
    subscriber: () => NatsSubscriber.create({ connection: nc, stream, consumer: 'basket', deadLetterPrefix: dlqPrefix }),
  };
}

/** Fetches until `done()` or the deadline, handing each delivery to `handle`. */
async function drain(subscriber: NatsSubscriber, handle: (delivery: NatsDelivery) => Promise<void>, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!done() && Date.now() < deadline) {
    for (const delivery of await subscriber.fetch({ max: 50, expiresMs: 1_000 })) await handle(delivery);
  }
}

describe('NatsSubscriber', () => {
  it('decodes what NatsPublisher sent back into the same event', async () => {
    const { stream, publisher, subscriber } = await setup();
    const input = record('catalog.product.price-changed', {
      payload: '{"productId":"p1","newPrice":12.5}',
      headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x-correlation-id': 'c-1' },
    });
    await publisher.publish([input]);
    const sub = await subscriber();
    const [delivery] = await sub.fetch({ max: 10, expiresMs: 2_000 });
    expect(delivery?.messageId).toBe(input.id);
    expect(delivery?.deliveryCount).toBe(1);
    expect(delivery?.decode()).toEqual({
      id: input.id,
      type: input.type,
      source: input.source,
      subject: input.subject,
      time: input.time,
      data: { productId: 'p1', newPrice: 12.5 },
      headers: input.headers,
    });
    await delivery?.inProgress();
    await delivery?.ack();
    await expect(delivery?.ack()).rejects.toThrow(OutboxUsageError);
    expect(await sub.fetch({ max: 10, expiresMs: 100 })).toEqual([]);
    await sub.close();
    const info = await jsm.consumers.info(stream, 'basket');
    expect(info.num_ack_pending + info.num_pending).toBe(0);
  });

  it('dead-letters a message whose handler always fails after maxDeliver, with its error, while other subjects keep flowing', async () => {
    const { stream, dlqStream, publisher, subscriber } = await setup({ maxDeliver: 3 });
    const poison = record('catalog.poisoned', { subject: 'product-bad' });
    const good = Array.from({ length: 30 }, (_, index) => record('catalog.product.price-changed', { subject: `product-${index % 5}` }));
    await publisher.publish([good[0]!, poison, ...good.slice(1)]);
    const sub = await subscriber();
    const handled: string[] = [];
    const attempts: number[] = [];
    let dead = 0;
    await drain(
      sub,
      async (delivery) => {
        const event = delivery.decode();
        if (event.type !== 'catalog.poisoned') {
          handled.push(event.id);
          await delivery.ack();
          return;
        }
        attempts.push(delivery.deliveryCount);
        if (delivery.deliveryCount >= sub.maxDeliver) {
          await delivery.deadLetter({ code: 'HANDLER_FAILED', error: 'price must be positive\n  at handler', consumer: sub.name });
          dead++;
        } else {
          await delivery.nak(50);
        }
      },
      () => dead === 1 && handled.length === good.length,
    );
    await sub.close();
    expect(attempts).toEqual([1, 2, 3]);
    expect(handled.sort()).toEqual(good.map((r) => r.id).sort());
    const letters = await readStream(nc, dlqStream);
    expect(letters).toHaveLength(1);
    const letter = letters[0]!;
    expect(letter.subject).toContain(`.basket.${stream}.catalog.poisoned`);
    expect(letter.string()).toBe(poison.payload);
    expect(letter.headers?.get('ce-id')).toBe(poison.id);
    expect(letter.headers?.get(DeadLetterHeaders.error)).toBe('price must be positive   at handler');
    expect(letter.headers?.get(DeadLetterHeaders.code)).toBe('HANDLER_FAILED');
    expect(letter.headers?.get(DeadLetterHeaders.consumer)).toBe('basket');
    expect(letter.headers?.get(DeadLetterHeaders.deliveryCount)).toBe('3');
    expect(letter.headers?.get(DeadLetterHeaders.subject)).toBe(`${stream}.catalog.poisoned`);
    expect(letter.headers?.get(DeadLetterHeaders.messageId)).toBe(poison.id);
    const info = await jsm.consumers.info(stream, 'basket');
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });

  it('dead-letters malformed messages at once and keeps fetching', async () => {
    const { stream, dlqStream, publisher, subscriber } = await setup();
    const ce = (id: string, omit?: string) => {
      const h = headers();
      const attributes: Record<string, string> = {
        'ce-specversion': '1.0',
        'ce-id': id,
        'ce-type': 't.x',
        'ce-source': 's',
        'ce-subject': 'p',
        'ce-time': new Date().toISOString(),
      };
      for (const [name, value] of Object.entries(attributes)) if (name !== omit) h.set(name, value);
      return h;
    };
    await js.publish(`${stream}.raw.no-id`, '{"a":1}', { headers: ce('', 'ce-id') });
    await js.publish(`${stream}.raw.bad-json`, '{"a":', { headers: ce('bad-json-1'), msgID: 'bad-json-1' });
    await js.publish(`${stream}.raw.no-type`, '{"a":1}', { headers: ce('no-type-1', 'ce-type'), msgID: 'no-type-1' });
    const good = record('catalog.product.price-changed');
    await publisher.publish([good]);
    const sub = await subscriber();
    const errors: EventDecodeError[] = [];
    const handled: string[] = [];
    await drain(
      sub,
      async (delivery) => {
        try {
          handled.push(delivery.decode().id);
          await delivery.ack();
        } catch (error) {
          if (!(error instanceof EventDecodeError)) throw error;
          errors.push(error);
          await delivery.deadLetter({ code: error.code, error: error.message, consumer: sub.name });
        }
      },
      () => errors.length === 3 && handled.length === 1,
    );
    await sub.close();
    expect(handled).toEqual([good.id]);
    expect(errors.map((e) => e.code)).toEqual(['DECODE_FAILED', 'DECODE_FAILED', 'DECODE_FAILED']);
    expect(errors[0]?.message).toMatch(/no ce-id or Nats-Msg-Id/);
    expect(errors[1]?.message).toMatch(/JSON/);
    expect(errors[2]?.message).toMatch(/ce-type/);
    const letters = await readStream(nc, dlqStream);
    expect(letters.map((m) => m.headers?.get(DeadLetterHeaders.subject))).toEqual([
      `${stream}.raw.no-id`,
      `${stream}.raw.bad-json`,
      `${stream}.raw.no-type`,
    ]);
    expect(letters.map((m) => m.headers?.get(DeadLetterHeaders.code))).toEqual(['DECODE_FAILED', 'DECODE_FAILED', 'DECODE_FAILED']);
    expect(letters[1]?.string()).toBe('{"a":');
  });

  it('resumes after a restart: acked messages are not redelivered, unacked ones are', async () => {
    const { stream, publisher, subscriber } = await setup({ ackWaitMs: 1_000, maxDeliver: 5 });
    const events = Array.from({ length: 20 }, () => record('catalog.product.price-changed'));
    await publisher.publish(events);
    const first = await subscriber();
    const firstBatch = await first.fetch({ max: 15, expiresMs: 2_000 });
    expect(firstBatch).toHaveLength(15);
    for (const delivery of firstBatch.slice(0, 10)) await delivery.ack();
    // The last 5 are "in the handler" when the process stops: never settled.
    await first.close();

    const second = await subscriber();
    const seen = new Map<string, number>();
    await drain(
      second,
      async (delivery) => {
        seen.set(delivery.decode().id, delivery.deliveryCount);
        await delivery.ack();
      },
      () => seen.size === 10,
    );
    await second.close();
    expect([...seen.keys()].sort()).toEqual(
      events
        .slice(10)
        .map((e) => e.id)
        .sort(),
    );
    expect(events.slice(10, 15).map((e) => seen.get(e.id))).toEqual([2, 2, 2, 2, 2]);
    expect(events.slice(15).map((e) => seen.get(e.id))).toEqual([1, 1, 1, 1, 1]);
    const info = await jsm.consumers.info(stream, 'basket');
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });

  it('create() refuses a missing consumer and one without a max_deliver bound', async () => {
    const stream = uniqueName('SUB');
    streams.push(stream);
    await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
    await expect(NatsSubscriber.create({ connection: nc, stream, consumer: 'nobody' })).rejects.toThrow(OutboxConfigError);
    await jsm.consumers.add(stream, { durable_name: 'endless', ack_policy: 'explicit' });
    await expect(NatsSubscriber.create({ connection: nc, stream, consumer: 'endless' })).rejects.toMatchObject({ setting: 'max_deliver' });
  });
});
