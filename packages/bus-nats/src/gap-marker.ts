import type { MsgHdrs } from '@nats-io/nats-core';
import type { EventDecodeError, OutboxRecord, SubjectGap } from '@outboxkit/outbox-core';
import { GapHeaders, gapMessageId, readGapMarker } from '@outboxkit/outbox-core/driver';
import { MSG_ID_HEADER } from './cloud-events.js';
import { EncodedHeaders, headerLine } from './encoded-headers.js';

const encoder = new TextEncoder();

/**
 * The headers of the gap marker of `record` (docs/design/ordering.md, section 4): the `outbox-gap-*`
 * headers, then `Nats-Msg-Id: <record id>.gap.<sequence>` (`gapMessageId`), so a marker published
 * twice is stored once, never collides with the event's own id, and the marker of a replayed row that
 * died again under a new sequence is not dropped as a duplicate of its first one.
 * @throws the client's `InvalidArgumentError` on a value the NATS header format cannot carry (CR, LF).
 */
export function encodeGapHeaders(record: OutboxRecord, sequence: number, reason: string): EncodedHeaders {
  const block =
    'NATS/1.0' +
    headerLine(GapHeaders.subject, record.subject) +
    headerLine(GapHeaders.sequence, String(sequence)) +
    headerLine(GapHeaders.reason, reason) +
    headerLine(GapHeaders.event, record.id) +
    headerLine(MSG_ID_HEADER, gapMessageId(record.id, sequence));
  return new EncodedHeaders(encoder.encode(`${block}\r\n\r\n`));
}

/** What a message's headers say about a gap: `undefined` for an event, the gap, or the error of a malformed marker. */
export function readNatsGapMarker(headers: MsgHdrs | undefined, where: string): SubjectGap | EventDecodeError | undefined {
  if (!headers) return undefined;
  return readGapMarker((name) => headers.get(name) || undefined, where);
}
