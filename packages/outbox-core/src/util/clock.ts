import { sleep } from './abort.js';

/**
 * Time as the relay and the consumer see it: what time it is, and waiting. Their polling, retry and
 * outage backoff, lane bounds and stop timeouts all go through it, so a test can move time on
 * (`ManualClock` from `@outboxkit/outbox-core/testing`) instead of waiting for it. Durations that
 * only measure work (`publishMs`, `durationMs`) are read from `performance.now()`, not from it.
 */
export interface Clock {
  /** The current time, in epoch milliseconds. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts; it never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep,
};
