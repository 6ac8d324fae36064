import { v7 as uuidv7 } from 'uuid';
import { reservedHeaderRule } from '../contracts/bus-constraints.js';
import { EventValidationError } from '../errors.js';
import { assertJsonSafe } from './json-safety.js';

/**
 * An integration event. The attribute names follow CloudEvents 1.0, so a bus binding can carry
 * them as `ce-*` headers: `id` is a UUIDv7 (time-ordered, unique, and the broker's dedup id),
 * `subject` is the aggregate key that orders events (a product id), `time` an ISO 8601 instant.
 */
export interface OutboxEvent<TData = unknown, TType extends string = string> {
  readonly id: string;
  readonly type: TType;
  readonly source: string;
  readonly subject: string;
  readonly time: string;
  readonly data: TData;
  readonly headers: Readonly<Record<string, string>>;
  /**
   * The event's place among its subject's events, 1, 2, 3...: stamped by the outbox store in the
   * producer's transaction (`enqueue` ignores a value set here), so it is the subject's commit
   * order, and carried by the bus (`ce-subjectseq` on NATS). Set on received events; `undefined` on
   * an event not yet enqueued, or written by a store with `subjectSequence: false` or an older version.
   */
  readonly sequence?: number;
}

/** What `createEvent` needs: every attribute but `data` may be left to its default. */
export interface CreateEventInput<TData = unknown, TType extends string = string> {
  readonly type: TType;
  readonly source: string;
  readonly subject: string;
  readonly data: TData;
  /** @defaultValue a new UUIDv7 */
  readonly id?: string;
  /** @defaultValue now */
  readonly time?: string | Date;
  /** W3C `traceparent`, correlation ids: string values only. @defaultValue `{}` */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A new UUIDv7: time-ordered, so ids sort roughly by creation time. */
export function newEventId(): string {
  return uuidv7();
}

/**
 * Builds an event and checks it: attributes present and well-formed, `data` plain JSON.
 *
 * @throws EventValidationError naming the offending path.
 */
export function createEvent<TData, TType extends string>(input: CreateEventInput<TData, TType>): OutboxEvent<TData, TType> {
  const time = input.time instanceof Date ? input.time.toISOString() : (input.time ?? new Date().toISOString());
  const event: OutboxEvent<TData, TType> = {
    id: input.id ?? newEventId(),
    type: input.type,
    source: input.source,
    subject: input.subject,
    time,
    data: input.data,
    headers: { ...(input.headers ?? {}) },
  };
  validateEvent(event);
  return event;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * Dot-separated non-empty tokens of letters, digits, `_` and `-`: a valid subject token sequence on
 * every supported bus (no empty token as in `account..changed`, no `*`, `>` or whitespace, no
 * leading or trailing dot), since the default NATS mapping publishes on `<prefix>.<type>`.
 */
const typePattern = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/;
/** CR, LF and NUL: a bus's header framing cannot carry them (NATS headers are CRLF-separated lines). */
const controlPattern = /[\r\n\0]/;
/** Header names as HTTP and NATS accept them. */
const headerNamePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Longest `subject` accepted: it is stored in an indexed column. */
export const MAX_SUBJECT_LENGTH = 255;
/** Longest `type` and `source` accepted. */
export const MAX_ATTRIBUTE_LENGTH = 255;

/**
 * Checks an event's attributes and data without changing it.
 *
 * @throws EventValidationError naming the offending path (`id`, `headers.traceparent`, `data.items[3].price`).
 */
export function validateEvent(event: OutboxEvent, path = 'event'): void {
  if (event === null || typeof event !== 'object') {
    throw new EventValidationError(path, `${path} must be an event object; got ${event === null ? 'null' : typeof event}`);
  }
  requireString(event.id, `${path}.id`, MAX_ATTRIBUTE_LENGTH);
  if (!uuidPattern.test(event.id)) {
    throw new EventValidationError(`${path}.id`, `${path}.id must be a UUID (use newEventId()); got ${JSON.stringify(event.id)}`);
  }
  requireString(event.type, `${path}.type`, MAX_ATTRIBUTE_LENGTH);
  if (!typePattern.test(event.type)) {
    throw new EventValidationError(
      `${path}.type`,
      `${path}.type must be dot-separated non-empty tokens of letters, digits, '_' or '-' (e.g. catalog.product.price-changed), valid as a subject on every bus; got ${JSON.stringify(event.type)}`,
    );
  }
  requireString(event.source, `${path}.source`, MAX_ATTRIBUTE_LENGTH);
  refuseControl(event.source, `${path}.source`);
  requireString(event.subject, `${path}.subject`, MAX_SUBJECT_LENGTH);
  refuseControl(event.subject, `${path}.subject`);
  requireString(event.time, `${path}.time`, 64);
  if (Number.isNaN(Date.parse(event.time))) {
    throw new EventValidationError(`${path}.time`, `${path}.time must be an ISO 8601 instant; got ${JSON.stringify(event.time)}`);
  }
  const headers: unknown = event.headers;
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
    throw new EventValidationError(`${path}.headers`, `${path}.headers must be an object of strings`);
  }
  for (const [name, value] of Object.entries(headers)) {
    if (!headerNamePattern.test(name)) {
      throw new EventValidationError(
        `${path}.headers`,
        `${path}.headers has an invalid header name ${JSON.stringify(name)}: use letters, digits and !#$%&'*+.^_\`|~- (no spaces, CR, LF or NUL)`,
      );
    }
    const reserved = reservedHeaderRule(name);
    if (reserved !== undefined) {
      throw new EventValidationError(
        `${path}.headers.${name}`,
        `${path}.headers.${name} is a header the transport writes itself (${reserved.endsWith('-') ? `${reserved}*` : reserved}, any case): it cannot come from an event; rename it`,
      );
    }
    if (typeof value !== 'string') {
      throw new EventValidationError(`${path}.headers.${name}`, `${path}.headers.${name} must be a string; got ${typeof value}`);
    }
    refuseControl(value, `${path}.headers.${name}`);
  }
  assertJsonSafe(event.data, `${path}.data`);
}

function refuseControl(value: string, path: string): void {
  if (controlPattern.test(value)) {
    throw new EventValidationError(
      path,
      `${path} must not contain CR, LF or NUL (a bus's headers cannot carry them); got ${JSON.stringify(value)}`,
    );
  }
}

function requireString(value: unknown, path: string, maxLength: number): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new EventValidationError(path, `${path} must be a non-empty string; got ${value === '' ? 'an empty string' : typeof value}`);
  }
  if (value.length > maxLength) {
    throw new EventValidationError(path, `${path} is ${value.length} characters; at most ${maxLength} are allowed`);
  }
}
