import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { OutboxStats, OutboxStore, RelayEvent } from '@outboxkit/outbox-core';
import { errorMessage } from '@outboxkit/outbox-core/driver';

/** One point of the console's history. */
export interface ConsoleSample {
  /** Epoch ms. */
  readonly t: number;
  readonly pending: number | null;
  readonly oldestPendingAgeMs: number | null;
  readonly dead: number | null;
  /** Messages stored in the stream per second since the previous sample (`null` when unknown). */
  readonly publishedPerSecond: number | null;
}

/** A subject whose head failed to publish and waits for its retry (seen by the relay in this process). */
export interface FailingSubject {
  readonly subject: string;
  readonly id: string;
  readonly attempt: number;
  readonly error: string;
  readonly failedAt: number;
  readonly retryAt: number;
}

/** Options of {@link ConsoleSampler}. */
export interface ConsoleSamplerOptions {
  readonly store: OutboxStore<unknown>;
  readonly connection: NatsConnection;
  readonly stream: string;
  /** @defaultValue 2000 */
  readonly intervalMs?: number;
  /** Samples kept. @defaultValue 300 (10 minutes at 2 s) */
  readonly keep?: number;
}

/**
 * Samples the outbox stats and the stream's last sequence on an interval, for the console's live
 * figures and its publish-rate chart. The rate is counted on the stream (its last sequence), so it
 * is the same whether the console runs in the relay or on its own.
 */
export class ConsoleSampler {
  readonly #options: ConsoleSamplerOptions;
  readonly #samples: ConsoleSample[] = [];
  readonly #failing = new Map<string, FailingSubject>();
  #timer: NodeJS.Timeout | undefined;
  #previous: { t: number; lastSeq: number } | undefined;
  #running: Promise<void> | undefined;
  #lastError: string | undefined;
  #latestStats: OutboxStats | undefined;
  #jsm: JetStreamManager | undefined;

  constructor(options: ConsoleSamplerOptions) {
    this.#options = options;
  }

  /** Takes a first sample, then one per interval until `stop()`. */
  async start(): Promise<void> {
    await this.sample();
    this.#timer = setInterval(() => {
      if (!this.#running) this.#running = this.sample().finally(() => (this.#running = undefined));
    }, this.#options.intervalMs ?? 2_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The samples, oldest first. */
  history(): readonly ConsoleSample[] {
    return this.#samples;
  }

  /** The error of the last sample, when it failed (not redacted: the API redacts its whole answer). */
  lastError(): string | undefined {
    return this.#lastError;
  }

  latestStats(): OutboxStats | undefined {
    return this.#latestStats;
  }

  /** Subjects whose head failed and is waiting for its retry; an entry goes 30 s after its retry time. */
  failing(now = Date.now()): FailingSubject[] {
    for (const [subject, entry] of this.#failing) if (entry.retryAt + 30_000 < now) this.#failing.delete(subject);
    return [...this.#failing.values()].sort((a, b) => b.attempt - a.attempt || a.failedAt - b.failedAt);
  }

  /** Feeds the relay's events (`run --console`): failures and dead-letterings of subjects. */
  observe(event: RelayEvent): void {
    if (event.type === 'failed') {
      this.#failing.set(event.subject, {
        subject: event.subject,
        id: event.id,
        attempt: event.attempt,
        error: errorMessage(event.error),
        failedAt: Date.now(),
        retryAt: event.retryAt.getTime(),
      });
      // Bounded: a storm of failures over many subjects keeps the most recent 1000.
      if (this.#failing.size > 1_000) this.#failing.delete(this.#failing.keys().next().value as string);
    } else if (event.type === 'dead') {
      this.#failing.delete(event.subject);
    }
  }

  /** Takes one sample now. Never throws: a failure is kept as `lastError` and a gap in the history. */
  async sample(): Promise<void> {
    const t = Date.now();
    let stats: OutboxStats | undefined;
    let lastSeq: number | undefined;
    const errors: string[] = [];
    try {
      stats = await this.#options.store.stats();
      this.#latestStats = stats;
    } catch (error) {
      errors.push(`outbox stats: ${errorMessage(error)}`);
    }
    try {
      this.#jsm ??= await jetstreamManager(this.#options.connection);
      lastSeq = (await this.#jsm.streams.info(this.#options.stream)).state.last_seq;
    } catch (error) {
      errors.push(`stream ${this.#options.stream}: ${errorMessage(error)}`);
    }
    let rate: number | null = null;
    if (lastSeq !== undefined) {
      if (this.#previous && t > this.#previous.t) {
        rate = Math.max(0, ((lastSeq - this.#previous.lastSeq) * 1000) / (t - this.#previous.t));
      }
      this.#previous = { t, lastSeq };
    }
    this.#lastError = errors.length > 0 ? errors.join('; ') : undefined;
    this.#samples.push({
      t,
      pending: stats?.pending ?? null,
      oldestPendingAgeMs: stats?.oldestPendingAgeMs ?? null,
      dead: stats?.dead ?? null,
      publishedPerSecond: rate === null ? null : Math.round(rate * 10) / 10,
    });
    const keep = this.#options.keep ?? 300;
    if (this.#samples.length > keep) this.#samples.splice(0, this.#samples.length - keep);
  }
}
