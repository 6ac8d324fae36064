import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { ensureStream, NatsPublisher } from '@outboxkit/bus-nats';
import { type BusHealth, OutboxConfigError, type OutboxRecord, type PublishError } from '@outboxkit/outbox-core';
import { waitUntil } from '@outboxkit/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './cluster.js';
import { jetstreamManager, readStream, record } from './nats.js';

const EVENTS = 20_000;
const BATCH = 1_000;

let cluster: TestCluster | undefined;
let nc: NatsConnection | undefined;

beforeAll(async () => {
  // One availability-zone tag per node, for the placement test.
  cluster = await startCluster(3, [['az:a'], ['az:b'], ['az:c']]);
  const urls = cluster.urls;
  await waitUntil(
    'a connection to the cluster',
    async () => {
      nc = await connect({ servers: urls, noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 2_000 }).catch(
        () => undefined,
      );
      return nc !== undefined;
    },
    20_000,
    100,
  );
});

afterAll(async () => {
  // Kill what this file started, by pid, even when a test failed.
  await nc?.close().catch(() => undefined);
  await cluster?.dispose();
});

// sleep-ok: used only where the time is the test's subject (an outage's length, a relay's retry pause)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries until the cluster has a JetStream meta leader and the R3 stream exists. */
async function createReplicatedStream(jsmSource: NatsConnection, name: string, subjects = ['events.>']): Promise<JetStreamManager> {
  let jsm: JetStreamManager | undefined;
  await waitUntil(
    `the R3 stream ${name} to be created`,
    async () => {
      jsm = await jetstreamManager(jsmSource, { timeout: 2_000 })
        .then(async (manager) => {
          await ensureStream(manager, { name, subjects, replicas: 3, duplicateWindowMs: 120_000 });
          return manager;
        })
        .catch(() => undefined);
      return jsm !== undefined;
    },
    20_000,
    250,
  );
  return jsm!;
}

