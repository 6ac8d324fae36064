import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  CloudEventHeaders,
  ensureConsumer,
  ensureDeadLetterStream,
  ensureStream,
  listDeadLetters,
  NatsPublisher,
  NatsSubscriber,
  REPLAY_FOR_HEADER,
} from '@outboxkit/bus-nats';
import { createEvent } from '@outboxkit/outbox-core';
import { NATS_URL } from '@outboxkit/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteStream, natsConnect } from './nats-stream.js';
import { randomName } from './random-name.js';
import { runRelay } from './relay-process.js';

/** True when the text holds a raw ESC or a bidi override: what a terminal would act on. */
const hasRawControl = (text: string): boolean => text.includes('\u001b') || text.includes('\u202e');

let nc: NatsConnection;
const streams: string[] = [];
beforeAll(async () => {
  nc = await natsConnect();
});
afterAll(async () => {
  for (const stream of streams) await deleteStream(nc, stream);
  await nc.close();
});

/** A source stream with two durables and a dead-letter stream holding 3 letters: 2 of basket's, 1 of ordering's. */
async function setup() {
  const stream = randomName('DLQSRC').toUpperCase();
  const dlqStream = randomName('DLQ').toUpperCase();
  const dlqPrefix = randomName('dlq');
  streams.push(stream, dlqStream);
  await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
  await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
  for (const name of ['basket', 'ordering']) await ensureConsumer(nc, { stream, name, maxDeliver: 3, ackWaitMs: 30_000 });
  const events = [
    createEvent({ type: 'catalog.product.discontinued', source: 'catalog', subject: 'product-1', data: { n: 1 } }),
    createEvent({ type: 'catalog.product.price-changed', source: 'catalog', subject: 'product-2', data: { n: 2 } }),
  ];
  const records = events.map((e) => ({
    id: e.id,
    type: e.type,
    source: e.source,
    subject: e.subject,
    time: e.time,
    payload: JSON.stringify(e.data),
    headers: {},
    attempts: 0,
  }));
  await new NatsPublisher({ connection: nc, subjectPrefix: stream }).publish(records);
  // basket dead-letters both, with a hostile error text; ordering dead-letters the first only.
  for (const [name, count] of [
    ['basket', 2],
    ['ordering', 1],
  ] as const) {
    const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: name, deadLetterPrefix: dlqPrefix });
    const deliveries = await subscriber.fetch({ max: 10, expiresMs: 2_000 });
    for (const [index, delivery] of deliveries.entries()) {
      if (index < count) await delivery.deadLetter({ code: 'HANDLER_FAILED', error: 'boom \u001b[2J\u202eevil', consumer: name });
      else await delivery.ack();
    }
    await subscriber.close();
  }
  const env = { OUTBOX_NATS_URL: NATS_URL, OUTBOX_DLQ_STREAM: dlqStream, OUTBOX_DLQ_PREFIX: dlqPrefix, OUTBOX_LOG_LEVEL: 'warn' };
  return { stream, dlqStream, dlqPrefix, events, env };
}

