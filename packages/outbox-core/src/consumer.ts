import { sleep } from './abort.js';
import { type Backoff, type BackoffOptions, createBackoff } from './backoff.js';
import type { ConsumerEvent } from './consumer-events.js';
import type { EventDefinition } from './define-event.js';
import { BatchRolledBackError, EventDecodeError, errorMessage, OutboxError, OutboxUsageError } from './errors.js';
import type { OutboxEvent } from './event.js';
import { checkHorizons } from './horizons.js';
import { validateInteger } from './identifiers.js';
import type { InboxOutcome, InboxStore } from './inbox-store.js';
import { type Logger, noopLogger } from './logger.js';
import { type Decoded, SubjectLanes } from './subject-lanes.js';
import type { Delivery, Subscriber } from './subscriber.js';

/** A handler: runs inside the inbox's local transaction `tx`; its writes commit with the inbox row or not at all. */
export type EventHandler<TData, TType extends string, Tx> = (event: OutboxEvent<TData, TType>, tx: Tx) => Promise<void>;

/** Options of `Consumer`. */
export interface ConsumerOptions<Tx> {
  readonly subscriber: Subscriber;
  readonly inbox: InboxStore<Tx>;
  /**
   * `batch`: the messages of one fetch share one local transaction; a failing handler rolls back
   * only its own message (the batch runs again with a savepoint per message, without handing the
   * failed one to its handler again); if the transaction itself fails, each message is retried in
   * a transaction of its own. `message`: one transaction per message.
   * @defaultValue 'batch'
   */
  readonly mode?: 'batch' | 'message';
  /** Messages per fetch. @defaultValue 100 */
  readonly fetchSize?: number;
  /** How long a fetch waits for messages. @defaultValue 1_000 */
  readonly fetchExpiresMs?: number;
  /** In `message` mode, how many subjects are handled at once (each subject stays in order). @defaultValue 8 */
  readonly concurrency?: number;
  /** Redelivery delay after a handler error. @defaultValue `{ initialMs: 1_000, maxMs: 30_000 }` */
  readonly backoff?: BackoffOptions;
  /** How long inbox rows are kept; checked against the bus's redelivery horizon at start. */
  readonly inboxRetentionMs?: number;
  /** How often expired inbox rows are removed (in bounded batches) while running. @defaultValue 60_000 */
  readonly cleanupIntervalMs?: number;
  readonly logger?: Logger;
  readonly onEvent?: (event: ConsumerEvent) => void;
}

/**
 * Applies events from a `Subscriber` exactly once in effect: for each message, in one local
 * transaction, record `(consumer, event id)` in the inbox and run the handler; commit; then ack.
 * A redelivered message finds its inbox row and is acked without running the handler.
 *
 * A handler error rolls back and `nak`s with backoff; at `maxDeliver` the message is dead-lettered.
 * A message that cannot be decoded (no id, bad JSON, unknown type, failed schema) is dead-lettered
 * at once; nothing stops the loop. Messages of one subject are applied in stream order: behind a
 * failed message, later messages of its subject wait in memory (kept from redelivery with
 * `inProgress`) until it is applied or dead-lettered, while other subjects flow. After a consumer
 * restart during such a wait, order is best effort; handlers that must be order-proof compare a
 * version, as the example does.
 *
 * @example
 * ```ts
 * const consumer = new Consumer({ subscriber, inbox, inboxRetentionMs: 7 * 86_400_000 })
 *   .on(PriceChanged, async (event, tx) => { await tx.query('UPDATE ...', [event.data.newPrice]) })
 * await consumer.start()
 * ```
 */
export class Consumer<Tx = unknown> {
  readonly #subscriber: Subscriber;
  readonly #inbox: InboxStore<Tx>;
  readonly #mode: 'batch' | 'message';
  readonly #fetchSize: number;
  readonly #fetchExpiresMs: number;
  readonly #concurrency: number;
  readonly #backoff: Backoff;
  readonly #inboxRetentionMs: number | undefined;
  readonly #cleanupIntervalMs: number;
  readonly #logger: Logger;
  readonly #onEvent: ((event: ConsumerEvent) => void) | undefined;
  readonly #handlers = new Map<string, (event: OutboxEvent, tx: unknown) => Promise<void>>();
  readonly #stopping = new AbortController();
  readonly #lanes = new SubjectLanes();
  #loop: Promise<void> | undefined;
  #started = false;
  #closed: Promise<Error | undefined>;
  #resolveClosed!: (error: Error | undefined) => void;

