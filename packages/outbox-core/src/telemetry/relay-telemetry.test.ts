import * as otel from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PublishError } from '../errors.js';
import { createEvent } from '../event/event.js';
import { Relay } from '../relay/relay.js';
import { MemoryBus } from '../testing/memory-bus.js';
import { MemoryOutboxStore, memoryTransaction } from '../testing/memory-outbox-store.js';

describe("the relay's send span", () => {
  const spans = new InMemorySpanExporter();
  beforeAll(() => {
    otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    otel.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  });
  afterAll(() => {
    otel.trace.disable();
    otel.context.disable();
  });

  it('records a failed publish (error, error.type, status, failed count) and links to every creation context', async () => {
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    const events = ['a', 'b', 'c'].map((subject) => createEvent({ type: 'test.thing.happened', source: 'tests', subject, data: {} }));
    await otel.trace.getTracer('t').startActiveSpan('request', async (span) => {
      await memoryTransaction((tx) => store.enqueue(tx, events));
      span.end();
    });
    const poison = events[1]?.id;
    bus.failPublish = (record) =>
      record.id === poison ? new PublishError('PAYLOAD_TOO_LARGE', 'the message is too large', false) : undefined;

    expect(await new Relay({ store, publisher: bus.publisher() }).drain()).toMatchObject({ published: 2, dead: 1 });

    const finished = spans.getFinishedSpans();
    const creates = finished.filter((span) => span.name === 'create');
    const send = finished.find((span) => span.name === 'send');
    expect(send?.kind).toBe(otel.SpanKind.CLIENT);
    expect(send?.links.map((link) => link.context.spanId).sort()).toEqual(creates.map((span) => span.spanContext().spanId).sort());
    expect(send?.attributes).toMatchObject({
      'messaging.batch.message_count': 3,
      'outboxkit.batch.failed': 1,
      'error.type': 'PAYLOAD_TOO_LARGE',
    });
    expect(send?.status).toMatchObject({ code: otel.SpanStatusCode.ERROR });
    expect(send?.status.message).toContain('the message is too large');
    expect(send?.events.map((event) => event.name)).toEqual(['exception']);
  });

  it('makes the send span of a batch of one the child of its creation context: one trace from producer to bus', async () => {
    spans.reset();
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    const event = createEvent({ type: 'test.thing.happened', source: 'tests', subject: 'a', data: {} });
    await otel.trace.getTracer('t').startActiveSpan('request', async (span) => {
      await memoryTransaction((tx) => store.enqueue(tx, event));
      span.end();
    });
    expect(await new Relay({ store, publisher: bus.publisher() }).drain()).toMatchObject({ published: 1 });
    const finished = spans.getFinishedSpans();
    const create = finished.find((span) => span.name === 'create');
    const send = finished.find((span) => span.name === 'send');
    expect(send?.spanContext().traceId).toBe(create?.spanContext().traceId);
    expect(send?.parentSpanContext?.spanId).toBe(create?.spanContext().spanId);
    expect(send?.links.map((link) => link.context.spanId)).toEqual([create?.spanContext().spanId]);
  });
});
