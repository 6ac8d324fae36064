import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NATS_URL } from '@outboxkit/test-services';

/** What the stream holds, in stream order. */
export interface StoredMessage {
  readonly msgId: string;
  /** The event's aggregate key (`ce-subject`). */
  readonly subject: string;
  readonly data: { index: number; n: number };
}

export async function natsConnect(url = NATS_URL): Promise<NatsConnection> {
  return connect({ servers: url });
}

export async function streamCount(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  try {
    return (await jsm.streams.info(stream)).state.messages;
  } catch {
    return 0;
  }
}

/** Reads every message of the stream in order with an ordered consumer. */
export async function readStream(nc: NatsConnection, stream: string): Promise<StoredMessage[]> {
  const total = await streamCount(nc, stream);
  const out: StoredMessage[] = [];
  if (total === 0) return out;
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1000 });
  for await (const m of messages) {
    out.push({ msgId: m.headers?.get('Nats-Msg-Id') ?? '', subject: m.headers?.get('ce-subject') ?? '', data: m.json() });
    if (out.length >= total) break;
  }
  await messages.close();
  return out;
}

export async function deleteStream(nc: NatsConnection, stream: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => undefined);
}

/** Asserts-by-return: the stream holds exactly the given events once each (ids compared as sets). */
export function idsOf(messages: readonly StoredMessage[]): string[] {
  return messages.map((m) => m.msgId).sort();
}

/** For each subject, the `n` values in stream order (1, 2, 3, ... when order is kept). */
export function perSubjectSequences(messages: readonly StoredMessage[]): Map<string, number[]> {
  const bySubject = new Map<string, number[]>();
  for (const m of messages) {
    const list = bySubject.get(m.subject) ?? [];
    list.push(m.data.n);
    bySubject.set(m.subject, list);
  }
  return bySubject;
}
