import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as createHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import { OutboxConfigError } from '@outboxkit/outbox-core';
import { validateInteger } from '@outboxkit/outbox-core/driver';
import { CloudEventHeaders, MSG_ID_HEADER } from './cloud-events.js';
import { DEFAULT_DEAD_LETTER_PREFIX, DEFAULT_DEAD_LETTER_STREAM, DeadLetterHeaders } from './dead-letter.js';
import { REPLAY_FOR_HEADER, replayMessageId } from './replay.js';

/** A message of the dead-letter stream, with why it is there. */
export interface DeadLetter {
  /** Its sequence in the dead-letter stream: what `sequences` in a {@link DeadLetterQuery} takes. */
  readonly sequence: number;
  /** The event id (`ce-id` / the original `Nats-Msg-Id`), when the message had one. */
  readonly messageId: string | undefined;
  /** The event type (`ce-type`), when the message had one. */
  readonly type: string | undefined;
  /** The event's subject, its aggregate key (`ce-subject`), when the message had one. */
  readonly subject: string | undefined;
  readonly code: string | undefined;
  readonly error: string | undefined;
  /** The consumer that dead-lettered it: the only one a replay reaches. */
  readonly consumer: string | undefined;
  readonly deliveryCount: number;
  /** The NATS subject the message had in its source stream: where a replay publishes it. */
  readonly originalSubject: string | undefined;
  readonly deadAt: string | undefined;
  /** Every header of the dead letter, the `ce-*` attributes and the event's own headers included. */
  readonly headers: Readonly<Record<string, string>>;
  /** The original body, as text. */
  readonly data: string;
}

/** Which dead letters `listDeadLetters`, `replayDeadLetters` and `purgeDeadLetters` act on: all filters must match. */
export interface DeadLetterQuery {
  /** @defaultValue `'DEAD_LETTERS'` */
  readonly stream?: string;
  /** @defaultValue `'dlq'` */
  readonly subjectPrefix?: string;
  /** Only this consumer's dead letters (read from `<prefix>.<consumer>.>` only). */
  readonly consumer?: string;
  /** Only events of this type (`ce-type`). */
  readonly type?: string;
  /** Only events of this subject, the aggregate key (`ce-subject`). */
  readonly subject?: string;
  /** Only letters with this reason code, e.g. `HANDLER_FAILED` or `FORGED_SUBJECT`. */
  readonly code?: string;
  /** Only the letters at these sequences of the dead-letter stream. */
  readonly sequences?: readonly number[];
  /** Most letters acted on, oldest first. @defaultValue 100 */
  readonly limit?: number;
}

/** Options of {@link replayDeadLetters}. */
export interface ReplayOptions extends DeadLetterQuery {
  /** Leave each letter in the dead-letter stream after its replay (a later replay of it is then dropped as a duplicate). @defaultValue false */
  readonly keep?: boolean;
  /** Called after each letter is republished (`duplicate`: the source stream had it already, from an earlier replay of the same letter). */
  readonly onReplayed?: (letter: DeadLetter, result: { readonly duplicate: boolean }) => void;
}

/** A stored letter, whether read by a consumer or by sequence. */
interface RawLetter {
  readonly seq: number;
  readonly headers: MsgHdrs | undefined;
  readonly data: Uint8Array;
}

/**
 * Lists dead letters, oldest first, without removing them.
 *
 * @throws OutboxConfigError when a filter is not a valid subject token or `limit` is out of range.
 * @example
 * ```ts
 * const reasons = (await listDeadLetters(nc, { consumer: 'basket' })).map((letter) => `${letter.code}: ${letter.error}`)
 * ```
 */
export async function listDeadLetters(connection: NatsConnection, query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
  return (await readLetters(connection, query)).map(toDeadLetter);
}

/**
 * Republishes dead letters to the subject they came from, for the consumer that dead-lettered them
 * only, and deletes each from the dead-letter stream once the source stream acknowledged it. Use
 * it after fixing the handler that failed them. Returns how many were replayed.
 *
 * The replay keeps the event id (`ce-id`) and every `ce-*` and own header, and names its target in
 * the `outbox-replay-consumer` header: core's `Consumer` of any other durable on the stream acks it
 * without running a handler. Its `Nats-Msg-Id` is derived from the letter, so replaying the same
 * letter twice is dropped by the stream's `duplicate_window` and, past it, by the target's inbox
 * (see `replay.ts`). A replay is stored after the newer events of its subject: handlers that must
 * be order-proof compare a version. A letter without a consumer or original subject is left alone.
 *
 * @throws OutboxConfigError as {@link listDeadLetters} does.
 */
export async function replayDeadLetters(connection: NatsConnection, query: ReplayOptions = {}): Promise<number> {
  const stream = query.stream ?? DEFAULT_DEAD_LETTER_STREAM;
  const js = jetstream(connection);
  const jsm = await jetstreamManager(connection);
  let replayed = 0;
  for (const raw of await readLetters(connection, query)) {
    const letter = toDeadLetter(raw);
    if (!letter.originalSubject || !letter.consumer) continue;
    const headers = createHeaders();
    for (const [name, values] of raw.headers ?? []) {
      const lower = name.toLowerCase();
      if (lower.startsWith('outbox-dead-') || lower.startsWith('outbox-replay-') || lower.startsWith('nats-')) continue;
      if (lower === DeadLetterHeaders.deliveryCount) continue;
      for (const value of values) headers.append(name, value);
    }
    headers.set(REPLAY_FOR_HEADER, letter.consumer);
    headers.set(MSG_ID_HEADER, replayMessageId(stream, letter.sequence, letter.consumer, letter.messageId));
    const ack = await js.publish(letter.originalSubject, raw.data, { headers });
    if (!query.keep) await deleteLetter(jsm, stream, letter.sequence);
    replayed++;
    query.onReplayed?.(letter, { duplicate: ack.duplicate });
  }
  return replayed;
}

