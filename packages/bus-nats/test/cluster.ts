import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, NATS_SERVER_BIN } from '@outboxkit/test-services';

/** One node of a test cluster: it can be killed and started again on the same ports and store. */
export interface ClusterNode {
  readonly name: string;
  readonly clientPort: number;
  readonly clusterPort: number;
  readonly storeDir: string;
  process: ChildProcess | undefined;
}

/** A JetStream cluster of loopback nodes, each a child process of this test only. */
export interface TestCluster {
  readonly nodes: readonly ClusterNode[];
  readonly urls: string[];
  start(node: ClusterNode): void;
  /** SIGKILL, by pid: no shutdown, as in a crash. Resolves when the process has exited. */
  kill(node: ClusterNode): Promise<void>;
  /** Kills every node it started and removes the temp directory. Safe to call twice. */
  dispose(): Promise<void>;
}

/**
 * Starts `size` nodes routed to each other, with JetStream on a temp store each. `serverTags[i]`
 * become node i's `server_tags` (there is no command-line flag for them: a one-line config file).
 */
export async function startCluster(size: number, serverTags: readonly (readonly string[])[] = []): Promise<TestCluster> {
  const root = await mkdtemp(join(tmpdir(), 'outboxkit-nats-cluster-'));
  const clusterName = `outboxkit_${process.pid}`;
  const nodes: ClusterNode[] = [];
  for (let index = 0; index < size; index++) {
    nodes.push({
      name: `n${index}`,
      clientPort: await freePort(),
      clusterPort: await freePort(),
      storeDir: join(root, `n${index}`),
      process: undefined,
    });
  }
  for (const [index, tags] of serverTags.entries()) {
    await writeFile(join(root, `n${index}.conf`), `server_tags: ${JSON.stringify(tags)}\n`);
  }
  const routes = nodes.map((node) => `nats://127.0.0.1:${node.clusterPort}`).join(',');
  const start = (node: ClusterNode): void => {
    const args = serverTags[nodes.indexOf(node)] ? ['-c', join(root, `${node.name}.conf`)] : [];
    args.push('-a', '127.0.0.1', '-p', String(node.clientPort), '-n', node.name, '-js', '-sd', node.storeDir);
    args.push('--cluster_name', clusterName, '--cluster', `nats://127.0.0.1:${node.clusterPort}`, '--routes', routes);
    args.push('-l', join(root, `${node.name}.log`));
    node.process = spawn(NATS_SERVER_BIN, args, { stdio: 'ignore' });
  };
  const kill = async (node: ClusterNode): Promise<void> => {
    const child = node.process;
    node.process = undefined;
    if (!child || child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, 'SIGKILL');
    await exited;
  };
  for (const node of nodes) start(node);
  return {
    nodes,
    urls: nodes.map((node) => `nats://127.0.0.1:${node.clientPort}`),
    start,
    kill,
    async dispose() {
      for (const node of nodes) await kill(node);
      await rm(root, { recursive: true, force: true });
    },
  };
}
