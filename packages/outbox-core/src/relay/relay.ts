import { type Logger, noopLogger } from '../contracts/logger.js';
import type { ClaimedBatch, DeadLetterEntry, OutboxRecord, OutboxStore, ReleaseEntry } from '../contracts/outbox-store.js';
import type { BusHealth, BusOutageReason, Publisher, PublishResult } from '../contracts/publisher.js';
import { errorMessage, OutboxConfigError, OutboxUsageError, PublishError } from '../errors.js';
import { DEFAULT_MAX_BATCH_BYTES, validateByteLimit } from '../settings/byte-budget.js';
import { checkHorizons } from '../settings/horizons.js';
import { validateInteger } from '../settings/identifiers.js';
import { type RelayTelemetry, relayTelemetry } from '../telemetry/relay-telemetry.js';
import { type Backoff, type BackoffOptions, createBackoff } from '../util/backoff.js';
import { type Clock, systemClock } from '../util/clock.js';
import { Lifecycle, type StopOptions } from '../util/lifecycle.js';
import { type BusDown, classifyBatch, probeRecords, readPublishResults } from './classify-batch.js';
import { type GapMarkerPlan, gapRecords, OUTBOX_DEAD_LETTER_GAP, planGapMarkers } from './gap-markers.js';
import type { RelayDrainResult, RelayEvent, RelayStopResult } from './relay-events.js';

/** A claimed batch's lease when `leaseMs` is not set. */
const DEFAULT_LEASE_MS = 30_000;
/** The retry delays of a failed publish when `backoff` is not set. */
const DEFAULT_BACKOFF = { initialMs: 1_000, maxMs: 60_000 } as const;

/** Options of `Relay`. */
export interface RelayOptions {
  /** The outbox to drain. The relay never writes to it outside claim/complete/release/deadLetter. */
  readonly store: OutboxStore<unknown>;
  readonly publisher: Publisher;
  /** Most events per claim. @defaultValue 500 */
  readonly batchSize?: number;
  /**
   * The byte budget of one claim: a claim stops adding events once their payloads reach it,
   * whatever `batchSize` says (a batch holds at most this plus one event), which bounds the
   * relay's memory. @defaultValue `DEFAULT_MAX_BATCH_BYTES` (8 MiB)
   */
  readonly maxBatchBytes?: number;
  /** How long a claim is exclusive; a crashed relay's rows are taken over after it. @defaultValue 30_000 */
  readonly leaseMs?: number;
  /** Longest wait when there is nothing to publish (the poll fallback). @defaultValue 1_000 */
  readonly pollIntervalMs?: number;
  /** First idle wait of adaptive polling, for stores without a wake-up; doubles up to `pollIntervalMs`. @defaultValue 5 */
  readonly minPollIntervalMs?: number;
  /** Attempts before an event is dead-lettered. Outage attempts do not count. @defaultValue 10 */
  readonly maxAttempts?: number;
  /** Delay before retrying a failed event. @defaultValue `{ initialMs: 1_000, maxMs: 60_000 }` */
  readonly backoff?: BackoffOptions;
  /** Pause of claiming while the bus is unreachable. @defaultValue `{ initialMs: 500, maxMs: 15_000 }` */
  readonly outageBackoff?: BackoffOptions;
  /** The stream's dedup window; when given, `start` checks it covers `leaseMs` + the longest retry delay. */
  readonly duplicateWindowMs?: number;
  readonly logger?: Logger;
  /** Called synchronously for every `RelayEvent`; an exception in it is logged and ignored. */
  readonly onEvent?: (event: RelayEvent) => void;
  /**
   * The time source of the relay's waits (polling, retry and outage backoff, `stop` timeouts) and
   * of the times it reports; tests pass a `ManualClock` to move time on instead of waiting.
   * @defaultValue `systemClock` (`Date.now()` and `setTimeout`)
   */
  readonly clock?: Clock;
  /**
   * Claim the next batch while the current one is published, after a full batch (a backlog): the
   * database works on the next claim instead of waiting for the publish. A relay alone drains a
   * backlog a fifth to a third faster. Each relay then holds two batches: several relays on a
   * backlog of fewer subjects than relays x 2 x `batchSize` walk past each other's rows, and two
   * PostgreSQL relays on 1,000 subjects were slower with it than without (docs/design/relay-claims.md,
   * "Claiming ahead"). A batch claimed ahead goes back unpublished, no attempt counted, when the
   * relay stops or the bus is down; its lease must cover the current batch's publish as well as its own.
   * @defaultValue the store's `capabilities.claimAhead` (true for MariaDB/MySQL, whose claim reads a
   * bounded window: one, two and four relays all gained with it), otherwise false
   */
  readonly claimAhead?: boolean;
}

