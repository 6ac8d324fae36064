import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DoneMessage, WorkerConfig, WorkerMessage } from './protocol.js';

const workerPath = fileURLToPath(new URL('./relay-worker.mjs', import.meta.url));

/** A forked relay worker, ready to start: `go()` starts it, `done()` / `acks()` wait for its report. */
export interface RelayWorker {
  readonly child: ChildProcess;
  readonly idleRssMb: number;
  go(): void;
  stop(): void;
  done(): Promise<DoneMessage>;
  acks(): Promise<{ ids: string[]; times: number[] }>;
}

/** Forks `relay-worker.mjs` with plain node (plus `nodeArgs`, e.g. `--cpu-prof`) and waits until it is connected. */
export async function spawnRelayWorker(config: WorkerConfig, nodeArgs: readonly string[] = []): Promise<RelayWorker> {
  const child = fork(workerPath, [JSON.stringify(config)], {
    execArgv: [...nodeArgs],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages: WorkerMessage[] = [];
  const waiters: Array<() => void> = [];
  let exited: Error | undefined;
  child.on('message', (message: WorkerMessage) => {
    messages.push(message);
    for (const wake of waiters.splice(0)) wake();
  });
  // 'close', not 'exit': a large last message (the acks of a run) may still be on its way when
  // 'exit' fires; 'close' comes after the IPC channel has closed.
  child.on('close', (code) => {
    exited = new Error(`relay worker exited with code ${code} before reporting`);
    for (const wake of waiters.splice(0)) wake();
  });
  async function next<T extends WorkerMessage['type']>(type: T): Promise<Extract<WorkerMessage, { type: T }>> {
    for (;;) {
      const error = messages.find((m) => m.type === 'error');
      if (error && error.type === 'error') throw new Error(`relay worker failed: ${error.message}`);
      const found = messages.find((m) => m.type === type);
      if (found) return found as Extract<WorkerMessage, { type: T }>;
      if (exited) throw exited;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  }
  const ready = await next('ready');
  return {
    child,
    idleRssMb: ready.rssMb,
    go: () => child.send('go'),
    stop: () => child.send('stop'),
    done: () => next('done'),
    acks: async () => {
      const { ids, times } = await next('acks');
      return { ids, times };
    },
  };
}

/** Waits for a child to exit (so a `--cpu-prof` file is written). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