  constructor(options: ConsumerOptions<Tx>) {
    if (!options?.subscriber || !options.inbox) throw new OutboxUsageError('new Consumer() needs { subscriber, inbox }');
    this.#subscriber = options.subscriber;
    this.#inbox = options.inbox;
    this.#mode = options.mode ?? 'batch';
    if (this.#mode !== 'batch' && this.#mode !== 'message') {
      throw new OutboxUsageError(`mode must be 'batch' or 'message'; got ${JSON.stringify(options.mode)}`);
    }
    this.#fetchSize = validateInteger(options.fetchSize ?? 100, 'fetchSize', 1, 10_000);
    this.#fetchExpiresMs = validateInteger(options.fetchExpiresMs ?? 1_000, 'fetchExpiresMs', 10);
    this.#concurrency = validateInteger(options.concurrency ?? 8, 'concurrency', 1, 1_000);
    this.#backoff = createBackoff({ initialMs: 1_000, maxMs: 30_000, ...options.backoff });
    this.#inboxRetentionMs = options.inboxRetentionMs;
    this.#cleanupIntervalMs = validateInteger(options.cleanupIntervalMs ?? 60_000, 'cleanupIntervalMs', 10);
    this.#logger = options.logger ?? noopLogger;
    this.#onEvent = options.onEvent;
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  /** Registers the handler of one event type; the definition's schema validates each received event. */
  on<TType extends string, TData>(definition: EventDefinition<TType, TData>, handler: EventHandler<TData, TType, Tx>): this {
    if (this.#started) throw new OutboxUsageError('register handlers before start()');
    if (this.#handlers.has(definition.type)) {
      throw new OutboxUsageError(`a handler for '${definition.type}' is already registered on this consumer`);
    }
    this.#handlers.set(definition.type, async (event, tx) => {
      await handler(definition.parse(event), tx as Tx);
    });
    return this;
  }