/** An outage the relay is in: why, since when. */
export interface RelayOutage {
  readonly reason: BusOutageReason;
  /** One line for operators, from the publisher's probe (or the publish error without a probe). */
  readonly detail: string;
  readonly since: Date;
}

interface OutageState {
  reason: BusOutageReason;
  detail: string;
  readonly since: number;
  pauses: number;
  /** The failed records, for the next probe: it checks where they go. */
  records: readonly OutboxRecord[];
  error: Error;
  /** The probe said healthy: the next batch is claimed, and the outage ends only when it publishes (or nothing is pending). */
  trial: boolean;
}

/** The log line of each outage reason: one `warn` per change of reason. */
const outageLabels: Record<BusOutageReason, string> = {
  unreachable: 'bus unreachable',
  'stream-missing': 'stream missing',
  'no-leader': 'stream has no leader',
  full: 'stream full',
};
/** Quick re-claims (5, 10, 20, 40 ms with the default minimum) come before the wake-up is armed. */
const armAfterIdleMs = 50;
/** A settle call is retried only if it would still finish this long before the lease ends. */
const settleLeaseMarginMs = 250;

/**
 * Publishes an outbox to the bus: claim a batch with a lease, publish it pipelined, complete what
 * the bus acknowledged, release failures with exponential backoff and jitter, dead-letter an event
 * after `maxAttempts`. Any number of relays may run on one table: the store's claim gives each
 * subject's events to one relay at a time, in order.
 *
 * After a batch with a retryable failure the relay asks the publisher's `probe` whether the bus
 * can take those events (for NATS: does their stream exist, have a leader and quorum, have room).
 * If not, it is an outage: the failed records are released without counting attempts, claiming
 * pauses with backoff, and the relay probes again before each claim until the probe says healthy;
 * then one batch is tried, and the outage ends when it publishes (or nothing is pending). An outage
 * of any length never dead-letters healthy events. A failure of the connection itself
 * (`DISCONNECTED`) never counts an attempt either. A publisher without a probe: a batch whose every
 * publish failed retryably is an outage, and a batch that publishes again ends it.
 *
 * @example
 * ```ts
 * const relay = new Relay({ store, publisher, logger })
 * await relay.start()
 * process.once('SIGTERM', () => relay.stop({ timeoutMs: 10_000 }))
 * ```
 */
export class Relay {
  readonly #store: OutboxStore<unknown>;
  readonly #publisher: Publisher;
  readonly #batchSize: number;
  readonly #maxBatchBytes: number;
  readonly #leaseMs: number;
  readonly #pollIntervalMs: number;
  readonly #minPollIntervalMs: number;
  readonly #maxAttempts: number;
  readonly #backoff: Backoff;
  readonly #outageBackoff: Backoff;
  readonly #storeBackoff: Backoff;
  readonly #duplicateWindowMs: number | undefined;
  readonly #logger: Logger;
  readonly #onEvent: ((event: RelayEvent) => void) | undefined;
  readonly #clock: Clock;
  readonly #claimAhead: boolean;
  /** OpenTelemetry spans and metrics, when `@opentelemetry/api` is installed (see telemetry/). */
  readonly #telemetry: RelayTelemetry | undefined;
  readonly #lifecycle: Lifecycle;

