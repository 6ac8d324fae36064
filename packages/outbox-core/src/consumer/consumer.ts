import type { InboxOutcome, InboxStore, OrderKey } from '../contracts/inbox-store.js';
import { type Logger, noopLogger } from '../contracts/logger.js';
import type { Delivery, SubjectGap, Subscriber } from '../contracts/subscriber.js';
import {
  EventDecodeError,
  errorMessage,
  isInfrastructureError,
  isTransactionConflict,
  OutboxConfigError,
  OutboxError,
  OutboxUsageError,
} from '../errors.js';
import type { EventDefinition } from '../event/define-event.js';
import type { OutboxEvent } from '../event/event.js';
import { checkHorizons } from '../settings/horizons.js';
import { validateInteger } from '../settings/identifiers.js';
import { type ConsumerTelemetry, consumerTelemetry } from '../telemetry/consumer-telemetry.js';
import { type Backoff, createBackoff } from '../util/backoff.js';
import { type Clock, systemClock } from '../util/clock.js';
import { Lifecycle, type StopOptions, type StopResult } from '../util/lifecycle.js';
import type { ConsumerEvent } from './consumer-events.js';
import { handleBatchParts, handleBySubject, heldBack, type InboxRun, inSubjectOrder, processOne } from './consumer-inbox.js';
import type { ConsumerOptions, ConsumerSkipCounts, ConsumerStatus } from './consumer-options.js';
import { type BatchRun, type Decoded, SubjectLanes } from './subject-lanes.js';
import { SubjectWaits } from './subject-waits.js';

// One file for the loop (over ~400 lines): fetching, settling, the lanes, the waiting subjects, what
// is kept in hand for an outage, a dead letter or a gap, and the keep-alive all act on the same
// in-hand sets, and the order of their steps is the guarantee. The inbox runs are in
// consumer-inbox.ts, the options in consumer-options.ts, the waits in subject-waits.ts.

/** A handler: runs inside the inbox's local transaction `tx`; its writes commit with the inbox row or not at all. */
export type EventHandler<TData, TType extends string, Tx> = (event: OutboxEvent<TData, TType>, tx: Tx) => Promise<void>;

/**
 * A batch handler (`Consumer.onBatch`): applies several events of one type inside the inbox's local
 * transaction `tx`, in the order given (each subject's events in their sequence order). Its writes
 * commit with the events' inbox rows or not at all.
 */
export type BatchEventHandler<TData, TType extends string, Tx> = (events: readonly OutboxEvent<TData, TType>[], tx: Tx) => Promise<void>;

/** A fetch's messages, or why it failed. */
type FetchResult = { readonly ok: true; readonly deliveries: readonly Delivery[] } | { readonly ok: false; readonly error: Error };

/** A fetch started ahead (`fetchAhead`), and its messages once they are in. */
interface AheadFetch {
  readonly result: Promise<FetchResult>;
  deliveries: readonly Delivery[];
}

/** A registered handler: of one event (`on`), or of several at once (`onBatch`). */
type Registered =
  | { readonly one: (event: OutboxEvent, tx: unknown) => Promise<void>; readonly many?: undefined }
  | { readonly one?: undefined; readonly many: BatchRun };

