import type { Logger } from '@outboxkit/outbox-core';
import { createBackoff, errorMessage } from '@outboxkit/outbox-core/driver';
import { quoteIdent } from './table-name.js';

/** The subset of a dedicated `pg.Client` the LISTEN connection needs. */
export interface PgListenClientLike {
  /** Opens the connection. */
  connect(): Promise<unknown>;
  /** Runs the `LISTEN` statement. */
  query(text: string): Promise<unknown>;
  /** A `NOTIFY` on a channel this connection listens to. */
  on(event: 'notification', listener: (message: { channel: string }) => void): unknown;
  /** The connection failed; the store reconnects. */
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** The connection closed; the store reconnects unless it is closing. */
  on(event: 'end', listener: () => void): unknown;
  /** Closes the connection. */
  end(): Promise<void>;
}

/** Why a wait ended. */
export type WakeReason = 'notified' | 'timeout' | 'cancelled';

/**
 * Holds one LISTEN connection and turns notifications into resolved waits. It reconnects after a
 * drop with backoff; while it is down `wait` still resolves on its timeout (the caller's poll), and
 * a reconnect wakes every waiter, since notifications sent while down are lost.
 */
export class WakeupListener {
  readonly #channel: string;
  readonly #open: () => Promise<PgListenClientLike>;
  readonly #logger: Logger;
  readonly #backoff = createBackoff({ initialMs: 100, maxMs: 5_000 });
  readonly #waiters = new Set<() => void>();
  #client: PgListenClientLike | undefined;
  #connecting: Promise<void> | undefined;
  #failures = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(channel: string, open: () => Promise<PgListenClientLike>, logger: Logger) {
    this.#channel = channel;
    this.#open = open;
    this.#logger = logger;
  }

  /** True while LISTEN is active: only then can a caller rely on a notification. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /** Connects if needed; never throws (a failure schedules a reconnect). */
  ensure(): Promise<void> {
    if (this.#closed || this.#client) return Promise.resolve();
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /**
   * Resolves on the next notification (or a reconnect) with `'notified'`, after `timeoutMs` with
   * `'timeout'`, or when `signal` aborts or the wait is cancelled with `'cancelled'`.
   */
  wait(timeoutMs: number, signal?: AbortSignal): { promise: Promise<WakeReason>; cancel: () => void } {
    let cancel = (): void => {};
    const promise = new Promise<WakeReason>((resolve) => {
      if (signal?.aborted) return resolve('cancelled');
      const done = (reason: WakeReason): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        this.#waiters.delete(notified);
        resolve(reason);
      };
      const notified = (): void => done('notified');
      const aborted = (): void => done('cancelled');
      const timer = setTimeout(() => done('timeout'), timeoutMs);
      signal?.addEventListener('abort', aborted, { once: true });
      this.#waiters.add(notified);
      cancel = aborted;
    });
    return { promise, cancel };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#wakeAll();
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    let client: PgListenClientLike | undefined;
    try {
      client = await this.#open();
      client.on('error', (error) => this.#dropped(client, error));
      client.on('end', () => this.#dropped(client, undefined));
      client.on('notification', (message) => {
        if (message.channel === this.#channel) this.#wakeAll();
      });
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.#channel)}`);
      if (this.#closed) {
        await client.end().catch(() => undefined);
        return;
      }
      this.#client = client;
      if (this.#failures > 0) this.#logger.info({ channel: this.#channel }, 'outbox wake-up connection restored');
      this.#failures = 0;
      // Anything committed while we were not listening went unannounced: let waiters re-check.
      this.#wakeAll();
    } catch (error) {
      await client?.end().catch(() => undefined);
      this.#scheduleReconnect(error);
    }
  }

  #dropped(client: PgListenClientLike | undefined, error: Error | undefined): void {
    if (this.#client !== client || client === undefined) return;
    this.#client = undefined;
    client.end().catch(() => undefined);
    this.#wakeAll();
    if (!this.#closed) this.#scheduleReconnect(error ?? new Error('connection ended'));
  }

  #scheduleReconnect(error: unknown): void {
    if (this.#closed) return;
    this.#failures++;
    const delayMs = this.#backoff.delayMs(this.#failures);
    this.#logger.warn(
      { channel: this.#channel, error: errorMessage(error), delayMs },
      'outbox wake-up connection lost; polling until it is back',
    );
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => void this.ensure(), delayMs);
    this.#reconnectTimer.unref();
  }

  #wakeAll(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