  #inFlight = 0;
  #outage: OutageState | undefined;
  #storeErrors = 0;

  constructor(options: RelayOptions) {
    if (!options?.store || !options.publisher) {
      throw new OutboxUsageError('new Relay() needs { store, publisher }');
    }
    this.#store = options.store;
    this.#publisher = options.publisher;
    this.#batchSize = validateInteger(options.batchSize ?? 500, 'batchSize', 1, 10_000);
    this.#maxBatchBytes = validateByteLimit(options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES, 'maxBatchBytes');
    this.#leaseMs = validateInteger(options.leaseMs ?? DEFAULT_LEASE_MS, 'leaseMs', 100);
    this.#pollIntervalMs = validateInteger(options.pollIntervalMs ?? 1_000, 'pollIntervalMs', 1);
    this.#minPollIntervalMs = validateInteger(options.minPollIntervalMs ?? 5, 'minPollIntervalMs', 1, this.#pollIntervalMs);
    this.#maxAttempts = validateInteger(options.maxAttempts ?? 10, 'maxAttempts', 1);
    this.#backoff = createBackoff({ ...DEFAULT_BACKOFF, ...options.backoff });
    this.#outageBackoff = createBackoff({ initialMs: 500, maxMs: 15_000, ...options.outageBackoff });
    this.#storeBackoff = createBackoff({ initialMs: 200, maxMs: 10_000 });
    this.#duplicateWindowMs = options.duplicateWindowMs;
    this.#logger = options.logger ?? noopLogger;
    this.#onEvent = options.onEvent;
    this.#clock = options.clock ?? systemClock;
    if (options.claimAhead !== undefined && typeof options.claimAhead !== 'boolean') {
      throw new OutboxConfigError('claimAhead', `claimAhead must be true or false; got ${JSON.stringify(options.claimAhead)}`);
    }
    this.#claimAhead = options.claimAhead ?? this.#store.capabilities.claimAhead ?? false;
    this.#telemetry = relayTelemetry(this.#publisher, this.#store);
    this.#lifecycle = new Lifecycle(
      'Relay',
      {
        prepare: () => this.#prepare(),
        finish: () => this.#telemetry?.close(),
        inFlight: () => this.#inFlight,
      },
      this.#clock,
    );
  }

  /** The longest time between a publish and its possible re-publish: what `duplicate_window` must cover. */
  get republishHorizonMs(): number {
    return this.#leaseMs + this.#backoff.maxMs;
  }

  /**
   * The re-publish horizon of a relay built with these options, without building one: what a
   * stream's `duplicate_window` must cover before the relay starts (the relay CLI sizes the stream
   * with it). Equal to `republishHorizonMs` of `new Relay(options)`.
   * @throws OutboxConfigError when `leaseMs` or `backoff` is out of range, as the constructor does.
   * @example
   * ```ts
   * const windowMs = Relay.republishHorizonMs({ leaseMs: 10_000, backoff: { maxMs: 30_000 } }) // 40_000
   * ```
   */
  static republishHorizonMs(options: Pick<RelayOptions, 'leaseMs' | 'backoff'> = {}): number {
    const leaseMs = validateInteger(options.leaseMs ?? DEFAULT_LEASE_MS, 'leaseMs', 100);
    return leaseMs + createBackoff({ ...DEFAULT_BACKOFF, ...options.backoff }).maxMs;
  }

  /** True while the bus cannot take events (claiming is paused). */
  get outage(): boolean {
    return this.#outage !== undefined;
  }

  /** The current outage with its reason, or `undefined` while the bus is healthy: what `/readyz` reports. */
  get busOutage(): RelayOutage | undefined {
    const outage = this.#outage;
    return outage && { reason: outage.reason, detail: outage.detail, since: new Date(outage.since) };
  }

  /**
   * Checks the schema and the dedup window, then runs the loop in the background until `stop` (or
   * until `signal` aborts, which is a `stop()` without a timeout: the in-flight batch still finishes).
   * When a check fails, `start` rejects and `closed()` settles with the same error.
   * @throws SchemaVersionError when the store's schema is not the one this version knows.
   * @throws OutboxConfigError when `duplicateWindowMs` is shorter than the re-publish horizon.
   * @throws OutboxUsageError when started twice (or after `stop`, or with `drain`).
   */
  start(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#lifecycle.start((signal) => this.#run(signal, false), options);
  }

  /**
   * Publishes until a claim comes back empty, then returns the counts: for `outbox-relay run --once`,
   * cron jobs and tests. Events waiting for a retry, or leased by another relay, are left for later.
   * It is a `start` that ends by itself: `signal`, `stop` and `closed()` act on it as on a started relay.
   * @throws as `start`, and the error that ended the loop.
   */
  async drain(options: { signal?: AbortSignal } = {}): Promise<RelayDrainResult> {
    const totals = { batches: 0, published: 0, duplicates: 0, failed: 0, dead: 0 };
    await this.#lifecycle.start((signal) => this.#run(signal, true, totals), options);
    const fatal = await this.#lifecycle.closed();
    if (fatal) throw fatal;
    return totals;
  }

  /**
   * Stops claiming, lets the in-flight batch finish (its acknowledged events are completed), and
   * resolves. After `timeoutMs` it resolves with `drained: false` and the number of events still
   * in flight; their leases expire and another relay publishes them (the bus drops duplicates).
   * Safe to call in any state, and more than once.
   * @throws OutboxConfigError on a negative or fractional `timeoutMs`.
   */
  stop(options: StopOptions = {}): Promise<RelayStopResult> {
    return this.#lifecycle.stop(options);
  }

  /**
   * Settles when the relay has stopped: to the fatal error (a failed `start` included), or
   * `undefined` after a clean stop. It never rejects.
   */
  closed(): Promise<Error | undefined> {
    return this.#lifecycle.closed();
  }

  /** `stop()` with its default timeout, for `await using relay = new Relay(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #prepare(): Promise<void> {
    this.#telemetry?.start();
    await this.#store.assertSchema();
    if (this.#duplicateWindowMs !== undefined) {
      checkHorizons({
        duplicateWindowMs: this.#duplicateWindowMs,
        leaseMs: this.#leaseMs,
        maxRetryDelayMs: this.#backoff.maxMs,
      });
    }
  }

  #emit(event: RelayEvent): void {
    this.#telemetry?.record(event);
    if (!this.#onEvent) return;
    try {
      this.#onEvent(event);
    } catch (error) {
      this.#logger.warn({ err: error, event: event.type }, 'relay onEvent hook threw');
    }
  }

  async #run(signal: AbortSignal, untilIdle: boolean, totals?: Record<keyof RelayDrainResult, number>): Promise<void> {
    let idleMs = this.#minPollIntervalMs;
    // With claimAhead, the next batch, claimed while the current one is published (see #claimNext).
    let ahead: Promise<ClaimedBatch> | undefined;
    try {
      while (!signal.aborted) {
        if (this.#outage && !this.#outage.trial && this.#publisher.probe) {
          if (ahead) {
            await this.#giveBack(ahead);
            ahead = undefined;
          }
          // Paused: claim nothing (no row is touched, no attempt counted) until the bus can take events.
          const outage = this.#outage;
          const health = await this.#probe(outage.records, signal);
          if (signal.aborted) break;
          if (!health.ok) {
            await this.#pause(health, outage.error, outage.records, signal);
            continue;
          }
          // Not over yet: a probe can be wrong (a full stream that shows no limit). A batch decides.
          outage.trial = true;
        }
        let batch: ClaimedBatch;
        const next = ahead;
        ahead = undefined;
        try {
          batch = await (next ?? this.#claim());
          this.#storeErrors = 0;
        } catch (error) {
          await this.#storeFailed('claim', error, signal);
          continue;
        }
        // An empty claim made ahead says nothing about the backlog: it ran while the batch before it
        // still held its subjects' heads (with few subjects, all of them). Claim again, now.
        if (batch.records.length === 0 && next) continue;
        if (batch.records.length === 0) {
          if (this.#outage?.trial) this.#recovered();
          if (untilIdle) return;
          // Arm the store's wake-up only after a short run of quick re-claims found nothing: a relay
          // that re-armed after every empty claim made producers under steady load take the NOTIFY
          // path and serialise their commits (bench: 0.33x of the UPDATE-alone tx/s).
          if (this.#store.capabilities.wakeUp && this.#store.waitForWork && idleMs >= armAfterIdleMs) {
            try {
              await this.#store.waitForWork({ timeoutMs: this.#pollIntervalMs, signal });
            } catch (error) {
              // A lost connection while arming the wake-up is a store fault like a failed claim:
              // back off and claim again; the relay must not die of it.
              await this.#storeFailed('wait', error, signal);
            }
          } else {
            // Adaptive polling: claim again soon after work was seen, back off while idle.
            await this.#clock.sleep(idleMs, signal);
            idleMs = Math.min(idleMs * 2, this.#pollIntervalMs);
          }
          continue;
        }
        idleMs = this.#minPollIntervalMs;
        // With claimAhead, a full batch means a backlog: claim the next one now, so the database
        // works on it while this one is published. Not while the bus is in doubt.
        if (this.#claimAhead && batch.records.length >= this.#batchSize && this.#outage === undefined) ahead = this.#claimNext();
        const oversized = await this.#deadLetterOversized(batch, signal);
        const rest = oversized === 0 ? batch : { ...batch, records: batch.records.filter((record) => record.oversizedBytes === undefined) };
        const counts =
          rest.records.length > 0 ? await this.#publishBatch(rest, signal) : { published: 0, duplicates: 0, failed: 0, dead: 0 };
        counts.dead += oversized;
        if (totals) {
          totals.batches++;
          totals.published += counts.published;
          totals.duplicates += counts.duplicates;
          totals.failed += counts.failed;
          totals.dead += counts.dead;
        }
        // Paused by an outage meanwhile, or stopping: the batch claimed ahead goes back unpublished.
        if (ahead && (this.#outage !== undefined || signal.aborted)) {
          await this.#giveBack(ahead);
          ahead = undefined;
        }
      }
    } finally {
      if (ahead) await this.#giveBack(ahead);
    }
  }

  #claim(): Promise<ClaimedBatch> {
    return this.#store.claim({ batchSize: this.#batchSize, leaseMs: this.#leaseMs, maxBatchBytes: this.#maxBatchBytes });
  }

  /**
   * Claims the next batch while the current one is published. Per-subject order holds: the current
   * batch's rows are still pending (leased), so the later rows of their subjects are not heads and
   * this claim cannot take them. A failed claim is handled when the loop comes to it.
   */
  #claimNext(): Promise<ClaimedBatch> {
    const claim = this.#claim();
    // Awaited later (by the loop or #giveBack); this only keeps it from being reported as unhandled meanwhile.
    claim.catch(() => undefined);
    return claim;
  }

  /** Releases a batch claimed ahead and not published (stopping, or paused by an outage), without counting an attempt. */
  async #giveBack(ahead: Promise<ClaimedBatch>): Promise<void> {
    let batch: ClaimedBatch;
    try {
      batch = await ahead;
    } catch {
      return;
    }
    if (batch.records.length === 0) return;
    const entries = batch.records.map((record) => ({
      id: record.id,
      retryAfterMs: 0,
      error: 'claimed ahead and given back unpublished (the relay stopped or paused)',
      countAttempt: false,
    }));
    // A failed release leaves the rows to their lease: another claim takes them once it ends.
    await this.#store.release(batch.token, entries).catch((error: unknown) => {
      this.#logger.warn({ err: error, events: entries.length }, 'could not give back a batch claimed ahead; its lease will expire');
    });
  }

  /** Publishes a batch, then settles, reports and pauses as `classifyBatch` decides. */
  async #publishBatch(batch: ClaimedBatch, signal: AbortSignal): Promise<Record<'published' | 'duplicates' | 'failed' | 'dead', number>> {
    const started = performance.now();
    const { records } = batch;
    this.#inFlight = records.length;
    const outcome = readPublishResults(records, await this.#send(records));
    const publishMs = performance.now() - started;
    const now = this.#clock.now();
    // Some publishes failed retryably: is the bus down, or do these events fail on their own? The
    // publisher's probe decides, asked about the failed records (their stream).
    const probe = outcome.retryableFailures > 0 && this.#publisher.probe ? await this.#probe(probeRecords(outcome), signal) : undefined;
    const plan = classifyBatch(outcome, probe, {
      maxAttempts: this.#maxAttempts,
      backoff: this.#backoff,
      outageBackoff: this.#outageBackoff,
      now,
    });
    // Rows with a sequence are dead-lettered only once their gap marker is stored.
    const gaps = plan.deadLetter.length > 0 ? await this.#markGaps(plan.deadLetter, records, now, signal) : undefined;
    const { complete } = plan;
    const release = gaps && gaps.release.length > 0 ? [...plan.release, ...gaps.release] : plan.release;
    const deadLetter = gaps ? gaps.deadLetter : plan.deadLetter;
    for (const event of plan.events) if (!(event.type === 'dead' && gaps?.held.has(event.id))) this.#emit(event);
    for (const event of gaps?.events ?? []) this.#emit(event);
    const pause = plan.pause ?? gaps?.pause;
    await Promise.all([
      complete.length > 0 ? this.#settle(batch, 'complete', () => this.#store.complete(batch.token, complete)) : undefined,
      release.length > 0 ? this.#settle(batch, 'release', () => this.#store.release(batch.token, release)) : undefined,
      deadLetter.length > 0 ? this.#settle(batch, 'dead-letter', () => this.#store.deadLetter(batch.token, deadLetter)) : undefined,
    ]);
    this.#inFlight = 0;

    const counts = { published: complete.length, duplicates: plan.duplicates, failed: release.length, dead: deadLetter.length };
    const oldest = Date.parse(records[0]?.time ?? '');
    this.#emit({
      type: 'batch',
      size: records.length,
      ...counts,
      durationMs: performance.now() - started,
      publishMs,
      lagMs: Number.isNaN(oldest) ? 0 : Math.max(0, now - oldest),
    });
    this.#logger.debug({ size: records.length, ...counts, publishMs }, 'relay batch');

    if (pause) await this.#pause(pause.health, pause.error, pause.records, signal);
    else if (complete.length > 0) this.#recovered();
    return counts;
  }

  /** The publisher's results, one per record; a publisher that throws failed every record retryably. */
  async #send(records: readonly OutboxRecord[]): Promise<readonly PublishResult[]> {
    try {
      return await (this.#telemetry
        ? this.#telemetry.send(records, () => this.#publisher.publish(records))
        : this.#publisher.publish(records));
    } catch (error) {
      // The contract says a publisher reports failures per record; a throw means it broke as a
      // whole, which is an outage as far as these records are concerned.
      const failure = new PublishError('PUBLISH_FAILED', `publisher threw: ${errorMessage(error)}`, true, { cause: error });
      return records.map((record) => ({ id: record.id, ok: false as const, error: failure }));
    }
  }

  /**
   * Dead-letters the records the store handed back without their payload (over its `maxEventBytes`)
   * as `PAYLOAD_TOO_LARGE`, at once and without publishing: content, not an outage. Returns how many.
   */
  async #deadLetterOversized(batch: ClaimedBatch, signal: AbortSignal): Promise<number> {
    const dead: DeadLetterEntry[] = [];
    const deadEvents: Extract<RelayEvent, { type: 'dead' }>[] = [];
    for (const record of batch.records) {
      if (record.oversizedBytes === undefined) continue;
      const error = new PublishError(
        'PAYLOAD_TOO_LARGE',
        `event ${record.id} (type ${record.type}) is ${record.oversizedBytes} bytes, over the store's maxEventBytes (${this.#store.maxEventBytes ?? 'its limit'}): it was dead-lettered without being loaded; carry a reference, not the document`,
        false,
      );
      dead.push({ id: record.id, error: error.message });
      deadEvents.push({ type: 'dead', id: record.id, subject: record.subject, attempts: record.attempts + 1, error });
    }
    if (dead.length === 0) return 0;
    const gaps = await this.#markGaps(dead, batch.records, this.#clock.now(), signal);
    for (const event of deadEvents) if (!gaps.held.has(event.id)) this.#emit(event);
    for (const event of gaps.events) this.#emit(event);
    await Promise.all([
      gaps.deadLetter.length > 0
        ? this.#settle(batch, 'dead-letter', () => this.#store.deadLetter(batch.token, gaps.deadLetter))
        : undefined,
      gaps.release.length > 0 ? this.#settle(batch, 'release', () => this.#store.release(batch.token, gaps.release)) : undefined,
    ]);
    if (gaps.pause) await this.#pause(gaps.pause.health, gaps.pause.error, gaps.pause.records, signal);
    return gaps.deadLetter.length;
  }

  /**
   * Publishes the gap markers of the rows about to be dead-lettered that have a sequence, unless the
   * store keeps a dead row blocking its subject (`deadBlocksSubject`) or the publisher has no
   * `publishGaps` (docs/design/ordering.md, section 4): consumers then record the gap and let the
   * subject's next event pass. A row whose marker was not stored is handed back instead, as a
   * failed publish is (an outage counts no attempt): never dead-lettered without its marker.
   */
  async #markGaps(
    entries: readonly DeadLetterEntry[],
    records: readonly OutboxRecord[],
    now: number,
    signal: AbortSignal,
  ): Promise<GapMarkerPlan> {
    const none: GapMarkerPlan = { deadLetter: entries, release: [] as ReleaseEntry[], held: new Set(), events: [], pause: undefined };
    const publishGaps = this.#publisher.publishGaps;
    if (this.#store.capabilities.deadBlocksSubject || !publishGaps) return none;
    const marked = gapRecords(entries, records);
    if (marked.length === 0) return none;
    let results: readonly PublishResult[];
    try {
      results = await publishGaps.call(this.#publisher, marked, OUTBOX_DEAD_LETTER_GAP);
    } catch (error) {
      const failure = new PublishError('PUBLISH_FAILED', `publishGaps threw: ${errorMessage(error)}`, true, { cause: error });
      results = marked.map((record) => ({ id: record.id, ok: false as const, error: failure }));
    }
    const failed = results.length !== marked.length || results.some((result) => !result?.ok);
    if (!failed) return none;
    const retryable = marked.filter((_, index) => {
      const result = results[index];
      return !result || (!result.ok && result.error.retryable);
    });
    const probe = retryable.length > 0 && this.#publisher.probe ? await this.#probe(retryable.slice(0, 64), signal) : undefined;
    const plan = planGapMarkers(entries, marked, results, probe, { backoff: this.#backoff, outageBackoff: this.#outageBackoff, now });
    this.#logger.warn(
      { held: [...plan.held].slice(0, 16), count: plan.held.size },
      'relay could not store the gap markers of events it was dead-lettering; they stay in the outbox and are retried',
    );
    return plan;
  }

  /** The publisher's probe, read as a `BusHealth` (a boolean probe says only reachable or not); never throws. */
  async #probe(records: readonly OutboxRecord[], signal: AbortSignal): Promise<BusHealth> {
    try {
      const answer = await (this.#publisher.probe as NonNullable<Publisher['probe']>)({ records, signal });
      if (typeof answer !== 'boolean') return answer;
      return answer ? { ok: true } : { ok: false, reason: 'unreachable', detail: 'the publisher probe says the bus does not answer' };
    } catch (error) {
      return { ok: false, reason: 'unreachable', detail: `the publisher probe threw: ${errorMessage(error)}` };
    }
  }

  /** Enters or continues an outage: one `warn` per change of reason, an `outage` event per pause, then the pause. */
  async #pause(health: BusDown, error: Error, records: readonly OutboxRecord[], signal: AbortSignal): Promise<void> {
    const previous = this.#outage;
    const outage: OutageState = previous ?? {
      reason: health.reason,
      detail: health.detail,
      since: this.#clock.now(),
      pauses: 0,
      records,
      error,
      trial: false,
    };
    outage.trial = false;
    const changed = previous === undefined || previous.reason !== health.reason;
    outage.reason = health.reason;
    outage.detail = health.detail;
    outage.error = error;
    if (records.length > 0) outage.records = records;
    outage.pauses++;
    this.#outage = outage;
    const pauseMs = this.#outageBackoff.delayMs(outage.pauses);
    this.#emit({ type: 'outage', reason: health.reason, detail: health.detail, error, pauseMs, consecutive: outage.pauses });
    const fields = { reason: health.reason, detail: health.detail, pauseMs, consecutive: outage.pauses, err: error };
    if (changed) this.#logger.warn(fields, `${outageLabels[health.reason]}; pausing the relay (no attempts are counted)`);
    else this.#logger.debug(fields, `${outageLabels[health.reason]}; still paused`);
    await this.#clock.sleep(pauseMs, signal);
  }

  #recovered(): void {
    const outage = this.#outage;
    if (!outage) return;
    this.#outage = undefined;
    const afterMs = this.#clock.now() - outage.since;
    this.#emit({ type: 'recovered', afterMs, reason: outage.reason });
    this.#logger.info({ afterMs, was: outage.reason }, 'bus healthy again; resuming the relay');
  }

  /**
   * Runs a settle call, trying again after 50, 100, 200 ms while the batch's lease still has
   * room: a dropped connection is usually gone by then, and settling now spares a re-publish.
   * Settle calls are safe to repeat (they act only on rows still leased by this token). When the
   * lease runs out first, the rows are re-published after it, and the bus drops the duplicates.
   */
  async #settle(batch: ClaimedBatch, phase: 'complete' | 'release' | 'dead-letter', call: () => Promise<number>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await call();
        return;
      } catch (error) {
        const pauseMs = 25 * 2 ** attempt;
        const retry = attempt <= 3 && this.#clock.now() + pauseMs + settleLeaseMarginMs < batch.leaseUntil.getTime();
        this.#emit({ type: 'store-error', phase, error: error as Error, pauseMs: retry ? pauseMs : 0 });
        if (!retry) {
          this.#logger.warn({ err: error, phase, attempt }, 'relay could not settle a batch; its rows are retried after the lease');
          return;
        }
        this.#logger.warn({ err: error, phase, attempt, pauseMs }, 'relay could not settle a batch; trying again');
        // Not cut short by stop(): settling is the in-flight work that stop() waits for.
        await this.#clock.sleep(pauseMs);
      }
    }
  }

  async #storeFailed(phase: 'claim' | 'wait', error: unknown, signal: AbortSignal): Promise<void> {
    this.#storeErrors++;
    const pauseMs = this.#storeBackoff.delayMs(this.#storeErrors);
    this.#emit({ type: 'store-error', phase, error: error as Error, pauseMs });
    this.#logger.warn({ err: error, phase, pauseMs }, 'relay store call failed; retrying');
    await this.#clock.sleep(pauseMs, signal);
  }
}
