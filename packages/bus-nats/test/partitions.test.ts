import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import {
  ensureDeadLetterStream,
  ensurePartitionedConsumer,
  ensureStream,
  NatsPublisher,
  PartitionedSubscriber,
  partitionOf,
  readPartitionOwners,
} from '@outboxkit/bus-nats';
import { Consumer, defineEvent, OutboxConfigError, type OutboxRecord } from '@outboxkit/outbox-core';
import { MemoryInboxStore, type MemoryTransaction } from '@outboxkit/outbox-core/testing';
import { OwnNatsServer, waitUntil } from '@outboxkit/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fnv1a } from '../src/partitions.js';
import { connectNats, natsPerFile, readStream, record, uniqueName } from './nats.js';

let nc: NatsConnection;
const streams = natsPerFile((connection) => {
  nc = connection;
});
const extra: NatsConnection[] = [];
afterAll(async () => {
  await Promise.all(extra.map((connection) => connection.close().catch(() => undefined)));
});

const Changed = defineEvent('catalog.product.changed', { schema: z.object({ v: z.number() }) });
const PARTITIONS = 8;
const LEASE_MS = 1_500;

/** A stream, its dead-letter stream and the 8 durables of consumer `basket`; the streams are deleted after the file. */
async function partitionedStream(): Promise<{ stream: string; dlqPrefix: string }> {
  const stream = uniqueName('PART');
  const dlqPrefix = uniqueName('dlq');
  const dlqStream = uniqueName('DLQ');
  streams.push(stream, dlqStream, `KV_outbox-leases_${stream}_basket`);
  await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
  await ensureDeadLetterStream(nc, { name: dlqStream, subjectPrefix: dlqPrefix });
  await ensurePartitionedConsumer(nc, {
    stream,
    name: 'basket',
    partitions: PARTITIONS,
    subjectPrefix: stream,
    filterSubjects: [`${stream}.catalog.>`],
    maxDeliver: 5,
    ackWaitMs: 3_000,
  });
  return { stream, dlqPrefix };
}

/** Events v = 1..perSubject on each subject, stamped with their per-subject sequence. */
function events(subjects: number, perSubject: number, from = 1): OutboxRecord[] {
  const records: OutboxRecord[] = [];
  for (let v = from; v < from + perSubject; v++) {
    for (let s = 0; s < subjects; s++) {
      records.push(record(Changed.type, { subject: `product-${s}`, sequence: v, payload: JSON.stringify({ v }) }));
    }
  }
  return records;
}

describe('partitions: the subject layout', () => {
  it('the publisher puts each event on <prefix>.p<k>.<type>, k from its subject, and the partitioned durables read only their own', async () => {
    const { stream } = await partitionedStream();
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream, partitions: PARTITIONS });
    const records = events(20, 2);
    expect((await publisher.publish(records)).every((result) => result.ok)).toBe(true);
    const stored = await readStream(nc, stream);
    expect(stored.map((msg) => msg.subject)).toEqual(
      records.map((entry) => `${stream}.p${partitionOf(entry.subject, PARTITIONS)}.${Changed.type}`),
    );
    // Each subject in one partition, and more than one partition used.
    expect(new Set(records.map((entry) => partitionOf(entry.subject, PARTITIONS))).size).toBeGreaterThan(1);
  });

  it('refuses partitions with a subject mapping, a count of 0, and a filter outside the prefix, creating nothing', async () => {
    expect(() => new NatsPublisher({ connection: nc, partitions: 8, subject: () => 'x' })).toThrow(OutboxConfigError);
    expect(() => new NatsPublisher({ connection: nc, partitions: 0 })).toThrow(/partitions/);
    const stream = uniqueName('PART');
    streams.push(stream);
    await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
    await expect(
      ensurePartitionedConsumer(nc, { stream, name: 'basket', partitions: 4, subjectPrefix: stream, filterSubjects: ['other.>'] }),
    ).rejects.toThrow(/does not start with the subject prefix/);
    await expect(ensurePartitionedConsumer(nc, { stream, name: 'bad.name', partitions: 4, subjectPrefix: stream })).rejects.toThrow(
      OutboxConfigError,
    );
    const { jetstreamManager } = await import('./nats.js');
    expect(await (await jetstreamManager(nc)).consumers.list(stream).next()).toEqual([]);
  });

  it('refuses a partition count below one the stream holds events of: no durable would read them', async () => {
    const stream = uniqueName('PART');
    streams.push(stream);
    await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
    const records = events(40, 1);
    expect(records.some((entry) => partitionOf(entry.subject, 16) >= 8)).toBe(true);
    await new NatsPublisher({ connection: nc, subjectPrefix: stream, partitions: 16 }).publish(records);
    await expect(ensurePartitionedConsumer(nc, { stream, name: 'basket', partitions: 8, subjectPrefix: stream })).rejects.toThrow(
      /holds events on .*but partitions is 8/,
    );
    const { jetstreamManager } = await import('./nats.js');
    expect(await (await jetstreamManager(nc)).consumers.list(stream).next()).toEqual([]);
    expect(await ensurePartitionedConsumer(nc, { stream, name: 'basket', partitions: 16, subjectPrefix: stream })).toHaveLength(16);
  });
});

