import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as createHeaders, type NatsConnection } from '@nats-io/transport-node';
import { DeadLetterHeaders } from '@outboxkit/bus-nats';

/** One message of a dead-letter stream, as the suite inspects it. */
export interface DeadLetter {
  readonly subject: string;
  readonly messageId: string | undefined;
  readonly code: string | undefined;
  readonly error: string | undefined;
  readonly deliveryCount: number;
  readonly originalSubject: string | undefined;
}

/** Every message of `stream`, in order, with its headers and data (an ordered consumer). */
async function readAll(nc: NatsConnection, stream: string) {
  const total = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = [];
  while (messages.length < total) {
    const batch = await consumer.fetch({ max_messages: total - messages.length, expires: 5_000 });
    const before = messages.length;
    for await (const msg of batch) messages.push(msg);
    if (messages.length === before) break;
  }
  return messages;
}

/** The dead letters of `stream`, decoded from their `outbox-dead-*` headers. */
export async function readDeadLetters(nc: NatsConnection, stream: string): Promise<DeadLetter[]> {
  return (await readAll(nc, stream)).map((msg) => ({
    subject: msg.subject,
    messageId: msg.headers?.get(DeadLetterHeaders.messageId) || undefined,
    code: msg.headers?.get(DeadLetterHeaders.code) || undefined,
    error: msg.headers?.get(DeadLetterHeaders.error) || undefined,
    deliveryCount: Number(msg.headers?.get(DeadLetterHeaders.deliveryCount) ?? 0),
    originalSubject: msg.headers?.get(DeadLetterHeaders.subject) || undefined,
  }));
}

/**
 * Replays every dead letter of `stream` to the subject it came from, with its original `ce-*` and
 * own headers, then purges the dead-letter stream. The replay carries no `Nats-Msg-Id`: the event
 * id is still within the stream's duplicate window, which would drop it; the consumer's inbox
 * dedups by `ce-id` instead. Returns how many were replayed.
 */
export async function replayDeadLetters(nc: NatsConnection, stream: string): Promise<number> {
  const js = jetstream(nc);
  const messages = await readAll(nc, stream);
  for (const msg of messages) {
    const original = msg.headers?.get(DeadLetterHeaders.subject);
    if (!original || !msg.headers) continue;
    const h = createHeaders();
    for (const [name, values] of msg.headers) {
      const lower = name.toLowerCase();
      if (lower.startsWith('outbox-dead-') || lower === DeadLetterHeaders.deliveryCount || lower.startsWith('nats-')) continue;
      for (const value of values) h.append(name, value);
    }
    await js.publish(original, msg.data, { headers: h });
  }
  await (await jetstreamManager(nc)).streams.purge(stream);
  return messages.length;
}
