import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  ensureConsumer,
  ensureDeadLetterStream,
  ensureStream,
  listDeadLetters,
  MSG_ID_HEADER,
  NatsPublisher,
  NatsSubscriber,
  replayDeadLetters,
  replayMessageId,
} from '@outboxkit/bus-nats';
import { describe, expect, it } from 'vitest';
import { natsPerFile, record, uniqueName } from './nats.js';

let nc: NatsConnection;
let jsm: JetStreamManager;
const streams = natsPerFile((connection, manager) => {
  nc = connection;
  jsm = manager;
});

describe('listDeadLetters and replayDeadLetters', () => {
  it('lists dead letters with their reason and replays them to their subject, once', async () => {
    const stream = uniqueName('SRC');
    const dlqStream = uniqueName('DLQ');
    const dlqPrefix = uniqueName('dlq');
    streams.push(stream, dlqStream);
    await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
    await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
    await ensureConsumer(nc, { stream, name: 'basket', maxDeliver: 3, ackWaitMs: 30_000 });
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream });
    const good = record('catalog.product.price-changed');
    const poison = record('catalog.product.poisoned', {
      headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    await publisher.publish([good, poison]);

    const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: 'basket', deadLetterPrefix: dlqPrefix });
    for (const delivery of await subscriber.fetch({ max: 10, expiresMs: 2_000 })) {
      if (delivery.messageId === poison.id) {
        await delivery.deadLetter({ code: 'HANDLER_FAILED', error: 'no handler yet', consumer: 'basket' });
      } else {
        await delivery.ack();
      }
    }

    const letters = await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix, consumer: 'basket' });
    expect(letters.map((letter) => [letter.messageId, letter.code, letter.error, letter.originalSubject])).toEqual([
      [poison.id, 'HANDLER_FAILED', 'no handler yet', `${stream}.catalog.product.poisoned`],
    ]);
    expect(letters[0]?.data).toBe(poison.payload);
    expect(await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix, consumer: 'ordering' })).toEqual([]);

    expect(await replayDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix })).toBe(1);
    expect((await jsm.streams.info(dlqStream)).state.messages).toBe(0);
    const [replayed] = await subscriber.fetch({ max: 10, expiresMs: 2_000 });
    expect(replayed?.decode()).toMatchObject({ id: poison.id, type: poison.type, headers: poison.headers });
    expect(replayed?.deliveryCount).toBe(1);
    expect(replayed?.replayFor).toBe('basket');
    await replayed?.ack();
    const stored = await jsm.streams.getMessage(stream, { last_by_subj: `${stream}.catalog.product.poisoned` });
    // Not the event id, which the stream's duplicate window may still hold: one derived from the letter.
    expect(stored?.header.get(MSG_ID_HEADER)).toBe(replayMessageId(dlqStream, letters[0]?.sequence ?? 0, 'basket', poison.id));
    await subscriber.close();
  });
});
