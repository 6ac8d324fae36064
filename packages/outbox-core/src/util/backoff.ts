import { OutboxConfigError } from '../errors.js';
import { validateInteger } from '../settings/identifiers.js';

/** Exponential backoff with full jitter. */
export interface BackoffOptions {
  /** Delay before the first retry. @defaultValue 500 */
  readonly initialMs?: number;
  /** Longest delay. @defaultValue 60_000 */
  readonly maxMs?: number;
  /** Growth per attempt. @defaultValue 2 */
  readonly factor?: number;
  /** Fraction of the delay that is random, 0 to 1. @defaultValue 0.5 */
  readonly jitter?: number;
}

/** Retry delays that grow with the attempt, as `createBackoff` builds them. */
export interface Backoff {
  /** The delay before retry number `attempt` (1 for the first retry). */
  delayMs(attempt: number): number;
  readonly maxMs: number;
}

/**
 * Builds a backoff: `min(maxMs, initialMs * factor^(attempt-1))`, of which a `jitter` fraction is
 * random, so relays and consumers that failed together do not retry together.
 *
 * @throws OutboxConfigError on a negative or inverted range.
 * @example
 * ```ts
 * createBackoff({ initialMs: 100, maxMs: 5_000 }).delayMs(3) // between 200 and 400
 * ```
 */
export function createBackoff(options: BackoffOptions = {}, random: () => number = Math.random): Backoff {
  const initialMs = validateInteger(options.initialMs ?? 500, 'backoff.initialMs', 0);
  const maxMs = validateInteger(options.maxMs ?? 60_000, 'backoff.maxMs', initialMs);
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 0.5;
  if (!(factor >= 1)) throw rangeError('backoff.factor', factor, 'at least 1');
  if (!(jitter >= 0 && jitter <= 1)) throw rangeError('backoff.jitter', jitter, 'from 0 to 1');
  return {
    maxMs,
    delayMs(attempt) {
      const exponent = Math.max(0, attempt - 1);
      const base = Math.min(maxMs, initialMs * factor ** exponent);
      return Math.round(base * (1 - jitter) + base * jitter * random());
    },
  };
}

function rangeError(setting: string, value: number, range: string): OutboxConfigError {
  return new OutboxConfigError(setting, `${setting} must be ${range}; got ${value}`);
}
