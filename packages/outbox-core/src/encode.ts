import { OutboxUsageError } from './errors.js';
import { type OutboxEvent, validateEvent } from './event.js';

/**
 * An event ready for an outbox row: validated, with `data` and `headers` serialised once.
 * Every driver writes these, so every driver rejects the same bad input the same way.
 */
export interface EncodedEvent {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly subject: string;
  /** ISO 8601. */
  readonly time: string;
  /** `JSON.stringify(event.data)`. */
  readonly payload: string;
  /** `JSON.stringify(event.headers)`. */
  readonly headers: string;
}

/**
 * Validates and serialises events for `enqueue`. Accepts one event or an array.
 * All events are checked before any is returned, so a bad one means nothing is written.
 *
 * @throws EventValidationError naming the first offending path, e.g. `events[2].data.items[3].price`.
 * @throws OutboxUsageError when two events share an id.
 */
export function encodeEvents(events: OutboxEvent | readonly OutboxEvent[]): EncodedEvent[] {
  const list: readonly OutboxEvent[] = Array.isArray(events) ? events : [events as OutboxEvent];
  const encoded: EncodedEvent[] = new Array(list.length);
  const seen = new Set<string>();
  for (let index = 0; index < list.length; index++) {
    const event = list[index] as OutboxEvent;
    validateEvent(event, Array.isArray(events) ? `events[${index}]` : 'event');
    if (seen.has(event.id)) {
      throw new OutboxUsageError(`enqueue() got the event id ${event.id} twice in one call; every event needs its own id`);
    }
    seen.add(event.id);
    encoded[index] = {
      id: event.id,
      type: event.type,
      source: event.source,
      subject: event.subject,
      time: event.time,
      payload: JSON.stringify(event.data),
      headers: JSON.stringify(event.headers),
    };
  }
  return encoded;
}
