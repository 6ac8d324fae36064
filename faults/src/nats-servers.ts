import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort, NATS_SERVER_BIN } from '@outboxkit/test-services';
import { waitUntil } from './env.js';
import { ManagedProcess } from './processes.js';

/** One nats-server of the suite's own, on a free loopback port and a temp store that survives restarts. */
export interface NatsNode {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  start(): void;
  /** Signals the node's pid and waits for it to exit (SIGKILL: a crash; SIGTERM: a clean stop). */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** A single server or a cluster, with the temp directory that holds the stores. */
export interface NatsServers {
  readonly nodes: readonly NatsNode[];
  /** Every node's client URL, comma-separated, as `OUTBOX_NATS_URL` takes it. */
  readonly urls: string;
  /** Waits until JetStream answers through the given node. */
  waitReady(node?: NatsNode, timeoutMs?: number): Promise<void>;
  /** Kills every node it started and removes the temp directory. */
  dispose(): Promise<void>;
}

/** Starts `size` nodes (1: a plain server; 3: a JetStream cluster routed on loopback). */
export async function startNatsServers(size: number): Promise<NatsServers> {
  const root = await mkdtemp(join(tmpdir(), 'outboxkit-faults-nats-'));
  const specs = [];
  for (let index = 0; index < size; index++) {
    specs.push({ name: `fault${index}`, port: await freePort(), clusterPort: size > 1 ? await freePort() : 0 });
  }
  const routes = specs.map((spec) => `nats://127.0.0.1:${spec.clusterPort}`).join(',');
  const nodes: NatsNode[] = [];
  for (const spec of specs) {
    const config = join(root, `${spec.name}.conf`);
    // max_payload stays at the default (1 MB); the bad-input scenario sizes its event from what the server says.
    await writeFile(config, `server_name: ${spec.name}\njetstream { store_dir: "${join(root, spec.name)}" }\n`);
    const args = ['-c', config, '-a', '127.0.0.1', '-p', String(spec.port), '-js', '-l', join(root, `${spec.name}.log`)];
    if (size > 1)
      args.push('--cluster_name', `faults_${process.pid}`, '--cluster', `nats://127.0.0.1:${spec.clusterPort}`, '--routes', routes);
    let proc: ManagedProcess | undefined;
    nodes.push({
      name: spec.name,
      port: spec.port,
      url: `nats://127.0.0.1:${spec.port}`,
      get running() {
        return proc?.running ?? false;
      },
      start() {
        if (proc?.running) return;
        proc = new ManagedProcess(`nats-server ${spec.name}`, NATS_SERVER_BIN, args, { env: { PATH: process.env.PATH ?? '' } });
      },
      async stop(signal: NodeJS.Signals = 'SIGKILL') {
        await proc?.kill(signal);
      },
    });
  }
  for (const node of nodes) node.start();
  const servers: NatsServers = {
    nodes,
    urls: nodes.map((node) => node.url).join(','),
    async waitReady(node = nodes[0] as NatsNode, timeoutMs = 30_000) {
      await waitUntil(
        `JetStream on ${node.url}`,
        async () => {
          try {
            const nc = await connect({ servers: node.url, reconnect: false, timeout: 1_000 });
            try {
              await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo();
              return true;
            } finally {
              await nc.close();
            }
          } catch {
            return false;
          }
        },
        timeoutMs,
        250,
      );
    },
    async dispose() {
      for (const node of nodes) await node.stop('SIGKILL');
      await rm(root, { recursive: true, force: true });
    },
  };
  return servers;
}
