import { expect, it } from 'vitest';
import {
  type ConsumerOutcome,
  consumerDatabaseDown,
  consumerReplicas,
  type DatabaseKind,
  deadLetterStreamMissing,
  formatConsumerResult,
} from '../src/index.js';
import { reportLine } from './report.js';

/** Every written event applied once, nothing healthy dead-lettered, nothing left on the consumer. */
export function expectConsumerClean(outcome: ConsumerOutcome): void {
  const { result } = outcome;
  reportLine(formatConsumerResult(result));
  expect(result.written).toBeGreaterThan(0);
  expect({ lost: result.lost, twice: result.twice, deadHealthy: result.deadHealthy, stillPending: result.stillPending }).toEqual({
    lost: 0,
    twice: 0,
    deadHealthy: 0,
    stillPending: 0,
  });
  expect(result.applied).toBe(result.written);
}

/** The consumer fault scenarios (C1-C3), registered in a fault-suite file's `describe`. */
export function consumerFaultTests(kind: DatabaseKind): void {
  it("C1. the consumer's database cut for 60 s (TCP proxy) at maxDeliver 5: nothing dead-lettered, all applied once", async () => {
    const outcome = await consumerDatabaseDown(kind, { events: 6_000, writeMs: 20_000, outageMs: 60_000 });
    expectConsumerClean(outcome);
    expect(outcome.checks.workerRunning).toBe(true);
  });

  it('C2. 3 consumers on one durable, 5% transient failures, one SIGKILLed twice: nothing unapplied or pending', async () => {
    const outcome = await consumerReplicas(kind, { events: 3_000, subjects: 20, writeMs: 20_000, kills: 2, failPercent: 5 });
    expectConsumerClean(outcome);
    expect(outcome.checks.retried as number).toBeGreaterThan(0);
  });

  it('C3. the dead-letter stream missing at max_deliver, then created: the poisoned ones dead-lettered, nothing lost', async () => {
    const outcome = await deadLetterStreamMissing(kind, { events: 2_000, poisoned: 3, missingMs: 10_000 });
    expectConsumerClean(outcome);
    expect(outcome.checks.failures as number).toBeGreaterThanOrEqual(3);
    expect(outcome.checks.deadIds).toEqual(outcome.checks.poisonedIds);
  });
}
