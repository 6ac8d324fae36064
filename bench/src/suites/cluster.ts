import os from 'node:os';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { SuiteContext } from '../context.js';
import { type CpuSeconds, per10k, processCpuSeconds } from '../cpu.js';
import { type BenchCluster, NATS_SERVER_BIN, startCluster } from '../fixtures/cluster.js';
import { runGoCeiling, runPublisherCeiling } from '../go-ceiling.js';
import { freshName, sleepMs } from '../names.js';
import { progress } from '../progress.js';
import { fmt } from '../stats.js';
import { cpuFigures } from './relay-drain.js';

const SUITE = 'cluster';
const NODES = 3;

/**
 * JetStream on a 3-node cluster on loopback (the fault suite's topology): the Go ceiling and
 * NatsPublisher alone into an R1 and an R3 stream, with the CPU of the three nats-servers together.
 * This is the figure that says what replication costs per event; all three nodes share this
 * machine's cores, so the rate is a floor of what three machines would do.
 */
export async function clusterSuite(ctx: SuiteContext): Promise<void> {
  const { runs, scale } = ctx.options;
  const count = scale.clusterMessages;
  const cluster = await startCluster(NODES);
  if (!cluster) {
    ctx.note(SUITE, `Skipped: no nats-server binary at ${NATS_SERVER_BIN} (set NATS_SERVER_BIN).`);
    return;
  }
  try {
    const nc = await connectWhenReady(cluster);
    ctx.note(
      SUITE,
      `${NODES} nats-server processes (JetStream, file storage, routed on loopback, each its own store) started by the bench, all on this machine's ${os.cpus().length} cores. ${fmt(count)} records per measure (the relay's records, from memory), published through node n0 into a fresh stream with 1 or 3 replicas: the Go client (bench/go/ceiling.go) and NatsPublisher (batches of 500), each in a process of its own. nats-server CPU is the three processes together, from /proc.`,
    );
    try {
      for (let run = 1; run <= runs; run++) {
        for (const replicas of [1, 3]) {
          if ('binary' in ctx.goCeiling) {
            progress(`cluster run ${run}/${runs}: Go ceiling, R${replicas}`);
            const binary = ctx.goCeiling.binary;
            const go = await measure(nc, cluster, replicas, count, (stream) =>
              runGoCeiling(binary, cluster.urls[0] as string, stream, count, 1_000),
            );
            ctx.book.record(`cluster.go.r${replicas}`, SUITE, `Go client, R${replicas} stream`, 'events/s', go.rate);
            ctx.book.recordCpu(`cluster.go.r${replicas}`, SUITE, go.cpu);
          }
          progress(`cluster run ${run}/${runs}: NatsPublisher, R${replicas}`);
          const raw = await measure(nc, cluster, replicas, count, (stream) =>
            runPublisherCeiling(cluster.urls[0] as string, stream, count, 1_000, 500),
          );
          ctx.book.record(`cluster.raw.r${replicas}`, SUITE, `NatsPublisher alone, R${replicas} stream`, 'events/s', raw.rate);
          ctx.book.recordCpu(`cluster.raw.r${replicas}`, SUITE, raw.cpu);
        }
      }
    } finally {
      await nc.close();
    }
  } finally {
    await cluster.dispose();
  }
}

/** The three servers' CPU seconds together, or undefined if one cannot be read. */
function clusterCpu(cluster: BenchCluster): number | undefined {
  let sum = 0;
  for (const pid of cluster.pids) {
    const cpu = processCpuSeconds(pid);
    if (cpu === undefined) return undefined;
    sum += cpu;
  }
  return sum;
}

async function measure(
  nc: NatsConnection,
  cluster: BenchCluster,
  replicas: number,
  count: number,
  publish: (stream: string) => Promise<{ rate: number; cpuSeconds: number }>,
): Promise<{ rate: number; cpu: CpuSeconds }> {
  const jsm = await jetstreamManager(nc);
  const name = freshName('CLUSTER').toUpperCase();
  await jsm.streams.add({ name, subjects: [`${name}.>`], storage: 'file', num_replicas: replicas });
  try {
    const before = clusterCpu(cluster);
    const result = await publish(name);
    const after = clusterCpu(cluster);
    const stored = (await jsm.streams.info(name)).state.messages;
    if (stored !== count) throw new Error(`cluster R${replicas}: ${stored} of ${count} messages in the stream`);
    return { rate: result.rate, cpu: cpuFigures({ client: per10k(0, result.cpuSeconds, count), nats: per10k(before, after, count) }) };
  } finally {
    await jsm.streams.delete(name).catch(() => undefined);
  }
}

/** Connects to n0 once the cluster has elected its JetStream meta leader (an R3 stream can be created); 60 s at most. */
async function connectWhenReady(cluster: BenchCluster): Promise<NatsConnection> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: cluster.urls[0] as string, noAsyncTraces: true, timeout: 2_000 });
      const jsm = await jetstreamManager(nc);
      const probe = freshName('READY').toUpperCase();
      await jsm.streams.add({ name: probe, subjects: [`${probe}.>`], storage: 'file', num_replicas: NODES });
      await jsm.streams.delete(probe);
      return nc;
    } catch (error) {
      await nc?.close().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`the ${NODES}-node cluster did not become ready in 60 s: ${String(error)}`);
      await sleepMs(250);
    }
  }
}
