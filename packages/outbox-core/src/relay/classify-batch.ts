import type { DeadLetterEntry, OutboxRecord, ReleaseEntry } from '../contracts/outbox-store.js';
import type { BusHealth, PublishResult } from '../contracts/publisher.js';
import { errorMessage, PublishError } from '../errors.js';
import type { Backoff } from '../util/backoff.js';
import type { RelayEvent } from './relay-events.js';

/** A record whose publish failed, with the publisher's error. */
export interface FailedPublish {
  readonly record: OutboxRecord;
  readonly error: PublishError;
}

/** One batch's publish results, read record by record. */
export interface PublishOutcome {
  readonly records: readonly OutboxRecord[];
  /** Ids the bus acknowledged (duplicates included), in batch order. */
  readonly completed: readonly string[];
  /** Acknowledged publishes the bus already had. */
  readonly duplicates: number;
  /** Failed publishes, in batch order. */
  readonly failed: readonly FailedPublish[];
  /** How many of `failed` are retryable: when any is, the bus's health decides what they are. */
  readonly retryableFailures: number;
}

/** A bus that cannot take events, from the probe or inferred from the results. */
export type BusDown = Exclude<BusHealth, { ok: true }>;

/** The settings the classification applies. */
export interface ClassifyPolicy {
  /** Attempts before an event is dead-lettered (see `RelayOptions.maxAttempts`). */
  readonly maxAttempts: number;
  /** Delay of a content retry, by attempt. */
  readonly backoff: Backoff;
  /** Delay of a record handed back after a disconnect (its first step). */
  readonly outageBackoff: Backoff;
  /** This process's time (epoch ms), for the `retryAt` estimate of `failed` events. */
  readonly now: number;
}

/** What to do with a published batch: which rows to settle how, what to report, and whether to pause. */
export interface BatchPlan {
  /** Ids to complete. */
  readonly complete: readonly string[];
  readonly duplicates: number;
  /** Rows to hand back, with their delay and whether the attempt counts. */
  readonly release: readonly ReleaseEntry[];
  /** Rows to dead-letter, with the reason. */
  readonly deadLetter: readonly DeadLetterEntry[];
  /** The `failed` and `dead` events to report, in batch order. */
  readonly events: readonly RelayEvent[];
  /**
   * Set when the bus is down: the relay pauses claiming, `records` (at most `probeRecordLimit`)
   * are what the next probe asks about, and `error` is the first publish error.
   */
  readonly pause: { readonly health: BusDown; readonly error: PublishError; readonly records: readonly OutboxRecord[] } | undefined;
}

/** Records handed to a probe: enough to find every stream they go to, bounded. */
export const probeRecordLimit = 64;

/**
 * Reads a batch's publish results in batch order: a missing result is a retryable failure, so a
 * publisher that breaks its contract makes the relay retry, never lose an event.
 */
export function readPublishResults(records: readonly OutboxRecord[], results: readonly (PublishResult | undefined)[]): PublishOutcome {
  const completed: string[] = [];
  const failed: FailedPublish[] = [];
  let duplicates = 0;
  let retryableFailures = 0;
  for (let index = 0; index < records.length; index++) {
    const record = records[index] as OutboxRecord;
    const result = results[index];
    if (result?.ok) {
      completed.push(record.id);
      if (result.duplicate) duplicates++;
      continue;
    }
    const error = result?.error ?? new PublishError('PUBLISH_FAILED', `the publisher returned no result for event ${record.id}`, true);
    if (error.retryable) retryableFailures++;
    failed.push({ record, error });
  }
  return { records, completed, duplicates, failed, retryableFailures };
}

/** The records a probe is asked about: the failed ones, bounded. */
export function probeRecords(outcome: PublishOutcome): OutboxRecord[] {
  return outcome.failed.slice(0, probeRecordLimit).map((entry) => entry.record);
}

/**
 * Decides what a published batch comes to, without side effects: the relay settles, reports and
 * pauses as the plan says.
 *
 * - The bus is down (`probe` says so; without a probe, every publish of a batch of several failed
 *   retryably, or a lone publish failed with `DISCONNECTED`): every failed row is released at once
 *   without counting an attempt, and the relay pauses.
 * - A `DISCONNECTED` failure while the bus is not down: released after the first outage step,
 *   without counting an attempt (the connection broke under the publish, not the event).
 * - A non-retryable failure, or the last of `maxAttempts`: dead-lettered.
 * - Any other failure: released after `backoff` for its attempt, counting it.
 *
 * @param probe The publisher's probe answer about the failed records, or `undefined` when the
 *   publisher has no probe (or none was asked: no failure was retryable).
 */
export function classifyBatch(outcome: PublishOutcome, probe: BusHealth | undefined, policy: ClassifyPolicy): BatchPlan {
  const health = outcome.retryableFailures > 0 ? (probe ?? inferHealth(outcome)) : undefined;
  const down = health !== undefined && !health.ok ? health : undefined;
  const release: ReleaseEntry[] = [];
  const deadLetter: DeadLetterEntry[] = [];
  const events: RelayEvent[] = [];
  for (const { record, error } of outcome.failed) {
    if (down || (error.retryable && error.code === 'DISCONNECTED')) {
      // The bus is down, or the connection broke under the publish: not these events' fault.
      // Hand them back without counting an attempt (the outage pause, or a short delay, paces them).
      const retryAfterMs = down ? 0 : policy.outageBackoff.delayMs(1);
      release.push({ id: record.id, retryAfterMs, error: error.message, countAttempt: false });
      continue;
    }
    const attempt = record.attempts + 1;
    if (!error.retryable || attempt >= policy.maxAttempts) {
      deadLetter.push({ id: record.id, error: error.message });
      events.push({ type: 'dead', id: record.id, subject: record.subject, attempts: attempt, error });
    } else {
      // The store adds the delay to the database's clock; retryAt in the event is this process's estimate.
      const retryAfterMs = policy.backoff.delayMs(attempt);
      release.push({ id: record.id, retryAfterMs, error: error.message, countAttempt: true });
      events.push({ type: 'failed', id: record.id, subject: record.subject, attempt, error, retryAt: new Date(policy.now + retryAfterMs) });
    }
  }
  const firstError = outcome.failed[0]?.error;
  return {
    complete: outcome.completed,
    duplicates: outcome.duplicates,
    release,
    deadLetter,
    events,
    pause: down && firstError ? { health: down, error: firstError, records: probeRecords(outcome) } : undefined,
  };
}

/**
 * Without a probe: a whole batch failing retryably is an outage, and so is a lone publish that
 * failed with `DISCONNECTED`; anything less may be the events' own fault.
 */
function inferHealth(outcome: PublishOutcome): BusHealth {
  const size = outcome.records.length;
  const first = outcome.failed[0]?.error;
  const down = outcome.retryableFailures === size && (size > 1 || first?.code === 'DISCONNECTED');
  return down ? { ok: false, reason: 'unreachable', detail: errorMessage(first) } : { ok: true };
}
