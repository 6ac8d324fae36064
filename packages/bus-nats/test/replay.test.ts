import { jetstream } from '@nats-io/jetstream';
import { headers as createHeaders, type NatsConnection } from '@nats-io/nats-core';
import {
  CloudEventHeaders,
  ensureConsumer,
  ensureDeadLetterStream,
  ensureStream,
  listDeadLetters,
  MSG_ID_HEADER,
  NatsPublisher,
  NatsSubscriber,
  purgeDeadLetters,
  REPLAY_FOR_HEADER,
  replayDeadLetters,
} from '@outboxkit/bus-nats';
import { Consumer, type ConsumerEvent, defineEvent, newEventId } from '@outboxkit/outbox-core';
import { MemoryInboxStore } from '@outboxkit/outbox-core/testing';
import { waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { natsPerFile, readStream, record, uniqueName } from './nats.js';

let nc: NatsConnection;
const streams = natsPerFile((connection) => {
  nc = connection;
});

const PriceChanged = defineEvent('catalog.product.price-changed', { schema: z.object({ price: z.number() }) });
const Discontinued = defineEvent('catalog.product.discontinued', { schema: z.object({ price: z.number() }) });

interface Running {
  readonly consumer: Consumer;
  readonly applied: string[];
  readonly events: ConsumerEvent[];
  stop(): Promise<void>;
}

/** A core Consumer on a real durable; `failing()` decides whether its Discontinued handler throws. */
async function run(stream: string, name: string, dlqPrefix: string, failing: () => boolean): Promise<Running> {
  const subscriber = await NatsSubscriber.create({
    connection: nc,
    stream,
    consumer: name,
    deadLetterPrefix: dlqPrefix,
    maxNakDelayMs: 50,
  });
  const applied: string[] = [];
  const events: ConsumerEvent[] = [];
  const consumer = new Consumer({
    subscriber,
    inbox: new MemoryInboxStore(),
    mode: 'message',
    fetchExpiresMs: 100,
    backoff: { initialMs: 10, maxMs: 50 },
    onEvent: (event) => events.push(event),
  })
    .on(PriceChanged, async (event) => {
      applied.push(event.id);
    })
    .on(Discontinued, async (event) => {
      if (failing()) throw new Error('handler bug');
      applied.push(event.id);
    });
  await consumer.start();
  return {
    consumer,
    applied,
    events,
    async stop() {
      await consumer.stop({ timeoutMs: 5_000 });
      await subscriber.close();
    },
  };
}

async function setup(): Promise<{ stream: string; dlqStream: string; dlqPrefix: string }> {
  const stream = uniqueName('RPL');
  const dlqStream = uniqueName('DLQ');
  const dlqPrefix = uniqueName('dlq');
  streams.push(stream, dlqStream);
  await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
  await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
  return { stream, dlqStream, dlqPrefix };
}

describe('replayDeadLetters on a stream with two durable consumers', () => {
  it('reaches only the consumer that dead-lettered the event, keeps its id, and a second replay of the letter is dropped', async () => {
    const { stream, dlqStream, dlqPrefix } = await setup();
    for (const name of ['basket', 'ordering']) await ensureConsumer(nc, { stream, name, maxDeliver: 2, ackWaitMs: 5_000 });
    const poison = record(Discontinued.type, { subject: 'product-1', payload: '{"price":1}' });
    const newer = record(PriceChanged.type, { subject: 'product-1', payload: '{"price":2}' });
    await new NatsPublisher({ connection: nc, subjectPrefix: stream }).publish([poison, newer]);

    let fixed = false;
    const basket = await run(stream, 'basket', dlqPrefix, () => !fixed);
    const ordering = await run(stream, 'ordering', dlqPrefix, () => false);
    try {
      await waitUntil('basket to apply the newer event and dead-letter the poisoned one', async () => {
        return (
          basket.applied.includes(newer.id) && (await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix })).length === 1
        );
      });
      await waitUntil('ordering to apply both', () => ordering.applied.length === 2);
      const [letter] = await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix });
      expect(letter).toMatchObject({ messageId: poison.id, consumer: 'basket', type: Discontinued.type, subject: 'product-1' });

      fixed = true;
      // First replay keeps the letter, as if the replaying process died before deleting it.
      const outcomes: boolean[] = [];
      const onReplayed = (_: unknown, result: { duplicate: boolean }) => outcomes.push(result.duplicate);
      expect(await replayDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix, keep: true, onReplayed })).toBe(1);
      expect(await replayDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix, onReplayed })).toBe(1);
      expect(outcomes).toEqual([false, true]);
      expect(await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix })).toEqual([]);

      await waitUntil('basket to apply the replay', () => basket.applied.includes(poison.id));
      await waitUntil('ordering to skip the replay', () => ordering.consumer.skipped.replayForAnotherConsumer === 1);
      const stored = await readStream(nc, stream);
      expect(stored).toHaveLength(3); // the two events, and one replay: the second was dropped by duplicate_window
      const replay = stored[2];
      expect(replay?.subject).toBe(`${stream}.${Discontinued.type}`);
      expect(replay?.headers?.get(CloudEventHeaders.id)).toBe(poison.id);
      expect(replay?.headers?.get(REPLAY_FOR_HEADER)).toBe('basket');
      expect(replay?.headers?.get(MSG_ID_HEADER)).not.toBe(poison.id);
      expect(basket.applied).toEqual([newer.id, poison.id]);
      expect(ordering.applied).toEqual([poison.id, newer.id]);
      expect(ordering.events.filter((event) => event.type === 'skipped')).toEqual([
        { type: 'skipped', id: poison.id, reason: 'replay-for-another-consumer', eventType: undefined },
      ]);
      expect(basket.consumer.skipped.replayForAnotherConsumer).toBe(0);
    } finally {
      await Promise.all([basket.stop(), ordering.stop()]);
    }
  });

  it('filters by consumer, type, subject, code and sequence, and purges what matches', async () => {
    const { stream, dlqStream, dlqPrefix } = await setup();
    for (const name of ['basket', 'ordering']) await ensureConsumer(nc, { stream, name, maxDeliver: 2, ackWaitMs: 5_000 });
    const events = [
      record(Discontinued.type, { subject: 'product-1', payload: '{"price":1}' }),
      record(PriceChanged.type, { subject: 'product-2', payload: '{"price":2}' }),
    ];
    await new NatsPublisher({ connection: nc, subjectPrefix: stream }).publish(events);
    for (const name of ['basket', 'ordering']) {
      const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: name, deadLetterPrefix: dlqPrefix });
      for (const delivery of await subscriber.fetch({ max: 10, expiresMs: 2_000 })) {
        await delivery.deadLetter({ code: name === 'basket' ? 'HANDLER_FAILED' : 'EVENT_INVALID', error: 'x', consumer: name });
      }
      await subscriber.close();
    }
    const query = { stream: dlqStream, subjectPrefix: dlqPrefix };
    const all = await listDeadLetters(nc, query);
    expect(all.map((l) => [l.consumer, l.type])).toEqual([
      ['basket', Discontinued.type],
      ['basket', PriceChanged.type],
      ['ordering', Discontinued.type],
      ['ordering', PriceChanged.type],
    ]);
    const ids = (letters: { sequence: number }[]) => letters.map((l) => l.sequence);
    expect(ids(await listDeadLetters(nc, { ...query, consumer: 'ordering' }))).toEqual(ids(all.slice(2)));
    expect(ids(await listDeadLetters(nc, { ...query, type: PriceChanged.type }))).toEqual(ids([all[1]!, all[3]!]));
    expect(ids(await listDeadLetters(nc, { ...query, subject: 'product-1', consumer: 'basket' }))).toEqual(ids([all[0]!]));
    expect(ids(await listDeadLetters(nc, { ...query, code: 'EVENT_INVALID', limit: 1 }))).toEqual(ids([all[2]!]));
    expect(ids(await listDeadLetters(nc, { ...query, sequences: [all[3]!.sequence, 999_999] }))).toEqual(ids([all[3]!]));
    await expect(listDeadLetters(nc, { ...query, consumer: 'a.>' })).rejects.toMatchObject({ code: 'CONFIG', setting: 'consumer' });

    expect(await purgeDeadLetters(nc, { ...query, consumer: 'basket' })).toBe(2);
    expect(ids(await listDeadLetters(nc, query))).toEqual(ids(all.slice(2)));
  });
});

