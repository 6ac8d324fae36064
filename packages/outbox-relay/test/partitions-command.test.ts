import type { NatsConnection } from '@nats-io/transport-node';
import { ensureDeadLetterStream, ensurePartitionedConsumer, ensureStream, PartitionedSubscriber } from '@outboxkit/bus-nats';
import { NATS_URL, waitUntil } from '@outboxkit/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteStream, natsConnect } from './nats-stream.js';
import { randomName } from './random-name.js';
import { runRelay } from './relay-process.js';

let nc: NatsConnection;
const streams: string[] = [];
const subscribers: PartitionedSubscriber[] = [];
beforeAll(async () => {
  nc = await natsConnect();
});
afterAll(async () => {
  for (const subscriber of subscribers) await subscriber.close();
  for (const stream of streams) await deleteStream(nc, stream);
  await nc.close();
});

describe('outbox-relay partitions', () => {
  it('prints which instance owns which partition, as text and JSON, and says when the consumer has no lease bucket', async () => {
    const stream = randomName('PARTS').toUpperCase();
    const dlqPrefix = randomName('dlq');
    streams.push(stream, `${stream}_DLQ`, `KV_outbox-leases_${stream}_basket`);
    await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
    await ensureDeadLetterStream(nc, { name: `${stream}_DLQ`, subjectPrefix: dlqPrefix });
    await ensurePartitionedConsumer(nc, { stream, name: 'basket', partitions: 4, subjectPrefix: stream });
    for (const instance of ['east', 'west']) {
      subscribers.push(
        await PartitionedSubscriber.create({
          connection: nc,
          stream,
          consumer: 'basket',
          partitions: 4,
          deadLetterPrefix: dlqPrefix,
          leaseMs: 1_500,
          instance,
        }),
      );
    }
    const [east, west] = subscribers as [PartitionedSubscriber, PartitionedSubscriber];
    await waitUntil(
      'east and west to own 2 partitions each',
      () => east.partitions().owned.length === 2 && west.partitions().owned.length === 2,
      20_000,
    );
    const env = { OUTBOX_NATS_URL: NATS_URL, OUTBOX_STREAM: stream };

    const json = await runRelay(['partitions', '--consumer', 'basket', '--json'], env);
    expect(json.code).toBe(0);
    const owners = JSON.parse(json.stdout) as { members: { instance: string }[]; partitions: { partition: number; instance: string }[] };
    expect(owners.members.map((member) => member.instance)).toEqual(['east', 'west']);
    for (const subscriber of [east, west]) {
      expect(owners.partitions.filter((entry) => entry.instance === subscriber.instance).map((entry) => entry.partition)).toEqual(
        subscriber.partitions().owned,
      );
    }

    const text = await runRelay(['partitions', '--consumer', 'basket'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`consumer basket on ${stream}: 2 instance(s), 4 partition(s) leased`);
    expect(text.stdout).toMatch(new RegExp(`east  renewed \\S+  partitions ${east.partitions().owned.join(' ')}\\n`));

    const missing = await runRelay(['partitions', '--consumer', 'nobody'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no lease bucket for consumer nobody');
    const bad = await runRelay(['partitions', '--consumer', 'bad name'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--consumer');
  });
});
