import type { Attributes, Counter, Histogram, ObservableResult, Span, Tracer } from '@opentelemetry/api';
import type { ConsumerEvent } from '../consumer/consumer-events.js';
import type { Delivery, Subscriber } from '../contracts/subscriber.js';
import { isInfrastructureError, isTransactionConflict, OutboxError } from '../errors.js';
import type { OutboxEvent } from '../event/event.js';
import { type Otel, otelApi, scopeName } from './otel-api.js';
import { parseTraceparent, withBaggage } from './trace-context.js';

type Handler = (event: OutboxEvent, tx: unknown) => Promise<void>;

/** Failed `process` spans kept open until the consumer settles their message, at most. */
const maxOpen = 1_000;
/** How long a lag read for the `outboxkit.consumer.pending` gauge is reused. */
const statsTtlMs = 5_000;

/**
 * The consumer's spans and metrics through `@opentelemetry/api`, or `undefined` without it.
 * Created once per consumer; with the API but no SDK registered, every call is a no-op of the API's.
 */
export function consumerTelemetry(subscriber: Subscriber): ConsumerTelemetry | undefined {
  const otel = otelApi();
  return otel && new ConsumerTelemetry(otel, subscriber);
}

/**
 * A `process` span per handler run (messaging conventions: kind `CONSUMER`, child of the event's
 * creation context and linked to it), with the handler running inside it, and the consumer's metrics.
 * A failed run's span stays open until the consumer decides: redelivery (`outboxkit.outcome`
 * `retry`) or dead letter (`dead_lettered`, with a `dead-lettered` span event); an infrastructure
 * failure ends it at once (`outage`: the message is kept and retried, no delivery is spent).
 */
export class ConsumerTelemetry {
  readonly #otel: Otel;
  readonly #tracer: Tracer;
  readonly #subscriber: Subscriber;
  readonly #base: Attributes;
  readonly #consumed: Counter;
  readonly #processDuration: Histogram;
  readonly #latency: Histogram;
  /** Failed spans waiting for their message's outcome, by event id, oldest first. */
  readonly #open = new Map<string, Span>();
  #addCallbacks: (() => () => void) | undefined;
  #removeCallbacks: (() => void) | undefined;

