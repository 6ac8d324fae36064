import type { NatsConnection } from '@nats-io/transport-node';
import { type Attributes, context, metrics, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ensureConsumer, ensureDeadLetterStream, ensureStream, NatsPublisher, NatsSubscriber } from '@outboxkit/bus-nats';
import { Consumer, defineEvent, type InboxStore, type OutboxEvent, type OutboxStore, Relay } from '@outboxkit/outbox-core';
import { MemoryBus, MemoryInboxStore } from '@outboxkit/outbox-core/testing';
import { MysqlInboxStore, MysqlOutboxStore, transaction as mysqlTransaction } from '@outboxkit/outbox-mysql';
import { PgInboxStore, PgOutboxStore, transaction as pgTransaction } from '@outboxkit/outbox-pg';
import { waitUntil } from '@outboxkit/test-services';
import { createPool } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MysqlFixture } from './mysql-fixture.js';
import { pgFixtureWithNatsPerFile } from './pg-fixture.js';
import { randomName } from './random-name.js';

let nc: NatsConnection;
const { fixture: pgFixture, streams } = pgFixtureWithNatsPerFile((connection) => {
  nc = connection;
});
const mysqlFixture = new MysqlFixture();
beforeAll(() => mysqlFixture.init());
afterAll(() => mysqlFixture.dispose());

const PriceChanged = defineEvent('catalog.product.price-changed', { schema: z.object({ price: z.number() }), source: 'catalog' });
type Queryable = { query(sql: string): Promise<unknown> };
/** A caller's own trace context: kept as it is. */
const manualTraceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** A real SDK in memory, registered globally like an application's, and removed after the test. */
function registerSdk(): { spans: InMemorySpanExporter; reader: PeriodicExportingMetricReader; dispose(): void } {
  const spans = new InMemorySpanExporter();
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  return {
    spans,
    reader,
    dispose() {
      trace.disable();
      metrics.disable();
      context.disable();
    },
  };
}

interface Dialect {
  readonly name: string;
  readonly mode: 'batch' | 'message';
  store(table: string): Promise<OutboxStore<unknown> & { enqueue(tx: never, events: readonly OutboxEvent[]): Promise<void> }>;
  inbox(table: string): Promise<InboxStore<unknown>>;
  transaction(work: (tx: never) => Promise<void>): Promise<void>;
  dispose(): Promise<void>;
}

const pgDialect = (): Dialect => ({
  name: 'pg',
  mode: 'batch',
  async store(table) {
    const store = new PgOutboxStore({ pool: pgFixture.pool, schema: pgFixture.schema, table, listen: false });
    await store.migrate();
    return store as never;
  },
  async inbox(table) {
    const inbox = new PgInboxStore({ pool: pgFixture.pool, schema: pgFixture.schema, table });
    await inbox.migrate();
    return inbox as never;
  },
  transaction: (work) => pgTransaction(pgFixture.pool, (client) => work(client as never)),
  dispose: async () => undefined,
});

const mysqlDialect = (): Dialect => {
  const pool = createPool({ uri: mysqlFixture.url, connectionLimit: 4 });
  return {
    name: 'mysql',
    mode: 'message',
    async store(table) {
      const store = new MysqlOutboxStore({ pool, table });
      await store.migrate();
      return store as never;
    },
    async inbox(table) {
      const inbox = new MysqlInboxStore({ pool, table });
      await inbox.migrate();
      return inbox as never;
    },
    transaction: (work) => mysqlTransaction(pool, (connection) => work(connection as never)),
    dispose: () => pool.end(),
  };
};

/**
 * Four events through the real pipeline: two enqueued inside a request span (one of them poison),
 * one with the caller's own `traceparent`, one outside any span. Relayed by the Relay to NATS and
 * consumed by the Consumer (maxDeliver 2) whose handler opens a span of its own and queries its
 * transaction.
 */
