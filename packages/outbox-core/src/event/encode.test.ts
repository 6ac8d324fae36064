import { describe, expect, it } from 'vitest';
import { EventValidationError, OutboxUsageError } from '../errors.js';
import { encodeEvents } from './encode.js';
import { createEvent } from './event.js';

const event = (subject: string, data: unknown) => createEvent({ type: 't.e', source: 's', subject, data });

describe('encodeEvents', () => {
  it('serialises data and headers once, keeping the order', () => {
    const events = [event('a', { n: 1 }), event('b', [1, 'x'])];
    const encoded = encodeEvents(events);
    expect(encoded.map((row) => [row.subject, row.payload, row.headers])).toEqual([
      ['a', '{"n":1}', '{}'],
      ['b', '[1,"x"]', '{}'],
    ]);
  });

  it('checks every event before returning any, naming the index in the path', () => {
    const bad = { ...event('b', {}), data: { cycle: {} as Record<string, unknown> } };
    bad.data.cycle.self = bad.data.cycle;
    expect(() => encodeEvents([event('a', 1), bad])).toThrow(EventValidationError);
    try {
      encodeEvents([event('a', 1), bad]);
    } catch (error) {
      expect((error as EventValidationError).path).toBe('events[1].data.cycle.self');
    }
  });

  it('refuses the same id twice in one call', () => {
    const one = event('a', 1);
    expect(() => encodeEvents([one, one])).toThrow(OutboxUsageError);
  });
});