describe('NatsSubscriber subject check and unknown types', () => {
  it('dead-letters a message whose subject does not carry its ce-type as FORGED_SUBJECT, and acks an unknown type', async () => {
    const { stream, dlqStream, dlqPrefix } = await setup();
    await ensureConsumer(nc, { stream, name: 'basket', maxDeliver: 2, ackWaitMs: 5_000 });
    const headers = (type: string) => {
      const h = createHeaders();
      h.set(CloudEventHeaders.specVersion, '1.0');
      h.set(CloudEventHeaders.id, newEventId());
      h.set(CloudEventHeaders.type, type);
      h.set(CloudEventHeaders.source, 'intruder');
      h.set(CloudEventHeaders.subject, 'product-1');
      h.set(CloudEventHeaders.time, new Date().toISOString());
      return h;
    };
    const js = jetstream(nc);
    // Allowed to publish renames only, it claims a price change.
    const forged = headers(PriceChanged.type);
    await js.publish(`${stream}.catalog.product.renamed`, '{"price":0}', { headers: forged });
    const unknown = headers('catalog.product.renamed');
    await js.publish(`${stream}.catalog.product.renamed`, '{}', { headers: unknown });
    const genuine = record(PriceChanged.type, { subject: 'product-1', payload: '{"price":3}' });
    await new NatsPublisher({ connection: nc, subjectPrefix: stream }).publish([genuine]);

    const basket = await run(stream, 'basket', dlqPrefix, () => false);
    try {
      await waitUntil('the genuine event to be applied', () => basket.applied.length === 1);
      await waitUntil(
        'the forged one to be dead-lettered',
        async () => (await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix })).length === 1,
      );
      const [letter] = await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix });
      expect(letter).toMatchObject({ code: 'FORGED_SUBJECT', messageId: forged.get(CloudEventHeaders.id), deliveryCount: 1 });
      expect(letter?.error).toContain(`${stream}.catalog.product.renamed`);
      expect(basket.applied).toEqual([genuine.id]);
      await waitUntil('the unknown type to be skipped', () => basket.consumer.skipped.unknownType === 1);
      expect(basket.events.filter((event) => event.type === 'skipped')).toEqual([
        { type: 'skipped', id: unknown.get(CloudEventHeaders.id), reason: 'unknown-type', eventType: 'catalog.product.renamed' },
      ]);
    } finally {
      await basket.stop();
    }
  });
});
