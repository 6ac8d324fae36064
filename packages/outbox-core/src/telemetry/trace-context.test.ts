import * as otel from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../event/event.js';
import { headersWithTraceContext } from './enqueue-context.js';
import { formatBaggage, MAX_BAGGAGE_LENGTH, parseTraceparent, withBaggage } from './trace-context.js';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const spanId = '00f067aa0ba902b7';

describe('W3C trace context headers', () => {
  it('parses a traceparent with its tracestate, as a remote context', () => {
    const parsed = parseTraceparent(otel, { traceparent: `00-${traceId}-${spanId}-01`, tracestate: 'vendor=abc,other=1' });
    expect(parsed).toMatchObject({ traceId, spanId, traceFlags: 1, isRemote: true });
    expect(parsed?.traceState?.get('vendor')).toBe('abc');
    expect(parsed?.traceState?.serialize()).toBe('vendor=abc,other=1');
  });

  it('ignores what is not a valid traceparent: a bad header never fails a message', () => {
    for (const traceparent of [
      'garbage',
      `ff-${traceId}-${spanId}-01`,
      `00-${'0'.repeat(32)}-${spanId}-01`,
      `00-${traceId}-${'0'.repeat(16)}-01`,
      `00-${traceId.toUpperCase()}-${spanId}-01`,
    ]) {
      expect(parseTraceparent(otel, { traceparent })).toBeUndefined();
    }
    expect(parseTraceparent(otel, {})).toBeUndefined();
  });

  it(`writes baggage percent-encoded and at most ${MAX_BAGGAGE_LENGTH} characters, dropping whole entries`, () => {
    const baggage = otel.propagation.createBaggage({
      tenant: { value: 'acme corp' },
      huge: { value: 'x'.repeat(2_000) },
      region: { value: 'eu' },
    });
    expect(formatBaggage(baggage)).toBe('tenant=acme%20corp,region=eu');
    expect(formatBaggage(otel.propagation.createBaggage({}))).toBeUndefined();
    const back = otel.propagation.getBaggage(withBaggage(otel, otel.ROOT_CONTEXT, 'tenant=acme%20corp,bad=%E0%A4%A,region=eu;ttl=1'));
    expect(back?.getAllEntries().map(([key, entry]) => [key, entry.value])).toEqual([
      ['tenant', 'acme corp'],
      ['region', 'eu'],
    ]);
  });
});

describe('the creation context captured at enqueue', () => {
  const spans = new InMemorySpanExporter();
  beforeAll(() => {
    otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    otel.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  });
  afterAll(() => {
    otel.trace.disable();
    otel.context.disable();
  });
  const event = () => createEvent({ type: 'test.thing.happened', source: 'tests', subject: 's-1', data: {} });

  it('outside any span: the event headers, untouched (the same object)', () => {
    const e = event();
    expect(headersWithTraceContext(e)).toBe(e.headers);
  });

  it('inside a span: a create span, child of it, whose context is stored', () => {
    const e = event();
    const headers = otel.trace.getTracer('t').startActiveSpan('request', (span) => {
      const result = headersWithTraceContext(e);
      span.end();
      return result;
    });
    const create = spans.getFinishedSpans().find((span) => span.name === 'create');
    expect(create?.attributes['messaging.message.id']).toBe(e.id);
    expect(headers.traceparent).toBe(`00-${create?.spanContext().traceId}-${create?.spanContext().spanId}-01`);
  });

  it("keeps the caller's own traceparent, in any case, and creates no span for it", () => {
    spans.reset();
    const e = createEvent({ type: 'test.thing.happened', source: 'tests', subject: 's-1', data: {}, headers: { TraceParent: 'mine' } });
    const headers = otel.trace.getTracer('t').startActiveSpan('request', (span) => {
      const result = headersWithTraceContext(e);
      span.end();
      return result;
    });
    expect(headers).toBe(e.headers);
    expect(spans.getFinishedSpans().map((span) => span.name)).toEqual(['request']);
  });
});
