import { jetstreamManager, type StreamConfig } from '@nats-io/jetstream';
import { ensureConsumer, ensureStream } from '@outboxkit/bus-nats';
import { NATS_URL } from '@outboxkit/test-services';
import type { DatabaseKind } from './databases.js';
import { readDeadLetters } from './dead-letters.js';
import { sleep, waitUntil } from './env.js';
import { type NatsNode, type NatsServers, startNatsServers } from './nats-servers.js';
import { relayMessages, Scenario } from './scenario.js';
import type { Outcome, RunSize } from './scenarios.js';

/**
 * Stream-level outages of the bus: a full stream, a deleted stream, a cluster without quorum, a
 * stream leader killed again and again. The relay runs with 3 attempts (retry delays of about 1 and
 * 2 s), so an event whose failures counted would be dead-lettered within seconds; every outage here
 * lasts far longer than that. Each must end with nothing dead-lettered, lost or stored twice, the
 * relay running (it resumed by itself), `/readyz` 503 during the outage and 200 after it.
 */

/** The relay's settings in these scenarios: few attempts, so counted failures would show at once. */
const RELAY_ENV = { OUTBOX_MAX_ATTEMPTS: '3', OUTBOX_PUBLISH_TIMEOUT_MS: '2000', OUTBOX_STATS_INTERVAL_MS: '250' };

/** Samples `/readyz` every 200 ms until `done()` is true, and returns the statuses seen. */
async function sampleReadyz(scenario: Scenario, done: () => Promise<boolean> | boolean, timeoutMs: number): Promise<Set<number>> {
  const seen = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  while (!(await done()) && Date.now() < deadline) {
    seen.add(await scenario.readyz());
    // sleep-ok: the sampling interval of /readyz while the outage lasts
    await sleep(200);
  }
  return seen;
}

/** Holds an outage for `ms`, sampling `/readyz` meanwhile. */
async function holdOutage(scenario: Scenario, ms: number): Promise<Set<number>> {
  const ends = Date.now() + ms;
  return sampleReadyz(scenario, () => Date.now() >= ends, ms + 1_000);
}

async function outcomeOf(
  scenario: Scenario,
  name: string,
  faults: string,
  checks: Record<string, unknown>,
  publishedBefore = 0,
): Promise<Outcome> {
  const [result, outbox, deadLetters] = await Promise.all([
    scenario.result(name, faults),
    scenario.outboxStatus(),
    readDeadLetters(scenario.nc, scenario.deadLetterStream, scenario.deadLetterPrefix),
  ]);
  const inStream = result.inStream + publishedBefore;
  const messages = relayMessages(scenario);
  const warnings = messages.filter((msg) => msg.includes('pausing the relay'));
  const attemptsCounted = messages.filter((msg) => msg === 'publish failed; will retry' || msg === 'event dead-lettered').length;
  const line =
    `published ${inStream}, dead-lettered healthy ${outbox.dead + deadLetters.length}, ` +
    `stored twice ${Math.max(0, inStream - result.written)}; ${faults}; ` +
    `outage warns: ${warnings.map((msg) => msg.split(';')[0]).join(', ') || 'none'}; attempts counted ${attemptsCounted}`;
  return {
    result: { ...result, inStream, faults: line },
    outbox,
    deadLetters,
    relayExits: scenario.relay?.running ? [] : [(await scenario.relay?.exited)?.code ?? null],
    checks: {
      ...checks,
      relayRunning: scenario.relay?.running ?? false,
      outageWarnings: warnings,
      recoveries: messages.filter((msg) => msg === 'bus healthy again; resuming the relay').length,
      attemptsCounted,
    },
  };
}

/** Starts the worker and the relay and waits for `/readyz` 200. */
async function startBoth(scenario: Scenario): Promise<void> {
  await Promise.all([scenario.startWorker(), scenario.startRelay(RELAY_ENV)]);
  await waitUntil('/readyz 200 at start', async () => (await scenario.readyz()) === 200, 30_000, 100);
}

async function streamConfig(scenario: Scenario): Promise<StreamConfig> {
  return (await (await jetstreamManager(scenario.nc)).streams.info(scenario.stream)).config;
}

/**
 * 8. The event stream full: `max_msgs` at a third of the run with `discard: new`, held for
 * `outageMs`, then given room (the limit raised). The relay must pause (`stream full`), not count
 * attempts, and publish the rest by itself.
 */
