/** What the consumer reports as it works. */
export type ConsumerEvent =
  | { readonly type: 'applied'; readonly id: string; readonly eventType: string; readonly subject: string; readonly latencyMs: number }
  | { readonly type: 'duplicate'; readonly id: string }
  | {
      /** The handler threw; the message is redelivered after `delayMs`. */
      readonly type: 'retry';
      readonly id: string;
      readonly deliveryCount: number;
      readonly delayMs: number;
      readonly error: Error;
    }
  | {
      /** The message went to the dead-letter destination (after `maxDeliver`, or at once when it cannot be decoded). */
      readonly type: 'dead';
      readonly id: string | undefined;
      readonly code: string;
      readonly error: Error;
    }
  | {
      /** A batch transaction failed as a whole; its messages were retried one transaction each. */
      readonly type: 'batch-fallback';
      readonly size: number;
      readonly error: Error;
    }
  | { readonly type: 'fetch-error'; readonly error: Error; readonly pauseMs: number }
  | {
      /**
       * The inbox database (or a dependency a handler flagged with `InfrastructureError`) failed: the
       * consumer stops fetching and keeps the messages in hand, without spending their deliveries,
       * until an attempt succeeds. Once per outage.
       */
      readonly type: 'paused';
      readonly error: Error;
      /** Messages kept in hand when the outage began. */
      readonly inHand: number;
    }
  | { /** The first attempt after an outage succeeded; fetching resumes. */ readonly type: 'resumed'; readonly pausedMs: number }
  | {
      /** A deadlock or serialization failure: the message's transaction runs again at once (up to a bound). */
      readonly type: 'conflict-retry';
      readonly id: string;
      readonly attempt: number;
      readonly error: Error;
    }
  | {
      /**
       * Publishing a dead letter failed (dead-letter stream missing, full, over its size limit): the
       * message is kept in hand, not terminated, and tried again after `retryInMs`; reported each time.
       */
      readonly type: 'dead-letter-failed';
      readonly id: string | undefined;
      readonly attempts: number;
      readonly retryInMs: number;
      readonly error: Error;
    }
  | {
      /**
       * A subject waiting for a failed message was released without this instance settling it:
       * another instance applied it (`applied-elsewhere`), or the wait reached its bound (`timeout`).
       */
      readonly type: 'lane-released';
      readonly subject: string;
      readonly blockerId: string;
      readonly reason: 'applied-elsewhere' | 'timeout';
    }
  | {
      /**
       * The message was acked without running a handler: its type has no handler and
       * `unknownTypes` is `'ack'`, or it is a dead-letter replay meant for another consumer.
       */
      readonly type: 'skipped';
      readonly id: string | undefined;
      readonly reason: 'unknown-type' | 'replay-for-another-consumer';
      /** The event's type, when the message could be decoded. */
      readonly eventType: string | undefined;
    }
  | {
      /**
       * An event of `subject` arrived before its predecessor: it waits in hand for sequence
       * `waitingFor` (`position` is the last one applied or skipped). Once per wait.
       */
      readonly type: 'subject-waiting';
      readonly subject: string;
      readonly waitingFor: number;
      readonly position: number;
    }
  | {
      /** A waiting subject's next event ran: the wait reported by `subject-waiting` is over. */
      readonly type: 'subject-resumed';
      readonly subject: string;
      readonly waitedMs: number;
    }
  | {
      /**
       * A gap was recorded in the inbox: `sequence` of `subject` will not be applied here, and the
       * next one may pass. `reason`: `outbox-dead-letter` (a gap marker from the relay), `dead-letter`
       * (this consumer dead-lettered it), `no-handler` (its type has no handler here).
       */
      readonly type: 'gap-recorded';
      readonly subject: string;
      readonly sequence: number;
      readonly reason: string;
    };
