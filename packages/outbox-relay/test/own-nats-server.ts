import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, NATS_SERVER_BIN, waitUntil } from '@outboxkit/test-services';
import { natsConnect } from './nats-stream.js';

/** A nats-server of the test's own, with JetStream, on a free port and a temp store dir; stopped by pid. */
export class OwnNatsServer {
  readonly #storeDir = mkdtempSync(join(tmpdir(), 'outbox-relay-nats-'));
  #child: ChildProcess | undefined;
  port = 0;

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts it (on the same port as before when restarted) and waits until it accepts clients. */
  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    this.#child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.#storeDir], { stdio: 'ignore' });
    await waitUntil('nats-server to accept connections', async () => {
      try {
        const nc = await natsConnect(this.url);
        await nc.close();
        return true;
      } catch {
        return false;
      }
    });
  }

  /** Sends a signal to the server process (SIGSTOP freezes it: connections stay open, nothing is answered). */
  signal(signal: NodeJS.Signals): void {
    this.#child?.kill(signal);
  }

  /** Kills it (SIGKILL) and waits for the exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.#storeDir, { recursive: true, force: true });
  }
}
