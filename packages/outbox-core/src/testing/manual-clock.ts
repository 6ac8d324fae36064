import type { Clock } from '../util/clock.js';

interface Sleeper {
  readonly at: number;
  readonly wake: () => void;
}

/**
 * A `Clock` that moves only when told to, for tests of the relay and the consumer: a backoff of
 * 400 ms passes with `advance(400)`, and `whenSleeping()` tells when a loop has reached a wait.
 * Not safe to share between tests that run at the same time.
 *
 * @example
 * ```ts
 * const clock = new ManualClock()
 * const relay = new Relay({ store, publisher, clock })
 * await relay.start()
 * await clock.whenSleeping()   // the relay polls: nothing to publish
 * await clock.advance(1_000)   // its poll interval passes at once
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  readonly #sleepers = new Set<Sleeper>();
  readonly #watchers = new Set<() => void>();

  /** @param start - the time it shows until advanced, in epoch ms. @defaultValue `Date.now()` */
  constructor(start: number = Date.now()) {
    this.#now = start;
  }

  /** The time it shows: the start, plus every `advance` so far. */
  now(): number {
    return this.#now;
  }

  /** Resolves once `advance` has moved the time `ms` on, or as soon as `signal` aborts; it never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const sleeper: Sleeper = {
        at: this.#now + ms,
        wake: () => {
          this.#sleepers.delete(sleeper);
          signal?.removeEventListener('abort', sleeper.wake);
          resolve();
        },
      };
      this.#sleepers.add(sleeper);
      signal?.addEventListener('abort', sleeper.wake, { once: true });
      for (const watcher of this.#watchers) watcher();
    });
  }

  /** Waits not yet over. */
  get sleeping(): number {
    return this.#sleepers.size;
  }

  /**
   * Moves time on by `ms`, waking the waits due by then in the order they fall due; after each,
   * the woken code runs until it waits again (or for I/O), so a loop may go round several times.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      let next: Sleeper | undefined;
      for (const sleeper of this.#sleepers) if (sleeper.at <= target && (!next || sleeper.at < next.at)) next = sleeper;
      if (!next) break;
      this.#now = Math.max(this.#now, next.at);
      for (const sleeper of [...this.#sleepers]) if (sleeper.at <= this.#now) sleeper.wake();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  /** Resolves once at least `count` waits are pending: the code under test has reached them. */
  whenSleeping(count = 1): Promise<void> {
    if (this.#sleepers.size >= count) return Promise.resolve();
    return new Promise((resolve) => {
      const watcher = (): void => {
        if (this.#sleepers.size < count) return;
        this.#watchers.delete(watcher);
        resolve();
      };
      this.#watchers.add(watcher);
    });
  }
}

/** Lets the promise continuations of woken code run: one macrotask turn, after every microtask. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
