import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { CloudEventHeaders, NatsPublisher } from '@outboxkit/bus-nats';
import { OutboxConfigError, type PublishFailure, type PublishResult } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { connectNats, natsPerFile, readStream, record, uniqueName } from './nats.js';

let nc: NatsConnection;
let jsm: JetStreamManager;
const streams = natsPerFile((connection, manager) => {
  nc = connection;
  jsm = manager;
});

async function freshStream(): Promise<string> {
  const name = uniqueName('PUB');
  await jsm.streams.add({ name, subjects: [`${name}.>`], duplicate_window: 120_000_000_000 });
  streams.push(name);
  return name;
}

function failed(result: PublishResult | undefined): PublishFailure {
  expect(result?.ok).toBe(false);
  return result as PublishFailure;
}

describe('NatsPublisher', () => {
  it('publishes a CloudEvents binary message: ce-* headers, own headers, the payload as is', async () => {
    const stream = await freshStream();
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const input = record('catalog.product.price-changed', {
      payload: '{"price":12.5,"items":[1,2]}',
      headers: { traceparent },
    });
    const [result] = await publisher.publish([input]);
    expect(result).toMatchObject({ id: input.id, ok: true, duplicate: false, sequence: 1 });
    const [stored] = await readStream(nc, stream);
    expect(stored?.subject).toBe(`${stream}.catalog.product.price-changed`);
    expect(stored?.string()).toBe('{"price":12.5,"items":[1,2]}');
    const h = stored?.headers;
    expect(h?.get('Nats-Msg-Id')).toBe(input.id);
    expect(h?.get(CloudEventHeaders.specVersion)).toBe('1.0');
    expect(h?.get(CloudEventHeaders.id)).toBe(input.id);
    expect(h?.get(CloudEventHeaders.type)).toBe('catalog.product.price-changed');
    expect(h?.get(CloudEventHeaders.source)).toBe('catalog');
    expect(h?.get(CloudEventHeaders.subject)).toBe('product-1');
    expect(h?.get(CloudEventHeaders.time)).toBe(input.time);
    expect(h?.get(CloudEventHeaders.contentType)).toBe('application/json');
    expect(h?.get('traceparent')).toBe(traceparent);
  });

  it('fails a record the client cannot encode alone and at once; the rest of the batch is published', async () => {
    const stream = await freshStream();
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream });
    const poison = [
      record('a.changed', { subject: 'bad\nkey' }),
      record('a.changed', { headers: { 'x-id': 'a\r\nb' } }),
      record('a.changed', { source: 'cat\nalog' }),
    ];
    const healthy = Array.from({ length: 50 }, (_, n) => record('a.changed', { subject: `p${n}` }));
    const results = await publisher.publish([poison[0]!, ...healthy.slice(0, 25), poison[1]!, poison[2]!, ...healthy.slice(25)]);
    const failures = results.filter((result): result is PublishFailure => !result.ok);
    expect(failures.map((f) => f.id)).toEqual(poison.map((r) => r.id));
    for (const f of failures) expect(f.error).toMatchObject({ code: 'EVENT_INVALID', retryable: false });
    expect(results.filter((result) => result.ok)).toHaveLength(50);
    const stored = await readStream(nc, stream);
    expect(stored.map((m) => m.headers?.get('Nats-Msg-Id'))).toEqual(healthy.map((r) => r.id));
  });

  it('refuses a record carrying a header the binding owns (written around enqueue), storing the rest once', async () => {
    const stream = await freshStream();
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream });
    const victim = record('a.changed', { subject: 'victim' });
    const forged = record('a.changed', { subject: 'forger', headers: { 'Nats-Msg-Id': victim.id } });
    const lower = record('a.changed', { subject: 'forger2', headers: { 'nats-expected-last-sequence': '0' } });
    const results = await publisher.publish([victim, forged, lower]);
    expect(results.map((r) => r.ok)).toEqual([true, false, false]);
    expect(failed(results[1]).error).toMatchObject({ code: 'EVENT_INVALID', retryable: false });
    expect(failed(results[1]).error.message).toContain('Nats-Msg-Id');
    expect((await readStream(nc, stream)).map((m) => m.headers?.get('Nats-Msg-Id'))).toEqual([victim.id]);
    expect(publisher.constraints.reservedHeaderPrefixes).toContain('nats-');
  });

  it('stores an event published twice once; the second result is a duplicate success', async () => {
    const stream = await freshStream();
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream });
    const event = record('catalog.product.price-changed');
    const [first] = await publisher.publish([event]);
    const [second] = await publisher.publish([{ ...event, attempts: 1 }]);
    expect(first).toMatchObject({ ok: true, duplicate: false });
    expect(second).toMatchObject({ id: event.id, ok: true, duplicate: true });
    expect((await jsm.streams.info(stream)).state.messages).toBe(1);
  });

  it('keeps the order of a 10,000-event batch in the stream', async () => {
    const stream = await freshStream();
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream, maxInFlight: 512 });
    const batch = Array.from({ length: 10_000 }, (_, index) => record(index % 2 ? 'a.changed' : 'b.changed', { subject: `p${index % 7}` }));
    const results = await publisher.publish(batch);
    expect(results.map((r) => r.id)).toEqual(batch.map((r) => r.id));
    expect(results.every((r) => r.ok && !r.duplicate)).toBe(true);
    const stored = await readStream(nc, stream);
    expect(stored.map((m) => m.headers?.get('Nats-Msg-Id'))).toEqual(batch.map((r) => r.id));
  });

  it('fails a record with no stream for its subject as NO_STREAM, retryable (an outage, not the event), naming the subject', async () => {
    const prefix = uniqueName('nostream');
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: prefix });
    const error = failed((await publisher.publish([record('x.created')]))[0]).error;
    expect(error.code).toBe('NO_STREAM');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(`${prefix}.x.created`);
  });

  it("fails a record over the server's max_payload as PAYLOAD_TOO_LARGE with both sizes, and sends the rest", async () => {
    const stream = await freshStream();
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream });
    const maxPayload = nc.info?.max_payload ?? 0;
    const big = record('big.created', { payload: JSON.stringify({ blob: 'x'.repeat(maxPayload) }) });
    const small = record('small.created');
    const results = await publisher.publish([big, small]);
    const error = failed(results[0]).error;
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(String(maxPayload));
    expect(error.message).toContain(String(big.payload.length));
    expect(results[1]).toMatchObject({ id: small.id, ok: true });
    expect((await jsm.streams.info(stream)).state.messages).toBe(1);
  });

  it.each(['bad subject', 'events.*', 'events.>', 'events..x', ''])(
    'rejects the mapped subject %j as CONFIG, not retryable',
    async (subject) => {
      const stream = await freshStream();
      const publisher = new NatsPublisher({ connection: nc, subject: (r) => (r.type === 'bad' ? subject : `${stream}.ok`) });
      const results = await publisher.publish([record('bad'), record('good')]);
      const error = failed(results[0]).error;
      expect(error.code).toBe('CONFIG');
      expect(error.retryable).toBe(false);
      expect(error.message).toContain(JSON.stringify(subject));
      expect(results[1]?.ok).toBe(true);
    },
  );

  it('refuses a subject prefix that cannot start a subject', () => {
    expect(() => new NatsPublisher({ connection: nc, subjectPrefix: 'events.*' })).toThrow(OutboxConfigError);
  });

  it('fails unanswered publishes as PUBLISH_TIMEOUT, retryable', async () => {
    const subject = uniqueName('sink');
    const sink = nc.subscribe(`${subject}.>`, { callback: () => undefined });
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: subject, timeoutMs: 200 });
    const results = await publisher.publish([record('x.created'), record('y.created'), record('z.created')]);
    sink.unsubscribe();
    expect(results).toHaveLength(3);
    for (const result of results) expect(failed(result).error).toMatchObject({ code: 'PUBLISH_TIMEOUT', retryable: true });
  });

  it('fails every record on a closed connection as DISCONNECTED, retryable, and probe() says the bus is gone', async () => {
    const stream = await freshStream();
    const other = await connectNats();
    const publisher = new NatsPublisher({ connection: other, subjectPrefix: stream });
    expect(await publisher.probe()).toEqual({ ok: true });
    await other.close();
    expect(await publisher.probe()).toMatchObject({ ok: false, reason: 'unreachable' });
    const results = await publisher.publish([record('a.created'), record('b.created')]);
    expect(results).toHaveLength(2);
    for (const result of results) {
      expect(failed(result).error).toMatchObject({ code: 'DISCONNECTED', retryable: true });
    }
  });

  it('returns a retryable failure for every record not sent before an abort', async () => {
    const stream = await freshStream();
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream, maxInFlight: 1 });
    const controller = new AbortController();
    controller.abort();
    const results = await publisher.publish([record('a.created'), record('b.created')], { signal: controller.signal });
    expect(results.map((r) => r.ok)).toEqual([false, false]);
    expect(failed(results[0]).error.retryable).toBe(true);
    expect((await jsm.streams.info(stream)).state.messages).toBe(0);
  });
});
