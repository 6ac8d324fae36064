import type { PublishError } from '../errors.js';
import type { PublisherConstraints } from './bus-constraints.js';
import type { OutboxRecord } from './outbox-store.js';

/** The bus accepted the event. `duplicate` means it already had it (a re-publish): still success. */
export interface PublishSuccess {
  readonly id: string;
  readonly ok: true;
  readonly duplicate: boolean;
  /** The bus's sequence number, when it has one. */
  readonly sequence?: number;
}

/** The bus did not take the event; `error.retryable` says whether trying again may succeed. */
export interface PublishFailure {
  readonly id: string;
  readonly ok: false;
  readonly error: PublishError;
}

/** The outcome of publishing one record: `ok` tells which. */
export type PublishResult = PublishSuccess | PublishFailure;

/** Options of `Publisher.publish`. */
export interface PublishOptions {
  /** Stops sending: the records not yet sent come back as failures. */
  readonly signal?: AbortSignal;
}

/**
 * Why the bus cannot take events now: `unreachable` (no connection, or the bus does not answer),
 * `stream-missing` (nothing stores the events' subjects: a deleted or misnamed stream),
 * `no-leader` (a replicated stream or the cluster has no leader or no quorum), `full` (the stream's
 * limits are reached and it refuses new messages).
 */
export type BusOutageReason = 'unreachable' | 'stream-missing' | 'no-leader' | 'full';

/** What a probe found: healthy, or an outage with its reason and a one-line detail for operators. */
export type BusHealth = { readonly ok: true } | { readonly ok: false; readonly reason: BusOutageReason; readonly detail: string };

/** Options of `Publisher.probe`. */
export interface ProbeOptions extends PublishOptions {
  /** The records whose publish failed: the probe checks where they go (their stream), not only the bus. */
  readonly records?: readonly OutboxRecord[];
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
  /** The bus, as OpenTelemetry's `messaging.system` names it (`'nats'`): an attribute of the relay's spans and metrics. */
  readonly messagingSystem?: string;
  /** Where a record goes (for NATS, its subject): the `messaging.destination.name` of the relay's span. Never throws. */
  destinationOf?(record: OutboxRecord): string | undefined;
  /**
   * Publishes the records with their id as the bus's deduplication id; one result per record, in
   * their order. Failures are results, not throws.
   */
  publish(records: readonly OutboxRecord[], options?: PublishOptions): Promise<PublishResult[]>;
  /**
   * Publishes a gap marker per record the relay dead-letters in the outbox (records with a
   * `sequence`), where the record would have gone, deduplicated by the record's id: consumers record
   * the gap instead of waiting for the event. The relay dead-letters the rows only after their
   * markers are stored; a failure is a result, as in `publish`. A bus without it leaves such a
   * subject waiting at its consumers until an operator skips it.
   */
  publishGaps?(records: readonly OutboxRecord[], reason: string, options?: PublishOptions): Promise<PublishResult[]>;
  /**
   * Says whether the bus can take the given records now; never throws. The relay asks after a
   * batch with a retryable failure, and while paused, to tell an outage (pause claiming, count no
   * attempts, dead-letter nothing) from events that fail on their own (count attempts). A
   * `BusHealth` names the reason; a plain boolean (`true` = healthy) is read as `unreachable` when false.
   */
  probe?(options?: ProbeOptions): Promise<BusHealth | boolean>;
}
