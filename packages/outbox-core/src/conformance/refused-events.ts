import type { OutboxEvent } from '../event/event.js';
import { sampleEvent } from './sample-events.js';

/** An event `validateEvent` must refuse, with the path its `EventValidationError` names. */
export interface RefusedEvent {
  readonly name: string;
  readonly event: OutboxEvent;
  /** The path for a single event (`enqueue(tx, event)`). */
  readonly path: string;
}

/**
 * One event per rule of the door: control characters in attributes and headers, header names the
 * transport owns, types that are not a valid subject on every bus. Built around `createEvent`
 * (a plain object), as a caller that skips it would.
 */
export function refusedEvents(): RefusedEvent[] {
  const base = (): OutboxEvent => sampleEvent('key-1', 1);
  const withHeaders = (headers: Record<string, string>): OutboxEvent => ({ ...base(), headers });
  const cases: Array<[string, Partial<OutboxEvent>, string]> = [
    ['LF in subject', { subject: 'bad\nkey' }, 'event.subject'],
    ['CR in subject', { subject: 'bad\rkey' }, 'event.subject'],
    ['NUL in subject', { subject: 'bad\0key' }, 'event.subject'],
    ['LF in source', { source: 'catalog\nx' }, 'event.source'],
    ['NUL in source', { source: 'catalog\0' }, 'event.source'],
    ['LF in type', { type: 'catalog.\nchanged' }, 'event.type'],
    ['NUL in type', { type: 'catalog\0.changed' }, 'event.type'],
    ['empty token in type', { type: 'account..changed' }, 'event.type'],
    ['trailing dot in type', { type: 'account.changed.' }, 'event.type'],
    ['leading dot in type', { type: '.account.changed' }, 'event.type'],
    ['* in type', { type: 'account.*' }, 'event.type'],
    ['> in type', { type: 'account.>' }, 'event.type'],
    ['space in type', { type: 'account changed' }, 'event.type'],
    ['tab in type', { type: 'account.\tchanged' }, 'event.type'],
  ];
  const headerCases: Array<[string, Record<string, string>, string]> = [
    ['LF in a header value', { traceparent: 'a\nb' }, 'event.headers.traceparent'],
    ['CR in a header value', { 'x-id': 'a\rb' }, 'event.headers.x-id'],
    ['NUL in a header value', { 'x-id': 'a\0b' }, 'event.headers.x-id'],
    ['LF in a header name', { 'x\nid': 'v' }, 'event.headers'],
    ['NUL in a header name', { 'x\0id': 'v' }, 'event.headers'],
    ['header Nats-Msg-Id', { 'Nats-Msg-Id': 'forged' }, 'event.headers.Nats-Msg-Id'],
    ['header nats-rollup (any case)', { 'nats-rollup': 'all' }, 'event.headers.nats-rollup'],
    ['header NATS-Expected-Stream', { 'NATS-Expected-Stream': 'x' }, 'event.headers.NATS-Expected-Stream'],
    ['header Nats-TTL', { 'Nats-TTL': '1s' }, 'event.headers.Nats-TTL'],
    ['header ce-id', { 'ce-id': 'forged' }, 'event.headers.ce-id'],
    ['header CE-Type (any case)', { 'CE-Type': 'x' }, 'event.headers.CE-Type'],
    ['header Content-Type', { 'Content-Type': 'text/plain' }, 'event.headers.Content-Type'],
    ['header outbox-replay-consumer', { 'outbox-replay-consumer': 'basket' }, 'event.headers.outbox-replay-consumer'],
  ];
  return [
    ...cases.map(([name, patch, path]) => ({ name, event: { ...base(), ...patch } as OutboxEvent, path })),
    ...headerCases.map(([name, headers, path]) => ({ name, event: withHeaders(headers), path })),
  ];
}
