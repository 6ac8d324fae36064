import { randomBytes } from 'node:crypto';
import { type JetStreamManager, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { newEventId, type OutboxRecord } from '@outboxkit/outbox-core';
import { NATS_URL } from '@outboxkit/test-services';
import { afterAll, beforeAll } from 'vitest';

export function connectNats(): Promise<NatsConnection> {
  return connect({ servers: NATS_URL, noAsyncTraces: true }).catch((error: Error) => {
    throw new Error(`cannot reach nats-server with JetStream at ${NATS_URL} (set OUTBOX_NATS_URL): ${error.message}`);
  });
}

/** A unique name for a stream, consumer or subject token of one test. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** Deletes streams a test created, ignoring ones already gone. */
export async function deleteStreams(jsm: JetStreamManager, names: Iterable<string>): Promise<void> {
  for (const name of names) await jsm.streams.delete(name).catch(() => undefined);
}

export { jetstreamManager };

/**
 * One connection for a test file: opened before its tests (handed to `connected`), closed after
 * them, once every stream pushed onto the returned list is deleted.
 */
export function natsPerFile(connected: (nc: NatsConnection, jsm: JetStreamManager) => void): string[] {
  const streams: string[] = [];
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager | undefined;
  beforeAll(async () => {
    nc = await connectNats();
    jsm = await jetstreamManager(nc);
    connected(nc, jsm);
  });
  afterAll(async () => {
    if (jsm) await deleteStreams(jsm, streams);
    await nc?.close();
  });
  return streams;
}

/** An outbox record as a store would hand it to the relay. */
export function record(type: string, overrides: Partial<OutboxRecord> = {}): OutboxRecord {
  return {
    id: newEventId(),
    type,
    source: 'catalog',
    subject: 'product-1',
    time: new Date().toISOString(),
    payload: JSON.stringify({ price: 10 }),
    headers: {},
    attempts: 0,
    ...overrides,
  };
}

/** Every message of a stream, in stream order, read with an ordered consumer. */
export async function readStream(nc: NatsConnection, stream: string): Promise<JsMsg[]> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const total = (await jsm.streams.info(stream)).state.messages;
  const messages: JsMsg[] = [];
  if (total === 0) return messages;
  const consumer = await js.consumers.get(stream);
  while (messages.length < total) {
    const batch = await consumer.fetch({ max_messages: Math.min(total - messages.length, 5_000), expires: 5_000 });
    const before = messages.length;
    for await (const msg of batch) messages.push(msg);
    if (messages.length === before) break;
  }
  return messages;
}
