import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { NatsPublisher, type NatsPublisherOptions } from '@outboxkit/bus-nats';
import type { Publisher } from '@outboxkit/outbox-core';
import { connectNats, uniqueName } from './nats.js';

/** One message as the stream stored it. */
export interface StoredMessage {
  id: string;
  type: string;
  subject: string;
  payload: string;
  headers: Record<string, string>;
}

/** The shape of core's `PublisherHarness` (`@outboxkit/outbox-core/testing`). */
export interface NatsPublisherHarness {
  createPublisher(): Promise<Publisher>;
  stored(): Promise<StoredMessage[]>;
  dispose(): Promise<void>;
}

/**
 * A publisher on a fresh stream (`<random>.>`) of the real server, for core's `describePublisher`
 * suite: `describePublisher('NatsPublisher', () => createNatsPublisherHarness())`.
 */
export function createNatsPublisherHarness(options: Partial<NatsPublisherOptions> = {}): NatsPublisherHarness {
  let connection: NatsConnection | undefined;
  const streams: string[] = [];
  const open = async (): Promise<NatsConnection> => {
    connection ??= await connectNats();
    return connection;
  };
  return {
    async createPublisher() {
      const nc = await open();
      const jsm = await jetstreamManager(nc);
      const name = uniqueName('PUB');
      await jsm.streams.add({ name, subjects: [`${name}.>`], duplicate_window: 120_000_000_000 });
      streams.push(name);
      return new NatsPublisher({ ...options, connection: nc, subjectPrefix: name });
    },
    async stored() {
      const nc = await open();
      const jsm = await jetstreamManager(nc);
      const messages: StoredMessage[] = [];
      for (const name of streams) {
        const { state } = await jsm.streams.info(name);
        for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
          const stored = await jsm.streams.getMessage(name, { seq });
          if (!stored) continue;
          const headers: Record<string, string> = {};
          for (const [key, values] of stored.header) headers[key] = values[0] ?? '';
          messages.push({
            id: headers['Nats-Msg-Id'] ?? '',
            type: headers['ce-type'] ?? '',
            subject: stored.subject,
            payload: stored.string(),
            headers,
          });
        }
      }
      return messages;
    },
    async dispose() {
      if (!connection) return;
      const jsm = await jetstreamManager(connection);
      for (const name of streams.splice(0)) await jsm.streams.delete(name).catch(() => undefined);
      await connection.close();
      connection = undefined;
    },
  };
}