export async function streamFull(kind: DatabaseKind, size: RunSize & { outageMs: number }): Promise<Outcome> {
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL });
  try {
    const jsm = await jetstreamManager(scenario.nc);
    const cap = Math.floor(size.events / 3);
    await jsm.streams.update(scenario.stream, { ...(await streamConfig(scenario)), max_msgs: cap, discard: 'new' as never });
    await startBoth(scenario);
    const writing = scenario.write(size.events, size.writeMs);
    const during = await sampleReadyz(
      scenario,
      async () => (await scenario.streamMessages()) >= cap && (await scenario.readyz()) === 503,
      60_000,
    );
    for (const status of await holdOutage(scenario, size.outageMs)) during.add(status);
    const readyDuring = await scenario.readyz();
    await writing;
    await jsm.streams.update(scenario.stream, { ...(await streamConfig(scenario)), max_msgs: -1 });
    await scenario.settle(120_000);
    await waitUntil('/readyz 200 after the stream has room', async () => (await scenario.readyz()) === 200, 30_000, 100);
    return await outcomeOf(
      scenario,
      '8 stream full',
      `max_msgs ${cap} + discard new for ${size.outageMs / 1000} s, then raised; /readyz ${[...during].join('/')}`,
      { readyDuring, readyzSeen: [...during], readyAfter: await scenario.readyz(), expectedWarning: 'stream full' },
    );
  } finally {
    await scenario.dispose();
  }
}

/**
 * 9. The event stream deleted mid-run (its events so far applied; the worker stopped with it),
 * written to for `outageMs`, then created again with its consumer. The relay must pause
 * (`stream missing`), dead-letter nothing (the old `NO_STREAM` dead-lettered the whole backlog
 * at once), and publish the rest into the new stream by itself.
 */
export async function streamDeleted(kind: DatabaseKind, size: RunSize & { outageMs: number }): Promise<Outcome> {
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL });
  try {
    await startBoth(scenario);
    const first = Math.floor(size.events / 3);
    await scenario.write(first, size.writeMs / 3);
    await scenario.settle(120_000);
    await scenario.worker?.stop();
    const jsm = await jetstreamManager(scenario.nc);
    await jsm.streams.delete(scenario.stream);
    const writing = scenario.write(size.events - first, (size.writeMs * 2) / 3);
    const during = await sampleReadyz(scenario, async () => (await scenario.readyz()) === 503, 60_000);
    for (const status of await holdOutage(scenario, size.outageMs)) during.add(status);
    const readyDuring = await scenario.readyz();
    await writing;
    await ensureStream(scenario.nc, { name: scenario.stream, subjects: [`${scenario.prefix}.>`], duplicateWindowMs: 120_000 });
    await ensureConsumer(scenario.nc, { stream: scenario.stream, name: scenario.consumer, ackWaitMs: 3_000, maxDeliver: 20 });
    await scenario.startWorker();
    await scenario.settle(120_000);
    await waitUntil('/readyz 200 after the stream is back', async () => (await scenario.readyz()) === 200, 30_000, 100);
    return await outcomeOf(
      scenario,
      '9 stream deleted',
      `stream deleted for ${size.outageMs / 1000} s after ${first} events, then recreated; /readyz ${[...during].join('/')}`,
      { readyDuring, readyzSeen: [...during], readyAfter: await scenario.readyz(), expectedWarning: 'stream missing' },
      first,
    );
  } finally {
    await scenario.dispose();
  }
}

/** A 3-node cluster, every node ready, and the scenario on it with R3 streams. */
async function onCluster(kind: DatabaseKind): Promise<{ servers: NatsServers; scenario: Scenario }> {
  const servers = await startNatsServers(3);
  try {
    for (const node of servers.nodes) await servers.waitReady(node);
    const scenario = await Scenario.create({ kind, natsUrls: servers.urls, replicas: 3 });
    return { servers, scenario };
  } catch (error) {
    await servers.dispose();
    throw error;
  }
}

async function streamLeader(scenario: Scenario, servers: NatsServers): Promise<NatsNode> {
  let leader: string | undefined;
  await waitUntil(
    'the stream to have a leader',
    async () => {
      const jsm = await jetstreamManager(scenario.nc, { timeout: 2_000 }).catch(() => undefined);
      leader = (await jsm?.streams.info(scenario.stream).catch(() => undefined))?.cluster?.leader;
      return leader !== undefined;
    },
    60_000,
    250,
  );
  return servers.nodes.find((node) => node.name === leader) as NatsNode;
}

/**
 * 10. A 3-node cluster with R3 streams loses quorum: two nodes (the stream leader among them)
 * SIGKILLed for `outageMs` mid-run, then started again. With 3 attempts an event whose failures
 * counted would be dead within ~3 s; the outage lasts `outageMs` (60 s and more).
 */
