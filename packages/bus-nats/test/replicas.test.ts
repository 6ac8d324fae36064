import type { NatsConnection } from '@nats-io/nats-core';
import { ensureConsumer, ensureDeadLetterStream, ensureStream, NatsPublisher, NatsSubscriber } from '@outboxkit/bus-nats';
import { Consumer, type ConsumerEvent, defineEvent } from '@outboxkit/outbox-core';
import { MemoryInboxStore, type MemoryTransaction } from '@outboxkit/outbox-core/testing';
import { waitUntil } from '@outboxkit/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectNats, natsPerFile, record, uniqueName } from './nats.js';

let nc: NatsConnection;
const streams = natsPerFile((connection) => {
  nc = connection;
});
const extra: NatsConnection[] = [];
afterAll(async () => {
  await Promise.all(extra.map((connection) => connection.close()));
});

const Changed = defineEvent('catalog.product.changed', { schema: z.object({ v: z.number() }) });

describe('several consumer instances on one durable', () => {
  // The wedge of two instances on one durable: instance A fails v1 once and holds v2 and v3 behind
  // it; v1 comes back to instance B, which applies it. A must notice (its inbox shows v1 applied)
  // and apply v2 and v3, within about twice ack_wait, instead of holding them forever.
  it('a subject held behind a message another instance applied is released: v2 and v3 applied within 2x ack_wait', async () => {
    const ackWaitMs = 6_000;
    const stream = uniqueName('REPL');
    const dlqPrefix = uniqueName('dlq');
    const dlqStream = uniqueName('DLQ');
    streams.push(stream, dlqStream);
    await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
    await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
    await ensureConsumer(nc, { stream, name: 'basket', maxDeliver: 5, ackWaitMs });
    await new NatsPublisher({ connection: nc, subjectPrefix: stream }).publish(
      [1, 2, 3].map((v) => record(Changed.type, { subject: 'product-1', payload: JSON.stringify({ v }) })),
    );

    // One database (the inbox and the handler's table), two instances on their own connections.
    const inbox = new MemoryInboxStore();
    const applied: { v: number; by: string }[] = [];
    let failedOnce = false;
    const instance = async (name: string, onEvent?: (event: ConsumerEvent) => void) => {
      const connection = await connectNats();
      extra.push(connection);
      const subscriber = await NatsSubscriber.create({ connection, stream, consumer: 'basket', deadLetterPrefix: dlqPrefix });
      return new Consumer<MemoryTransaction>({
        subscriber,
        inbox,
        mode: 'message',
        fetchExpiresMs: 100,
        backoff: { initialMs: 500, maxMs: 500, jitter: 0 },
        ...(onEvent ? { onEvent } : {}),
      }).on(Changed, async (event, tx) => {
        if (event.data.v === 1 && !failedOnce) {
          failedOnce = true;
          throw new Error('transient failure');
        }
        tx.onCommit(() => applied.push({ v: event.data.v, by: name }));
      });
    };
    const released: ConsumerEvent[] = [];
    const a = await instance('a', (event) => {
      if (event.type === 'lane-released') released.push(event);
    });
    const b = await instance('b');
    try {
      // A takes all three; v1 fails and goes back to the bus, v2 and v3 wait behind it in A.
      expect(await a.runOnce()).toBe(3);
      expect(a.status().held).toBe(2);
      // Only B fetches now: it gets v1 once its nak delay is over, and applies it.
      await b.start();
      await waitUntil('B to apply v1', () => applied.some((entry) => entry.v === 1), ackWaitMs);
      const v1At = Date.now();
      await b.stop();
      for (let deadline = v1At + 2 * ackWaitMs; applied.length < 3 && Date.now() < deadline; ) await a.runOnce();
      expect(applied).toEqual([
        { v: 1, by: 'b' },
        { v: 2, by: 'a' },
        { v: 3, by: 'a' },
      ]);
      expect(released).toMatchObject([{ type: 'lane-released', subject: 'product-1', reason: 'applied-elsewhere' }]);
      expect(a.status().held).toBe(0);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
