import type { Attributes, BatchObservableCallback, Counter, Histogram, ObservableResult, Span, Tracer } from '@opentelemetry/api';
import type { OutboxRecord, OutboxStore } from '../contracts/outbox-store.js';
import type { Publisher, PublishResult } from '../contracts/publisher.js';
import type { RelayEvent } from '../relay/relay-events.js';
import { type Otel, otelApi, scopeName } from './otel-api.js';
import { creationLinks, parseTraceparent } from './trace-context.js';

/** Links of a `send` span at most (the SDK's default span link limit is 128). */
const maxLinks = 128;
/** How long a pending count read for the `outboxkit.outbox.pending` gauge is reused. */
const statsTtlMs = 5_000;

/**
 * The relay's spans and metrics through `@opentelemetry/api`, or `undefined` without it. Created
 * once per relay; with the API but no SDK registered, every call is a no-op of the API's.
 */
export function relayTelemetry(publisher: Publisher, store: OutboxStore<unknown>): RelayTelemetry | undefined {
  const otel = otelApi();
  return otel && new RelayTelemetry(otel, publisher, store);
}

/**
 * A `send` span per batch (messaging conventions: operation type `send`, kind `CLIENT`: the events'
 * creation contexts are their `create` spans, and this span links to each), and the relay's metrics.
 */
export class RelayTelemetry {
  readonly #otel: Otel;
  readonly #tracer: Tracer;
  readonly #publisher: Publisher;
  readonly #base: Attributes;
  readonly #sent: Counter;
  readonly #publishDuration: Histogram;
  readonly #batchDuration: Histogram;
  readonly #addCallbacks: () => void;
  readonly #removeCallbacks: () => void;
  #observing = false;
  #lagSeconds = 0;

