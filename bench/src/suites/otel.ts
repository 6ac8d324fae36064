import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { SuiteContext } from '../context.js';
import { pgFixture } from '../fixtures/pg.js';
import { progress } from '../progress.js';

const SUITE = 'otel';
const run = promisify(execFile);
const worker = fileURLToPath(new URL('../workers/otel-worker.mjs', import.meta.url));
const hide = fileURLToPath(new URL('../workers/hide-otel.cjs', import.meta.url));
const PRODUCTS = 10_000;
const CLIENTS = 8;

const VARIANTS = ['absent', 'api', 'sdk-own', 'sdk'] as const;
type Variant = (typeof VARIANTS)[number];
const LABELS: Record<Variant, string> = {
  absent: 'without @opentelemetry/api',
  api: '@opentelemetry/api installed, no SDK',
  'sdk-own': 'recording SDK, active span, traceparent set by the caller (nothing captured)',
  sdk: 'recording SDK, active span, context captured (create span + headers)',
};

/** In the relay drain there is no request span: `sdk-own` and `sdk` are the same (a recording SDK, send spans with links). */
const RELAY_LABELS: Record<Variant, string> = {
  absent: 'without @opentelemetry/api',
  api: '@opentelemetry/api installed, no SDK',
  'sdk-own': 'recording SDK (send span per batch, links)',
  sdk: 'recording SDK (send span per batch, links), again',
};

/**
 * What the OpenTelemetry integration costs `enqueue`: each variant in a process of its own (the API
 * is resolved once per process), the four taking turns within each run. Two measures: `encode`,
 * the CPU of encodeEvents() (where the context is captured) on one event, and `enqueue`, the tx/s
 * of BEGIN; UPDATE; enqueue; COMMIT on PostgreSQL at 8 clients.
 */
