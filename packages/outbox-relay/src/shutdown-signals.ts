import { ExitCode } from './help.js';
import type { CliLogger } from './logger.js';

/**
 * SIGTERM/SIGINT for the relay. While starting, a signal exits 1 at once: nothing is in flight,
 * but the relay never ran (a supervisor must not read that as a clean stop).
 * Once running, the first signal asks for a graceful stop and arms a hard deadline; a second
 * signal, or the deadline, calls `onForce` (which logs what was still in flight) and exits 1.
 */
export class ShutdownSignals {
  running = false;
  /** Called on the first signal once running. */
  onStop: (() => void) | undefined;
  /** Called before a forced exit; given a short time to log. */
  onForce: (() => Promise<void>) | undefined;
  readonly #logger: CliLogger;
  readonly #hardDeadlineMs: number;
  readonly #stopped: Promise<string>;
  #resolve!: (signal: string) => void;
  #count = 0;
  #forcing = false;
  readonly #handler = (signal: NodeJS.Signals): void => this.#signal(signal);

  constructor(logger: CliLogger, hardDeadlineMs: number) {
    this.#logger = logger;
    this.#hardDeadlineMs = hardDeadlineMs;
    this.#stopped = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    process.on('SIGTERM', this.#handler);
    process.on('SIGINT', this.#handler);
  }

  /** Resolves to the signal's name on the first signal. */
  stopped(): Promise<string> {
    return this.#stopped;
  }

  get requested(): boolean {
    return this.#count > 0;
  }

  #signal(signal: NodeJS.Signals): void {
    this.#count++;
    if (!this.running) {
      this.#logger.warn({ signal }, 'signal received while starting, before the relay ran: exiting 1');
      process.exit(ExitCode.failure);
    }
    if (this.#count === 1) {
      this.#logger.info({ signal }, 'signal received: stopping (send it again to force)');
      this.#resolve(signal);
      this.onStop?.();
      setTimeout(() => this.force('shutdown deadline passed'), this.#hardDeadlineMs).unref();
      return;
    }
    this.force(`second signal (${signal})`);
  }

  /** Logs through `onForce` (at most 500 ms) and exits 1. */
  force(reason: string): void {
    if (this.#forcing) return;
    this.#forcing = true;
    this.#logger.error({ reason }, 'forcing exit');
    const exit = (): never => process.exit(ExitCode.failure);
    setTimeout(exit, 500).unref();
    void (this.onForce?.() ?? Promise.resolve()).finally(exit);
  }

  dispose(): void {
    process.off('SIGTERM', this.#handler);
    process.off('SIGINT', this.#handler);
  }
}
