import type { MsgHdrs } from '@nats-io/nats-core';
import { EventDecodeError, type OutboxEvent, type OutboxRecord, type PublisherConstraints } from '@outboxkit/outbox-core';
import {
  decodeSubjectSequence,
  GAP_HEADER_PREFIX,
  MAX_ATTRIBUTE_LENGTH,
  reservedHeaderRule,
  SUBJECT_SEQUENCE_HEADER,
} from '@outboxkit/outbox-core/driver';
import { EncodedHeaders, headerLine } from './encoded-headers.js';

/**
 * The NATS headers of the CloudEvents 1.0 binary binding, as outboxkit writes them. The body is
 * the event's `data` as JSON; every other header is one of the event's own (`traceparent`, ...).
 */
export const CloudEventHeaders = {
  specVersion: 'ce-specversion',
  id: 'ce-id',
  type: 'ce-type',
  source: 'ce-source',
  subject: 'ce-subject',
  time: 'ce-time',
  /** `OutboxEvent.sequence`, the event's place among its subject's events, in decimal; only on events that have one. */
  subjectSequence: SUBJECT_SEQUENCE_HEADER,
  contentType: 'content-type',
} as const;

/** The JetStream dedup header: outboxkit sets it to the event id on every publish. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

/** The CloudEvents version outboxkit writes and accepts. */
export const CLOUD_EVENTS_SPEC_VERSION = '1.0';

const JSON_CONTENT_TYPE = 'application/json';
const FIXED_SPEC_VERSION_LINE = `\r\n${CloudEventHeaders.specVersion}: ${CLOUD_EVENTS_SPEC_VERSION}`;
const FIXED_CONTENT_TYPE_LINE = `\r\n${CloudEventHeaders.contentType}: ${JSON_CONTENT_TYPE}`;

/**
 * The headers this binding writes itself, as `NatsPublisher.constraints` declares them: JetStream's
 * `Nats-*` (dedup, rollups, expectations, TTLs), the CloudEvents binding's `ce-*` and
 * `content-type`, and the `outbox-gap-*` headers of gap markers. Core's `RESERVED_HEADERS`, which
 * `enqueue` refuses, covers this list.
 */
export const NATS_CONSTRAINTS: PublisherConstraints = Object.freeze({
  // outbox-replay-*: only replayDeadLetters may address a message to one consumer.
  // outbox-gap-*: a message carrying one is a gap marker, not an event.
  reservedHeaderPrefixes: Object.freeze(['nats-', 'ce-', 'outbox-replay-', GAP_HEADER_PREFIX]),
  reservedHeaderNames: Object.freeze([CloudEventHeaders.contentType]),
});

/** The first of the record's own headers that this binding owns (a row written around `enqueue`), or `undefined`. */
export function reservedRecordHeader(record: OutboxRecord): string | undefined {
  for (const name in record.headers) if (reservedHeaderRule(name, NATS_CONSTRAINTS) !== undefined) return name;
  return undefined;
}

/**
 * Builds the headers of one record: its own headers first, then the `ce-*` attributes and
 * `Nats-Msg-Id` last. An own header with a name this binding owns (any case) is left out, so it can
 * neither overwrite nor sit beside what dedup and decoding rely on (`NatsPublisher` refuses such a
 * record before it gets here). The headers are encoded once, here, into the bytes a publish sends
 * (see `EncodedHeaders`): the same bytes the client's own headers would encode to.
 * @throws the client's `InvalidArgumentError` on a name or value the NATS header format cannot carry (CR, LF).
 */
export function recordHeaders(record: OutboxRecord): MsgHdrs {
  return encodeRecordHeaders(record);
}

const encoder = new TextEncoder();

/** {@link recordHeaders} with the encoded bytes at hand (`encode()`), for the publisher's size check. */
export function encodeRecordHeaders(record: OutboxRecord): EncodedHeaders {
  let block = 'NATS/1.0';
  const own = record.headers;
  for (const name in own) {
    const value = own[name];
    if (value !== undefined && reservedHeaderRule(name, NATS_CONSTRAINTS) === undefined) block += headerLine(name, value);
  }
  block +=
    FIXED_SPEC_VERSION_LINE +
    headerLine(CloudEventHeaders.id, record.id) +
    headerLine(CloudEventHeaders.type, record.type) +
    headerLine(CloudEventHeaders.source, record.source) +
    headerLine(CloudEventHeaders.subject, record.subject) +
    headerLine(CloudEventHeaders.time, record.time) +
    (record.sequence === undefined ? '' : `\r\n${SUBJECT_SEQUENCE_HEADER}: ${record.sequence}`) +
    FIXED_CONTENT_TYPE_LINE +
    headerLine(MSG_ID_HEADER, record.id);
  return new EncodedHeaders(encoder.encode(`${block}\r\n\r\n`));
}