describe('NatsPublisher on a 3-node JetStream cluster', () => {
  it('loses and duplicates nothing in an R3 stream when a node is killed mid-publish and restarted', async () => {
    if (!cluster || !nc) throw new Error('the cluster did not start');
    const jsm = await createReplicatedStream(nc, 'EVENTS_R3');
    const leaderName = (await jsm.streams.info('EVENTS_R3')).cluster?.leader;
    const victim = cluster.nodes.find((node) => node.name === leaderName) ?? cluster.nodes[0]!;

    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: 'events', timeoutMs: 2_000, maxInFlight: 1_000 });
    const events = Array.from({ length: EVENTS }, (_, index) =>
      record('catalog.product.price-changed', { subject: `product-${index % 100}` }),
    );
    const failureCodes = new Map<string, number>();
    let killedAt = -1;
    let restarted: Promise<void> | undefined;
    const began = Date.now();
    let recoveredMs = 0;

    for (let start = 0; start < EVENTS; start += BATCH) {
      if (killedAt < 0 && start >= EVENTS / 4) {
        killedAt = start;
        await cluster.kill(victim);
        // sleep-ok: the node stays down for 2 s while the publishes go on: the outage is what is tested
        restarted = sleep(2_000).then(() => cluster?.start(victim));
      }
      // What a relay does: re-publish the failed records of the batch, with the same ids.
      let pending: OutboxRecord[] = events.slice(start, start + BATCH);
      const deadline = Date.now() + 25_000;
      while (pending.length > 0) {
        const results = await publisher.publish(pending);
        const failed = new Set<string>();
        for (const result of results) {
          if (result.ok) continue;
          const error: PublishError = result.error;
          failureCodes.set(error.code, (failureCodes.get(error.code) ?? 0) + 1);
          failed.add(result.id);
        }
        pending = pending.filter((event) => failed.has(event.id));
        if (failed.size > 0) recoveredMs = Date.now() - began;
        if (pending.length > 0) {
          if (Date.now() > deadline) throw new Error(`still failing after 25s: ${JSON.stringify([...failureCodes])}`);
          // sleep-ok: a relay's pause before it re-publishes a failed batch, part of the load under test
          await sleep(200);
        }
      }
    }
    await restarted;

    // The restarted node rejoins and the stream may elect a leader again: a request in that window
    // times out (TimeoutError, seen in CI), so the stream's state is read once it answers again.
    let messages = -1;
    await waitUntil(
      'the R3 stream to answer after the restart',
      async () => {
        messages = await jsm.streams
          .info('EVENTS_R3')
          .then((info) => info.state.messages)
          .catch(() => -1);
        return messages >= 0;
      },
      30_000,
      250,
    );
    expect(killedAt).toBeGreaterThan(0);
    expect(messages).toBe(EVENTS);
    let stored: Awaited<ReturnType<typeof readStream>> = [];
    await waitUntil(
      'every message of the R3 stream to be read back',
      async () => {
        stored = await readStream(nc!, 'EVENTS_R3').catch(() => []);
        return stored.length >= EVENTS;
      },
      30_000,
      250,
    );
    const ids = stored.map((message) => message.headers?.get('Nats-Msg-Id'));
    expect(new Set(ids).size).toBe(EVENTS);
    expect(new Set(ids)).toEqual(new Set(events.map((event) => event.id)));
    console.log(
      `cluster test: killed ${victim.name} (stream leader ${leaderName}) after ${killedAt} events; failures retried: ${JSON.stringify([...failureCodes])}; last failure at ${recoveredMs}ms, all acked at ${Date.now() - began}ms`,
    );
  });

  it('probes no-leader while two of three nodes are down (publishes fail retryably), healthy when they are back', async () => {
    if (!cluster || !nc) throw new Error('the cluster did not start');
    await createReplicatedStream(nc, 'QUORUM_R3', ['quorum.>']);
    const publisher = new NatsPublisher({ connection: nc, subjectPrefix: 'quorum', stream: 'QUORUM_R3', timeoutMs: 1_000 });
    expect(await publisher.probe()).toEqual({ ok: true });
    const connectedTo = nc.info?.server_name;
    const victims = cluster.nodes.filter((node) => node.name !== connectedTo);
    for (const node of victims) await cluster.kill(node);
    let health: BusHealth = { ok: true };
    const seen = new Set<string>();
    const deadline = Date.now() + 30_000;
    while (health.ok && Date.now() < deadline) {
      health = await publisher.probe();
      if (!health.ok) seen.add(`${health.reason}: ${health.detail}`);
    }
    expect(health).toMatchObject({ ok: false, reason: 'no-leader' });
    const [result] = await publisher.publish([record('x.created')]);
    expect(result).toMatchObject({ ok: false, error: { retryable: true } });
    // Still no quorum a while later: the probe does not report healthy on any reply.
    expect(await publisher.probe()).toMatchObject({ ok: false, reason: 'no-leader' });
    for (const node of victims) cluster.start(node);
    await waitUntil('a healthy probe with the nodes back', async () => (await publisher.probe()).ok, 60_000, 200).catch(() => undefined);
    expect(await publisher.probe()).toEqual({ ok: true });
    const [after] = await publisher.publish([record('x.created')]);
    expect(after?.ok).toBe(true);
    console.log(`cluster test: probe while 2 of 3 nodes were down: ${[...seen].join(' | ')}`);
  });

  it('fails publishes waiting for a PubAck at once when the connection drops, not after timeoutMs', async () => {
    if (!cluster) throw new Error('the cluster did not start');
    const own = await connect({ servers: cluster.urls, noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      // A subscriber that never replies: the publishes wait for acks that will not come.
      own.subscribe('sink.>', { callback: () => undefined });
      await own.flush();
      const publisher = new NatsPublisher({ connection: own, subjectPrefix: 'sink', timeoutMs: 20_000 });
      const victim = cluster.nodes.find((node) => node.name === own.info?.server_name);
      if (!victim) throw new Error(`no node named ${own.info?.server_name}`);
      const started = Date.now();
      const publishing = publisher.publish([record('a.created'), record('b.created'), record('c.created')]);
      await own.flush();
      await cluster.kill(victim);
      const results = await publishing;
      const elapsedMs = Date.now() - started;
      cluster.start(victim);
      expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['DISCONNECTED', 'DISCONNECTED', 'DISCONNECTED']);
      expect(elapsedMs).toBeLessThan(5_000);
      console.log(`cluster test: pending publishes failed ${elapsedMs} ms after the kill began (timeoutMs 20,000)`);
    } finally {
      await own.close();
    }
  });

  it('places a new stream on the server whose server_tags carry its placement tags, and refuses tags no server has', async () => {
    if (!cluster || !nc) throw new Error('the cluster did not start');
    const connection = nc;
    const create = async (name: string, tags: string[]) => {
      let created: Awaited<ReturnType<typeof ensureStream>> | undefined;
      const attempt = async () => {
        try {
          created = await ensureStream(await jetstreamManager(connection, { timeout: 2_000 }), {
            name,
            subjects: [`${name.toLowerCase()}.>`],
            placement: { tags },
          });
          return true;
        } catch (error) {
          // Only a cluster still electing its meta leader is retried; a refusal is the answer.
          if (error instanceof OutboxConfigError) throw error;
          return false;
        }
      };
      await waitUntil(`stream ${name} to be created`, attempt, 20_000, 250);
      return created!;
    };
    const placed = await create('PLACED_B', ['az:b']);
    expect(placed.info.config.placement?.tags).toEqual(['az:b']);
    expect(placed.info.cluster?.leader).toBe('n1');
    const refused = await create('PLACED_NOWHERE', ['az:nowhere']).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(OutboxConfigError);
    expect(String((refused as Error).message)).toMatch(/PLACED_NOWHERE/);
  });
});