  constructor(otel: Otel, publisher: Publisher, store: OutboxStore<unknown>) {
    this.#otel = otel;
    this.#publisher = publisher;
    this.#tracer = otel.trace.getTracer(scopeName);
    this.#base = publisher.messagingSystem ? { 'messaging.system': publisher.messagingSystem } : {};
    const meter = otel.metrics.getMeter(scopeName);
    this.#sent = meter.createCounter('messaging.client.sent.messages', {
      unit: '{message}',
      description: 'Events the relay sent to the bus, by outcome (published, duplicate, failed, dead_lettered).',
    });
    this.#publishDuration = meter.createHistogram('messaging.client.operation.duration', {
      unit: 's',
      description: 'Publish latency of a batch: from sending it to its last acknowledgement.',
    });
    this.#batchDuration = meter.createHistogram('outboxkit.relay.batch.duration', {
      unit: 's',
      description: 'One claim, publish and settle cycle of the relay.',
    });
    const lag = meter.createObservableGauge('outboxkit.relay.lag', {
      unit: 's',
      description: 'Age of the oldest event of the last batch when it was published.',
    });
    const observeLag = (result: ObservableResult): void => result.observe(this.#lagSeconds, this.#base);
    let cached: { at: number; pending: number; oldestSeconds: number } | undefined;
    const pending = meter.createObservableGauge('outboxkit.outbox.pending', {
      unit: '{message}',
      description: 'Events written and not yet published (nor dead).',
    });
    const oldest = meter.createObservableGauge('outboxkit.outbox.oldest_pending_age', {
      unit: 's',
      description: 'Age of the oldest pending event: the lag of the outbox.',
    });
    const observeStats: BatchObservableCallback = async (result) => {
      if (!cached || Date.now() - cached.at > statsTtlMs) {
        try {
          const stats = await store.stats();
          cached = { at: Date.now(), pending: stats.pending, oldestSeconds: (stats.oldestPendingAgeMs ?? 0) / 1_000 };
        } catch {
          // The database is down: the relay reports that itself; no figure this time.
          return;
        }
      }
      result.observe(pending, cached.pending, this.#base);
      result.observe(oldest, cached.oldestSeconds, this.#base);
    };
    this.#addCallbacks = () => {
      lag.addCallback(observeLag);
      meter.addBatchObservableCallback(observeStats, [pending, oldest]);
    };
    this.#removeCallbacks = () => {
      lag.removeCallback(observeLag);
      meter.removeBatchObservableCallback(observeStats, [pending, oldest]);
    };
  }

  /** Observes this relay's gauges from now on: called when it starts (a Relay only constructed reports none). */
  start(): void {
    if (this.#observing) return;
    this.#observing = true;
    this.#addCallbacks();
  }

  /** Stops observing this relay's gauges (its store may be closed after it stopped). */
  close(): void {
    if (!this.#observing) return;
    this.#observing = false;
    this.#removeCallbacks();
  }

  /** Runs the publish of a batch inside its `send` span; the span records failures and ends with the call. */
  async send(records: readonly OutboxRecord[], publish: () => Promise<PublishResult[]>): Promise<PublishResult[]> {
    const otel = this.#otel;
    const destination = this.#destination(records);
    const attributes: Attributes = {
      ...this.#base,
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.batch.message_count': records.length,
    };
    if (destination !== undefined) attributes['messaging.destination.name'] = destination;
    if (records.length === 1) {
      const record = records[0] as OutboxRecord;
      attributes['messaging.message.id'] = record.id;
      attributes['outboxkit.event.subject'] = record.subject;
    }
    // A batch of several events serves many producers at once: a trace of its own, each event's
    // creation context a link. A batch of one (the usual case at low load) is also the child of its
    // event's creation context, so that event's producer, relay and consumer share one trace.
    const single = records.length === 1 ? parseTraceparent(otel, (records[0] as OutboxRecord).headers) : undefined;
    const span = this.#tracer.startSpan(
      destination === undefined ? 'send' : `send ${destination}`,
      { kind: otel.SpanKind.CLIENT, attributes, ...(single ? {} : { root: true }) },
      single ? otel.trace.setSpanContext(otel.ROOT_CONTEXT, single) : otel.ROOT_CONTEXT,
    );
    if (!span.isRecording()) {
      span.end();
      return publish();
    }
    span.addLinks(
      creationLinks(
        otel,
        records.map((record) => record.headers),
        maxLinks,
      ),
    );
    try {
      const results = await publish();
      this.#finish(span, results);
      return results;
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: otel.SpanStatusCode.ERROR, message: String((error as Error)?.message ?? error) });
      span.end();
      throw error;
    }
  }

  #finish(span: Span, results: readonly PublishResult[]): void {
    let failed = 0;
    let duplicates = 0;
    let firstError: Error | undefined;
    for (const result of results) {
      if (result.ok) {
        if (result.duplicate) duplicates++;
      } else {
        failed++;
        firstError ??= result.error;
      }
    }
    span.setAttribute('outboxkit.batch.failed', failed);
    span.setAttribute('outboxkit.batch.duplicates', duplicates);
    if (firstError) {
      span.recordException(firstError);
      span.setAttribute('error.type', (firstError as { code?: string }).code ?? firstError.name);
      span.setStatus({
        code: this.#otel.SpanStatusCode.ERROR,
        message: `${failed} of ${results.length} publishes failed: ${firstError.message}`,
      });
    }
    span.end();
  }

  #destination(records: readonly OutboxRecord[]): string | undefined {
    const destinationOf = this.#publisher.destinationOf;
    if (!destinationOf || records.length === 0) return undefined;
    try {
      const first = destinationOf.call(this.#publisher, records[0] as OutboxRecord);
      for (let index = 1; index < records.length; index++) {
        if (destinationOf.call(this.#publisher, records[index] as OutboxRecord) !== first) return undefined;
      }
      return first;
    } catch {
      return undefined;
    }
  }

  /** Feeds the metrics from the relay's own events. */
  record(event: RelayEvent): void {
    try {
      this.#metrics(event);
    } catch {
      // Telemetry never stops the loop it observes.
    }
  }

  #metrics(event: RelayEvent): void {
    if (event.type !== 'batch') return;
    const base = this.#base;
    const published = event.published - event.duplicates;
    if (published > 0) this.#sent.add(published, { ...base, 'outboxkit.outcome': 'published' });
    if (event.duplicates > 0) this.#sent.add(event.duplicates, { ...base, 'outboxkit.outcome': 'duplicate' });
    if (event.failed > 0) this.#sent.add(event.failed, { ...base, 'outboxkit.outcome': 'failed' });
    if (event.dead > 0) this.#sent.add(event.dead, { ...base, 'outboxkit.outcome': 'dead_lettered' });
    this.#publishDuration.record(event.publishMs / 1_000, { ...base, 'messaging.operation.name': 'send' });
    this.#batchDuration.record(event.durationMs / 1_000, base);
    this.#lagSeconds = event.lagMs / 1_000;
  }
}
