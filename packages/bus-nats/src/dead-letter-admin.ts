import { type JsMsg, jetstream } from '@nats-io/jetstream';
import { headers as createHeaders, type NatsConnection } from '@nats-io/nats-core';
import { validateInteger } from '@outboxkit/outbox-core';
import { MSG_ID_HEADER } from './cloud-events.js';
import { DEFAULT_DEAD_LETTER_PREFIX, DEFAULT_DEAD_LETTER_STREAM, DeadLetterHeaders } from './dead-letter.js';

/** A message of the dead-letter stream, with why it is there. */
export interface DeadLetter {
  /** Its sequence in the dead-letter stream: what `replayDeadLetters({ sequences })` takes. */
  readonly sequence: number;
  /** The event id (`ce-id` / the original `Nats-Msg-Id`), when the message had one. */
  readonly messageId: string | undefined;
  readonly code: string | undefined;
  readonly error: string | undefined;
  readonly consumer: string | undefined;
  readonly deliveryCount: number;
  /** The subject the message had in its source stream: where a replay publishes it. */
  readonly originalSubject: string | undefined;
  readonly deadAt: string | undefined;
  /** Every header of the dead letter, the `ce-*` attributes and the event's own headers included. */
  readonly headers: Readonly<Record<string, string>>;
  /** The original body, as text. */
  readonly data: string;
}

/** Which dead letters `listDeadLetters` and `replayDeadLetters` act on. */
export interface DeadLetterQuery {
  /** @defaultValue `'DEAD_LETTERS'` */
  readonly stream?: string;
  /** @defaultValue `'dlq'` */
  readonly subjectPrefix?: string;
  /** Only this consumer's dead letters (`<prefix>.<consumer>.>`). */
  readonly consumer?: string;
  /** Most letters read. @defaultValue 100 */
  readonly limit?: number;
}

/**
 * Lists dead letters, oldest first, without removing them.
 *
 * @example
 * ```ts
 * const reasons = (await listDeadLetters(nc, { consumer: 'basket' })).map((letter) => `${letter.code}: ${letter.error}`)
 * ```
 */
export async function listDeadLetters(connection: NatsConnection, query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
  const messages = await readLetters(connection, query);
  return messages.map(toDeadLetter);
}

/**
 * Publishes dead letters back to the subject they came from, with their `ce-*` and own headers,
 * and deletes each from the dead-letter stream once the source stream acknowledged it. Use it
 * after fixing the handler that failed them. Returns how many were replayed.
 *
 * The replay carries no `Nats-Msg-Id`: the event id may still be inside the source stream's
 * `duplicate_window`, which would drop it silently. The consumer's inbox still deduplicates by the
 * event id, so replaying a letter twice applies it once.
 */
export async function replayDeadLetters(
  connection: NatsConnection,
  query: DeadLetterQuery & { readonly sequences?: readonly number[] } = {},
): Promise<number> {
  const stream = query.stream ?? DEFAULT_DEAD_LETTER_STREAM;
  const wanted = query.sequences ? new Set(query.sequences) : undefined;
  const js = jetstream(connection);
  const jsm = await js.jetstreamManager();
  let replayed = 0;
  for (const message of await readLetters(connection, query)) {
    if (wanted && !wanted.has(message.seq)) continue;
    const original = message.headers?.get(DeadLetterHeaders.subject);
    if (!original) continue;
    const headers = createHeaders();
    for (const [name, values] of message.headers ?? []) {
      const lower = name.toLowerCase();
      if (lower.startsWith('outbox-dead-') || lower === DeadLetterHeaders.deliveryCount || lower === MSG_ID_HEADER.toLowerCase()) continue;
      for (const value of values) headers.append(name, value);
    }
    await js.publish(original, message.data, { headers });
    await jsm.streams.deleteMessage(stream, message.seq);
    replayed++;
  }
  return replayed;
}

/** Reads letters in order through an ordered consumer, up to `limit`. */
async function readLetters(connection: NatsConnection, query: DeadLetterQuery): Promise<JsMsg[]> {
  const stream = query.stream ?? DEFAULT_DEAD_LETTER_STREAM;
  const prefix = query.subjectPrefix ?? DEFAULT_DEAD_LETTER_PREFIX;
  const limit = validateInteger(query.limit ?? 100, 'limit', 1, 100_000);
  const js = jetstream(connection);
  const info = await (await js.jetstreamManager()).streams.info(stream);
  const available = Math.min(limit, info.state.messages);
  if (available === 0) return [];
  const filter = query.consumer ? `${prefix}.${query.consumer}.>` : `${prefix}.>`;
  // One filter subject as a string: a list of them needs nats-server 2.10.
  const consumer = await js.consumers.get(stream, { filter_subjects: filter });
  const messages: JsMsg[] = [];
  while (messages.length < available) {
    const batch = await consumer.fetch({ max_messages: available - messages.length, expires: 2_000 });
    const before = messages.length;
    for await (const message of batch) messages.push(message);
    if (messages.length === before) break; // nothing more matches the filter
  }
  return messages;
}

function toDeadLetter(message: JsMsg): DeadLetter {
  const headers: Record<string, string> = {};
  for (const [name, values] of message.headers ?? []) headers[name] = values.join(',');
  const get = (name: string): string | undefined => message.headers?.get(name) || undefined;
  return {
    sequence: message.seq,
    messageId: get(DeadLetterHeaders.messageId),
    code: get(DeadLetterHeaders.code),
    error: get(DeadLetterHeaders.error),
    consumer: get(DeadLetterHeaders.consumer),
    deliveryCount: Number(get(DeadLetterHeaders.deliveryCount) ?? 0),
    originalSubject: get(DeadLetterHeaders.subject),
    deadAt: get(DeadLetterHeaders.time),
    headers,
    data: message.string(),
  };
}
