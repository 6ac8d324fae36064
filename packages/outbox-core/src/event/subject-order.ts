import type { SubjectGap } from '../contracts/subscriber.js';
import { EventDecodeError } from '../errors.js';

/**
 * The header that carries `OutboxEvent.sequence` (the event's place among its subject's events), as
 * a decimal integer: a CloudEvents extension attribute, so `ce-` + `subjectseq` (docs/design/ordering.md).
 */
export const SUBJECT_SEQUENCE_HEADER = 'ce-subjectseq';

/**
 * The headers of a gap marker: a message with an empty body, published where the event would have
 * gone, saying that event `sequence` of `subject` will never come (`Delivery.gap`). Every name starts
 * with `outbox-gap-`, which `RESERVED_HEADERS` reserves, so no event can carry one.
 */
export const GapHeaders = {
  subject: 'outbox-gap-subject',
  sequence: 'outbox-gap-sequence',
  reason: 'outbox-gap-reason',
  event: 'outbox-gap-event',
} as const;

/** The prefix every gap-marker header starts with: a message with one of them is a marker, not an event. */
export const GAP_HEADER_PREFIX = 'outbox-gap-';

/** What follows the record id in a gap marker's dedup id (`<record id>.gap.<sequence>`, see {@link gapMessageId}). */
export const GAP_ID_SUFFIX = '.gap';

/**
 * The dedup id of the gap marker of event `eventId` at `sequence`: `<event id>.gap.<sequence>`, so a
 * re-published marker is stored once, and never collides with the event's own id. The sequence is
 * part of it because `replayDead` re-stamps a dead row at the end of its subject: if it dies again,
 * its new gap needs a marker of its own, which the bus would drop as a duplicate of the first
 * marker within its dedup window if the id were the event's alone.
 */
export function gapMessageId(eventId: string, sequence: number): string {
  return `${eventId}${GAP_ID_SUFFIX}.${sequence}`;
}

/** The value of a sequence header: a positive safe integer written in decimal, or `undefined` when it is anything else. */
export function parseSubjectSequence(value: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(value)) return undefined;
  const sequence = Number(value);
  return Number.isSafeInteger(sequence) ? sequence : undefined;
}

/**
 * `event.sequence` from a message's sequence header: `undefined` when the header is absent.
 * @throws EventDecodeError (`DECODE_FAILED`) when it is present but not a positive safe integer: a content failure.
 */
export function decodeSubjectSequence(value: string | undefined, where: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const sequence = parseSubjectSequence(value);
  if (sequence === undefined) {
    throw new EventDecodeError(
      'DECODE_FAILED',
      `${where} has ${SUBJECT_SEQUENCE_HEADER} ${JSON.stringify(value.slice(0, 40))}; expected a positive integer`,
    );
  }
  return sequence;
}

/**
 * What a message's `outbox-gap-*` headers say: `undefined` when it has none of them (an event), the
 * gap of a well-formed marker, or the `EventDecodeError` of a malformed one (a content failure: the
 * consumer dead-letters it). `get` returns a header's value, `undefined` when the message lacks it.
 */
export function readGapMarker(get: (name: string) => string | undefined, where: string): SubjectGap | EventDecodeError | undefined {
  const names = [GapHeaders.subject, GapHeaders.sequence, GapHeaders.reason, GapHeaders.event];
  if (names.every((name) => get(name) === undefined)) return undefined;
  const subject = get(GapHeaders.subject) || undefined;
  const sequence = parseSubjectSequence(get(GapHeaders.sequence) ?? '');
  const reason = get(GapHeaders.reason) || undefined;
  const eventId = get(GapHeaders.event) || undefined;
  if (subject === undefined || sequence === undefined || reason === undefined) {
    const value = get(GapHeaders.sequence);
    return new EventDecodeError(
      'DECODE_FAILED',
      `${where} is a malformed gap marker: it needs ${GapHeaders.subject}, ${GapHeaders.reason} and a positive integer ${GapHeaders.sequence} (got subject ${JSON.stringify(subject ?? null)}, sequence ${JSON.stringify(value?.slice(0, 40) ?? null)}, reason ${JSON.stringify(reason ?? null)})`,
    );
  }
  return eventId === undefined ? { subject, sequence, reason } : { subject, sequence, reason, eventId };
}

/** The error `decode()` throws on a well-formed gap marker: it carries no event (read `Delivery.gap`). */
export function gapMarkerDecodeError(gap: SubjectGap, where: string): EventDecodeError {
  return new EventDecodeError(
    'GAP_MARKER',
    `${where} is a gap marker (${gap.subject} #${gap.sequence}, ${gap.reason}), not an event: read Delivery.gap`,
  );
}