async function pipeline(dialect: Dialect) {
  const tracer = trace.getTracer('otel-test');
  const stream = randomName('OTEL').toUpperCase();
  const dlqStream = randomName('OTELDLQ').toUpperCase();
  const prefix = stream.toLowerCase();
  const dlqPrefix = `${prefix}_dlq`;
  streams.push(stream, dlqStream);
  await ensureStream(nc, { name: stream, subjects: [`${prefix}.>`] });
  await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
  const durable = `basket_${dialect.name}`;
  await ensureConsumer(nc, { stream, name: durable, maxDeliver: 2, ackWaitMs: 5_000 });
  const store = await dialect.store(randomName('outbox'));
  const inbox = await dialect.inbox(randomName('inbox'));

  const good = PriceChanged.create({ price: 10 }, { subject: 'product-1' });
  const poison = PriceChanged.create({ price: -1 }, { subject: 'product-2' });
  const manual = PriceChanged.create({ price: 20 }, { subject: 'product-3', headers: { traceparent: manualTraceparent } });
  const untraced = PriceChanged.create({ price: 30 }, { subject: 'product-4' });
  const request = await tracer.startActiveSpan('POST /products/1/price', async (span) => {
    const withTenant = propagation.setBaggage(context.active(), propagation.createBaggage({ tenant: { value: 'acme' } }));
    await context.with(withTenant, () => dialect.transaction((tx) => store.enqueue(tx, [good, poison, manual])));
    span.end();
    return span.spanContext();
  });
  await dialect.transaction((tx) => store.enqueue(tx, [untraced]));

  const drained = await new Relay({ store, publisher: new NatsPublisher({ connection: nc, subjectPrefix: prefix }) }).drain();
  expect(drained).toMatchObject({ published: 4, failed: 0, dead: 0 });

  const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: durable, deadLetterPrefix: dlqPrefix });
  const received = new Map<string, { headers: Readonly<Record<string, string>>; tenant: string | undefined }>();
  let applied = 0;
  let dead = 0;
  const consumer = new Consumer({
    subscriber,
    inbox,
    mode: dialect.mode,
    fetchExpiresMs: 200,
    backoff: { initialMs: 10, maxMs: 50 },
    inboxRetentionMs: 7 * 86_400_000,
    onEvent: (event) => {
      if (event.type === 'applied') applied++;
      if (event.type === 'dead') dead++;
    },
  }).on(PriceChanged, async (event, tx) => {
    received.set(event.id, { headers: event.headers, tenant: propagation.getBaggage(context.active())?.getEntry('tenant')?.value });
    await tracer.startActiveSpan('apply price', async (span) => {
      await (tx as Queryable).query('SELECT 1');
      span.end();
    });
    if (event.data.price < 0) throw new Error('price must not be negative');
  });
  await consumer.start();
  await waitUntil('three events applied and the poison dead-lettered', () => applied === 3 && dead === 1, 30_000);
  await consumer.stop({ timeoutMs: 5_000 });
  await subscriber.close();
  return {
    request,
    good,
    poison,
    manual,
    untraced,
    received,
    prefix,
    durable,
    stream,
    dlqPrefix,
    store,
    publisher: new NatsPublisher({ connection: nc, subjectPrefix: prefix }),
  };
}

function attribute(span: ReadableSpan, name: string): Attributes[string] {
  return span.attributes[name];
}

