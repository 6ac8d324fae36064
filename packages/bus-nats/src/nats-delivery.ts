import { headers as createHeaders, type Msg, type MsgHdrs } from '@nats-io/nats-core';
import {
  type DeadLetterReason,
  type Delivery,
  EventDecodeError,
  type OutboxEvent,
  OutboxUsageError,
  type SubjectGap,
} from '@outboxkit/outbox-core';
import { gapMarkerDecodeError } from '@outboxkit/outbox-core/driver';
import type { AckSubjectInfo } from './ack-subject.js';
import { CloudEventHeaders, decodeCloudEvent, MSG_ID_HEADER } from './cloud-events.js';
import { DeadLetterHeaders, deadLetterSubject, MAX_DEAD_ERROR_LENGTH } from './dead-letter.js';
import { msToNanos } from './durations.js';
import { readNatsGapMarker } from './gap-marker.js';
import { REPLAY_FOR_HEADER } from './replay.js';
import { parsePubAck, type ReplyInbox } from './reply-inbox.js';
import { checkSubject, type SubjectCheck } from './subject-check.js';
import { translatePublishError } from './translate-error.js';

/** What a delivery needs from its subscriber. */
export interface DeliveryContext {
  readonly replies: ReplyInbox;
  readonly consumer: string;
  readonly deadLetterPrefix: string;
  readonly timeoutMs: number;
  /** The largest dead letter the server and the dead-letter stream take, in bytes. */
  readonly maxMessageBytes: () => number;
  /** How `decode` checks the message's subject against its `ce-type`. */
  readonly subjectCheck: SubjectCheck;
}

const ACK = '+ACK';
const TERM = '+TERM';

/**
 * One JetStream delivery. Every settlement (ack, nak, term) is sent as a request and resolves
 * once the server confirmed it, so an acked message is not redelivered after a restart.
 */
export class NatsDelivery implements Delivery {
  readonly messageId: string | undefined;
  readonly deliveryCount: number;
  /** Set when the message is a gap marker (its `outbox-gap-*` headers), not an event: `decode()` then throws. */
  readonly gap: SubjectGap | undefined;
  readonly #msg: Msg;
  /** The gap marker, or the error of a malformed one, or `undefined` for an event. */
  readonly #marker: SubjectGap | EventDecodeError | undefined;
  readonly #info: AckSubjectInfo;
  readonly #context: DeliveryContext;
  #settled: string | null = null;
  #event: OutboxEvent | undefined;

  constructor(msg: Msg, info: AckSubjectInfo, context: DeliveryContext) {
    this.#msg = msg;
    this.#info = info;
    this.#context = context;
    this.deliveryCount = info.deliveryCount;
    // ce-id first: a dead-letter replay keeps the event id in ce-id under a Nats-Msg-Id of its own.
    // A gap marker has no ce-id: its Nats-Msg-Id is `<event id>.gap`.
    this.messageId = msg.headers?.get(CloudEventHeaders.id) || msg.headers?.get(MSG_ID_HEADER) || undefined;
    this.#marker = readNatsGapMarker(msg.headers, `the message on ${msg.subject}`);
    this.gap = this.#marker instanceof EventDecodeError ? undefined : this.#marker;
  }

  /** The subject the message was stored under. */
  get subject(): string {
    return this.#msg.subject;
  }

  /** True once `ack`, `nak`, `term` or `deadLetter` was sent (and not failed): the message is no longer in hand. */
  get settled(): boolean {
    return this.#settled !== null;
  }

  /** The message's sequence in its stream. */
  get streamSequence(): number {
    return this.#info.streamSequence;
  }

  /** The consumer a dead-letter replay is meant for (its `outbox-replay-consumer` header). */
  get replayFor(): string | undefined {
    return this.#msg.headers?.get(REPLAY_FOR_HEADER) || undefined;
  }

