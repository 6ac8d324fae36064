import { EventValidationError, OutboxUsageError } from '../errors.js';
import { DEFAULT_MAX_EVENT_BYTES } from '../settings/byte-budget.js';
import { headersWithTraceContext } from '../telemetry/enqueue-context.js';
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

/** Options of {@link encodeEvents}. */
export interface EncodeOptions {
  /** Largest encoded event: `payload` plus `headers`, in UTF-8 bytes. @defaultValue `DEFAULT_MAX_EVENT_BYTES` (1 MiB) */
  readonly maxEventBytes?: number;
}

/**
 * Validates and serialises events for `enqueue`. Accepts one event or an array.
 * All events are checked before any is returned, so a bad one means nothing is written.
 *
 * @throws EventValidationError naming the first offending path, e.g. `events[2].data.items[3].price`,
 *   or the event (`events[2]`) when its encoded size is over `maxEventBytes`.
 * @throws OutboxUsageError when two events share an id.
 */
export function encodeEvents(events: OutboxEvent | readonly OutboxEvent[], options: EncodeOptions = {}): EncodedEvent[] {
  const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  const list: readonly OutboxEvent[] = Array.isArray(events) ? events : [events as OutboxEvent];
  const encoded: EncodedEvent[] = new Array(list.length);
  const seen = new Set<string>();
  for (let index = 0; index < list.length; index++) {
    const event = list[index] as OutboxEvent;
    const path = Array.isArray(events) ? `events[${index}]` : 'event';
    validateEvent(event, path);
    if (seen.has(event.id)) {
      throw new OutboxUsageError(`enqueue() got the event id ${event.id} twice in one call; every event needs its own id`);
    }
    seen.add(event.id);
    const payload = JSON.stringify(event.data);
    // With an active OpenTelemetry span, the event's creation context (see enqueue-context.ts).
    const headers = JSON.stringify(headersWithTraceContext(event));
    // UTF-8 takes at most 3 bytes per UTF-16 unit: count exactly only what could be over.
    if (3 * (payload.length + headers.length) > maxEventBytes) {
      const bytes = Buffer.byteLength(payload) + Buffer.byteLength(headers);
      if (bytes > maxEventBytes) {
        throw new EventValidationError(
          path,
          `${path} is ${bytes} bytes encoded (data and headers as JSON); at most ${maxEventBytes} are allowed (the store's maxEventBytes): carry a reference to the document, not the document`,
        );
      }
    }
    encoded[index] = { id: event.id, type: event.type, source: event.source, subject: event.subject, time: event.time, payload, headers };
  }
  return encoded;
}