describe('OpenTelemetry: one trace from the producer through the relay to the consumer', { timeout: 90_000 }, () => {
  it('without a registered SDK: nothing breaks, no span, no trace header is added', async () => {
    const dialect = pgDialect();
    const result = await pipeline(dialect);
    await dialect.dispose();
    for (const event of [result.good, result.poison, result.untraced]) {
      expect(result.received.get(event.id)?.headers.traceparent).toBeUndefined();
    }
    expect(result.received.get(result.manual.id)?.headers.traceparent).toBe(manualTraceparent);
  });

  it("a batch handler (onBatch): one process span per call, linked to each event's creation context, the handler inside it", async () => {
    const sdk = registerSdk();
    try {
      const bus = new MemoryBus();
      const creations = ['a1', 'b2', 'c3'].map((tag) => ({ traceId: tag.padStart(32, '0'), spanId: tag.padStart(16, '0') }));
      const events = creations.map(({ traceId, spanId }, index) =>
        PriceChanged.create({ price: index + 1 }, { subject: `product-${index}`, headers: { traceparent: `00-${traceId}-${spanId}-01` } }),
      );
      await bus.publisher().publish(events.map((event) => ({ ...event, payload: JSON.stringify(event.data), attempts: 0 })));
      const calls: number[] = [];
      const consumer = new Consumer({
        subscriber: bus.subscriber({ name: 'basket' }),
        inbox: new MemoryInboxStore(),
        fetchExpiresMs: 10,
      }).onBatch(PriceChanged, async (batch) => {
        calls.push(batch.length);
        trace.getTracer('test').startActiveSpan('apply prices', (span) => span.end());
      });
      expect(await consumer.runOnce()).toBe(3);
      expect(calls).toEqual([3]);
      const spans = sdk.spans.getFinishedSpans();
      const processes = spans.filter((span) => span.name.startsWith('process'));
      expect(processes).toHaveLength(1);
      const process = processes[0] as ReadableSpan;
      expect(process.kind).toBe(SpanKind.CONSUMER);
      expect(process.parentSpanContext).toBeUndefined();
      expect(process.attributes).toMatchObject({
        'messaging.operation.type': 'process',
        'messaging.batch.message_count': 3,
        'messaging.consumer.group.name': 'basket',
        'outboxkit.event.type': PriceChanged.type,
      });
      expect(process.links.map((link) => link.context.spanId)).toEqual(creations.map((creation) => creation.spanId));
      const handler = spans.find((span) => span.name === 'apply prices');
      expect(handler?.parentSpanContext?.spanId).toBe(process.spanContext().spanId);
    } finally {
      sdk.dispose();
    }
  });

  for (const make of [pgDialect, mysqlDialect]) {
    it(`${make === pgDialect ? 'PostgreSQL' : 'MariaDB'}: create -> send (linked) -> process -> the handler's span, errors and dead letter on the span, metrics`, async () => {
      const sdk = registerSdk();
      try {
        const dialect = make();
        const r = await pipeline(dialect);
        const spans = sdk.spans.getFinishedSpans();
        const traceId = r.request.traceId;

        // Enqueue: a `create` span per event inside the request, its context stored with the event.
        const creates = spans.filter((span) => span.name === 'create');
        expect(creates.map((span) => attribute(span, 'messaging.message.id')).sort()).toEqual([r.good.id, r.poison.id].sort());
        const createOf = new Map(creates.map((span) => [attribute(span, 'messaging.message.id') as string, span]));
        for (const span of creates) {
          expect(span.kind).toBe(SpanKind.PRODUCER);
          expect(span.spanContext().traceId).toBe(traceId);
          expect(span.parentSpanContext?.spanId).toBe(r.request.spanId);
          const id = attribute(span, 'messaging.message.id') as string;
          expect(r.received.get(id)?.headers.traceparent).toBe(`00-${traceId}-${span.spanContext().spanId}-01`);
          expect(r.received.get(id)?.headers.baggage).toBe('tenant=acme');
          expect(r.received.get(id)?.tenant).toBe('acme');
        }
        expect(r.received.get(r.manual.id)?.headers.traceparent).toBe(manualTraceparent);
        expect(r.received.get(r.untraced.id)?.headers.traceparent).toBeUndefined();

        // Relay: one `send` span for the batch, a new trace, linked to each creation context.
        const sends = spans.filter((span) => span.name.startsWith('send'));
        expect(sends).toHaveLength(1);
        const send = sends[0] as ReadableSpan;
        expect(send.name).toBe(`send ${r.prefix}.${PriceChanged.type}`);
        expect(send.kind).toBe(SpanKind.CLIENT);
        expect(send.parentSpanContext).toBeUndefined();
        expect(send.attributes).toMatchObject({
          'messaging.system': 'nats',
          'messaging.operation.type': 'send',
          'messaging.batch.message_count': 4,
          'messaging.destination.name': `${r.prefix}.${PriceChanged.type}`,
        });
        expect(send.links.map((link) => link.context.spanId).sort()).toEqual(
          [createOf.get(r.good.id)?.spanContext().spanId, createOf.get(r.poison.id)?.spanContext().spanId, 'b7ad6b7169203331'].sort(),
        );

        // Consumer: `process` spans are children of the creation context, the handler's span inside.
        const processOf = (id: string) =>
          spans.filter((span) => span.name.startsWith('process') && attribute(span, 'messaging.message.id') === id);
        const goodProcess = processOf(r.good.id);
        expect(goodProcess.length).toBeGreaterThanOrEqual(1);
        for (const span of goodProcess) {
          expect(span.kind).toBe(SpanKind.CONSUMER);
          expect(span.name).toBe(`process ${r.prefix}.${PriceChanged.type}`);
          expect(span.spanContext().traceId).toBe(traceId);
          expect(span.parentSpanContext?.spanId).toBe(createOf.get(r.good.id)?.spanContext().spanId);
          expect(span.links.map((link) => link.context.spanId)).toEqual([createOf.get(r.good.id)?.spanContext().spanId]);
          expect(span.attributes).toMatchObject({
            'messaging.system': 'nats',
            'messaging.operation.type': 'process',
            'messaging.destination.name': `${r.prefix}.${PriceChanged.type}`,
            'messaging.consumer.group.name': r.durable,
            'outboxkit.event.subject': 'product-1',
            'outboxkit.message.delivery_count': 1,
          });
          expect(span.status.code).not.toBe(SpanStatusCode.ERROR);
          const handlerSpans = spans.filter((s) => s.name === 'apply price' && s.parentSpanContext?.spanId === span.spanContext().spanId);
          expect(handlerSpans).toHaveLength(1);
          expect(handlerSpans[0]?.spanContext().traceId).toBe(traceId);
        }
        expect(processOf(r.manual.id)[0]?.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
        const untracedProcess = processOf(r.untraced.id)[0];
        expect(untracedProcess?.parentSpanContext).toBeUndefined();
        expect(untracedProcess?.links).toEqual([]);

        // The poison: each attempt's span records the error; the second (maxDeliver 2) is dead-lettered.
        const poisonSpans = processOf(r.poison.id).sort(
          (a, b) => Number(attribute(a, 'outboxkit.message.delivery_count')) - Number(attribute(b, 'outboxkit.message.delivery_count')),
        );
        expect(poisonSpans.map((span) => attribute(span, 'outboxkit.message.delivery_count'))).toEqual([1, 2]);
        for (const span of poisonSpans) {
          expect(span.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'price must not be negative' });
          expect(span.events.some((event) => event.name === 'exception')).toBe(true);
          expect(span.spanContext().traceId).toBe(traceId);
        }
        expect(attribute(poisonSpans[0] as ReadableSpan, 'outboxkit.outcome')).toBe('retry');
        expect(attribute(poisonSpans[1] as ReadableSpan, 'outboxkit.outcome')).toBe('dead_lettered');
        expect(poisonSpans[1]?.events.find((event) => event.name === 'dead-lettered')?.attributes).toMatchObject({
          'outboxkit.dead_letter.code': 'HANDLER_FAILED',
        });

        // Metrics through the metrics API.
        const { resourceMetrics } = await sdk.reader.collect();
        const all = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
        const points = (name: string) => all.find((metric) => metric.descriptor.name === name)?.dataPoints ?? [];
        const sum = (name: string, outcome: string) =>
          points(name)
            .filter((point) => point.attributes['outboxkit.outcome'] === outcome)
            .reduce((total, point) => total + Number(point.value), 0);
        expect(sum('messaging.client.sent.messages', 'published')).toBe(4);
        expect(sum('messaging.client.consumed.messages', 'applied')).toBe(3);
        expect(sum('messaging.client.consumed.messages', 'failed')).toBe(1);
        expect(sum('messaging.client.consumed.messages', 'dead_lettered')).toBe(1);
        const histogramCount = (name: string) => points(name).reduce((total, point) => total + (point.value as { count: number }).count, 0);
        expect(histogramCount('messaging.client.operation.duration')).toBe(1);
        expect(histogramCount('outboxkit.relay.batch.duration')).toBe(1);
        expect(histogramCount('messaging.process.duration')).toBeGreaterThanOrEqual(5);
        expect(histogramCount('outboxkit.consumer.latency')).toBe(3);

        // The outbox gauges are read from the store while a relay runs.
        const relay = new Relay({ store: r.store, publisher: r.publisher });
        await relay.start();
        const running = (await sdk.reader.collect()).resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
        await relay.stop();
        const gauge = (name: string) => running.find((metric) => metric.descriptor.name === name);
        expect(gauge('outboxkit.outbox.pending')?.descriptor.unit).toBe('{message}');
        expect(gauge('outboxkit.outbox.pending')?.dataPoints.map((point) => point.value)).toEqual([0]);
        expect(gauge('outboxkit.outbox.oldest_pending_age')?.dataPoints.map((point) => point.value)).toEqual([0]);

        // The durable's lag, observed while a consumer runs: a new durable on the four events, one fetched.
        const lagDurable = `lag_${dialect.name}`;
        await ensureConsumer(nc, { stream: r.stream, name: lagDurable, maxDeliver: 2, ackWaitMs: 5_000 });
        const lagSubscriber = await NatsSubscriber.create({
          connection: nc,
          stream: r.stream,
          consumer: lagDurable,
          deadLetterPrefix: r.dlqPrefix,
        });
        const lagConsumer = new Consumer({
          subscriber: lagSubscriber,
          inbox: new MemoryInboxStore(),
          fetchSize: 1,
          fetchExpiresMs: 200,
        }).on(PriceChanged, async () => undefined);
        const lagOf = async () =>
          (await sdk.reader.collect()).resourceMetrics.scopeMetrics
            .flatMap((scope) => scope.metrics)
            .find((metric) => metric.descriptor.name === 'outboxkit.consumer.pending')
            ?.dataPoints.filter((point) => point.attributes['messaging.consumer.group.name'] === lagDurable)
            .map((point) => point.value);
        expect(await lagOf()).toBeUndefined();
        expect(await lagConsumer.runOnce()).toBe(1);
        expect(await lagOf()).toEqual([3]);
        await lagConsumer.stop();
        await lagSubscriber.close();
        await dialect.dispose();
      } finally {
        sdk.dispose();
      }
    });
  }
});
