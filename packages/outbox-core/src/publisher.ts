import type { PublisherConstraints } from './bus-constraints.js';
import type { PublishError } from './errors.js';
import type { OutboxRecord } from './outbox-store.js';

/** The bus accepted the event. `duplicate` means it already had it (a re-publish): still success. */
export interface PublishSuccess {
  readonly id: string;
  readonly ok: true;
  readonly duplicate: boolean;
  /** The bus's sequence number, when it has one. */
  readonly sequence?: number;
}

export interface PublishFailure {
  readonly id: string;
  readonly ok: false;
  readonly error: PublishError;
}

export type PublishResult = PublishSuccess | PublishFailure;

export interface PublishOptions {
  readonly signal?: AbortSignal;
}

/**
 * Sends outbox records to the bus, using each record's `id` as the bus's dedup id.
 *
 * Contract, checked by `describePublisher`: one result per record, in the records' order; it
 * never throws for a failed record (the failure is in its result); records are sent in order;
 * publishing the same id twice within the dedup window stores it once.
 */
export interface Publisher {
  /**
   * What this bus writes itself and so cannot carry from an event (reserved header names). Core's
   * `validateEvent` refuses the union of every supported bus's list, `RESERVED_HEADERS`, which must
   * cover this declaration (`describePublisher` checks it).
   */
  readonly constraints?: PublisherConstraints;
  publish(records: readonly OutboxRecord[], options?: PublishOptions): Promise<PublishResult[]>;
  /**
   * Resolves true when the bus answers a round trip now, false (never throws) when it does not.
   * The relay asks after a batch whose every publish failed retryably, to tell an outage (pause,
   * count no attempts) from events that fail on their own (count attempts, dead-letter at the limit).
   */
  probe?(options?: PublishOptions): Promise<boolean>;
}