export async function quorumLost(kind: DatabaseKind, size: RunSize & { outageMs: number }): Promise<Outcome> {
  const { servers, scenario } = await onCluster(kind);
  try {
    await startBoth(scenario);
    const writing = scenario.write(size.events, size.writeMs);
    await waitUntil('a third of the events in the stream', async () => (await scenario.streamMessages()) >= size.events / 3, 120_000, 50);
    const leader = await streamLeader(scenario, servers);
    const victims = [leader, ...servers.nodes.filter((node) => node !== leader)].slice(0, 2);
    for (const node of victims) await node.stop('SIGKILL');
    const during = await holdOutage(scenario, size.outageMs);
    for (const node of victims) node.start();
    for (const node of victims) await servers.waitReady(node, 60_000);
    await writing;
    await scenario.settle(240_000);
    await waitUntil('/readyz 200 after quorum returns', async () => (await scenario.readyz()) === 200, 60_000, 100);
    return await outcomeOf(
      scenario,
      '10 cluster quorum lost',
      `R3, ${victims.map((node) => node.name).join('+')} SIGKILL for ${size.outageMs / 1000} s; /readyz ${[...during].join('/')}`,
      { readyzSeen: [...during], readyAfter: await scenario.readyz(), expectedWarning: 'stream has no leader' },
    );
  } finally {
    await scenario.dispose();
    await servers.dispose();
  }
}

/** 11. The stream leader SIGKILLed `size.faults` times mid-run, each time restarted after `downMs`. */
export async function leaderKilledRepeatedly(kind: DatabaseKind, size: RunSize & { downMs: number }): Promise<Outcome> {
  const { servers, scenario } = await onCluster(kind);
  try {
    await startBoth(scenario);
    const writing = scenario.write(size.events, size.writeMs);
    const during = new Set<number>();
    const killed: string[] = [];
    for (let kill = 1; kill <= size.faults; kill++) {
      const point = Math.round((size.events * kill) / (size.faults + 2));
      await waitUntil(`${point} events in the stream`, async () => (await scenario.streamMessages().catch(() => 0)) >= point, 120_000, 50);
      const leader = await streamLeader(scenario, servers);
      killed.push(leader.name);
      await leader.stop('SIGKILL');
      for (const status of await holdOutage(scenario, size.downMs)) during.add(status);
      leader.start();
      await servers.waitReady(leader, 60_000);
    }
    await writing;
    await scenario.settle(240_000);
    await waitUntil('/readyz 200 at the end', async () => (await scenario.readyz()) === 200, 60_000, 100);
    return await outcomeOf(
      scenario,
      '11 stream leader killed xN',
      `R3, stream leader SIGKILL x${size.faults} (${killed.join(', ')}), down ${size.downMs / 1000} s each; /readyz ${[...during].join('/')}`,
      { readyzSeen: [...during], readyAfter: await scenario.readyz(), kills: killed.length },
    );
  } finally {
    await scenario.dispose();
    await servers.dispose();
  }
}

/**
 * 12. The relay started while the cluster has no JetStream meta leader (two of three nodes down)
 * and its stream does not exist yet: it must wait, logging, instead of exiting 1 on its stream
 * check; once the nodes are back it creates the stream as R3 (`OUTBOX_STREAM_REPLICAS=3`), starts,
 * and everything written after is published and applied.
 */
export async function startedWithoutMetaLeader(kind: DatabaseKind, size: RunSize & { downMs: number }): Promise<Outcome> {
  const { servers, scenario } = await onCluster(kind);
  try {
    // The relay creates the stream itself; the consumer is created once the stream exists.
    await (await jetstreamManager(scenario.nc)).streams.delete(scenario.stream);
    const down = servers.nodes.slice(1);
    for (const node of down) await node.stop('SIGKILL');
    // Its start takes the outage itself on top of the usual start: under load the 30 s default was
    // not enough (it timed out once with a 10 s outage on a machine at load 15-30).
    const starting = scenario.startRelay({ ...RELAY_ENV, OUTBOX_STREAM_REPLICAS: '3' }, size.downMs + 60_000);
    await waitUntil(
      'the relay to wait for JetStream',
      () => relayMessages(scenario).includes('JetStream is not available yet (no meta leader?); waiting to set up the stream'),
      20_000,
      100,
    );
    // sleep-ok: the nodes stay down for size.downMs while the relay waits: the outage is the fault
    await sleep(size.downMs);
    const runningWhileWaiting = scenario.relay?.running ?? false;
    for (const node of down) node.start();
    await starting;
    const replicas = (await streamConfig(scenario)).num_replicas;
    await ensureConsumer(scenario.nc, { stream: scenario.stream, name: scenario.consumer, ackWaitMs: 3_000, maxDeliver: 20 });
    await scenario.startWorker();
    await scenario.write(size.events, size.writeMs);
    await scenario.settle(120_000);
    await waitUntil('/readyz 200', async () => (await scenario.readyz()) === 200, 30_000, 100);
    const waits = relayMessages(scenario).filter((msg) => msg.startsWith('JetStream is not available yet')).length;
    return await outcomeOf(
      scenario,
      '12 started without meta leader',
      `2 of 3 nodes down for ${size.downMs / 1000} s at relay start; ${waits} waits logged; stream created R${replicas}`,
      { runningWhileWaiting, waits, replicas, readyAfter: await scenario.readyz() },
    );
  } finally {
    await scenario.dispose();
    await servers.dispose();
  }
}
