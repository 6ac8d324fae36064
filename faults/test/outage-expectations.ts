import { expect } from 'vitest';
import type { Outcome } from '../src/index.js';
import { expectExactlyOnce } from './report.js';

/**
 * A bus outage survived: every event once, nothing dead-lettered, the relay still running (it
 * resumed by itself), `/readyz` 503 during the outage and 200 after it. With `strict`, not one
 * failure counted an attempt and the outage was logged once, by its name.
 */
export function expectOutageSurvived(outcome: Outcome, strict: boolean): void {
  expectExactlyOnce(outcome);
  const { checks } = outcome;
  expect(checks.relayRunning).toBe(true);
  expect(checks.readyzSeen).toContain(503);
  expect(checks.readyAfter).toBe(200);
  expect(checks.recoveries as number).toBeGreaterThanOrEqual(1);
  if (!strict) return;
  expect(checks.attemptsCounted).toBe(0);
  expect(checks.outageWarnings).toEqual([`${checks.expectedWarning as string}; pausing the relay (no attempts are counted)`]);
}
