// @ts-check
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { answers, NATS_SERVER_BIN } from './index.js';
import { waitUntil } from './wait-until.js';

/** A nats-server of the test's own, with JetStream, on a free port and a temp store dir; stopped by pid. */
export class OwnNatsServer {
  #storeDir = mkdtempSync(join(tmpdir(), 'outboxkit-nats-'));
  /** @type {import('node:child_process').ChildProcess | undefined} */
  #child;
  port = 0;

  get url() {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts it (on the same port as before when restarted) and waits until it accepts clients. */
  async start() {
    if (this.port === 0) this.port = await freePort();
    this.#child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.#storeDir], { stdio: 'ignore' });
    // nats-server opens its client port once JetStream is up.
    await waitUntil('nats-server to accept connections', () => answers(this.url));
  }

  /**
   * Sends a signal to the server process (SIGSTOP freezes it: connections stay open, nothing is answered).
   * @param {NodeJS.Signals} signal
   */
  signal(signal) {
    this.#child?.kill(signal);
  }

  /** Kills it (SIGKILL) and waits for the exit. */
  async stop() {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }

  async dispose() {
    await this.stop();
    rmSync(this.#storeDir, { recursive: true, force: true });
  }
}
