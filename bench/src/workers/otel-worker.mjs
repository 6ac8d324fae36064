// One variant of the otel suite in a process of its own (the API is resolved once per process, so
// variants cannot share one). Plain JavaScript on the packages' built `dist/`, run by plain `node`.
//
//   absent    @opentelemetry/api hidden (hide-otel.cjs): core as it was before the integration
//   api       the API installed, no SDK registered, no span: what every service without tracing pays
//   sdk-own   a recording SDK, each operation inside an active span, and the event already carries
//             its traceparent: core captures nothing (the SDK's own cost, the baseline of `sdk`)
//   sdk       the same, without a traceparent: core starts a `create` span and stores its context
//
// `encode` loops encodeEvents() (the step that captures the context) on one event for `seconds`;
// `enqueue` runs `clients` loops of BEGIN; UPDATE; enqueue; COMMIT on PostgreSQL for `seconds`;
// `relay` drains the backlog of `schema`'s outbox with Relay.drain() to a publisher that acks at once.
// It prints one JSON line: { rate, cpuUsPerOp, apiLoaded }.

import { createRequire } from 'node:module';
import { createEvent, Relay } from '@outboxkit/outbox-core';
import { encodeEvents } from '@outboxkit/outbox-core/driver';
import { PgOutboxStore, transaction } from '@outboxkit/outbox-pg';
import { PG_URL } from '@outboxkit/test-services';
import pg from 'pg';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const config = JSON.parse(process.argv[2] ?? '{}');
const { variant, mode, seconds, clients = 8, schema, products = 10_000 } = config;

/** Runs `work` inside an active span when the variant records, else as it is (sync and async forms). */
let inSpan = (work) => work();
let inSpanSync = (work) => work();
if (variant === 'sdk' || variant === 'sdk-own') {
  const { trace, context } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  // Spans are recorded, batched and handed to an exporter that drops them: the cost up to the wire.
  const exporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => undefined };
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] }));
  const tracer = trace.getTracer('bench');
  inSpanSync = (work) =>
    tracer.startActiveSpan('request', (span) => {
      try {
        return work();
      } finally {
        span.end();
      }
    });
  inSpan = (work) =>
    tracer.startActiveSpan('request', async (span) => {
      try {
        return await work();
      } finally {
        span.end();
      }
    });
}
const headers = variant === 'sdk-own' ? { traceparent: TRACEPARENT } : {};
const event = (id) =>
  createEvent({
    type: 'catalog.product.price-changed',
    source: 'catalog',
    subject: `product-${id}`,
    data: { productId: `product-${id}`, newPrice: id / 100, oldPrice: id / 100 + 1, n: 0 },
    headers,
  });

let rate;
let ops = 0;
const cpuBefore = process.cpuUsage();
if (mode === 'encode') {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const started = performance.now();
  while (performance.now() < deadline) {
    // 1,000 per check of the clock, each inside its own span when the variant records.
    for (let i = 0; i < 1_000; i++) {
      inSpanSync(() => encodeEvents(event(i)));
    }
    done += 1_000;
  }
  rate = done / ((performance.now() - started) / 1000);
  ops = done;
} else if (mode === 'relay') {
  // Relay.drain() of the backlog the parent copied in, to a publisher that acknowledges at once:
  // the relay's own CPU (with an SDK: a send span per batch, a link per event up to 128).
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  const store = new PgOutboxStore({ pool, schema, listen: false });
  const publisher = { publish: async (records) => records.map((record) => ({ id: record.id, ok: true, duplicate: false })) };
  const started = performance.now();
  const totals = await new Relay({ store, publisher, batchSize: 500 }).drain();
  rate = totals.published / ((performance.now() - started) / 1000);
  ops = totals.published;
  await store.close();
  await pool.end();
} else {
  const pool = new pg.Pool({ connectionString: PG_URL, max: clients });
  const store = new PgOutboxStore({ pool, schema, listen: false });
  const deadline = performance.now() + seconds * 1000;
  let committed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        const id = Math.floor(Math.random() * products);
        await inSpan(() =>
          transaction(pool, async (client) => {
            await client.query(`UPDATE ${schema}.products SET price = price + 1, version = version + 1 WHERE id = $1`, [id]);
            await store.enqueue(client, event(id));
          }),
        );
        committed++;
      }
    }),
  );
  rate = committed / ((performance.now() - started) / 1000);
  ops = committed;
  await store.close();
  await pool.end();
}
// This process's CPU per operation: on a busy machine far steadier than the rate, and for
// `enqueue` exactly what core adds (the database's work is the same in every variant).
const cpu = process.cpuUsage(cpuBefore);
const cpuUsPerOp = (cpu.user + cpu.system) / ops;
// Whether core loaded the API (it requires it on first use): the suite checks each variant is what it says.
const apiLoaded = Object.keys(createRequire(import.meta.url).cache).some((key) => key.includes('@opentelemetry/api'));
process.stdout.write(`${JSON.stringify({ rate, cpuUsPerOp, apiLoaded })}\n`);