  /**
   * Checks the inbox retention against the bus's redelivery horizon, then consumes in the background
   * until `stop` (or until `signal` aborts).
   * @throws OutboxConfigError when the inbox would forget a message the bus may still redeliver.
   */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#prepare();
    options.signal?.addEventListener('abort', () => void this.stop(), { once: true });
    this.#loop = this.#run().then(
      () => this.#resolveClosed(undefined),
      (error: unknown) => this.#resolveClosed(error as Error),
    );
  }

  /** Fetches and handles one batch: for tests and scripts. Returns how many messages were settled. */
  async runOnce(): Promise<number> {
    if (!this.#started) this.#prepare();
    const deliveries = await this.#subscriber.fetch({ max: this.#fetchSize, expiresMs: this.#fetchExpiresMs });
    await this.#handleAll(deliveries);
    return deliveries.length;
  }

  /** Stops fetching, finishes the messages in hand, and resolves; it does not close the subscriber's connection. */
  async stop(options: { timeoutMs?: number } = {}): Promise<{ drained: boolean }> {
    this.#stopping.abort();
    if (!this.#loop) {
      this.#resolveClosed(undefined);
      return { drained: true };
    }
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      this.#loop.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), options.timeoutMs ?? 30_000);
      }),
    ]);
    clearTimeout(timer);
    return { drained };
  }

  /** Resolves when the loop has ended: to the fatal error, or `undefined` after `stop`. */
  closed(): Promise<Error | undefined> {
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #prepare(): void {
    if (this.#started) throw new OutboxUsageError('the consumer was already started');
    if (this.#handlers.size === 0) throw new OutboxUsageError('the consumer has no handlers: call consumer.on(definition, handler) first');
    checkHorizons({
      ...(this.#inboxRetentionMs === undefined ? {} : { inboxRetentionMs: this.#inboxRetentionMs }),
      ...(this.#subscriber.redeliveryHorizonMs === undefined ? {} : { redeliveryHorizonMs: this.#subscriber.redeliveryHorizonMs }),
    });
    this.#started = true;
  }

  #emit(event: ConsumerEvent): void {
    try {
      this.#onEvent?.(event);
    } catch (error) {
      this.#logger.warn({ err: error, event: event.type }, 'consumer onEvent hook threw');
    }
  }

  async #run(): Promise<void> {
    const signal = this.#stopping.signal;
    let failures = 0;
    let nextCleanup = Date.now() + this.#cleanupIntervalMs;
    while (!signal.aborted) {
      let deliveries: readonly Delivery[];
      try {
        deliveries = await this.#subscriber.fetch({ max: this.#fetchSize, expiresMs: this.#fetchExpiresMs, signal });
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        const pauseMs = Math.min(10_000, 100 * 2 ** Math.min(failures, 7));
        this.#emit({ type: 'fetch-error', error: error as Error, pauseMs });
        this.#logger.warn({ err: error, pauseMs }, 'consumer fetch failed; retrying');
        await sleep(pauseMs, signal);
        continue;
      }
      await this.#handleAll(deliveries);
      if (this.#inboxRetentionMs !== undefined && Date.now() >= nextCleanup) {
        nextCleanup = Date.now() + this.#cleanupIntervalMs;
        await this.#inbox
          .cleanup({ olderThanMs: this.#inboxRetentionMs })
          .catch((error: unknown) => this.#logger.warn({ err: error }, 'inbox cleanup failed'));
      }
    }
  }

  async #handleAll(deliveries: readonly Delivery[]): Promise<void> {
    const runnable: Decoded[] = [];
    for (const delivery of deliveries) {
      const item = await this.#decode(delivery);
      if (!item) continue;
      // Behind a failed event of its subject: wait in memory, in order, until that event is settled.
      if (this.#lanes.hold(item)) continue;
      runnable.push(item);
    }
    if (runnable.length > 0) {
      const outcomes = this.#mode === 'batch' ? await this.#handleBatch(runnable) : await this.#handleBySubject(runnable);
      await this.#settleAll(runnable, outcomes);
    }
    await this.#drainReleased();
    await this.#lanes.keepAlive();
  }

  /** Decodes and validates; a message that can never be handled is dead-lettered at once. */
  async #decode(delivery: Delivery): Promise<Decoded | undefined> {
    try {
      const event = delivery.decode();
      const handler = this.#handlers.get(event.type);
      if (!handler) {
        throw new EventDecodeError(
          'UNKNOWN_EVENT_TYPE',
          `no handler for event type '${event.type}' on consumer '${this.#subscriber.name}'`,
        );
      }
      return { delivery, event, handler, messageId: event.id };
    } catch (error) {
      await this.#deadLetter(delivery, error);
      return undefined;
    }
  }

  /**
   * One transaction for the fetch. First without savepoints (one round trip less per message);
   * a handler that throws rolls back the whole batch, which then runs again with a savepoint per
   * message: the failed message fails again without its handler running a second time, and only
   * it and its subject's later messages are held back. If the transaction fails as a whole, one
   * transaction per message.
   */
  async #handleBatch(items: readonly Decoded[]): Promise<InboxOutcome[]> {
    const name = this.#subscriber.name;
    const run = (savepoints: boolean, failed?: { item: Decoded; error: unknown }): Promise<InboxOutcome[]> => {
      const failedSubjects = new Set<string>();
      return this.#inbox.processBatch(
        name,
        items,
        async (tx, item) => {
          if (failedSubjects.has(item.event.subject)) throw heldBack;
          try {
            if (item === failed?.item) throw failed.error;
            await item.handler(item.event, tx);
          } catch (error) {
            failedSubjects.add(item.event.subject);
            throw error;
          }
        },
        { savepoints },
      );
    };
    try {
      try {
        return await run(false);
      } catch (error) {
        const item = error instanceof BatchRolledBackError ? items[error.index] : undefined;
        if (!item) throw error;
        return await run(true, { item, error: (error as BatchRolledBackError).cause });
      }
    } catch (error) {
      this.#emit({ type: 'batch-fallback', size: items.length, error: error as Error });
      this.#logger.warn({ err: error, size: items.length }, 'batch transaction failed; retrying one message per transaction');
      return this.#handleBySubject(items);
    }
  }

  /** One transaction per message; subjects concurrently up to `concurrency`, each subject in order. */
  async #handleBySubject(items: readonly Decoded[]): Promise<InboxOutcome[]> {
    const outcomes: InboxOutcome[] = new Array(items.length);
    const lanes = new Map<string, number[]>();
    items.forEach((item, index) => {
      const lane = lanes.get(item.event.subject);
      if (lane) lane.push(index);
      else lanes.set(item.event.subject, [index]);
    });
    const queue = [...lanes.values()];
    const worker = async (): Promise<void> => {
      for (let lane = queue.shift(); lane; lane = queue.shift()) {
        let failed = false;
        for (const index of lane) {
          outcomes[index] = failed ? { status: 'failed', error: heldBack } : await this.#processOne(items[index] as Decoded);
          failed ||= outcomes[index]?.status === 'failed';
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, queue.length) }, worker));
    return outcomes;
  }

  async #processOne(item: Decoded): Promise<InboxOutcome> {
    try {
      return await this.#inbox.process(this.#subscriber.name, item.messageId, (tx) => item.handler(item.event, tx));
    } catch (error) {
      return { status: 'failed', error };
    }
  }

  /** Settles in message order, so a subject is blocked by its first failure before its later messages are held. */
  async #settleAll(items: readonly Decoded[], outcomes: readonly InboxOutcome[]): Promise<void> {
    const settling: Promise<void>[] = [];
    items.forEach((item, index) => {
      const outcome = outcomes[index] ?? { status: 'failed', error: new Error('no outcome') };
      if (outcome.status === 'failed' && outcome.error === heldBack) {
        this.#lanes.hold(item, true);
        return;
      }
      settling.push(this.#settle(item, outcome));
    });
    await Promise.all(settling);
  }

  /** Runs the messages held behind events that have now been applied or dead-lettered, in order. */
  async #drainReleased(): Promise<void> {
    for (let next = this.#lanes.nextReleased(); next; next = this.#lanes.nextReleased()) {
      await this.#settle(next, await this.#processOne(next));
    }
  }

  async #settle(item: Decoded, outcome: InboxOutcome): Promise<void> {
    const { delivery, event } = item;
    try {
      if (outcome.status === 'applied') {
        this.#lanes.settled(item);
        await delivery.ack();
        this.#emit({
          type: 'applied',
          id: event.id,
          eventType: event.type,
          subject: event.subject,
          latencyMs: Date.now() - Date.parse(event.time),
        });
      } else if (outcome.status === 'duplicate') {
        this.#lanes.settled(item);
        await delivery.ack();
        this.#emit({ type: 'duplicate', id: event.id });
      } else if (isPermanent(outcome.error) || delivery.deliveryCount >= this.#subscriber.maxDeliver) {
        this.#lanes.settled(item);
        await this.#deadLetter(delivery, outcome.error);
      } else {
        this.#lanes.block(item);
        const delayMs = this.#backoff.delayMs(delivery.deliveryCount);
        await delivery.nak(delayMs);
        const error = toError(outcome.error);
        this.#emit({ type: 'retry', id: event.id, deliveryCount: delivery.deliveryCount, delayMs, error });
        this.#logger.warn(
          { err: error, id: event.id, deliveryCount: delivery.deliveryCount, delayMs },
          'handler failed; redelivering later',
        );
      }
    } catch (error) {
      // Settling failed (connection lost): the bus redelivers after ack_wait and the inbox dedups.
      this.#logger.warn({ err: error, id: event.id }, 'could not settle a message; it will be redelivered');
    }
  }

  async #deadLetter(delivery: Delivery, cause: unknown): Promise<void> {
    const error = toError(cause);
    const code = error instanceof OutboxError ? error.code : 'HANDLER_FAILED';
    try {
      await delivery.deadLetter({ code, error: errorMessage(error), consumer: this.#subscriber.name });
      this.#emit({ type: 'dead', id: delivery.messageId, code, error });
      this.#logger.warn({ err: error, id: delivery.messageId, code }, 'message dead-lettered');
    } catch (deadLetterError) {
      this.#logger.error({ err: deadLetterError, id: delivery.messageId }, 'could not dead-letter a message; it will be redelivered');
    }
  }
}

/** The outcome of a message not run because an earlier message of its subject failed in the same fetch. */
const heldBack = new Error('held back behind a failed event of the same subject');

/** A schema failure on receipt never passes on a retry. */
function isPermanent(error: unknown): boolean {
  return error instanceof EventDecodeError;
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
