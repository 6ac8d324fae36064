import { createHash } from 'node:crypto';
import type { Logger, WaitForWorkOptions } from '@outboxkit/outbox-core';
import { lastResult, type PgPoolLike, type PgQueryConfigLike } from './pg-like.js';
import type { TableNames } from './table-name.js';
import { translatePgError } from './translate-pg-error.js';
import type { WakeupListener } from './wakeup-listener.js';

/** What the wake-up protocol runs on. */
export interface WakeupOptions {
  readonly pool: PgPoolLike;
  readonly listener: WakeupListener;
  /** Arms the flag and reports `ready`, after waiting for writers of the outbox (fails with 55P03 while one is open). */
  readonly armWithBarrier: string;
  /** Arms the flag and reports `ready`, without the barrier. */
  readonly arm: string;
  readonly disarm: PgQueryConfigLike;
  readonly stragglerPollMs: number;
  readonly schemaVersion: number;
  readonly logger: Logger;
}

/**
 * The relay's side of the coalesced wake-up: producers NOTIFY at commit only while the relay has
 * armed the flag row (see `enqueue` in `sql/outbox-sql.ts`), so an idle relay wakes within
 * milliseconds of a commit and a busy one costs producers nothing.
 */
export class Wakeup {
  readonly #options: WakeupOptions;
  /** The disarm sent when `wait` last returned; the next arm waits for it. */
  #disarming: Promise<void> | undefined;

  constructor(options: WakeupOptions) {
    this.#options = options;
  }

  /**
   * Arms the wake-up flag, re-checks for claimable rows (so a row committed between the last empty
   * claim and arming is not missed), then waits for the NOTIFY of the first commit after arming,
   * or `timeoutMs`. On the way out it disarms the flag (without waiting for that), so producers
   * stop notifying while the relay works.
   */
  async wait(options: WaitForWorkOptions): Promise<void> {
    const { listener } = this.#options;
    if (options.signal?.aborted) return;
    // Registered before arming, so a NOTIFY that arrives before we start waiting still counts.
    const waiting = listener.wait(options.timeoutMs, options.signal);
    // A (re)connect that hangs must not hold the relay past its poll.
    await Promise.race([listener.ensure(), waiting.promise]);
    if (!listener.listening) {
      await waiting.promise;
      return;
    }
    // The last wake-up's disarm must not land after this arm.
    await this.#disarming;
    let ready: boolean;
    let fenced = true;
    try {
      const results = await this.#options.pool.query(this.#options.armWithBarrier);
      ready = (lastResult(results).rows[0] as { ready: boolean } | undefined)?.ready === true;
    } catch (error) {
      // 55P03: a transaction that wrote the outbox (a producer that may have read the flag
      // unarmed, or another relay settling a batch) is still open.
      if ((error as { code?: unknown }).code !== '55P03') {
        waiting.cancel();
        throw translatePgError(error, { operation: 'waitForWork()', expectedVersion: this.#options.schemaVersion });
      }
      fenced = false;
      const results = await this.#run(this.#options.arm);
      ready = (lastResult(results).rows[0] as { ready: boolean } | undefined)?.ready === true;
    }
    try {
      if (ready) {
        waiting.cancel();
      } else if (fenced) {
        await waiting.promise;
      } else {
        // Unfenced: a straggler's row may become visible without a NOTIFY, so look again soon.
        const straggler = listener.wait(Math.min(this.#options.stragglerPollMs, options.timeoutMs), options.signal);
        await Promise.race([waiting.promise, straggler.promise]);
        waiting.cancel();
        straggler.cancel();
      }
    } finally {
      this.#disarming = this.#run(this.#options.disarm).then(
        () => undefined,
        // Left armed, producers notify on every commit until the next disarm: a cost, not a loss.
        (error: unknown) => this.#options.logger.warn({ err: error }, 'could not disarm the outbox wake-up flag'),
      );
    }
  }

  /** Waits for the last disarm, then closes the LISTEN connection. */
  async close(): Promise<void> {
    await this.#disarming;
    await this.#options.listener.close();
  }

  async #run(statement: string | PgQueryConfigLike) {
    try {
      return await this.#options.pool.query(statement);
    } catch (error) {
      throw translatePgError(error, { operation: 'waitForWork()', expectedVersion: this.#options.schemaVersion });
    }
  }
}

/** The NOTIFY channel of a table. Channels are identifiers: at most 63 bytes, so long schema/table pairs get a stable hash. */
export function channelName(names: TableNames): string {
  const plain = `outboxkit.${names.schema}.${names.table}`;
  if (plain.length <= 63) return plain;
  return `outboxkit.${createHash('sha256').update(`${names.schema}.${names.table}`).digest('hex').slice(0, 40)}`;
}