describe('partitions: instances divide them through leases', () => {
  const open: PartitionedSubscriber[] = [];
  afterAll(async () => {
    await Promise.all(open.map((subscriber) => subscriber.close().catch(() => undefined)));
  });

  async function join(
    stream: string,
    dlqPrefix: string,
    instance: string,
  ): Promise<{ subscriber: PartitionedSubscriber; connection: NatsConnection }> {
    const connection = await connectNats();
    extra.push(connection);
    const subscriber = await PartitionedSubscriber.create({
      connection,
      stream,
      consumer: 'basket',
      partitions: PARTITIONS,
      deadLetterPrefix: dlqPrefix,
      leaseMs: LEASE_MS,
      instance,
    });
    open.push(subscriber);
    return { subscriber, connection };
  }

  function ownedBy(subscribers: PartitionedSubscriber[]): number[][] {
    return subscribers.map((subscriber) => [...subscriber.partitions().owned]);
  }

  /** True when the instances own every partition once between them, `shares` of them each. */
  function divided(subscribers: PartitionedSubscriber[], shares: number[]): boolean {
    const owned = ownedBy(subscribers);
    const all = owned.flat().sort((a, b) => a - b);
    return (
      JSON.stringify(all) === JSON.stringify([...Array(PARTITIONS).keys()]) &&
      JSON.stringify(owned.map((list) => list.length).sort()) === JSON.stringify([...shares].sort())
    );
  }

  it('one instance owns all; a second and a third join and get their share; one that closes gives its partitions back within a renewal', async () => {
    const { stream, dlqPrefix } = await partitionedStream();
    const a = (await join(stream, dlqPrefix, 'a')).subscriber;
    expect(a.partitions().owned).toEqual([...Array(PARTITIONS).keys()]);
    const b = (await join(stream, dlqPrefix, 'b')).subscriber;
    await waitUntil('a and b to own 4 partitions each', () => divided([a, b], [4, 4]), 10 * LEASE_MS);
    const c = (await join(stream, dlqPrefix, 'c')).subscriber;
    await waitUntil('a, b and c to own 3, 3 and 2', () => divided([a, b, c], [3, 3, 2]), 10 * LEASE_MS);
    // The operator's view, read from the lease bucket, says the same.
    const owners = await readPartitionOwners(nc, { stream, consumer: 'basket' });
    expect(owners?.members.map((member) => member.instance)).toEqual(['a', 'b', 'c']);
    for (const subscriber of [a, b, c]) {
      const listed = owners?.partitions.filter((entry) => entry.instance === subscriber.instance).map((entry) => entry.partition);
      expect(listed).toEqual(subscriber.partitions().owned);
    }
    expect(await readPartitionOwners(nc, { stream, consumer: 'nobody' })).toBeNull();
    const closedAt = Date.now();
    await c.close();
    await waitUntil('a and b to take c partitions', () => divided([a, b], [4, 4]), 10 * LEASE_MS);
    // Closing deletes the leases: no wait for them to lapse (the bucket's max_age is the lease).
    expect(Date.now() - closedAt).toBeLessThan(3 * LEASE_MS);
  });

  it('a partition given up to a joining instance moves only once the message handed out of it is settled', async () => {
    const { stream, dlqPrefix } = await partitionedStream();
    const a = (await join(stream, dlqPrefix, 'a')).subscriber;
    // The partitions a gives up to a second member: the 4 it likes least (its preference order).
    const given = [...Array(PARTITIONS).keys()].sort((x, y) => fnv1a(`a.${x}`) - fnv1a(`a.${y}`)).slice(PARTITIONS / 2);
    const partition = given[0] as number;
    let subject = '';
    for (let index = 0; subject === ''; index++)
      if (partitionOf(`product-${index}`, PARTITIONS) === partition) subject = `product-${index}`;
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream, partitions: PARTITIONS });
    expect((await publisher.publish([record(Changed.type, { subject, sequence: 1 })])).every((result) => result.ok)).toBe(true);
    const [held] = await a.fetch({ max: 10, expiresMs: 2_000 });
    expect(held?.subject).toBe(`${stream}.p${partition}.${Changed.type}`);

    const b = (await join(stream, dlqPrefix, 'b')).subscriber;
    await waitUntil('b to take the 3 partitions a gave up with nothing in hand', () => b.partitions().owned.length === 3, 10 * LEASE_MS);
    expect(a.partitions()).toMatchObject({ owned: expect.not.arrayContaining([partition]), releasing: [partition] });
    expect(b.partitions().owned).not.toContain(partition);

    await held?.ack();
    await waitUntil('b to take the partition once the message is acked', () => b.partitions().owned.includes(partition), 10 * LEASE_MS);
    expect(divided([a, b], [4, 4])).toBe(true);
  });

  it('the partitions of an instance killed without closing move to the others once its lease lapses', async () => {
    const { stream, dlqPrefix } = await partitionedStream();
    const a = (await join(stream, dlqPrefix, 'a')).subscriber;
    const killed = await join(stream, dlqPrefix, 'b');
    await waitUntil('a and b to own 4 partitions each', () => divided([a, killed.subscriber], [4, 4]), 10 * LEASE_MS);
    // Its connection is gone (as with kill -9): no renewal, no release; its leases lapse in the bucket.
    await killed.connection.close();
    const killedAt = Date.now();
    await waitUntil('a to own every partition', () => divided([a], [PARTITIONS]), 10 * LEASE_MS);
    const movedMs = Date.now() - killedAt;
    expect(movedMs).toBeGreaterThanOrEqual(LEASE_MS / 2);
    expect(movedMs).toBeLessThan(4 * LEASE_MS);
  });

  it('three consuming instances, one joining and one leaving mid-run: every subject applied in order, exactly once', async () => {
    const { stream, dlqPrefix } = await partitionedStream();
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream, partitions: PARTITIONS });
    const inbox = new MemoryInboxStore();
    const applied = new Map<string, number[]>();
    const appliedBy = new Map<string, Set<string>>();
    const consumers: Consumer<MemoryTransaction>[] = [];
    const start = async (instance: string) => {
      const { subscriber } = await join(stream, dlqPrefix, instance);
      const consumer = new Consumer<MemoryTransaction>({ subscriber, inbox, fetchExpiresMs: 200 }).on(Changed, async (event, tx) => {
        tx.onCommit(() => {
          const list = applied.get(event.subject) ?? [];
          list.push(event.data.v);
          applied.set(event.subject, list);
          appliedBy.set(event.subject, (appliedBy.get(event.subject) ?? new Set()).add(instance));
        });
      });
      consumers.push(consumer);
      await consumer.start();
      return { consumer, subscriber };
    };
    const SUBJECTS = 60;
    const first = await start('a');
    await start('b');
    expect((await publisher.publish(events(SUBJECTS, 10))).every((result) => result.ok)).toBe(true);
    const late = await start('c');
    expect((await publisher.publish(events(SUBJECTS, 10, 11))).every((result) => result.ok)).toBe(true);
    await first.consumer.stop();
    await first.subscriber.close();
    expect((await publisher.publish(events(SUBJECTS, 10, 21))).every((result) => result.ok)).toBe(true);
    const total = () => [...applied.values()].reduce((sum, list) => sum + list.length, 0);
    await waitUntil(`all ${SUBJECTS * 30} events applied`, () => total() >= SUBJECTS * 30, 60_000);
    for (const consumer of consumers) await consumer.stop();
    const expected = Array.from({ length: 30 }, (_, index) => index + 1);
    for (let s = 0; s < SUBJECTS; s++) expect(applied.get(`product-${s}`)).toEqual(expected);
    expect(total()).toBe(SUBJECTS * 30);
    // The late instance did take a share of the work.
    expect([...appliedBy.values()].some((by) => by.has('c'))).toBe(true);
    expect(late.subscriber.partitions().owned.length).toBeGreaterThan(0);
  });
});

