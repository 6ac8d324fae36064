import type { Baggage, Context, Link, SpanContext } from '@opentelemetry/api';
import type { Otel } from './otel-api.js';

/** Longest `baggage` header written at enqueue; entries that would pass it are left out whole. */
export const MAX_BAGGAGE_LENGTH = 1_024;

const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/** The W3C `traceparent` of a span context (version 00). */
export function formatTraceparent(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/**
 * The remote span context of a `traceparent` (and `tracestate`) header, or `undefined` when it is
 * absent or malformed (version ff, all-zero ids): a bad header never fails a message.
 */
export function parseTraceparent(otel: Otel, headers: Readonly<Record<string, string>>): SpanContext | undefined {
  const value = headers.traceparent;
  if (value === undefined) return undefined;
  const match = traceparentPattern.exec(value.trim());
  if (!match || match[1] === 'ff') return undefined;
  const spanContext: SpanContext = {
    traceId: match[2] as string,
    spanId: match[3] as string,
    traceFlags: Number.parseInt(match[4] as string, 16) & 0x01,
    isRemote: true,
  };
  if (!otel.trace.isSpanContextValid(spanContext)) return undefined;
  const tracestate = headers.tracestate;
  return tracestate ? { ...spanContext, traceState: otel.createTraceState(tracestate) } : spanContext;
}

/** The W3C `baggage` header of a baggage, at most `MAX_BAGGAGE_LENGTH` characters, or `undefined` when empty. */
export function formatBaggage(baggage: Baggage): string | undefined {
  let header = '';
  for (const [key, entry] of baggage.getAllEntries()) {
    let item = `${encodeURIComponent(key)}=${encodeURIComponent(entry.value)}`;
    if (entry.metadata !== undefined) item += `;${entry.metadata.toString()}`;
    const next = header.length === 0 ? item : `${header},${item}`;
    if (next.length > MAX_BAGGAGE_LENGTH) continue;
    header = next;
  }
  return header.length === 0 ? undefined : header;
}

/** `context` with the baggage of a `baggage` header added; malformed entries are skipped. */
export function withBaggage(otel: Otel, context: Context, value: string | undefined): Context {
  if (!value) return context;
  const entries: Record<string, { value: string }> = {};
  let count = 0;
  for (const part of value.split(',')) {
    const pair = part.split(';', 1)[0] as string;
    const equals = pair.indexOf('=');
    if (equals <= 0) continue;
    try {
      entries[decodeURIComponent(pair.slice(0, equals).trim())] = { value: decodeURIComponent(pair.slice(equals + 1).trim()) };
      count++;
    } catch {
      // A malformed percent-encoding: skip the entry.
    }
  }
  return count === 0 ? context : otel.propagation.setBaggage(context, otel.propagation.createBaggage(entries));
}

/** A link to each distinct creation context among the headers, at most `max`. */
export function creationLinks(otel: Otel, headerList: readonly Readonly<Record<string, string>>[], max: number): Link[] {
  const links: Link[] = [];
  for (const headers of headerList) {
    if (links.length >= max) break;
    const spanContext = parseTraceparent(otel, headers);
    if (spanContext) links.push({ context: spanContext });
  }
  return links;
}
