import type { BusOutageReason } from '../contracts/publisher.js';

/** What the relay reports as it works: feed these to metrics (the CLI turns them into Prometheus series). */
export type RelayEvent =
  | {
      /** One claim -> publish -> complete cycle finished. */
      readonly type: 'batch';
      readonly size: number;
      readonly published: number;
      /** Published events the bus already had (a re-publish after a crash or timeout). */
      readonly duplicates: number;
      readonly failed: number;
      readonly dead: number;
      readonly durationMs: number;
      /** Publish latency: from sending the batch to its last acknowledgement. */
      readonly publishMs: number;
      /** Age of the oldest event in the batch when it was published: the relay's lag. */
      readonly lagMs: number;
    }
  | {
      /**
       * An event's publish failed; it will be tried again at about `retryAt` (this process's
       * estimate: the store counts the delay on the database's clock).
       */
      readonly type: 'failed';
      readonly id: string;
      readonly subject: string;
      readonly attempt: number;
      readonly error: Error;
      readonly retryAt: Date;
    }
  | {
      /** An event used up its attempts (or failed for good) and moved to the dead state. */
      readonly type: 'dead';
      readonly id: string;
      readonly subject: string;
      readonly attempts: number;
      readonly error: Error;
    }
  | {
      /**
       * The bus cannot take events (the publisher's probe, or every publish of a batch failing
       * retryably without one): claiming pauses for `pauseMs`; no attempt is counted. Emitted per pause.
       */
      readonly type: 'outage';
      readonly reason: BusOutageReason;
      readonly detail: string;
      readonly error: Error;
      readonly pauseMs: number;
      readonly consecutive: number;
    }
  | {
      /** The bus is healthy again after an outage (the probe says so, or a batch was accepted). */
      readonly type: 'recovered';
      readonly afterMs: number;
      /** The last reason of the outage that ended. */
      readonly reason: BusOutageReason;
    }
  | {
      /** The store failed (claim, complete, release); the relay retries after `pauseMs`. */
      readonly type: 'store-error';
      readonly phase: 'claim' | 'wait' | 'complete' | 'release' | 'dead-letter';
      readonly error: Error;
      readonly pauseMs: number;
    };

/** Counts returned by `Relay.drain()`. */
export interface RelayDrainResult {
  readonly batches: number;
  readonly published: number;
  readonly duplicates: number;
  readonly failed: number;
  readonly dead: number;
}

/** What `Relay.stop()` found. */
export interface RelayStopResult {
  /** False when `timeoutMs` passed before the in-flight batch finished. */
  readonly drained: boolean;
  /** Events still being published when `stop` gave up (0 when drained). */
  readonly inFlight: number;
}
