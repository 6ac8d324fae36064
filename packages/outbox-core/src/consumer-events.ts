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
  | { readonly type: 'fetch-error'; readonly error: Error; readonly pauseMs: number };
