import type { InboxStore } from '../contracts/inbox-store.js';
import type { Logger } from '../contracts/logger.js';
import type { Subscriber } from '../contracts/subscriber.js';
import type { BackoffOptions } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import type { ConsumerEvent } from './consumer-events.js';
import type { SubjectWaitStatus } from './subject-waits.js';

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
  /**
   * In `batch` mode, how many transactions one fetch is divided into, run at once, each on a
   * connection of the inbox's pool: the fetch is divided by subject, so a subject's messages stay
   * together and in order in one of them, and order, the position checks and the handling of a
   * failure are those of one batch, within each part. Worth raising when one transaction's round
   * trips, not the database, limit the rate (a handler that runs a statement per event); the
   * handlers of different subjects must then not lock the same rows in different orders, or the
   * transactions can deadlock (a deadlock is retried at once, `conflictRetries`, then counts as an
   * outage). Not for `message` mode, whose `concurrency` already runs subjects at once.
   * @defaultValue 1
   */
  readonly batchTransactions?: number;
  /** Messages per fetch. @defaultValue 100 */
  readonly fetchSize?: number;
  /**
   * After a full fetch (a backlog), fetch the next batch while this one is handled, so the bus's
   * round trip overlaps the transaction. The batch fetched ahead is in hand as soon as it is in
   * (kept alive through an outage, counted against `max_ack_pending`) and is handled after the
   * current one settles, as the next fetch would be. `stop` cuts the fetch short and handles what
   * it brought before it returns; messages still on their way are given back (`nak`) when the
   * subscriber closes, for another instance to take at once. For a consumer alone on its durable
   * (or on its partitions): one Consumer with a batch handler applied 1.10x (PostgreSQL) and 1.06x
   * (MariaDB) of its rate without it (bench/results/2026-12-03-7.md). Not for several instances on
   * one shared durable with strict subject order: each holds twice as many messages, so many more
   * events wait for a predecessor another instance holds (4 processes there applied 721 events/s
   * with it, 2,448 without: `npx tsx bench/micro/consumer-partitions.ts pg 1 60000 15 shared ahead`,
   * and without `ahead`). @defaultValue false
   */
  readonly fetchAhead?: boolean;
  /** How long a fetch waits for messages. @defaultValue 1_000 */
  readonly fetchExpiresMs?: number;
  /** In `message` mode, how many subjects are handled at once (each subject stays in order). @defaultValue 8 */
  readonly concurrency?: number;
  /** Redelivery delay after a handler error. @defaultValue `{ initialMs: 1_000, maxMs: 30_000 }` */
  readonly backoff?: BackoffOptions;
  /**
   * Pause between attempts while the inbox database (or a handler's dependency) is down; the
   * messages in hand are retried with it, without limit. @defaultValue `{ initialMs: 250, maxMs: 10_000 }`
   */
  readonly outageBackoff?: BackoffOptions;
  /** Delay between attempts to store a dead letter that failed to publish. @defaultValue `{ initialMs: 1_000, maxMs: 30_000 }` */
  readonly deadLetterBackoff?: BackoffOptions;
  /** Times a deadlock or serialization failure is retried at once before it counts as an outage. @defaultValue 3 */
  readonly conflictRetries?: number;
  /**
   * How long past the time it is due back a subject waits for a failed message given back to the bus
   * (another instance may have taken it) before its held messages run anyway.
   * @defaultValue twice the subscriber's `ackWaitMs`, at least 10_000
   */
  readonly laneWaitMs?: number;
  /**
   * Messages held behind failed ones at most; beyond it the newest are given back to the bus.
   * @defaultValue a quarter of the subscriber's `maxAckPending` (at most 1_000), or 250
   */
  readonly maxHeld?: number;
  /** How long inbox rows are kept; checked against the bus's redelivery horizon at start. */
  readonly inboxRetentionMs?: number;
  /** How often expired inbox rows are removed (in bounded batches) while running. @defaultValue 60_000 */
  readonly cleanupIntervalMs?: number;
  /**
   * What to do with an event whose type has no handler on this consumer. `'ack'`: ack it without
   * running anything, count it (`skipped.unknownType`) and report a `skipped` event: on a shared
   * stream, a producer that adds a type must not fill the dead-letter stream of every consumer with
   * a broad filter. `'dead-letter'`: dead-letter it at once (`UNKNOWN_EVENT_TYPE`), for a consumer
   * that must see every type it is sent.
   * @defaultValue 'ack'
   */
  readonly unknownTypes?: 'ack' | 'dead-letter';
  /**
   * `'subject'`: each subject's events that carry a `sequence` are applied strictly in sequence
   * order, each once, across redeliveries, crashes and instances sharing the durable: the inbox
   * checks and moves the subject's position in the handler's transaction, an event whose predecessor
   * is not applied yet waits in hand (`subject-waiting`, `status().waiting`), and gaps (an event the
   * relay or this consumer dead-lettered, or of a type with no handler here) are recorded so the
   * next one passes. Needs an inbox with `ordering`. The consumer's filter must deliver every event
   * of the subjects it handles (filter by service, not by one type), or a subject waits for an
   * event it never receives. Events without a `sequence` run as with `'none'`.
   * `'none'`: no position is kept; order holds within this instance only (see `Consumer`).
   * @defaultValue 'subject'
   */
  readonly order?: 'subject' | 'none';
  /**
   * Where a subject starts when the consumer has no position for it yet. `'wait'`: only sequence 1
   * runs; a later one waits for it. `'first-delivered'`: the first event delivered for the subject
   * is taken as its start, for a consumer created on a stream whose older events it will never see.
   * @defaultValue 'wait'
   */
  readonly orderBaseline?: 'wait' | 'first-delivered';
  readonly logger?: Logger;
  /** Called for every `ConsumerEvent` (applied, duplicate, retry, dead...), synchronously; a throw is logged and ignored. */
  readonly onEvent?: (event: ConsumerEvent) => void;
  /**
   * The time source of the consumer's waits (fetch and outage backoff, lane bounds, keep-alive,
   * `stop` timeouts) and of the times it reports; tests pass a `ManualClock` to move time on
   * instead of waiting. Redelivery delays are counted by the bus, on its own clock.
   * @defaultValue `systemClock` (`Date.now()` and `setTimeout`)
   */
  readonly clock?: Clock;
}