/**
 * Deletes dead letters for good. Returns how many were deleted.
 *
 * @throws OutboxConfigError as {@link listDeadLetters} does.
 */
export async function purgeDeadLetters(connection: NatsConnection, query: DeadLetterQuery = {}): Promise<number> {
  const stream = query.stream ?? DEFAULT_DEAD_LETTER_STREAM;
  const jsm = await jetstreamManager(connection);
  let purged = 0;
  for (const raw of await readLetters(connection, query)) {
    if (await deleteLetter(jsm, stream, raw.seq)) purged++;
  }
  return purged;
}

/** Deletes one letter; false when it is already gone (another replay or purge took it). */
async function deleteLetter(jsm: JetStreamManager, stream: string, sequence: number): Promise<boolean> {
  try {
    return await jsm.streams.deleteMessage(stream, sequence);
  } catch (error) {
    if (/no message found|not found/i.test((error as Error).message)) return false;
    throw error;
  }
}

const tokenPattern = /^[^\s.*>]+$/;

/** Reads the letters that match, in order, up to `limit`. */
async function readLetters(connection: NatsConnection, query: DeadLetterQuery): Promise<RawLetter[]> {
  const stream = query.stream ?? DEFAULT_DEAD_LETTER_STREAM;
  const prefix = query.subjectPrefix ?? DEFAULT_DEAD_LETTER_PREFIX;
  const limit = validateInteger(query.limit ?? 100, 'limit', 1, 100_000);
  if (query.consumer !== undefined && !tokenPattern.test(query.consumer)) {
    throw new OutboxConfigError(
      'consumer',
      `consumer ${JSON.stringify(query.consumer)} is not a consumer name: one subject token without spaces, '.', '*' or '>'`,
    );
  }
  const matches = (letter: RawLetter): boolean => {
    const get = (name: string): string | undefined => letter.headers?.get(name) || undefined;
    return (
      (query.consumer === undefined || get(DeadLetterHeaders.consumer) === query.consumer) &&
      (query.type === undefined || get(CloudEventHeaders.type) === query.type) &&
      (query.subject === undefined || get(CloudEventHeaders.subject) === query.subject) &&
      (query.code === undefined || get(DeadLetterHeaders.code) === query.code)
    );
  };
  const jsm = await jetstreamManager(connection);
  if (query.sequences) {
    const letters: RawLetter[] = [];
    for (const seq of [...new Set(query.sequences)].sort((a, b) => a - b)) {
      validateInteger(seq, 'sequences', 1);
      const stored = await jsm.streams.getMessage(stream, { seq }).catch((error: Error) => {
        if (/no message found|not found/i.test(error.message)) return null;
        throw error;
      });
      if (!stored) continue;
      const letter = { seq: stored.seq, headers: stored.header, data: stored.data };
      if (matches(letter)) letters.push(letter);
      if (letters.length >= limit) break;
    }
    return letters;
  }
  const filter = query.consumer ? `${prefix}.${query.consumer}.>` : `${prefix}.>`;
  // How many letters the filter holds, so each fetch asks for no more than remain: a fetch for
  // more waits out its expiry. Their subjects are <prefix>.<consumer>.<original subject>, as many
  // as consumers times event types, so the per-subject counts stay small.
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  let remaining = Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0);
  if (remaining === 0) return [];
  // One filter subject as a string: a list of them needs nats-server 2.10.
  const consumer = await jetstream(connection).consumers.get(stream, { filter_subjects: filter });
  const letters: RawLetter[] = [];
  try {
    while (remaining > 0 && letters.length < limit) {
      const batch = await consumer.fetch({ max_messages: Math.min(256, remaining), expires: 2_000 });
      let received = 0;
      for await (const message of batch) {
        received++;
        const letter = { seq: message.seq, headers: message.headers, data: message.data };
        if (letters.length < limit && matches(letter)) letters.push(letter);
        // What is left past this message: letters written since the count are read too.
        remaining = message.info.pending;
      }
      if (received === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return letters;
}

function toDeadLetter(letter: RawLetter): DeadLetter {
  const headers: Record<string, string> = {};
  for (const [name, values] of letter.headers ?? []) headers[name] = values.join(',');
  const get = (name: string): string | undefined => letter.headers?.get(name) || undefined;
  return {
    sequence: letter.seq,
    messageId: get(DeadLetterHeaders.messageId),
    type: get(CloudEventHeaders.type),
    subject: get(CloudEventHeaders.subject),
    code: get(DeadLetterHeaders.code),
    error: get(DeadLetterHeaders.error),
    consumer: get(DeadLetterHeaders.consumer),
    deliveryCount: Number(get(DeadLetterHeaders.deliveryCount) ?? 0),
    originalSubject: get(DeadLetterHeaders.subject),
    deadAt: get(DeadLetterHeaders.time),
    headers,
    data: new TextDecoder().decode(letter.data),
  };
}