/**
 * Applies events from a `Subscriber` exactly once in effect: for each message, in one local
 * transaction, record `(consumer, event id)` in the inbox and run the handler; commit; then ack.
 * A redelivered message finds its inbox row and is acked without running the handler.
 *
 * Failures are classified before they cost anything:
 * - infrastructure (the inbox database unreachable, a failover, a deadlock or serialization failure
 *   after `conflictRetries` immediate retries, or a handler's `InfrastructureError`): the consumer
 *   stops fetching, keeps the messages in hand (`inProgress`, never `nak`, so no delivery is spent),
 *   reports `paused` and `ready === false`, retries with `outageBackoff` without limit and resumes
 *   by itself. Such a failure never leads to a dead letter.
 * - content (no id, bad JSON, failed schema, a subject its type does not map to): dead-lettered at
 *   once. An event of a type with no handler is acked and counted (or dead-lettered, see
 *   `unknownTypes`); a dead-letter replay meant for another consumer is acked unrun.
 * - handler (anything else): `nak` with backoff; at `maxDeliver` the message is dead-lettered.
 * A message is terminated only after its dead letter is stored; until then it is kept in hand and
 * the publish retried (`dead-letter-failed`).
 *
 * Subject order (`order: 'subject'`, the default; design in docs/design/ordering.md): events that
 * carry a `sequence` are applied strictly in sequence order per subject, each once, whatever the
 * redeliveries, crashes and number of instances on the durable: the inbox checks and moves the
 * subject's position in the handler's transaction. Within a fetch a subject's events run in
 * sequence order; an event whose predecessor is not applied yet is kept in hand (`inProgress`,
 * never `nak`, never dead-lettered for it), reported once (`subject-waiting`, `status().waiting`)
 * and run as soon as its predecessor is applied here or a gap of it recorded, or found applied by
 * another instance (its subject is checked again every keep-alive period). Gaps are explicit: a
 * relay's gap marker, an event this consumer dead-letters, and an event of a type with no handler
 * are recorded in the inbox (`gap-recorded`) so the next event passes. A dead-letter replay meant
 * for this consumer runs as a late event (no position check). Behind a failed message, later
 * messages of its subject wait in memory until it is settled, while other subjects flow; a subject
 * released after `laneWaitMs` without its blocker settled is still kept in order by the position
 * check. With `order: 'none'` (or events without a `sequence`) order holds within one instance
 * only, and is best effort across instances.
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
  readonly #fetchAhead: boolean;
  /** The fetch started while the previous batch is handled (`fetchAhead`), and what it returned once in. */
  #ahead: AheadFetch | undefined;
  readonly #concurrency: number;
  readonly #batchTransactions: number;
  readonly #backoff: Backoff;
  readonly #inboxRetentionMs: number | undefined;
  readonly #cleanupIntervalMs: number;
  readonly #logger: Logger;
  readonly #onEvent: ((event: ConsumerEvent) => void) | undefined;
  /** OpenTelemetry spans and metrics, when `@opentelemetry/api` is installed (see telemetry/). */
  readonly #telemetry: ConsumerTelemetry | undefined;
  readonly #unknownTypes: 'ack' | 'dead-letter';
  readonly #skipped = { unknownType: 0, replayForAnotherConsumer: 0 };
  readonly #handlers = new Map<string, Registered>();
  readonly #clock: Clock;
  readonly #lifecycle: Lifecycle;
  readonly #lanes: SubjectLanes;
  readonly #outageBackoff: Backoff;
  readonly #deadLetterBackoff: Backoff;
  /** Pause after a failed fetch (the bus unreachable): 200 ms doubling to 10 s, as the relay's store backoff. */
  readonly #fetchBackoff = createBackoff({ initialMs: 200, maxMs: 10_000 });
  readonly #conflictRetries: number;
  readonly #maxAckPending: number | undefined;
  readonly #keepAliveMs: number;
  /** Messages whose attempt failed for infrastructure: kept in hand (never nak'd) until the outage ends. */
  readonly #stalled: Decoded[] = [];
  /** Dead letters whose publish failed: kept in hand, not terminated, until the dead-letter stream stores them. */
  readonly #pendingDeadLetters = new Map<Delivery, PendingDeadLetter>();
  /** Gaps whose recording failed: retried (an outage pauses the consumer) until the inbox has them. */
  readonly #pendingGaps = new Map<Delivery, PendingGap>();
  readonly #order: 'subject' | 'none';
  readonly #orderBaseline: 'wait' | 'first-delivered';
  /** Messages whose subject waits for an earlier sequence. */
  readonly #waits: SubjectWaits;
  readonly #maxHeld: number;
  #pausedAt: number | undefined;
  #outageAttempts = 0;
  /** The messages of the fetch being handled. */
  #inFlight: readonly Decoded[] = [];
  #touching = false;
  /** The checks of `start` passed (`runOnce` runs them too): handlers can no longer be added. */
  #prepared = false;

  constructor(options: ConsumerOptions<Tx>) {
    if (!options?.subscriber || !options.inbox) throw new OutboxUsageError('new Consumer() needs { subscriber, inbox }');
    this.#subscriber = options.subscriber;
    this.#inbox = options.inbox;
    this.#mode = options.mode ?? 'batch';
    if (this.#mode !== 'batch' && this.#mode !== 'message') {
      throw new OutboxUsageError(`mode must be 'batch' or 'message'; got ${JSON.stringify(options.mode)}`);
    }
    this.#clock = options.clock ?? systemClock;
    this.#fetchSize = validateInteger(options.fetchSize ?? 100, 'fetchSize', 1, 10_000);
    this.#fetchExpiresMs = validateInteger(options.fetchExpiresMs ?? 1_000, 'fetchExpiresMs', 10);
    this.#fetchAhead = options.fetchAhead ?? false;
    this.#concurrency = validateInteger(options.concurrency ?? 8, 'concurrency', 1, 1_000);
    this.#batchTransactions = validateInteger(options.batchTransactions ?? 1, 'batchTransactions', 1, 64);
    if (this.#mode === 'message' && options.batchTransactions !== undefined) {
      throw new OutboxUsageError(
        "batchTransactions is for mode 'batch'; in mode 'message' each message has its transaction (see concurrency)",
      );
    }
    this.#backoff = createBackoff({ initialMs: 1_000, maxMs: 30_000, ...options.backoff });
    this.#outageBackoff = createBackoff({ initialMs: 250, maxMs: 10_000, ...options.outageBackoff });
    this.#deadLetterBackoff = createBackoff({ initialMs: 1_000, maxMs: 30_000, ...options.deadLetterBackoff });
    this.#conflictRetries = validateInteger(options.conflictRetries ?? 3, 'conflictRetries', 0, 100);
    const ackWaitMs = this.#subscriber.ackWaitMs;
    this.#maxAckPending = this.#subscriber.maxAckPending;
    // Well within ack_wait, so a held message is never redelivered while we hold it.
    this.#keepAliveMs = ackWaitMs === undefined ? 5_000 : Math.max(100, Math.min(5_000, Math.floor(ackWaitMs / 3)));
    this.#maxHeld = validateInteger(
      options.maxHeld ?? (this.#maxAckPending === undefined ? 250 : Math.max(1, Math.min(1_000, Math.floor(this.#maxAckPending / 4)))),
      'maxHeld',
      1,
    );
    this.#lanes = new SubjectLanes({
      maxWaitMs: validateInteger(options.laneWaitMs ?? Math.max(10_000, 2 * (ackWaitMs ?? 5_000)), 'laneWaitMs', 0),
      maxHeld: this.#maxHeld,
      keepAliveMs: this.#keepAliveMs,
      clock: this.#clock,
    });
    // A waiting subject is tried again every keep-alive period: another instance may have applied its predecessor.
    this.#waits = new SubjectWaits({ recheckMs: this.#keepAliveMs, clock: this.#clock });
    this.#order = options.order ?? 'subject';
    if (this.#order !== 'subject' && this.#order !== 'none') {
      throw new OutboxUsageError(`order must be 'subject' or 'none'; got ${JSON.stringify(options.order)}`);
    }
    this.#orderBaseline = options.orderBaseline ?? 'wait';
    if (this.#orderBaseline !== 'wait' && this.#orderBaseline !== 'first-delivered') {
      throw new OutboxUsageError(`orderBaseline must be 'wait' or 'first-delivered'; got ${JSON.stringify(options.orderBaseline)}`);
    }
    this.#inboxRetentionMs = options.inboxRetentionMs;
    this.#cleanupIntervalMs = validateInteger(options.cleanupIntervalMs ?? 60_000, 'cleanupIntervalMs', 10);
    this.#logger = options.logger ?? noopLogger;
    this.#onEvent = options.onEvent;
    this.#telemetry = consumerTelemetry(this.#subscriber);
    this.#unknownTypes = options.unknownTypes ?? 'ack';
    if (this.#unknownTypes !== 'ack' && this.#unknownTypes !== 'dead-letter') {
      throw new OutboxUsageError(`unknownTypes must be 'ack' or 'dead-letter'; got ${JSON.stringify(options.unknownTypes)}`);
    }
    this.#lifecycle = new Lifecycle(
      'Consumer',
      {
        prepare: () => this.#prepare(),
        finish: () => this.#telemetry?.close(),
        inFlight: () =>
          this.#inFlight.length +
          this.#stalled.length +
          this.#lanes.heldCount +
          this.#pendingDeadLetters.size +
          this.#pendingGaps.size +
          this.#waits.count,
      },
      this.#clock,
    );
  }

  /** Registers the handler of one event type; the definition's schema validates each received event. */
  on<TType extends string, TData>(definition: EventDefinition<TType, TData>, handler: EventHandler<TData, TType, Tx>): this {
    if (this.#prepared || this.#lifecycle.state !== 'new') throw new OutboxUsageError('register handlers before start()');
    if (this.#handlers.has(definition.type)) {
      throw new OutboxUsageError(`a handler for '${definition.type}' is already registered on this consumer`);
    }
    this.#handlers.set(definition.type, {
      one: async (event, tx) => {
        await handler(definition.parse(event), tx as Tx);
      },
    });
    return this;
  }

  /**
   * Registers a batch handler of one event type: in batched mode (`mode: 'batch'`, the default) it
   * gets the events of this type that a fetch applies, in one call per run of consecutive events of
   * the type, in the fetch's order (each subject's events in sequence order, so a subject's later
   * event comes after its earlier one in the same call), inside the fetch's transaction; duplicates
   * and events that wait for their predecessor are left out. One statement for many events (an
   * `UPDATE ... FROM unnest(...)`, a multi-row upsert) saves a round trip per event. A call that
   * throws rolls the fetch back; it then runs again with one event per call, each under a savepoint,
   * so only the failing event (and its subject's later events) fail, and they are retried,
   * dead-lettered or held as with `on`. Per-message mode, and a store without `finishesBatches`,
   * call it with one event at a time. The definition's schema validates each event before the call.
   */
  onBatch<TType extends string, TData>(definition: EventDefinition<TType, TData>, handler: BatchEventHandler<TData, TType, Tx>): this {
    if (this.#prepared || this.#lifecycle.state !== 'new') throw new OutboxUsageError('register handlers before start()');
    if (this.#handlers.has(definition.type)) {
      throw new OutboxUsageError(`a handler for '${definition.type}' is already registered on this consumer`);
    }
    const many: BatchRun = async (items, tx) => {
      const events = items.map((item) => definition.parse(item.event));
      if (this.#telemetry) await this.#telemetry.processBatch(items, () => handler(events, tx as Tx));
      else await handler(events, tx as Tx);
    };
    this.#handlers.set(definition.type, { many });
    return this;
  }

  /**
   * Checks the handlers and the inbox retention against the bus's redelivery horizon, then consumes
   * in the background until `stop` (or until `signal` aborts, which is a `stop()` without a
   * timeout: the messages in hand are still finished). When a check fails, `start` rejects and
   * `closed()` settles with the same error.
   * @throws OutboxConfigError when the inbox would forget a message the bus may still redeliver, or
   * when `order` is `'subject'` and the inbox keeps no subject positions (`ordering`).
   * @throws OutboxUsageError when no handler is registered, or when started twice (or after `runOnce` or `stop`).
   */
  start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#prepared && this.#lifecycle.state === 'new') {
      return Promise.reject(new OutboxUsageError('the consumer was already run with runOnce(); create a new Consumer to start it'));
    }
    return this.#lifecycle.start((signal) => this.#run(signal), options);
  }

  /**
   * Fetches and handles one batch: for tests and scripts. Returns how many messages were fetched.
   * While messages are kept in hand for an outage, it retries those instead and fetches nothing.
   */
  async runOnce(): Promise<number> {
    if (!this.#prepared) this.#prepare();
    if (this.#outage()) {
      await this.#retryStalled();
      await this.#maintain();
      return 0;
    }
    const deliveries = await this.#subscriber.fetch({ max: this.#fetchSize, expiresMs: this.#fetchExpiresMs });
    await this.#handleAll(deliveries);
    return deliveries.length;
  }

  /**
   * Stops fetching, finishes the messages in hand, and resolves; it does not close the subscriber's
   * connection. After `timeoutMs` it resolves with `drained: false` and the number of messages still
   * in hand; the bus redelivers them after its ack wait, and the inbox drops what was applied.
   * Safe to call in any state, and more than once.
   * @throws OutboxConfigError on a negative or fractional `timeoutMs`.
   */
  stop(options: StopOptions = {}): Promise<StopResult> {
    return this.#lifecycle.stop(options);
  }

  /** How many messages were acked without a handler, by reason (see `unknownTypes` and `Delivery.replayFor`). */
  get skipped(): ConsumerSkipCounts {
    return { ...this.#skipped };
  }

  /**
   * Settles when the consumer has stopped: to the fatal error (a failed `start` included), or
   * `undefined` after a clean stop. It never rejects.
   */
  closed(): Promise<Error | undefined> {
    return this.#lifecycle.closed();
  }

  /**
   * Whether the consumer is making progress: started, not stopped, its database reachable and no
   * dead letter or gap waiting to be stored. Expose it as the service's readiness. Subjects waiting
   * for an earlier event do not make it false: waiting is not an outage (see `status().waiting`).
   */
  get ready(): boolean {
    const state = this.#lifecycle.state;
    const running = state === 'running' || (state === 'new' && this.#prepared);
    return running && this.#pausedAt === undefined && this.#pendingDeadLetters.size === 0 && this.#pendingGaps.size === 0;
  }

  /** What the consumer holds and why, for health endpoints and tests. */
  status(): ConsumerStatus {
    return {
      ready: this.ready,
      paused: this.#pausedAt !== undefined,
      pausedSince: this.#pausedAt,
      inHandForOutage: this.#stalled.length,
      held: this.#lanes.heldCount,
      pendingDeadLetters: this.#pendingDeadLetters.size,
      pendingGaps: this.#pendingGaps.size,
      waiting: this.#waits.snapshot(100),
      waitingSubjects: this.#waits.subjects,
    };
  }

  /** `stop()` with its default timeout, for `await using consumer = new Consumer(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #prepare(): void {
    if (this.#handlers.size === 0) throw new OutboxUsageError('the consumer has no handlers: call consumer.on(definition, handler) first');
    if (this.#order === 'subject' && (this.#inbox.ordering !== true || typeof this.#inbox.recordGap !== 'function')) {
      throw new OutboxConfigError(
        'order',
        "order: 'subject' (the default) needs an inbox store that keeps subject positions (ordering: true); " +
          "this one does not: upgrade the store, or set order: 'none' on the consumer to apply events without strict subject order",
      );
    }
    checkHorizons({
      ...(this.#inboxRetentionMs === undefined ? {} : { inboxRetentionMs: this.#inboxRetentionMs }),
      ...(this.#subscriber.redeliveryHorizonMs === undefined ? {} : { redeliveryHorizonMs: this.#subscriber.redeliveryHorizonMs }),
    });
    this.#prepared = true;
    this.#telemetry?.start();
  }

  #emit(event: ConsumerEvent): void {
    this.#telemetry?.record(event);
    try {
      this.#onEvent?.(event);
    } catch (error) {
      this.#logger.warn({ err: error, event: event.type }, 'consumer onEvent hook threw');
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    // Keeps the messages in hand alive on a loop of its own, so they stay so while a handler or a
    // database call hangs (a connection attempt to a host that does not answer) for longer than
    // ack_wait; it outlives `signal`, until the work in hand is finished.
    const keepAlive = new AbortController();
    void this.#keepAliveLoop(keepAlive.signal);
    try {
      await this.#consume(signal);
    } finally {
      keepAlive.abort();
    }
  }

  async #keepAliveLoop(signal: AbortSignal): Promise<void> {
    for (;;) {
      await this.#clock.sleep(this.#keepAliveMs, signal);
      if (signal.aborted) return;
      void this.#keepAlive();
    }
  }

  async #consume(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let nextCleanup = this.#clock.now() + this.#cleanupIntervalMs;
    while (!signal.aborted) {
      if (this.#outage()) {
        await this.#recover(signal);
        continue;
      }
      const ahead = this.#ahead;
      const max = ahead ? this.#fetchSize : this.#fetchRoom();
      if (max < 1) {
        // Everything max_ack_pending allows is in hand: settle some before taking more.
        await this.#clock.sleep(Math.min(this.#fetchExpiresMs, this.#keepAliveMs), signal);
        await this.#maintain();
        continue;
      }
      const fetched = ahead ? await ahead.result : await this.#fetch(max, signal);
      this.#ahead = undefined;
      if (!fetched.ok) {
        if (signal.aborted) break;
        failures++;
        const pauseMs = this.#fetchBackoff.delayMs(failures);
        this.#emit({ type: 'fetch-error', error: fetched.error, pauseMs });
        this.#logger.warn({ err: fetched.error, pauseMs }, 'consumer fetch failed; retrying');
        await this.#clock.sleep(pauseMs, signal);
        continue;
      }
      failures = 0;
      const deliveries = fetched.deliveries;
      if (this.#fetchAhead && deliveries.length >= this.#fetchSize && !signal.aborted) this.#fetchNext(deliveries.length, signal);
      await this.#handleAll(deliveries);
      if (this.#inboxRetentionMs !== undefined && this.#pausedAt === undefined && this.#clock.now() >= nextCleanup) {
        nextCleanup = this.#clock.now() + this.#cleanupIntervalMs;
        await this.#inbox
          .cleanup({ olderThanMs: this.#inboxRetentionMs })
          .catch((error: unknown) => this.#logger.warn({ err: error }, 'inbox cleanup failed'));
      }
    }
    // Stopping: a batch fetched ahead is in hand; handled now rather than left to ack_wait.
    const ahead = this.#ahead;
    this.#ahead = undefined;
    const fetched = ahead && (await ahead.result);
    if (fetched?.ok && fetched.deliveries.length > 0) await this.#handleAll(fetched.deliveries);
  }

  /** One fetch, its failure as a value (a fetch started ahead is awaited only later). */
  async #fetch(max: number, signal: AbortSignal): Promise<FetchResult> {
    try {
      return { ok: true, deliveries: await this.#subscriber.fetch({ max, expiresMs: this.#fetchExpiresMs, signal }) };
    } catch (error) {
      return { ok: false, error: error as Error };
    }
  }

  /**
   * Starts the next fetch while the batch of `handling` messages is handled (`fetchAhead`), within
   * what max_ack_pending leaves; what it returns is in hand at once (kept alive, counted).
   */
  #fetchNext(handling: number, signal: AbortSignal): void {
    const max = this.#fetchRoom(handling);
    if (max < 1) return;
    const ahead: AheadFetch = {
      deliveries: [],
      result: this.#fetch(max, signal).then((fetched) => {
        if (fetched.ok) ahead.deliveries = fetched.deliveries;
        return fetched;
      }),
    };
    this.#ahead = ahead;
  }

  async #handleAll(deliveries: readonly Delivery[]): Promise<void> {
    const decoded: Decoded[] = [];
    for (const delivery of deliveries) {
      const item = await this.#decode(delivery);
      if (item) decoded.push(item);
    }
    const runnable: Decoded[] = [];
    // A redelivered older event may arrive after a newer one of its subject: it runs first.
    for (const item of inSubjectOrder(decoded)) {
      // Behind a failed event of its subject: wait in memory, in order, until that event is settled.
      if (this.#lanes.hold(item)) continue;
      // Its subject waits for an earlier event: wait with it, without asking the inbox again.
      if (this.#waits.hold(item)) continue;
      runnable.push(item);
    }
    if (runnable.length > 0) {
      this.#inFlight = runnable;
      try {
        const run = this.#inboxRun();
        const outcomes =
          this.#mode === 'batch' ? await handleBatchParts(run, runnable, this.#batchTransactions) : await handleBySubject(run, runnable);
        await this.#settleAll(runnable, outcomes);
      } finally {
        this.#inFlight = [];
      }
    }
    await this.#drain();
    await this.#maintain();
  }

  /** Keeps every message in hand from redelivery: held, stalled, waiting for its dead letter, or being handled. */
  async #keepAlive(): Promise<void> {
    if (this.#touching) return;
    this.#touching = true;
    try {
      const inFlight = this.#inFlight.map((item) => item.delivery);
      await this.#lanes.keepAlive([...this.#inHand(), ...inFlight]);
    } finally {
      this.#touching = false;
    }
  }

  /**
   * How many messages the next fetch may take without exceeding what max_ack_pending allows, with
   * `handling` more in hand than the sets below count (the batch being handled, for a fetch ahead).
   */
  #fetchRoom(handling = 0): number {
    if (this.#maxAckPending === undefined) return this.#fetchSize;
    const inHand =
      (this.#ahead?.deliveries.length ?? 0) +
      this.#lanes.heldCount +
      this.#stalled.length +
      this.#pendingDeadLetters.size +
      this.#pendingGaps.size +
      this.#waits.count +
      handling;
    return Math.min(this.#fetchSize, this.#maxAckPending - inHand);
  }

  /**
   * Between fetches: retries due dead letters and gaps, releases lanes whose blocker another instance
   * settled (or that waited their bound), tries waiting subjects again, gives back held messages
   * beyond the bound, keeps the rest alive.
   */
  async #maintain(): Promise<void> {
    const now = this.#clock.now();
    for (const pending of [...this.#pendingDeadLetters.values()]) {
      if (pending.retryAt <= now) await this.#deadLetter(pending.delivery, pending.cause, pending.item, pending.order);
    }
    for (const pending of [...this.#pendingGaps.values()]) {
      if (pending.retryAt <= now) await this.#recordGap(pending);
    }
    if (this.#pausedAt === undefined) {
      let released = false;
      for (const lane of this.#lanes.due(now)) {
        let applied = false;
        if (this.#inbox.isRecorded) {
          applied = await this.#inbox.isRecorded(this.#subscriber.name, lane.blocker.messageId).catch(() => false);
        }
        if (!applied && !lane.overdue) continue;
        this.#lanes.release(lane.subject);
        released = true;
        const reason = applied ? 'applied-elsewhere' : 'timeout';
        this.#emit({ type: 'lane-released', subject: lane.subject, blockerId: lane.blocker.messageId, reason });
        this.#logger.info(
          { subject: lane.subject, blockerId: lane.blocker.messageId, reason },
          'released a subject held behind a failed event',
        );
      }
      if (released) await this.#drainReleased();
      await this.#drain();
    }
    // A message nak'd at its last delivery would never come back (its subject would wait for it forever): kept over the bound.
    const canGiveBack = (item: Decoded): boolean => item.delivery.deliveryCount <= this.#subscriber.maxDeliver - 2;
    const givenBack = this.#lanes.overflow(now, canGiveBack);
    const waitRoom = Math.max(0, this.#maxHeld - this.#lanes.heldCount);
    for (const item of this.#waits.overflow(waitRoom, canGiveBack)) {
      givenBack.push({ item, delayMs: Math.min(30_000, Math.max(1_000, this.#keepAliveMs)) });
    }
    for (const { item, delayMs } of givenBack) {
      await item.delivery
        .nak(delayMs)
        .catch((error: unknown) => this.#logger.warn({ err: error, id: item.messageId }, 'could not give back a held message'));
    }
    await this.#keepAlive();
  }

  /**
   * Deliveries kept in hand outside the lanes: stalled by an outage, waiting for their dead letter or
   * their gap, or for an earlier event of their subject.
   */
  *#inHand(): Iterable<Delivery> {
    if (this.#ahead) yield* this.#ahead.deliveries;
    for (const item of this.#stalled) yield item.delivery;
    yield* this.#pendingDeadLetters.keys();
    for (const pending of this.#pendingGaps.values()) if (pending.afterwards !== 'none') yield pending.delivery;
    yield* this.#waits.deliveries();
  }

  /** Something failed for infrastructure and waits in hand for the outage to end: no fetching meanwhile. */
  #outage(): boolean {
    return this.#stalled.length > 0 || (this.#pausedAt !== undefined && this.#pendingGaps.size > 0);
  }

  /**
   * While the infrastructure is down: no fetch; wait (keeping what is in hand alive), then try the
   * oldest stalled message. Once one attempt succeeds, the rest are retried and fetching resumes.
   */
  async #recover(signal: AbortSignal): Promise<void> {
    this.#outageAttempts++;
    const deadline = this.#clock.now() + this.#outageBackoff.delayMs(this.#outageAttempts);
    while (!signal.aborted && this.#clock.now() < deadline) {
      await this.#clock.sleep(Math.min(deadline - this.#clock.now(), this.#keepAliveMs), signal);
      await this.#maintain();
    }
    if (!signal.aborted) await this.#retryStalled();
  }

  /** Retries the oldest stalled message; if that attempt reached the database, the rest too. */
  async #retryStalled(): Promise<void> {
    const probe = this.#stalled.shift();
    if (!probe) return;
    await this.#settle(probe, await this.#processOne(probe));
    if (this.#pausedAt !== undefined) return;
    const rest = this.#stalled.splice(0);
    const worker = async (): Promise<void> => {
      for (let item = rest.shift(); item; item = rest.shift()) await this.#settle(item, await this.#processOne(item));
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, rest.length) }, worker));
    await this.#drain();
  }

  /** An attempt failed for infrastructure: keep the message in hand and pause, reporting it once. */
  #stall(item: Decoded, error: Error): void {
    if (!this.#stalled.includes(item)) this.#stalled.push(item);
    this.#pause(error, item.messageId);
  }

  #pause(error: Error, id: string | undefined): void {
    if (this.#pausedAt !== undefined) return;
    this.#pausedAt = this.#clock.now();
    this.#emit({ type: 'paused', error, inHand: this.#stalled.length + this.#pendingGaps.size });
    this.#logger.warn(
      { err: error, id },
      'consumer paused: its database or a dependency is unavailable; holding its messages and retrying without limit',
    );
  }

  /** The database answered: end the outage, if there was one. */
  #available(): void {
    if (this.#pausedAt === undefined) return;
    const pausedMs = this.#clock.now() - this.#pausedAt;
    this.#pausedAt = undefined;
    this.#outageAttempts = 0;
    this.#emit({ type: 'resumed', pausedMs });
    this.#logger.warn({ pausedMs }, 'consumer resumed: its database answers again');
  }

  /**
   * Decodes and validates; a message that can never be handled is dead-lettered at once. A replay
   * meant for another consumer, and an unknown type with `unknownTypes: 'ack'`, are acked unrun (the
   * latter recorded as a gap first when it has a sequence); a gap marker is recorded and acked.
   */
  async #decode(delivery: Delivery): Promise<Decoded | undefined> {
    if (delivery.replayFor !== undefined && delivery.replayFor !== this.#subscriber.name) {
      // Checked before decoding: another consumer's replay is none of this one's business, even malformed.
      await this.#skip(delivery, 'replay-for-another-consumer', undefined);
      return undefined;
    }
    if (delivery.gap !== undefined) {
      await this.#gapMarker(delivery, delivery.gap);
      return undefined;
    }
    let order: OrderKey | undefined;
    try {
      const event = delivery.decode();
      order = this.#orderKey(event, delivery);
      const registered = this.#handlers.get(event.type);
      if (!registered && this.#unknownTypes === 'ack') {
        if (order) await this.#recordGap(this.#gapTask(delivery, order, 'no-handler', 'skip', event.type));
        else await this.#skip(delivery, 'unknown-type', event.type);
        return undefined;
      }
      if (!registered) {
        throw new EventDecodeError(
          'UNKNOWN_EVENT_TYPE',
          `no handler for event type '${event.type}' on consumer '${this.#subscriber.name}'`,
        );
      }
      const { one, many } = registered;
      if (many) {
        // Alone (a savepoint retry, per-message mode), the batch handler gets this event only.
        const decoded: Decoded = { delivery, event, handler: (_event, tx) => many([decoded], tx), many, messageId: event.id, order };
        return decoded;
      }
      // With OpenTelemetry, the handler runs inside a `process` span of this delivery.
      const run = this.#telemetry?.wrap(one, delivery, event) ?? one;
      return { delivery, event, handler: run, messageId: event.id, order };
    } catch (error) {
      await this.#deadLetter(delivery, error, undefined, order);
      return undefined;
    }
  }

  /**
   * The event's place in its subject, when this consumer keeps subject order and the event has a
   * sequence; none for a dead-letter replay meant for this consumer (a late event: its sequence was
   * passed over when it was dead-lettered, so it runs without moving the position).
   */
  #orderKey(event: OutboxEvent, delivery: Delivery): OrderKey | undefined {
    if (this.#order !== 'subject' || event.sequence === undefined || delivery.replayFor === this.#subscriber.name) return undefined;
    const key = { subject: event.subject, sequence: event.sequence };
    return this.#orderBaseline === 'first-delivered' ? { ...key, baseline: true } : key;
  }

  /** A gap marker from the relay: recorded, then acked; with `order: 'none'` only acked. */
  async #gapMarker(delivery: Delivery, gap: SubjectGap): Promise<void> {
    if (this.#order === 'subject') {
      await this.#recordGap({ delivery, gap, afterwards: 'ack', eventType: undefined, attempts: 0, retryAt: 0 });
      return;
    }
    await delivery
      .ack()
      .catch((error: unknown) =>
        this.#logger.warn({ err: error, id: delivery.messageId }, 'could not ack a gap marker; it will be redelivered'),
      );
    this.#logger.debug({ subject: gap.subject, sequence: gap.sequence }, "gap marker acked unrecorded (order: 'none')");
  }

  #gapTask(delivery: Delivery, order: OrderKey, reason: string, afterwards: PendingGap['afterwards'], eventType?: string): PendingGap {
    const eventId = delivery.messageId;
    const gap: SubjectGap = { subject: order.subject, sequence: order.sequence, reason, ...(eventId === undefined ? {} : { eventId }) };
    return { delivery, gap, afterwards, eventType, attempts: 0, retryAt: 0 };
  }

  /**
   * Records a gap in the inbox, then settles its message (`afterwards`). A failure keeps the message in
   * hand and retries: an infrastructure failure is an outage (the consumer pauses, retries without
   * limit); the inbox refusing a gap marker or an event's gap dead-letters that message; the gap of
   * a message already dead-lettered is retried with the dead-letter backoff.
   */
  async #recordGap(task: PendingGap): Promise<void> {
    const { delivery, gap } = task;
    try {
      await (this.#inbox.recordGap as NonNullable<InboxStore['recordGap']>).call(this.#inbox, this.#subscriber.name, gap);
    } catch (error) {
      task.attempts++;
      const failure = toError(error);
      const outage = isInfrastructureError(error);
      if (!outage && task.afterwards !== 'none') {
        this.#pendingGaps.delete(delivery);
        this.#available();
        await this.#deadLetter(delivery, failure);
        return;
      }
      const retryInMs = (outage ? this.#outageBackoff : this.#deadLetterBackoff).delayMs(task.attempts);
      task.retryAt = this.#clock.now() + retryInMs;
      this.#pendingGaps.set(delivery, task);
      if (outage) this.#pause(failure, delivery.messageId);
      this.#logger.error(
        { err: failure, subject: gap.subject, sequence: gap.sequence, attempts: task.attempts, retryInMs },
        'could not record a gap in the inbox; its message is kept and the gap retried',
      );
      return;
    }
    this.#pendingGaps.delete(delivery);
    this.#available();
    this.#emit({ type: 'gap-recorded', subject: gap.subject, sequence: gap.sequence, reason: gap.reason });
    this.#logger.info({ subject: gap.subject, sequence: gap.sequence, reason: gap.reason, id: gap.eventId }, 'gap recorded');
    this.#waits.wake(gap.subject);
    if (task.afterwards === 'skip') await this.#skip(delivery, 'unknown-type', task.eventType);
    else if (task.afterwards === 'ack') {
      // Not acked: redelivered, and recorded again (recordGap is idempotent).
      await delivery
        .ack()
        .catch((error: unknown) =>
          this.#logger.warn({ err: error, id: delivery.messageId }, 'could not ack a gap marker; it will be redelivered'),
        );
    }
  }

  #inboxRun(): InboxRun {
    return {
      inbox: this.#inbox as InboxStore<unknown>,
      consumer: this.#subscriber.name,
      concurrency: this.#concurrency,
      onBatchFallback: (size, error) => {
        this.#emit({ type: 'batch-fallback', size, error });
        this.#logger.warn({ err: error, size }, 'batch transaction failed; retrying one message per transaction');
      },
    };
  }

  #processOne(item: Decoded): Promise<InboxOutcome> {
    return processOne(this.#inboxRun(), item);
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
  async #drainReleased(): Promise<number> {
    let ran = 0;
    for (let next = this.#lanes.nextReleased(); next; next = this.#lanes.nextReleased()) {
      await this.#settle(next, await this.#processOne(next));
      ran++;
    }
    return ran;
  }

  /** Runs what a settled message released: held messages, then waiting subjects that are due, until nothing is left to run. */
  async #drain(): Promise<void> {
    for (;;) {
      let ran = await this.#drainReleased();
      if (this.#pausedAt === undefined) {
        for (const subject of this.#waits.due(this.#clock.now())) {
          await this.#retryWaiting(subject);
          ran++;
        }
      }
      if (ran === 0) return;
    }
  }

  /**
   * Tries a waiting subject's messages again, lowest sequence first, one transaction each, until one
   * waits again or fails (the rest stay waiting behind it).
   */
  async #retryWaiting(subject: string): Promise<void> {
    for (let item = this.#waits.next(subject); item; item = this.#waits.next(subject)) {
      const outcome = await this.#processOne(item);
      if (outcome.status === 'applied' || outcome.status === 'duplicate') this.#resumed(subject, this.#waits.ended(subject));
      await this.#settle(item, outcome);
      if (outcome.status !== 'applied' && outcome.status !== 'duplicate') break;
    }
    this.#waits.prune(subject);
  }

  /** The inbox answered `waiting`: keep the message with its subject's wait (or behind its subject's failed message). */
  #wait(item: Decoded, position: number): void {
    this.#available();
    if (this.#lanes.hold(item)) return;
    const { started, waitedMs } = this.#waits.add(item, position);
    this.#resumed(item.event.subject, waitedMs);
    if (!started) return;
    const waitingFor = position + 1;
    this.#emit({ type: 'subject-waiting', subject: item.event.subject, waitingFor, position });
    this.#logger.info(
      { subject: item.event.subject, waitingFor, position, id: item.messageId },
      'an event arrived before its predecessor; it waits in hand for it',
    );
  }

  #resumed(subject: string, waitedMs: number | undefined): void {
    if (waitedMs === undefined) return;
    this.#emit({ type: 'subject-resumed', subject, waitedMs });
    this.#logger.info({ subject, waitedMs }, 'a waiting subject resumed');
  }

  async #settle(item: Decoded, outcome: InboxOutcome): Promise<void> {
    const { delivery, event } = item;
    try {
      if (outcome.status === 'waiting') {
        this.#wait(item, outcome.position);
        return;
      }
      if (outcome.status !== 'failed') {
        await this.#succeeded(item, outcome.status);
        return;
      }
      // Synchronously, before any await: later messages of the subject in this fetch wait behind it.
      this.#lanes.block(item, Number.POSITIVE_INFINITY);
      let error = outcome.error;
      for (let attempt = 1; attempt <= this.#conflictRetries && isTransactionConflict(error); attempt++) {
        this.#emit({ type: 'conflict-retry', id: event.id, attempt, error: toError(error) });
        await this.#clock.sleep(5 + Math.random() * 20 * attempt);
        const again = await this.#processOne(item);
        if (again.status === 'applied' || again.status === 'duplicate') {
          await this.#succeeded(item, again.status);
          return;
        }
        if (again.status === 'waiting') {
          this.#lanes.settled(item);
          this.#wait(item, again.position);
          return;
        }
        error = again.error;
      }
      if (isInfrastructureError(error)) {
        this.#stall(item, toError(error));
        return;
      }
      // The transaction ran and the handler failed on its own: the database is up.
      this.#available();
      if (isPermanent(error) || delivery.deliveryCount >= this.#subscriber.maxDeliver) {
        await this.#deadLetter(delivery, error, item, item.order);
        return;
      }
      const delayMs = this.#backoff.delayMs(delivery.deliveryCount);
      this.#lanes.block(item, this.#clock.now() + delayMs);
      await delivery.nak(delayMs);
      const failure = toError(error);
      this.#emit({ type: 'retry', id: event.id, deliveryCount: delivery.deliveryCount, delayMs, error: failure });
      this.#logger.warn(
        { err: failure, id: event.id, deliveryCount: delivery.deliveryCount, delayMs },
        'handler failed; redelivering later',
      );
    } catch (error) {
      // Settling failed (connection lost): the bus redelivers after ack_wait and the inbox dedups.
      this.#logger.warn({ err: error, id: event.id }, 'could not settle a message; it will be redelivered');
    }
  }

  async #succeeded(item: Decoded, status: 'applied' | 'duplicate'): Promise<void> {
    const { delivery, event } = item;
    this.#available();
    this.#lanes.settled(item);
    await delivery.ack();
    // Its subject's waiting messages may pass now.
    if (item.order) this.#waits.wake(item.order.subject);
    if (status === 'applied') {
      this.#emit({
        type: 'applied',
        id: event.id,
        eventType: event.type,
        subject: event.subject,
        latencyMs: this.#clock.now() - Date.parse(event.time),
      });
    } else this.#emit({ type: 'duplicate', id: event.id });
  }

  async #skip(delivery: Delivery, reason: 'unknown-type' | 'replay-for-another-consumer', eventType: string | undefined): Promise<void> {
    try {
      await delivery.ack();
    } catch (error) {
      // Redelivered after ack_wait and skipped again.
      this.#logger.warn({ err: error, id: delivery.messageId }, 'could not ack a skipped message; it will be redelivered');
      return;
    }
    if (reason === 'unknown-type') this.#skipped.unknownType++;
    else this.#skipped.replayForAnotherConsumer++;
    this.#emit({ type: 'skipped', id: delivery.messageId, reason, eventType });
    this.#logger.debug({ id: delivery.messageId, reason, eventType }, 'message acked without a handler');
  }

  /**
   * Publishes the dead letter; only once the dead-letter stream stored it is the message terminated
   * and its subject released. Otherwise the message stays in hand (kept alive, not terminated: the
   * bus would not redeliver it past max_deliver) and the publish is tried again with backoff. An
   * event with an `order` key is then recorded as a gap (`dead-letter`), so its subject's next
   * event passes; that too is retried until it is done.
   */
  async #deadLetter(delivery: Delivery, cause: unknown, item?: Decoded, order?: OrderKey): Promise<void> {
    const error = toError(cause);
    const code = error instanceof OutboxError ? error.code : 'HANDLER_FAILED';
    try {
      await delivery.deadLetter({ code, error: errorMessage(error), consumer: this.#subscriber.name });
    } catch (deadLetterError) {
      const pending = this.#pendingDeadLetters.get(delivery) ?? { delivery, cause, item, order, attempts: 0, retryAt: 0 };
      pending.attempts++;
      const retryInMs = this.#deadLetterBackoff.delayMs(pending.attempts);
      pending.retryAt = this.#clock.now() + retryInMs;
      this.#pendingDeadLetters.set(delivery, pending);
      const failure = toError(deadLetterError);
      this.#emit({ type: 'dead-letter-failed', id: delivery.messageId, attempts: pending.attempts, retryInMs, error: failure });
      this.#logger.error(
        { err: failure, id: delivery.messageId, attempts: pending.attempts, retryInMs },
        'could not store a dead letter; the message is kept and the dead letter retried',
      );
      return;
    }
    this.#pendingDeadLetters.delete(delivery);
    this.#emit({ type: 'dead', id: delivery.messageId, code, error });
    this.#logger.warn({ err: error, id: delivery.messageId, code }, 'message dead-lettered');
    // The gap before the subject's held messages run, so that they pass at once.
    if (order) await this.#recordGap(this.#gapTask(delivery, order, 'dead-letter', 'none'));
    if (item) this.#lanes.settled(item);
  }
}

/** A dead letter whose publish failed, kept in hand until it is stored. */
interface PendingDeadLetter {
  readonly delivery: Delivery;
  readonly cause: unknown;
  readonly item: Decoded | undefined;
  /** The event's order key: its gap is recorded once the dead letter is stored. */
  readonly order: OrderKey | undefined;
  attempts: number;
  retryAt: number;
}

/** A gap to record in the inbox, kept (with its message, unless already dead-lettered) until it is. */
interface PendingGap {
  readonly delivery: Delivery;
  readonly gap: SubjectGap;
  /** Once recorded: `ack` the gap marker, `skip` (ack and count) the event with no handler, or nothing (dead-lettered already). */
  readonly afterwards: 'ack' | 'skip' | 'none';
  readonly eventType: string | undefined;
  attempts: number;
  retryAt: number;
}

/** A schema failure on receipt never passes on a retry. */
function isPermanent(error: unknown): boolean {
  return error instanceof EventDecodeError;
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
