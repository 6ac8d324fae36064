import { jetstream } from '@nats-io/jetstream';
import { headers as createHeaders, type NatsConnection } from '@nats-io/nats-core';
import {
  CloudEventHeaders,
  ensureConsumer,
  ensureDeadLetterStream,
  ensureStream,
  MSG_ID_HEADER,
  type NatsDelivery,
  NatsPublisher,
  NatsSubscriber,
  replayDeadLetters,
} from '@outboxkit/bus-nats';
import { EventDecodeError, type PublishFailure } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { natsPerFile, readStream, record, uniqueName } from './nats.js';

let nc: NatsConnection;
const streams = natsPerFile((connection) => {
  nc = connection;
});

const TYPE = 'catalog.product.price-changed';

async function setup(): Promise<{
  stream: string;
  dlqStream: string;
  dlqPrefix: string;
  publisher: NatsPublisher;
  subscriber: NatsSubscriber;
}> {
  const stream = uniqueName('SEQ');
  const dlqStream = uniqueName('DLQ');
  const dlqPrefix = uniqueName('dlq');
  streams.push(stream, dlqStream);
  await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
  await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
  await ensureConsumer(nc, { stream, name: 'basket', maxDeliver: 3, ackWaitMs: 30_000 });
  const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream });
  const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: 'basket', deadLetterPrefix: dlqPrefix });
  return { stream, dlqStream, dlqPrefix, publisher, subscriber };
}

/** Fetches until `count` deliveries arrived (or 10 s passed). */
async function fetchAll(subscriber: NatsSubscriber, count: number): Promise<NatsDelivery[]> {
  const deliveries: NatsDelivery[] = [];
  const deadline = Date.now() + 10_000;
  while (deliveries.length < count && Date.now() < deadline) {
    deliveries.push(...(await subscriber.fetch({ max: count - deliveries.length, expiresMs: 1_000 })));
  }
  return deliveries;
}

function decodeError(delivery: NatsDelivery | undefined): EventDecodeError {
  try {
    delivery?.decode();
  } catch (error) {
    expect(error).toBeInstanceOf(EventDecodeError);
    return error as EventDecodeError;
  }
  throw new Error('decode() did not throw');
}

describe('NATS binding of the per-subject sequence (ce-subjectseq)', () => {
  it('carries a record sequence as ce-subjectseq into event.sequence, and nothing for a record without one', async () => {
    const { stream, publisher, subscriber } = await setup();
    const sequenced = record(TYPE, { subject: 'product-1', sequence: 7 });
    const largest = record(TYPE, { subject: 'product-1', sequence: Number.MAX_SAFE_INTEGER });
    const plain = record(TYPE, { subject: 'product-2' });
    const results = await publisher.publish([sequenced, largest, plain]);
    expect(results.map((result) => result.ok)).toEqual([true, true, true]);
    const stored = await readStream(nc, stream);
    expect(stored.map((message) => message.headers?.get('ce-subjectseq'))).toEqual(['7', '9007199254740991', '']);
    expect(stored[2]?.headers?.has('ce-subjectseq')).toBe(false);
    const deliveries = await fetchAll(subscriber, 3);
    expect(deliveries.map((delivery) => delivery.decode().sequence)).toEqual([7, Number.MAX_SAFE_INTEGER, undefined]);
    expect(deliveries[2]?.decode()).not.toHaveProperty('sequence');
    expect(deliveries.map((delivery) => delivery.gap)).toEqual([undefined, undefined, undefined]);
    for (const delivery of deliveries) await delivery.ack();
    await subscriber.close();
  });

  it('refuses to publish a record whose sequence is not a positive safe integer', async () => {
    const { publisher, subscriber } = await setup();
    const [zero, fraction] = await publisher.publish([record(TYPE, { sequence: 0 }), record(TYPE, { sequence: 1.5 })]);
    for (const result of [zero, fraction]) {
      expect(result?.ok).toBe(false);
      expect((result as PublishFailure).error).toMatchObject({ code: 'EVENT_INVALID', retryable: false });
    }
    await subscriber.close();
  });

  it('fails decode() with DECODE_FAILED for a malformed ce-subjectseq (a content failure)', async () => {
    const { stream, publisher, subscriber } = await setup();
    const js = jetstream(nc);
    for (const value of ['0', 'seven', '9007199254740992']) {
      const h = createHeaders();
      h.set(CloudEventHeaders.specVersion, '1.0');
      h.set(CloudEventHeaders.id, `bad-${value}`);
      h.set(CloudEventHeaders.type, TYPE);
      h.set(CloudEventHeaders.source, 'catalog');
      h.set(CloudEventHeaders.subject, 'product-1');
      h.set(CloudEventHeaders.time, new Date().toISOString());
      h.set('ce-subjectseq', value);
      await js.publish(`${stream}.${TYPE}`, '{"price":1}', { headers: h });
    }
    await publisher.publish([record(TYPE, { sequence: 1 })]);
    const deliveries = await fetchAll(subscriber, 4);
    for (const delivery of deliveries.slice(0, 3)) {
      const error = decodeError(delivery);
      expect(error.code).toBe('DECODE_FAILED');
      expect(error.message).toContain('ce-subjectseq');
      expect(delivery.gap).toBeUndefined();
    }
    expect(deliveries[3]?.decode().sequence).toBe(1);
    await subscriber.close();
  });
});