describe('outbox-relay dlq', { timeout: 60_000 }, () => {
  it('lists with filters, shows, replays to the one consumer and purges, escaping control characters', async () => {
    const { stream, dlqStream, dlqPrefix, events, env } = await setup();
    const [discontinued, priceChanged] = events as [(typeof events)[0], (typeof events)[0]];

    const all = await runRelay(['dlq', 'list', '--json'], env);
    expect(all.code, all.stderr).toBe(0);
    const letters = JSON.parse(all.stdout) as Array<{
      sequence: number;
      consumer: string;
      messageId: string;
      data: unknown;
      error: string;
    }>;
    expect(letters.map((l) => [l.consumer, l.messageId])).toEqual([
      ['basket', discontinued.id],
      ['basket', priceChanged.id],
      ['ordering', discontinued.id],
    ]);
    expect(letters[0]?.data).toEqual({ n: 1 });
    expect(letters[0]?.error).toBe('boom \u001b[2J\u202eevil'); // JSON escapes it: valid JSON, nothing raw on the terminal
    expect(hasRawControl(all.stdout)).toBe(false);

    const filtered = await runRelay(['dlq', 'list', '--consumer', 'basket', '--type', 'catalog.product.price-changed'], env);
    expect(filtered.code, filtered.stderr).toBe(0);
    expect(filtered.stdout.trim().split('\n')).toHaveLength(1);
    expect(filtered.stdout).toContain(priceChanged.id);
    expect(filtered.stdout).toContain('boom \\x1b[2J\\u202eevil');
    expect(hasRawControl(filtered.stdout)).toBe(false);
    const bySubject = await runRelay(['dlq', 'list', '--subject', 'product-1', '--json'], env);
    expect((JSON.parse(bySubject.stdout) as unknown[]).length).toBe(2);

    const sequence = String(letters[1]?.sequence);
    const show = await runRelay(['dlq', 'show', sequence], env);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(`id:         ${priceChanged.id}`);
    expect(show.stdout).toContain('consumer:   basket');
    expect(hasRawControl(show.stdout)).toBe(false);
    expect((await runRelay(['dlq', 'show', '999999'], env)).code).toBe(1);

    const replay = await runRelay(['dlq', 'replay', '--all', '--consumer', 'basket', '--subject', 'product-1'], env);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(`replayed ${letters[0]?.sequence}  ${discontinued.id}  to basket`);
    expect(replay.stdout).toContain('replayed 1 dead letter\n');
    expect(replay.stdout).toContain('stored after the newer events of its subject');
    // The replay is in the source stream for basket only, with the event id; its letter is gone.
    const stored = await jetstreamManager(nc).then((jsm) =>
      jsm.streams.getMessage(stream, { last_by_subj: `${stream}.catalog.product.discontinued` }),
    );
    expect(stored?.header.get(CloudEventHeaders.id)).toBe(discontinued.id);
    expect(stored?.header.get(REPLAY_FOR_HEADER)).toBe('basket');
    const left = await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix });
    expect(left.map((l) => [l.consumer, l.messageId])).toEqual([
      ['basket', priceChanged.id],
      ['ordering', discontinued.id],
    ]);

    const purge = await runRelay(['dlq', 'purge', String(letters[2]?.sequence), '999999'], env);
    expect(purge.code).toBe(0);
    expect(purge.stdout.trim()).toBe('purged 1 dead letter');
    expect(purge.stderr).toContain('1 of the 2 sequences given are not dead letters');
    const purgeAll = await runRelay(['dlq', 'purge', '--all'], env);
    expect(purgeAll.stdout.trim()).toBe('purged 1 dead letter');
    expect(await listDeadLetters(nc, { stream: dlqStream, subjectPrefix: dlqPrefix })).toEqual([]);
    expect((await runRelay(['dlq', 'list'], env)).stdout).toBe('no dead letters\n');
    // Nothing else was published to the source stream: the two events and the one replay.
    expect((await jetstreamManager(nc).then((jsm) => jsm.streams.info(stream))).state.messages).toBe(3);
  });

  it('refuses bad arguments with exit 2 before connecting, naming the setting', async () => {
    const env = { OUTBOX_NATS_URL: NATS_URL };
    const cases: Array<[string[], Record<string, string>, string]> = [
      [['dlq', 'replay'], env, '--all'],
      [['dlq', 'replay', '3', '--all'], env, '--all'],
      [['dlq', 'purge', 'abc'], env, 'sequence'],
      [['dlq', 'list', '--consumer', 'a.>'], env, '--consumer'],
      [['dlq', 'list', '--type', 'a\u001bb'], env, '--type'],
      [['dlq', 'list', '--limit', '0'], env, '--limit'],
      [['dlq', 'list'], { OUTBOX_NATS_URL: NATS_URL, OUTBOX_DLQ_STREAM: 'A B' }, 'OUTBOX_DLQ_STREAM'],
      [['dlq', 'list'], {}, 'OUTBOX_NATS_URL'],
      [['dlq', 'requeue'], env, 'dlq list, dlq show, dlq replay, dlq purge'],
    ];
    for (const [args, caseEnv, named] of cases) {
      const result = await runRelay(args, caseEnv);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(named);
      expect(hasRawControl(result.stderr)).toBe(false);
    }
    const help = await runRelay(['dlq', 'replay', '--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('OUTBOX_DLQ_STREAM');
    expect(help.stdout).toContain('after newer events of its subject');
  });
});
