import type { OutboxEvent } from '../event/event.js';
import { type Otel, otelApi, scopeName } from './otel-api.js';
import { formatBaggage, formatTraceparent } from './trace-context.js';

/**
 * The headers to store with an event: its own, plus the creation context of a `create` span when a
 * span is active and the caller did not set `traceparent` (any case) themselves. Without
 * `@opentelemetry/api`, or without an active span, the event's own headers, untouched.
 *
 * A `create` span per event rather than an event on the caller's span: the messaging conventions
 * make the creation context the one carried by the message, and a span of its own gives each
 * event its own context, so a request that enqueues several events shows each one's journey (the
 * relay links to it, the consumer's `process` span is its child) instead of all of them hanging
 * off the request span.
 */
export function headersWithTraceContext(event: OutboxEvent): Readonly<Record<string, string>> {
  const otel = otelApi();
  if (!otel) return event.headers;
  const active = otel.context.active();
  const parent = otel.trace.getSpan(active);
  if (!parent || !otel.trace.isSpanContextValid(parent.spanContext())) return event.headers;
  let hasBaggage = false;
  for (const name in event.headers) {
    const lower = name.toLowerCase();
    if (lower === 'traceparent') return event.headers;
    if (lower === 'baggage') hasBaggage = true;
  }
  return inject(otel, event, active, hasBaggage);
}

function inject(
  otel: Otel,
  event: OutboxEvent,
  active: ReturnType<Otel['context']['active']>,
  hasBaggage: boolean,
): Record<string, string> {
  // Not cached: a tracer taken before the SDK was registered (or after it was replaced) would stick to that one.
  const span = otel.trace.getTracer(scopeName).startSpan(
    'create',
    {
      kind: otel.SpanKind.PRODUCER,
      attributes: {
        'messaging.operation.type': 'create',
        'messaging.operation.name': 'create',
        'messaging.message.id': event.id,
        'outboxkit.event.type': event.type,
        'outboxkit.event.subject': event.subject,
      },
    },
    active,
  );
  const spanContext = span.spanContext();
  span.end();
  const headers: Record<string, string> = { ...event.headers };
  if (!otel.trace.isSpanContextValid(spanContext)) return headers;
  headers.traceparent = formatTraceparent(spanContext);
  const traceState = spanContext.traceState?.serialize();
  if (traceState) headers.tracestate = traceState;
  if (!hasBaggage) {
    const baggage = otel.propagation.getBaggage(active);
    const header = baggage && formatBaggage(baggage);
    if (header) headers.baggage = header;
  }
  return headers;
}