/**
 * The most bytes the headers this binding writes itself (`ce-*`, `content-type`, `Nats-Msg-Id`)
 * take on the wire, for attributes at their longest (`MAX_ATTRIBUTE_LENGTH` characters, 3 bytes
 * each for `source` and `subject`) and a `ce-subjectseq` of `Number.MAX_SAFE_INTEGER`. An event's own headers are not included: `enqueue` counts them
 * in `maxEventBytes`, so a message is at most `maxEventBytes` + this.
 */
export function bindingHeaderBytesMax(): number {
  const longest = (char: string) => char.repeat(MAX_ATTRIBUTE_LENGTH);
  const record: OutboxRecord = {
    id: '00000000-0000-7000-8000-000000000000',
    type: longest('t'),
    source: longest('\u20ac'),
    subject: longest('\u20ac'),
    time: '2000-01-01T00:00:00.000Z',
    payload: '',
    headers: {},
    attempts: 0,
    sequence: Number.MAX_SAFE_INTEGER,
  };
  let bytes = 'NATS/1.0\r\n'.length + 2;
  for (const [name, values] of recordHeaders(record)) {
    for (const value of values) bytes += Buffer.byteLength(name) + 2 + Buffer.byteLength(value) + 2;
  }
  return bytes;
}

/** Headers that are transport or CloudEvents attributes, not the event's own headers. */
function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return (
    lower.startsWith('ce-') ||
    lower === 'content-type' ||
    lower.startsWith('nats-') ||
    lower.startsWith('outbox-dead-') ||
    lower.startsWith('outbox-replay-') ||
    lower.startsWith(GAP_HEADER_PREFIX) ||
    lower === 'outbox-delivery-count'
  );
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Turns a message of the CloudEvents binary binding back into an event.
 *
 * @throws EventDecodeError (`DECODE_FAILED`) when the id, a required attribute or valid JSON data is
 *   missing, or `ce-subjectseq` is present but not a positive safe integer in decimal.
 */
export function decodeCloudEvent(headers: MsgHdrs | undefined, body: Uint8Array, subjectForErrors: string): OutboxEvent {
  const where = `the message on ${subjectForErrors}`;
  if (!headers) throw new EventDecodeError('DECODE_FAILED', `${where} has no headers: it is not a CloudEvents message`);
  const id = headers.get(CloudEventHeaders.id) || headers.get(MSG_ID_HEADER);
  if (!id) throw new EventDecodeError('DECODE_FAILED', `${where} has no ${CloudEventHeaders.id} or ${MSG_ID_HEADER} header`);
  const specVersion = headers.get(CloudEventHeaders.specVersion);
  if (specVersion !== CLOUD_EVENTS_SPEC_VERSION) {
    throw new EventDecodeError(
      'DECODE_FAILED',
      `${where} (id ${id}) has ${CloudEventHeaders.specVersion} ${JSON.stringify(specVersion)}; expected "${CLOUD_EVENTS_SPEC_VERSION}"`,
    );
  }
  const type = required(headers, CloudEventHeaders.type, id, where);
  const source = required(headers, CloudEventHeaders.source, id, where);
  const subject = required(headers, CloudEventHeaders.subject, id, where);
  const time = required(headers, CloudEventHeaders.time, id, where);
  let data: unknown;
  try {
    data = JSON.parse(decoder.decode(body));
  } catch (error) {
    throw new EventDecodeError('DECODE_FAILED', `${where} (id ${id}) does not carry JSON data: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const sequence = decodeSubjectSequence(headers.get(SUBJECT_SEQUENCE_HEADER) || undefined, `${where} (id ${id})`);
  const own: Record<string, string> = {};
  for (const [name, values] of headers) {
    if (!isReservedHeader(name) && values[0] !== undefined) own[name] = values[0];
  }
  const event: OutboxEvent = { id, type, source, subject, time, data, headers: own };
  return sequence === undefined ? event : { ...event, sequence };
}

function required(headers: MsgHdrs, name: string, id: string, where: string): string {
  const value = headers.get(name);
  if (!value) throw new EventDecodeError('DECODE_FAILED', `${where} (id ${id}) has no ${name} header`);
  return value;
}