  /**
   * @throws EventDecodeError as `decodeCloudEvent` does, `FORGED_SUBJECT` when the subject is not
   *   where `ce-type` is published, `GAP_MARKER` on a gap marker (read `gap`), and `DECODE_FAILED` on
   *   a malformed one.
   */
  decode(): OutboxEvent {
    if (this.#event) return this.#event;
    if (this.#marker instanceof EventDecodeError) throw this.#marker;
    if (this.#marker !== undefined) throw gapMarkerDecodeError(this.#marker, `the message on ${this.#msg.subject}`);
    const event = decodeCloudEvent(this.#msg.headers, this.#msg.data, this.#msg.subject);
    checkSubject(this.#msg.subject, event.type, this.#context.subjectCheck, event.id);
    this.#event = event;
    return event;
  }

  ack(): Promise<void> {
    return this.#settle('ack', ACK);
  }

  nak(delayMs: number): Promise<void> {
    const delay = Math.max(0, Math.round(delayMs));
    return this.#settle('nak', delay > 0 ? `-NAK ${JSON.stringify({ delay: msToNanos(delay) })}` : '-NAK');
  }

  /** Resets the ack timer (`+WPI`), so a message held back behind its subject is not redelivered yet. Not a settlement. */
  async inProgress(): Promise<void> {
    this.#assertUnsettled('inProgress');
    await this.#request('+WPI');
  }

  /**
   * Publishes the original data and headers, plus the `outbox-dead-*` headers, to
   * `<deadLetterPrefix>.<consumer>.<original subject>`, awaits the PubAck, then terms the message.
   * @throws PublishError when the dead-letter stream did not store it (the message is then not termed).
   */
  async deadLetter(reason: DeadLetterReason): Promise<void> {
    this.#assertUnsettled('deadLetter');
    const original = this.#msg;
    const h = createHeaders();
    if (original.headers) {
      for (const [name, values] of original.headers) {
        // Nats-* headers would instruct the dead-letter stream (dedup, expectations): drop them.
        if (name.toLowerCase().startsWith('nats-')) continue;
        for (const value of values) h.append(name, value);
      }
    }
    h.set(DeadLetterHeaders.error, oneLine(reason.error));
    h.set(DeadLetterHeaders.code, oneLine(reason.code));
    h.set(DeadLetterHeaders.consumer, oneLine(reason.consumer));
    h.set(DeadLetterHeaders.subject, original.subject);
    h.set(DeadLetterHeaders.stream, this.#info.stream);
    h.set(DeadLetterHeaders.sequence, String(this.#info.streamSequence));
    h.set(DeadLetterHeaders.deliveryCount, String(this.deliveryCount));
    h.set(DeadLetterHeaders.time, new Date().toISOString());
    if (this.messageId) h.set(DeadLetterHeaders.messageId, this.messageId);
    // One letter per (message, consumer) even when a lost term makes us dead-letter it again.
    h.set(MSG_ID_HEADER, `${this.#info.stream}:${this.#info.streamSequence}:${this.#context.consumer}`);
    fitErrorHeader(h, original.data.length, this.#context.maxMessageBytes(), oneLine(reason.error));
    const subject = deadLetterSubject(this.#context.deadLetterPrefix, this.#context.consumer, original.subject);
    try {
      parsePubAck(await this.#context.replies.request(subject, original.data, h));
    } catch (error) {
      throw translatePublishError(error, subject, this.messageId ?? `sequence ${this.#info.streamSequence}`);
    }
    await this.#settle('deadLetter', TERM);
  }

  async #settle(operation: string, payload: string): Promise<void> {
    this.#assertUnsettled(operation);
    this.#settled = operation;
    try {
      await this.#request(payload);
    } catch (error) {
      this.#settled = null;
      throw error;
    }
  }

  /** Sends an ack-family payload as a request: the server's reply confirms it was applied. */
  async #request(payload: string): Promise<void> {
    const reply = this.#msg.reply as string;
    try {
      await this.#context.replies.request(reply, payload);
    } catch (error) {
      throw translatePublishError(error, reply, this.messageId ?? `sequence ${this.#info.streamSequence}`);
    }
  }

  #assertUnsettled(operation: string): void {
    if (this.#settled !== null) {
      throw new OutboxUsageError(
        `${operation}() on a delivery that was already settled with ${this.#settled}(); settle each delivery once`,
      );
    }
  }
}

function oneLine(text: string): string {
  const flat = String(text).replace(/[\r\n]+/g, ' ');
  return flat.length > MAX_DEAD_ERROR_LENGTH ? `${flat.slice(0, MAX_DEAD_ERROR_LENGTH - 3)}...` : flat;
}

/** Bytes of `h` on the wire: `NATS/1.0\r\n`, `name: value\r\n` each, a closing `\r\n`. */
function headerBytes(h: MsgHdrs): number {
  let bytes = 'NATS/1.0\r\n'.length + 2;
  for (const [name, values] of h) for (const value of values) bytes += Buffer.byteLength(name) + 2 + Buffer.byteLength(value) + 2;
  return bytes;
}

/**
 * Cuts the `outbox-dead-error` text so that the dead letter (payload untouched, every other header
 * kept) is at most `limit` bytes: a message that fit its stream fits the dead-letter stream too.
 */
function fitErrorHeader(h: MsgHdrs, payloadBytes: number, limit: number, error: string): void {
  h.set(DeadLetterHeaders.error, '');
  const room = limit - payloadBytes - headerBytes(h);
  if (Buffer.byteLength(error) <= room) {
    h.set(DeadLetterHeaders.error, error);
    return;
  }
  if (room < 4) return;
  let cut = error.slice(0, room);
  while (Buffer.byteLength(cut) + 3 > room) cut = cut.slice(0, -1);
  h.set(DeadLetterHeaders.error, `${cut}...`);
}