export async function otelSuite(ctx: SuiteContext): Promise<void> {
  const { runs, scale } = ctx.options;
  const seconds = scale.otelSeconds;
  ctx.note(
    SUITE,
    `Each variant runs in a child process of its own (plain node on the built dist/), ${seconds} s per measure, the four variants in turn within each run, each run starting at the next variant. ` +
      '`without`: the API hidden by a --require hook, as if not installed. `api, no SDK`: installed, nothing registered, no span. ' +
      '`SDK` variants: BasicTracerProvider with a BatchSpanProcessor whose exporter drops the spans, AsyncLocalStorageContextManager, each operation inside an active span; ' +
      "in `caller's traceparent` the event already carries one, so core captures nothing (the SDK's own cost); in `captured` core starts a create span and stores its context. " +
      `encode: encodeEvents() on one event in a loop (one thread). enqueue: ${CLIENTS} clients loop BEGIN; UPDATE products; enqueue; COMMIT on PostgreSQL, no relay (the table is emptied between variants). ` +
      `relay: Relay.drain() of a ${scale.otelRelayBacklog.toLocaleString('en-US')}-event backlog (each with a traceparent) on PostgreSQL, batches of 500, to a publisher that acknowledges at once: the relay's own cost.`,
  );
  for (let r = 1; r <= runs; r++) {
    const rates: Partial<Record<`${'encode' | 'enqueue' | 'relay'}.${Variant}`, number>> = {};
    const cpu: Partial<Record<`${'encode' | 'enqueue' | 'relay'}.${Variant}`, number>> = {};
    // Each run starts at another variant, so none is always measured first (or right after another).
    const order = VARIANTS.map((_, index) => VARIANTS[(index + r - 1) % VARIANTS.length] as Variant);
    for (const variant of order) {
      progress(`otel run ${r}/${runs}: encode, ${LABELS[variant]}`);
      const { rate, cpuUsPerOp } = await measure({ variant, mode: 'encode', seconds });
      rates[`encode.${variant}`] = rate;
      cpu[`encode.${variant}`] = cpuUsPerOp;
      ctx.book.record(`otel.encode.${variant}`, SUITE, `encodeEvents, one event: ${LABELS[variant]}`, 'events/s', rate);
      ctx.book.record(`otel.encode-cpu.${variant}`, SUITE, `encodeEvents, one event, CPU: ${LABELS[variant]}`, 'µs/event', cpuUsPerOp);
    }
    const fixture = await pgFixture({ poolSize: 1, products: PRODUCTS });
    try {
      for (const variant of order) {
        progress(`otel run ${r}/${runs}: enqueue on PostgreSQL, ${LABELS[variant]}`);
        const { rate, cpuUsPerOp } = await measure({
          variant,
          mode: 'enqueue',
          seconds,
          clients: CLIENTS,
          schema: fixture.schema,
          products: PRODUCTS,
        });
        rates[`enqueue.${variant}`] = rate;
        cpu[`enqueue.${variant}`] = cpuUsPerOp;
        ctx.book.record(
          `otel.enqueue.${variant}`,
          SUITE,
          `UPDATE + enqueue, PostgreSQL, ${CLIENTS} clients: ${LABELS[variant]}`,
          'tx/s',
          rate,
        );
        ctx.book.record(
          `otel.enqueue-cpu.${variant}`,
          SUITE,
          `UPDATE + enqueue, client CPU per transaction: ${LABELS[variant]}`,
          'µs/tx',
          cpuUsPerOp,
        );
        await fixture.pool.query(`TRUNCATE ${fixture.schema}.outbox`);
      }
    } finally {
      await fixture.drop();
    }
    for (const variant of order) {
      progress(`otel run ${r}/${runs}: relay drain of ${scale.otelRelayBacklog.toLocaleString('en-US')} events, ${LABELS[variant]}`);
      const fixture = await pgFixture({ products: 1 });
      try {
        await ctx.backlogs.fillPg(fixture, scale.otelRelayBacklog, scale.subjects);
        const { rate, cpuUsPerOp } = await measure({ variant, mode: 'relay', schema: fixture.schema });
        rates[`relay.${variant}`] = rate;
        cpu[`relay.${variant}`] = cpuUsPerOp;
        ctx.book.record(`otel.relay.${variant}`, SUITE, `Relay.drain, PostgreSQL: ${RELAY_LABELS[variant]}`, 'events/s', rate);
        ctx.book.record(`otel.relay-cpu.${variant}`, SUITE, `Relay.drain, CPU per event: ${RELAY_LABELS[variant]}`, 'µs/event', cpuUsPerOp);
      } finally {
        await fixture.drop();
      }
    }
    const relayOf = (variant: Variant, of: typeof rates) => of[`relay.${variant}`] as number;
    ctx.book.record(
      'otel.relay.api-vs-absent',
      SUITE,
      'Relay.drain events/s: API installed, no SDK / without the API',
      'ratio',
      relayOf('api', rates) / relayOf('absent', rates),
    );
    ctx.book.record(
      'otel.relay.sdk-vs-absent',
      SUITE,
      'Relay.drain events/s: recording SDK / without the API',
      'ratio',
      relayOf('sdk', rates) / relayOf('absent', rates),
    );
    ctx.book.record(
      'otel.relay-cpu.api-vs-absent',
      SUITE,
      'Relay.drain CPU per event: API installed, no SDK / without the API',
      'ratio',
      relayOf('api', cpu) / relayOf('absent', cpu),
    );
    ctx.book.record(
      'otel.relay-cpu.sdk-vs-absent',
      SUITE,
      'Relay.drain CPU per event: recording SDK / without the API',
      'ratio',
      relayOf('sdk', cpu) / relayOf('absent', cpu),
    );
    for (const mode of ['encode', 'enqueue'] as const) {
      const what = mode === 'encode' ? 'encodeEvents' : 'UPDATE + enqueue';
      const of = (variant: Variant) => rates[`${mode}.${variant}`] as number;
      ctx.book.record(
        `otel.${mode}.api-vs-absent`,
        SUITE,
        `${what}: API installed, no SDK / without the API`,
        'ratio',
        of('api') / of('absent'),
      );
      ctx.book.record(
        `otel.${mode}.sdk-vs-sdk-own`,
        SUITE,
        `${what}: context captured / caller's traceparent (both with a recording SDK)`,
        'ratio',
        of('sdk') / of('sdk-own'),
      );
      ctx.book.record(
        `otel.${mode}.sdk-vs-absent`,
        SUITE,
        `${what}: recording SDK, captured / without the API`,
        'ratio',
        of('sdk') / of('absent'),
      );
      // CPU per operation of the worker process: steadier than the rates on a busy machine.
      const cpuOf = (variant: Variant) => cpu[`${mode}.${variant}`] as number;
      ctx.book.record(
        `otel.${mode}-cpu.api-vs-absent`,
        SUITE,
        `${what}, CPU per operation: API installed, no SDK / without the API`,
        'ratio',
        cpuOf('api') / cpuOf('absent'),
      );
      ctx.book.record(
        `otel.${mode}-cpu.sdk-vs-sdk-own`,
        SUITE,
        `${what}, CPU per operation: context captured / caller's traceparent`,
        'ratio',
        cpuOf('sdk') / cpuOf('sdk-own'),
      );
    }
  }
}

async function measure(config: Record<string, unknown> & { variant: Variant }): Promise<{ rate: number; cpuUsPerOp: number }> {
  const args = [...(config.variant === 'absent' ? ['--require', hide] : []), worker, JSON.stringify(config)];
  const { stdout } = await run(process.execPath, args, { env: process.env, maxBuffer: 1 << 20 });
  const { rate, cpuUsPerOp, apiLoaded } = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
    rate: number;
    cpuUsPerOp: number;
    apiLoaded: boolean;
  };
  if (apiLoaded !== (config.variant !== 'absent')) {
    throw new Error(`otel suite: variant ${config.variant} ${apiLoaded ? 'loaded' : 'did not load'} @opentelemetry/api`);
  }
  return { rate, cpuUsPerOp };
}