/** Messages a `Consumer` acked without running a handler, by reason, since it was created. */
export interface ConsumerSkipCounts {
  /** Events of a type with no handler, with `unknownTypes: 'ack'`. */
  readonly unknownType: number;
  /** Dead-letter replays meant for another consumer of the same stream. */
  readonly replayForAnotherConsumer: number;
}

/** What `Consumer.status()` reports. */
export interface ConsumerStatus {
  /** See `Consumer.ready`. */
  readonly ready: boolean;
  /** The database (or a handler's dependency) is down: no fetching until an attempt succeeds. */
  readonly paused: boolean;
  /** When the current outage began (epoch ms). */
  readonly pausedSince: number | undefined;
  /** Messages kept in hand until the outage ends. */
  readonly inHandForOutage: number;
  /** Messages held behind a failed message of their subject. */
  readonly held: number;
  /** Dead letters waiting to be stored. */
  readonly pendingDeadLetters: number;
  /** Gaps waiting to be recorded in the inbox (a failed attempt is retried), their messages kept in hand. */
  readonly pendingGaps: number;
  /**
   * Subjects whose next event is not applied yet, longest waiting first (at most 100): their later
   * events are kept in hand. Waiting is not an outage: `ready` stays true.
   */
  readonly waiting: readonly SubjectWaitStatus[];
  /** How many subjects wait (all of them, where `waiting` lists 100 at most). */
  readonly waitingSubjects: number;
}
