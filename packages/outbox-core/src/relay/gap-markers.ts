import type { DeadLetterEntry, OutboxRecord, ReleaseEntry } from '../contracts/outbox-store.js';
import type { BusHealth, PublishResult } from '../contracts/publisher.js';
import { PublishError } from '../errors.js';
import { type BatchPlan, type ClassifyPolicy, classifyBatch, readPublishResults } from './classify-batch.js';
import type { RelayEvent } from './relay-events.js';

/** The reason of the gap markers the relay publishes for the rows it dead-letters (`SubjectGap.reason`). */
export const OUTBOX_DEAD_LETTER_GAP = 'outbox-dead-letter';

/** What the gap markers of a dead-lettering came to. */
export interface GapMarkerPlan {
  /** The rows to dead-letter: those without a sequence, and those whose marker the bus stored. */
  readonly deadLetter: readonly DeadLetterEntry[];
  /** Rows whose marker was not stored: handed back, never dead-lettered without their marker. */
  readonly release: readonly ReleaseEntry[];
  /** The ids in `release`: their `dead` events are not to be reported. */
  readonly held: ReadonlySet<string>;
  /** The `failed` events of the rows in `release`. */
  readonly events: readonly RelayEvent[];
  /** Set when the bus is down, as in `BatchPlan`. */
  readonly pause: BatchPlan['pause'];
}

/** The records of `entries` that need a gap marker: those with a sequence. */
export function gapRecords(entries: readonly DeadLetterEntry[], records: readonly OutboxRecord[]): OutboxRecord[] {
  const ids = new Set(entries.map((entry) => entry.id));
  return records.filter((record) => ids.has(record.id) && record.sequence !== undefined);
}

/**
 * Reads the results of the gap markers of `marked` (docs/design/ordering.md, section 4) and decides
 * what the rows of `entries` come to. A row whose marker failed is handed back as a failed publish
 * is: without counting an attempt when the bus is down (`probe`, or the results when there is no
 * probe) or the connection broke, otherwise after `backoff`, counting one; a marker that fails for
 * good (a subject mapping that throws) is handed back too, since a dead row without its marker
 * would leave the subject's consumers waiting with no visible reason.
 */
export function planGapMarkers(
  entries: readonly DeadLetterEntry[],
  marked: readonly OutboxRecord[],
  results: readonly (PublishResult | undefined)[],
  probe: BusHealth | undefined,
  policy: Omit<ClassifyPolicy, 'maxAttempts'>,
): GapMarkerPlan {
  const outcome = readPublishResults(
    marked,
    marked.map((record, index): PublishResult => {
      const result = results[index];
      if (result?.ok) return result;
      const cause = result?.error ?? new PublishError('PUBLISH_FAILED', 'the publisher returned no result', true);
      const error = new PublishError(
        cause.code,
        `the gap marker of event ${record.id} (${record.subject} #${record.sequence}) was not stored, so the event is not dead-lettered yet: ${cause.message}`,
        cause.retryable,
        { cause },
      );
      return { id: record.id, ok: false, error };
    }),
  );
  if (outcome.failed.length === 0) return { deadLetter: entries, release: [], held: new Set(), events: [], pause: undefined };
  // Every marker failure is retried: the attempt limit has no say (the row is past it already).
  const plan = classifyBatch(outcome, probe, { ...policy, maxAttempts: Number.POSITIVE_INFINITY });
  const release = [...plan.release];
  const released = new Set(release.map((entry) => entry.id));
  const events = plan.events.filter((event) => event.type !== 'dead');
  for (const { record, error } of outcome.failed) {
    if (released.has(record.id)) continue;
    const attempt = record.attempts + 1;
    const retryAfterMs = policy.backoff.delayMs(attempt);
    release.push({ id: record.id, retryAfterMs, error: error.message, countAttempt: true });
    events.push({ type: 'failed', id: record.id, subject: record.subject, attempt, error, retryAt: new Date(policy.now + retryAfterMs) });
  }
  const held = new Set(release.map((entry) => entry.id));
  return { deadLetter: entries.filter((entry) => !held.has(entry.id)), release, held, events, pause: plan.pause };
}
