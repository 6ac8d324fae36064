import { describe, expect, it } from 'vitest';
import { refusedEvents } from '../conformance/refused-events.js';
import { RESERVED_HEADERS, reservedHeaderRule } from '../contracts/bus-constraints.js';
import { EventValidationError } from '../errors.js';
import { createEvent, validateEvent } from './event.js';

describe('validateEvent at the door', () => {
  for (const refused of refusedEvents()) {
    it(`refuses ${refused.name}, naming ${refused.path}`, () => {
      const error = catchError(() => validateEvent(refused.event));
      expect(error).toBeInstanceOf(EventValidationError);
      expect((error as EventValidationError).path).toBe(refused.path);
      // createEvent runs the same check.
      const { id, type, source, subject, time, data, headers } = refused.event;
      expect(catchError(() => createEvent({ id, type, source, subject, time, data, headers }))).toBeInstanceOf(EventValidationError);
    });
  }

  it('escapes the offending value in the message', () => {
    const error = catchError(() => validateEvent(refusedEvents().find((c) => c.name === 'LF in subject')!.event));
    expect((error as Error).message).toContain('"bad\\nkey"');
    expect((error as Error).message).not.toContain('\n');
  });

  it('accepts ordinary types, subjects and headers', () => {
    const event = createEvent({
      type: 'catalog.product_v2.price-changed',
      source: 'catalog service',
      subject: 'product 42/é',
      data: {},
      headers: { traceparent: 'x', 'x-natsy': 'ok', nats: 'ok', cex: 'ok' },
    });
    expect(() => validateEvent(event)).not.toThrow();
  });

  it('reserves names by prefix and exact name, in any case', () => {
    expect(reservedHeaderRule('NATS-MSG-ID')).toBe('nats-');
    expect(reservedHeaderRule('Ce-Source')).toBe('ce-');
    expect(reservedHeaderRule('CONTENT-TYPE')).toBe('content-type');
    expect(reservedHeaderRule('content-types')).toBeUndefined();
    expect(reservedHeaderRule('Outbox-Replay-Consumer')).toBe('outbox-replay-');
    expect(reservedHeaderRule('Outbox-Gap-Sequence')).toBe('outbox-gap-');
    expect(RESERVED_HEADERS.reservedHeaderPrefixes).toEqual(['nats-', 'ce-', 'outbox-replay-', 'outbox-gap-']);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}
