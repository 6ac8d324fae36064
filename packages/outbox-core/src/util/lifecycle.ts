import { OutboxUsageError } from '../errors.js';
import { validateInteger } from '../settings/identifiers.js';
import type { Clock } from './clock.js';

/** Where a long-lived loop is: `new` until `start`, `stopped` once its loop has ended (or never ran). */
export type LifecycleState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/** Options of `stop()` on a `Relay` or a `Consumer`. */
export interface StopOptions {
  /** How long `stop()` waits for the work in hand to finish before it gives up waiting. @defaultValue 30_000 */
  readonly timeoutMs?: number;
}

/** What `stop()` found on a `Relay` or a `Consumer`. */
export interface StopResult {
  /** False when `timeoutMs` passed before the work in hand was finished. */
  readonly drained: boolean;
  /** Events or messages still in hand when `stop` gave up (0 when drained). */
  readonly inFlight: number;
}

/** What the owner of a {@link Lifecycle} does at each step. */
export interface LifecycleHooks {
  /** Checks before the loop runs: a throw fails `start()` and settles `closed()` with it. */
  prepare(): Promise<void> | void;
  /** Called once, when the loop has ended or `start()` failed, before `closed()` settles. */
  finish?(error: Error | undefined): void;
  /** The work in hand, which a `stop()` that timed out reports. */
  inFlight(): number;
}

/**
 * The start/stop/closed semantics that `Relay` and `Consumer` share, written once:
 *
 * - `start({ signal })` runs `prepare`, then the loop in the background. It throws
 *   `OutboxUsageError` unless the object is new (leaving it as it is); when `prepare` throws,
 *   `start()` rejects with that error and `closed()` settles with it. Aborting `signal` is a
 *   `stop()` without a timeout; a signal aborted before `start()` stops the object before it runs.
 * - `stop({ timeoutMs })` asks the loop to end (the `signal` it runs with aborts) and waits for the
 *   work in hand; after `timeoutMs` it resolves `{ drained: false, inFlight }` while the loop still
 *   ends in the background. It may be called in any state and any number of times.
 * - `closed()` always settles, and never rejects: to the fatal error (a failed start, a loop that
 *   threw), or `undefined` after a clean stop, a stop before start or an abort.
 */
export class Lifecycle {
  readonly #owner: string;
  readonly #hooks: LifecycleHooks;
  readonly #clock: Clock;
  readonly #stopping = new AbortController();
  #state: LifecycleState = 'new';
  #detach: (() => void) | undefined;
  readonly #closed: Promise<Error | undefined>;
  #resolveClosed!: (error: Error | undefined) => void;

  /** @param owner - the class name, for error messages. */
  constructor(owner: string, hooks: LifecycleHooks, clock: Clock) {
    this.#owner = owner;
    this.#hooks = hooks;
    this.#clock = clock;
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  get state(): LifecycleState {
    return this.#state;
  }

  /** Aborts when a stop is asked for: loops end at their next check, waits wake up. */
  get signal(): AbortSignal {
    return this.#stopping.signal;
  }

  /**
   * Runs `prepare`, then `loop` in the background until it returns; resolves once the loop runs.
   * @throws OutboxUsageError unless the object is new.
   */
  async start(loop: (signal: AbortSignal) => Promise<void>, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#state !== 'new') {
      throw new OutboxUsageError(
        `the ${this.#owner.toLowerCase()} was already started (state: ${this.#state}); create a new ${this.#owner} to start again`,
      );
    }
    this.#state = 'starting';
    const external = options.signal;
    if (external?.aborted) this.#stopping.abort();
    else if (external) {
      const onAbort = (): void => void this.stop();
      external.addEventListener('abort', onAbort, { once: true });
      this.#detach = () => external.removeEventListener('abort', onAbort);
    }
    try {
      await this.#hooks.prepare();
    } catch (error) {
      this.#end(toError(error));
      throw error;
    }
    if (this.#stopping.signal.aborted) {
      this.#end(undefined);
      return;
    }
    this.#state = 'running';
    loop(this.#stopping.signal).then(
      () => this.#end(undefined),
      (error: unknown) => this.#end(toError(error)),
    );
  }

  /**
   * Asks the loop to end and waits up to `timeoutMs` for it.
   * @throws OutboxConfigError on a `timeoutMs` that is not a non-negative integer (nothing is stopped).
   */
  async stop(options: StopOptions = {}): Promise<StopResult> {
    const timeoutMs = validateInteger(options.timeoutMs ?? 30_000, 'timeoutMs', 0);
    this.#stopping.abort();
    if (this.#state === 'new') this.#end(undefined);
    if (this.#state === 'stopped') return { drained: true, inFlight: 0 };
    if (this.#state === 'running') this.#state = 'stopping';
    const timer = new AbortController();
    await Promise.race([this.#closed, this.#clock.sleep(timeoutMs, timer.signal)]);
    timer.abort();
    // Read the state, not which promise won: with a zero timeout both may be settled.
    const ended = (this.#state as LifecycleState) === 'stopped';
    return ended ? { drained: true, inFlight: 0 } : { drained: false, inFlight: this.#hooks.inFlight() };
  }

  /** Settles when the loop has ended: to the fatal error, or `undefined` after a clean stop. Never rejects. */
  closed(): Promise<Error | undefined> {
    return this.#closed;
  }

  #end(error: Error | undefined): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#detach?.();
    this.#detach = undefined;
    try {
      this.#hooks.finish?.(error);
    } finally {
      this.#resolveClosed(error);
    }
  }
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
