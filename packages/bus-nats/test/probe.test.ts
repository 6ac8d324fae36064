import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { NatsPublisher } from '@outboxkit/bus-nats';
import { describe, expect, it } from 'vitest';
import { natsPerFile, record, uniqueName } from './nats.js';

let nc: NatsConnection;
let jsm: JetStreamManager;
const streams = natsPerFile((connection, manager) => {
  nc = connection;
  jsm = manager;
});

async function freshStream(extra: { max_msgs?: number; discard?: 'new' | 'old' } = {}): Promise<string> {
  const name = uniqueName('PROBE');
  await jsm.streams.add({ name, subjects: [`${name}.>`], duplicate_window: 120_000_000_000, ...extra } as Parameters<
    JetStreamManager['streams']['add']
  >[0]);
  streams.push(name);
  return name;
}

describe('NatsPublisher.probe: the target stream, not the account', () => {
  it('says healthy for a stream that takes messages, by name or by the records it would store', async () => {
    const stream = await freshStream();
    expect(await new NatsPublisher({ connection: nc, subjectPrefix: stream, stream }).probe()).toEqual({ ok: true });
    const bySubject = new NatsPublisher({ connection: nc, subjectPrefix: stream });
    expect(await bySubject.probe({ records: [record('a.created'), record('b.created')] })).toEqual({ ok: true });
  });

  it('says stream-missing for a deleted stream (NO_STREAM is retryable), and healthy once it is created again', async () => {
    const stream = await freshStream();
    const named = new NatsPublisher({ connection: nc, subjectPrefix: stream, stream });
    const bySubject = new NatsPublisher({ connection: nc, subjectPrefix: stream });
    const event = record('a.created');
    await jsm.streams.delete(stream);
    const [result] = await named.publish([event]);
    expect(result).toMatchObject({ ok: false, error: { code: 'NO_STREAM', retryable: true } });
    expect(await named.probe({ records: [event] })).toMatchObject({
      ok: false,
      reason: 'stream-missing',
      detail: expect.stringContaining(stream),
    });
    expect(await bySubject.probe({ records: [event] })).toMatchObject({
      ok: false,
      reason: 'stream-missing',
      detail: expect.stringContaining(`${stream}.a.created`),
    });
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    expect(await named.probe({ records: [event] })).toEqual({ ok: true });
    expect(await bySubject.probe({ records: [event] })).toEqual({ ok: true });
  });

  it('says stream-missing for a misnamed stream, even though the account answers', async () => {
    const stream = await freshStream();
    const misnamed = new NatsPublisher({ connection: nc, subjectPrefix: stream, stream: `${stream}_TYPO` });
    expect(await misnamed.probe()).toMatchObject({ ok: false, reason: 'stream-missing' });
    // The account answers: the old probe said "reachable" here.
    expect(await new NatsPublisher({ connection: nc, subjectPrefix: stream }).probe()).toEqual({ ok: true });
  });

  it('says full for a discard:new stream at max_msgs, and healthy once it has room', async () => {
    const stream = await freshStream({ max_msgs: 2, discard: 'new' });
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream, stream });
    const results = await publisher.publish([record('a.created'), record('a.created'), record('a.created')]);
    expect(results.map((r) => r.ok)).toEqual([true, true, false]);
    expect(results[2]).toMatchObject({ ok: false, error: { retryable: true } });
    expect(await publisher.probe()).toMatchObject({ ok: false, reason: 'full', detail: expect.stringContaining('max_msgs 2') });
    await jsm.streams.purge(stream);
    expect(await publisher.probe()).toEqual({ ok: true });
  });

  it('says full after a refusal while the stream stays as it was, and healthy once its limits change', async () => {
    const stream = await freshStream({ max_msgs: 1, discard: 'new' });
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream, stream });
    await publisher.publish([record('a.created'), record('a.created')]);
    // Raise the limit by one and fill it behind the publisher's back: the state shows room again
    // only if the limit changes; a refusal seen before is evidence until then.
    const info = await jsm.streams.info(stream);
    expect(info.state.messages).toBe(1);
    expect(await publisher.probe()).toMatchObject({ ok: false, reason: 'full' });
    await jsm.streams.update(stream, { ...info.config, max_msgs: 10 });
    expect(await publisher.probe()).toEqual({ ok: true });
    const [again] = await publisher.publish([record('a.created')]);
    expect(again?.ok).toBe(true);
  });
});
