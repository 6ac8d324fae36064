import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { NatsPublisher, type NatsPublisherOptions } from '@outboxkit/bus-nats';
import { EventDecodeError } from '@outboxkit/outbox-core';
import type { PublisherHarness } from '@outboxkit/outbox-core/conformance';
import { parseSubjectSequence, readGapMarker, SUBJECT_SEQUENCE_HEADER } from '@outboxkit/outbox-core/driver';
import { connectNats, readStream, uniqueName } from './nats.js';

/**
 * A publisher on a fresh stream (`<random>.>`) of the real server, for core's `describePublisher`
 * suite: `describePublisher('NatsPublisher', () => createNatsPublisherHarness())`.
 */
export function createNatsPublisherHarness(options: Partial<NatsPublisherOptions> = {}): PublisherHarness {
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
      const latest = streams.at(-1);
      if (latest === undefined) return [];
      return (await readStream(nc, latest)).map((message) => {
        const headers: Record<string, string> = {};
        for (const [key, values] of message.headers ?? []) headers[key] = values[0] ?? '';
        const sequence = headers[SUBJECT_SEQUENCE_HEADER];
        const gap = readGapMarker((name) => headers[name], `message ${message.seq}`);
        return {
          id: headers['Nats-Msg-Id'] ?? '',
          type: headers['ce-type'] ?? '',
          // The event's subject (the aggregate key), not the NATS subject it was stored under.
          subject: headers['ce-subject'] ?? '',
          payload: message.string(),
          headers,
          sequence: sequence === undefined ? undefined : parseSubjectSequence(sequence),
          gap: gap instanceof EventDecodeError ? undefined : gap,
        };
      });
    },
    subjectOrder: true,
    async dispose() {
      if (!connection) return;
      const jsm = await jetstreamManager(connection);
      for (const name of streams.splice(0)) await jsm.streams.delete(name).catch(() => undefined);
      await connection.close();
      connection = undefined;
    },
  };
}
