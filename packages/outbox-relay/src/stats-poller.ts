import type { OutboxStats, OutboxStore } from '@outboxkit/outbox-core';

/** What a `StatsPoller` reports after each query. */
export interface StatsPollerHandlers {
  ok(stats: OutboxStats): void;
  failed(error: unknown): void;
}

/**
 * Queries `store.stats()` every `intervalMs`, at most one query at a time, and hands the result to
 * the gauges and the readiness state. Scrapes read the last result, so a scrape storm never turns
 * into a query storm on the service's database.
 */
export class StatsPoller {
  readonly #store: OutboxStore<unknown>;
  readonly #intervalMs: number;
  readonly #handlers: StatsPollerHandlers;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(store: OutboxStore<unknown>, intervalMs: number, handlers: StatsPollerHandlers) {
    this.#store = store;
    this.#intervalMs = intervalMs;
    this.#handlers = handlers;
  }

  /** Queries once now, then every interval. */
  start(): void {
    void this.#poll();
    this.#timer = setInterval(() => void this.#poll(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #poll(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      this.#handlers.ok(await this.#store.stats());
    } catch (error) {
      this.#handlers.failed(error);
    } finally {
      this.#running = false;
    }
  }
}
