import type { OutboxEvent } from '../event/event.js';

/** Why a message goes to the dead-letter destination. */
export interface DeadLetterReason {
  readonly code: string;
  readonly error: string;
  /** The consumer that gave up. */
  readonly consumer: string;
}

/**
 * An explicit hole in a subject's sequence: event `sequence` of `subject` will never be applied
 * (the relay dead-lettered it in the outbox, or a consumer dead-lettered it), so the next event of
 * the subject may pass. Recorded in the inbox (`InboxStore.recordGap`), never silent.
 */
export interface SubjectGap {
  readonly subject: string;
  readonly sequence: number;
  /** Why, for operators: `outbox-dead-letter`, `dead-letter`, `no-handler`, `operator`. */
  readonly reason: string;
  /** The id of the event that will not be applied, when known. */
  readonly eventId?: string;
}

/**
 * One delivery of one message from the bus, with its settlement operations.
 */
export interface Delivery {
  /** The bus's dedup id (the event id), when the message carries one. */
  readonly messageId: string | undefined;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  /** Where the message was delivered from (for NATS, its subject): the `messaging.destination.name` of the `process` span. */
  readonly subject?: string;
  /**
   * Set on a dead-letter replay: the one consumer the message is meant for (the one that
   * dead-lettered it). `Consumer` acks a replay meant for another consumer without running a handler.
   */
  readonly replayFor?: string | undefined;
  /**
   * Set on a gap marker instead of an event: the relay published it for an event it dead-lettered
   * in the outbox, so consumers record the gap and let the subject's next event pass. `decode()`
   * throws on a marker; `Consumer` records the gap and acks it.
   */
  readonly gap?: SubjectGap | undefined;
  /**
   * The event carried by the message.
   * @throws EventDecodeError when the message has no id, bad JSON or missing attributes.
   */
  decode(): OutboxEvent;
  /** Settles the message as done. Call only after the local transaction committed. */
  ack(): Promise<void>;
  /** Asks for a redelivery after `delayMs`. */
  nak(delayMs: number): Promise<void>;
  /** Tells the bus the message is still being worked on, so it is not redelivered yet (JetStream `working()`). */
  inProgress?(): Promise<void>;
  /** Publishes the message with the reason to the dead-letter destination, then stops its redelivery. */
  deadLetter(reason: DeadLetterReason): Promise<void>;
}

/** Options of `Subscriber.fetch`. */
export interface FetchOptions {
  /** Deliveries at most. */
  readonly max: number;
  /** How long to wait for the first deliveries before resolving with what arrived (maybe none). */
  readonly expiresMs: number;
  /** Ends the wait early, resolving with what arrived. */
  readonly signal?: AbortSignal;
}

/**
 * A durable source of deliveries with explicit acks (a JetStream pull consumer).
 * `fetch` resolves with what arrived within `expiresMs` (possibly nothing).
 */
export interface Subscriber {
  /** The consumer's name, recorded in the inbox and in dead letters. */
  readonly name: string;
  /** The bus, as OpenTelemetry's `messaging.system` names it (`'nats'`): an attribute of the consumer's spans and metrics. */
  readonly messagingSystem?: string;
  /** Deliveries before the bus gives up on a message; the consumer dead-letters at this count. */
  readonly maxDeliver: number;
  /** How long after a first delivery the bus may still redeliver; the inbox must keep rows at least as long. */
  readonly redeliveryHorizonMs?: number;
  /** How long the bus waits for an ack before redelivering; held messages are kept alive well within it. */
  readonly ackWaitMs?: number;
  /** Unacknowledged messages the bus hands out at most; the consumer holds back fewer than this. */
  readonly maxAckPending?: number;
  /** Up to `max` deliveries that arrived within `expiresMs`; each must be acked, nakked or dead-lettered. */
  fetch(options: FetchOptions): Promise<readonly Delivery[]>;
  /** Messages of the stream not yet delivered to this consumer (JetStream `num_pending`): its lag, for metrics. */
  pending?(): Promise<number>;
  /** Stops fetching. It does not close the caller's connection. */
  close(): Promise<void>;
}