describe('partitions: NATS down for longer than the lease', () => {
  it('two consuming instances lose their leases while nats-server is killed, take the partitions back after its restart, and apply every event in order, once', async () => {
    const server = new OwnNatsServer();
    await server.start();
    const connections: NatsConnection[] = [];
    const open: PartitionedSubscriber[] = [];
    const consumers: Consumer<MemoryTransaction>[] = [];
    const connectOwn = async () => {
      const connection = await connect({ servers: server.url, noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      connections.push(connection);
      return connection;
    };
    try {
      const admin = await connectOwn();
      const stream = 'OUTAGE';
      await ensureStream(admin, { name: stream, subjects: [`${stream}.>`] });
      await ensureDeadLetterStream(admin, { name: 'OUTAGE_DLQ', subjectPrefix: 'dlq' });
      await ensurePartitionedConsumer(admin, {
        stream,
        name: 'basket',
        partitions: 4,
        subjectPrefix: stream,
        maxDeliver: 5,
        ackWaitMs: 3_000,
      });
      const publisher = new NatsPublisher({ connection: admin, subjectPrefix: stream, partitions: 4 });
      const inbox = new MemoryInboxStore();
      const applied = new Map<string, number[]>();
      for (const instance of ['a', 'b']) {
        const subscriber = await PartitionedSubscriber.create({
          connection: await connectOwn(),
          stream,
          consumer: 'basket',
          partitions: 4,
          leaseMs: LEASE_MS,
          instance,
          timeoutMs: 1_000,
        });
        open.push(subscriber);
        const consumer = new Consumer<MemoryTransaction>({ subscriber, inbox, fetchExpiresMs: 200 }).on(Changed, async (event, tx) => {
          tx.onCommit(() => applied.set(event.subject, [...(applied.get(event.subject) ?? []), event.data.v]));
        });
        consumers.push(consumer);
        await consumer.start();
      }
      const total = () => [...applied.values()].reduce((sum, list) => sum + list.length, 0);
      expect((await publisher.publish(events(20, 5))).every((result) => result.ok)).toBe(true);
      await waitUntil('the first 100 events applied', () => total() === 100, 30_000);
      const [a, b] = open as [PartitionedSubscriber, PartitionedSubscriber];
      await waitUntil(
        'a and b to own 2 partitions each',
        () => a.partitions().owned.length === 2 && b.partitions().owned.length === 2,
        20 * LEASE_MS,
      );

      await server.stop();
      await waitUntil(
        'both to stop reading their partitions',
        () => a.partitions().owned.length + b.partitions().owned.length === 0,
        20 * LEASE_MS,
      );
      await server.start();

      await waitUntil(
        'the publisher to publish again',
        async () => (await publisher.publish(events(20, 5, 6))).every((result) => result.ok),
        30_000,
        500,
      );
      await waitUntil('all 200 events applied', () => total() >= 200, 60_000);
      await waitUntil(
        'a and b to own 2 partitions each again',
        () => a.partitions().owned.length === 2 && b.partitions().owned.length === 2,
        20 * LEASE_MS,
      );
      const expected = Array.from({ length: 10 }, (_, index) => index + 1);
      for (let s = 0; s < 20; s++) expect(applied.get(`product-${s}`)).toEqual(expected);
      expect(total()).toBe(200);
    } finally {
      for (const consumer of consumers) await consumer.stop({ timeoutMs: 2_000 });
      await Promise.all(open.map((subscriber) => subscriber.close().catch(() => undefined)));
      await Promise.all(connections.map((connection) => connection.close().catch(() => undefined)));
      await server.dispose();
    }
  });
});
