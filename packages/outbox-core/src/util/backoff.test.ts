import { describe, expect, it } from 'vitest';
import { OutboxConfigError } from '../errors.js';
import { createBackoff } from './backoff.js';

describe('createBackoff', () => {
  it('grows exponentially up to the cap, with the jitter fraction random', () => {
    const low = createBackoff({ initialMs: 100, maxMs: 1_000, jitter: 0.5 }, () => 0);
    const high = createBackoff({ initialMs: 100, maxMs: 1_000, jitter: 0.5 }, () => 1);
    expect([1, 2, 3, 4, 5, 10].map((attempt) => low.delayMs(attempt))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([1, 2, 3, 4, 5, 10].map((attempt) => high.delayMs(attempt))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('rejects inverted and negative ranges with the setting named', () => {
    expect(() => createBackoff({ initialMs: 10, maxMs: 5 })).toThrow(OutboxConfigError);
    expect(() => createBackoff({ initialMs: -1 })).toThrow(/backoff.initialMs/);
    expect(() => createBackoff({ jitter: 2 })).toThrow(/backoff.jitter/);
  });
});