describe('NatsPublisher.publishGaps and gap markers', () => {
  it('publishes an empty marker where the event would have gone, read back as Delivery.gap, stored once when published twice', async () => {
    const { stream, publisher, subscriber } = await setup();
    const dead = record(TYPE, { subject: 'product-1', sequence: 4 });
    const next = record(TYPE, { subject: 'product-1', sequence: 5 });
    const [first] = await publisher.publishGaps([dead], 'outbox-dead-letter');
    expect(first).toMatchObject({ id: dead.id, ok: true, duplicate: false });
    const [again] = await publisher.publishGaps([dead], 'outbox-dead-letter');
    expect(again).toMatchObject({ id: dead.id, ok: true, duplicate: true });
    // The same event re-stamped after a replay of its dead row leaves a second gap, stored too.
    const [restamped] = await publisher.publishGaps([{ ...dead, sequence: 6 }], 'outbox-dead-letter');
    expect(restamped).toMatchObject({ id: dead.id, ok: true, duplicate: false });
    // The marker's dedup id is not the event's: the event itself is still publishable.
    expect((await publisher.publish([dead, next])).map((result) => result.ok && !result.duplicate)).toEqual([true, true]);

    const stored = await readStream(nc, stream);
    expect(stored).toHaveLength(4);
    expect(stored[1]?.headers?.get(MSG_ID_HEADER)).toBe(`${dead.id}.gap.6`);
    const marker = stored[0];
    expect(marker?.subject).toBe(`${stream}.${TYPE}`);
    expect(marker?.data.length).toBe(0);
    expect(Object.fromEntries([...(marker?.headers ?? [])].map(([name, values]) => [name, values]))).toEqual({
      'outbox-gap-subject': ['product-1'],
      'outbox-gap-sequence': ['4'],
      'outbox-gap-reason': ['outbox-dead-letter'],
      'outbox-gap-event': [dead.id],
      [MSG_ID_HEADER]: [`${dead.id}.gap.4`],
    });

    const deliveries = await fetchAll(subscriber, 4);
    const gap = deliveries[0];
    expect(gap?.gap).toEqual({ subject: 'product-1', sequence: 4, reason: 'outbox-dead-letter', eventId: dead.id });
    expect(gap?.messageId).toBe(`${dead.id}.gap.4`);
    const error = decodeError(gap);
    expect(error.code).toBe('GAP_MARKER');
    expect(deliveries[1]?.gap).toMatchObject({ sequence: 6 });
    expect(deliveries.slice(2).map((delivery) => [delivery.gap, delivery.decode().sequence])).toEqual([
      [undefined, 4],
      [undefined, 5],
    ]);
    for (const delivery of deliveries) await delivery.ack();
    await subscriber.close();
  });

  it('fails a record without a sequence alone, and reports an outage as publish does', async () => {
    const { publisher, subscriber } = await setup();
    const results = await publisher.publishGaps(
      [record(TYPE, { sequence: 2 }), record(TYPE), record(TYPE, { sequence: 3 })],
      'outbox-dead-letter',
    );
    expect(results.map((result) => result.ok)).toEqual([true, false, true]);
    expect((results[1] as PublishFailure).error).toMatchObject({ code: 'EVENT_INVALID', retryable: false });

    const nowhere = new NatsPublisher({ connection: nc, subjectPrefix: uniqueName('nostream'), timeoutMs: 1_000 });
    const [missing] = await nowhere.publishGaps([record(TYPE, { sequence: 1 })], 'outbox-dead-letter');
    expect(missing?.ok).toBe(false);
    expect((missing as PublishFailure).error).toMatchObject({ code: 'NO_STREAM', retryable: true });
    await subscriber.close();
  });

  it('reads a malformed marker as no gap, and decode() fails it with DECODE_FAILED', async () => {
    const { stream, subscriber } = await setup();
    const h = createHeaders();
    h.set('outbox-gap-subject', 'product-1');
    h.set('outbox-gap-sequence', 'four');
    h.set('outbox-gap-reason', 'outbox-dead-letter');
    await jetstream(nc).publish(`${stream}.${TYPE}`, '', { headers: h });
    const [delivery] = await fetchAll(subscriber, 1);
    expect(delivery?.gap).toBeUndefined();
    expect(decodeError(delivery).code).toBe('DECODE_FAILED');
    await subscriber.close();
  });
});

describe('dead-letter replay of a sequenced event', () => {
  it('keeps ce-subjectseq on the dead letter and on its replay', async () => {
    const { stream, dlqStream, dlqPrefix, publisher, subscriber } = await setup();
    const event = record(TYPE, { subject: 'product-9', sequence: 12 });
    await publisher.publish([event]);
    const [delivery] = await fetchAll(subscriber, 1);
    await delivery?.deadLetter({ code: 'HANDLER_FAILED', error: 'handler bug', consumer: 'basket' });
    expect(await replayDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix })).toBe(1);
    const [replay] = await fetchAll(subscriber, 1);
    expect(replay?.replayFor).toBe('basket');
    expect(replay?.decode()).toMatchObject({ id: event.id, subject: 'product-9', sequence: 12 });
    await replay?.ack();
    const stored = await readStream(nc, stream);
    expect(stored.map((message) => message.headers?.get('ce-subjectseq'))).toEqual(['12', '12']);
    await subscriber.close();
  });
});