  constructor(otel: Otel, subscriber: Subscriber) {
    this.#otel = otel;
    this.#subscriber = subscriber;
    this.#tracer = otel.trace.getTracer(scopeName);
    this.#base = {
      ...(subscriber.messagingSystem ? { 'messaging.system': subscriber.messagingSystem } : {}),
      'messaging.consumer.group.name': subscriber.name,
    };
    const meter = otel.metrics.getMeter(scopeName);
    this.#consumed = meter.createCounter('messaging.client.consumed.messages', {
      unit: '{message}',
      description: 'Messages the consumer settled, by outcome (applied, duplicate, failed, dead_lettered, skipped).',
    });
    this.#processDuration = meter.createHistogram('messaging.process.duration', {
      unit: 's',
      description: 'Duration of a handler run.',
    });
    this.#latency = meter.createHistogram('outboxkit.consumer.latency', {
      unit: 's',
      description: "From the event's time to its handler's commit: end-to-end latency.",
    });
    if (subscriber.pending) {
      const lag = meter.createObservableGauge('outboxkit.consumer.pending', {
        unit: '{message}',
        description: 'Messages of the stream not yet delivered to the durable: its lag.',
      });
      let cached: { at: number; pending: number } | undefined;
      const observe = async (result: ObservableResult): Promise<void> => {
        if (!cached || Date.now() - cached.at > statsTtlMs) {
          try {
            cached = { at: Date.now(), pending: await (subscriber.pending as () => Promise<number>).call(subscriber) };
          } catch {
            // The bus is unreachable: the consumer reports that itself; no figure this time.
            return;
          }
        }
        result.observe(cached.pending, this.#base);
      };
      this.#addCallbacks = () => {
        lag.addCallback(observe);
        return () => lag.removeCallback(observe);
      };
    }
  }

  /** Observes the durable's lag from now on: called when the consumer starts (one only constructed reports none). */
  start(): void {
    if (this.#removeCallbacks) return;
    this.#removeCallbacks = this.#addCallbacks?.();
  }

  /** Stops observing this consumer's gauge (its connection may be closed after it stopped). */
  close(): void {
    this.#removeCallbacks?.();
    this.#removeCallbacks = undefined;
  }

  /** The handler, run inside a `process` span of this delivery. */
  wrap(handler: Handler, delivery: Delivery, event: OutboxEvent): Handler {
    return (received, tx) => this.#process(handler, delivery, event, received, tx);
  }

  async #process(handler: Handler, delivery: Delivery, event: OutboxEvent, received: OutboxEvent, tx: unknown): Promise<void> {
    const otel = this.#otel;
    const creation = parseTraceparent(otel, event.headers);
    let parent = otel.ROOT_CONTEXT;
    if (creation) parent = withBaggage(otel, otel.trace.setSpanContext(parent, creation), event.headers.baggage);
    const destination = delivery.subject;
    const attributes: Attributes = {
      ...this.#base,
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.message.id': event.id,
      'outboxkit.event.type': event.type,
      'outboxkit.event.subject': event.subject,
      'outboxkit.message.delivery_count': delivery.deliveryCount,
    };
    if (destination !== undefined) attributes['messaging.destination.name'] = destination;
    const span = this.#tracer.startSpan(
      destination === undefined ? 'process' : `process ${destination}`,
      { kind: otel.SpanKind.CONSUMER, attributes, ...(creation ? { links: [{ context: creation }] } : {}) },
      parent,
    );
    const started = performance.now();
    try {
      await otel.context.with(otel.trace.setSpan(parent, span), () => handler(received, tx));
    } catch (error) {
      this.#failed(span, event.id, error, started);
      throw error;
    }
    this.#processDuration.record((performance.now() - started) / 1_000, this.#base);
    span.end();
  }

  /**
   * A batch handler's call, run inside one `process` span linked to the creation context of each
   * of its events (messaging conventions for a batch; no parent). A failed call's span ends at once:
   * the consumer runs its events again one by one, each in a span of its own.
   */
  async processBatch(
    items: readonly { readonly delivery: Delivery; readonly event: OutboxEvent }[],
    call: () => Promise<void>,
  ): Promise<void> {
    const otel = this.#otel;
    const links = [];
    for (const item of items) {
      const creation = parseTraceparent(otel, item.event.headers);
      if (creation) links.push({ context: creation });
    }
    const first = items[0];
    const destination = items.length === 1 ? first?.delivery.subject : undefined;
    const attributes: Attributes = {
      ...this.#base,
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.batch.message_count': items.length,
    };
    if (first) attributes['outboxkit.event.type'] = first.event.type;
    if (first && items.length === 1) {
      attributes['messaging.message.id'] = first.event.id;
      attributes['outboxkit.event.subject'] = first.event.subject;
      attributes['outboxkit.message.delivery_count'] = first.delivery.deliveryCount;
    }
    if (destination !== undefined) attributes['messaging.destination.name'] = destination;
    const span = this.#tracer.startSpan(destination === undefined ? 'process' : `process ${destination}`, {
      kind: otel.SpanKind.CONSUMER,
      attributes,
      links,
    });
    const started = performance.now();
    try {
      await otel.context.with(otel.trace.setSpan(otel.ROOT_CONTEXT, span), call);
    } catch (error) {
      this.#recordFailure(span, error, started);
      span.end();
      throw error;
    }
    this.#processDuration.record((performance.now() - started) / 1_000, this.#base);
    span.end();
  }

  /** A failed run's duration, and on a recording span its exception, `error.type` and status; whether the span records. */
  #recordFailure(span: Span, error: unknown, started: number): boolean {
    const failure = error instanceof Error ? error : new Error(String(error));
    const type = failure instanceof OutboxError ? failure.code : failure.name;
    this.#processDuration.record((performance.now() - started) / 1_000, { ...this.#base, 'error.type': type });
    if (!span.isRecording()) return false;
    span.recordException(failure);
    span.setAttribute('error.type', type);
    span.setStatus({ code: this.#otel.SpanStatusCode.ERROR, message: failure.message });
    return true;
  }

  #failed(span: Span, id: string, error: unknown, started: number): void {
    if (!this.#recordFailure(span, error, started)) {
      span.end();
      return;
    }
    if (isInfrastructureError(error) || isTransactionConflict(error)) {
      span.setAttribute('outboxkit.outcome', 'outage');
      span.end();
      return;
    }
    this.#open.get(id)?.end();
    this.#open.delete(id);
    this.#open.set(id, span);
    if (this.#open.size > maxOpen) {
      const [oldest, stale] = this.#open.entries().next().value as [string, Span];
      this.#open.delete(oldest);
      stale.end();
    }
  }

  /** Feeds the metrics from the consumer's own events, and ends the spans they settle. */
  record(event: ConsumerEvent): void {
    try {
      this.#metrics(event);
    } catch {
      // Telemetry never stops the loop it observes.
    }
  }

  #metrics(event: ConsumerEvent): void {
    const base = this.#base;
    switch (event.type) {
      case 'applied':
        this.#consumed.add(1, { ...base, 'outboxkit.outcome': 'applied' });
        this.#latency.record(Math.max(0, event.latencyMs) / 1_000, base);
        return;
      case 'duplicate':
        this.#consumed.add(1, { ...base, 'outboxkit.outcome': 'duplicate' });
        return;
      case 'skipped':
        this.#consumed.add(1, { ...base, 'outboxkit.outcome': 'skipped' });
        return;
      case 'retry': {
        this.#consumed.add(1, { ...base, 'outboxkit.outcome': 'failed' });
        const span = this.#open.get(event.id);
        if (!span) return;
        this.#open.delete(event.id);
        span.setAttribute('outboxkit.outcome', 'retry');
        span.setAttribute('outboxkit.retry_delay_ms', event.delayMs);
        span.end();
        return;
      }
      case 'dead': {
        this.#consumed.add(1, { ...base, 'outboxkit.outcome': 'dead_lettered', 'error.type': event.code });
        const span = event.id === undefined ? undefined : this.#open.get(event.id);
        if (!span || event.id === undefined) return;
        this.#open.delete(event.id);
        span.setAttribute('outboxkit.outcome', 'dead_lettered');
        span.addEvent('dead-lettered', { 'outboxkit.dead_letter.code': event.code, 'outboxkit.max_deliver': this.#subscriber.maxDeliver });
        span.end();
        return;
      }
      default:
        return;
    }
  }
}
