import { expect, it } from 'vitest';
import { type ConsumerOutcome, type DatabaseKind, formatConsumerResult, replayToOneConsumer } from '../src/index.js';
import { reportLine } from './report.js';

/** R1: the replay applied once by the consumer that dead-lettered it, never by the other one. */
export function expectReplayedToOne(outcome: ConsumerOutcome, poisoned: number): void {
  const { result, checks } = outcome;
  reportLine(formatConsumerResult(result));
  expect(checks.settled).toBe(true);
  expect({ lost: result.lost, twice: result.twice, deadHealthy: result.deadHealthy, stillPending: result.stillPending }).toEqual({
    lost: 0,
    twice: 0,
    deadHealthy: 0,
    stillPending: 0,
  });
  expect(result.applied).toBe(result.written);
  expect(result.written).toBe(checks.total);
  // Every letter was the first consumer's; the replays went to it only.
  expect((checks.deadBefore as string[][]).map(([, consumer]) => consumer)).toEqual(Array.from({ length: poisoned }, () => 'worker'));
  expect(checks.replayedKeep).toBe(poisoned);
  expect(checks.duplicatesKept).toBe(0);
  // The CLI's replays of the kept letters were dropped by the duplicate window, and it says so.
  expect(checks.cliStdout).toContain(`replayed ${poisoned} dead letters (${poisoned} already replayed before)`);
  expect(checks.cliStdout).toContain('stored after the newer events of its subject');
  expect(checks.storedReplays).toBe(poisoned + 1);
  expect(checks.deadAfter).toBe(0);
  // Applied once by the first consumer, past the window too; never run again by the second.
  expect(checks.firstPoisonedTimes).toEqual(Array.from({ length: poisoned }, () => 1));
  expect(checks.secondApplied).toBe(checks.total);
  expect(checks.secondPoisonedTimes).toEqual(Array.from({ length: poisoned }, () => 1));
  const skipped = checks.skippedBySecond as number[];
  expect(skipped.reduce((sum, n) => sum + n, 0)).toBe(poisoned + 1);
  expect(skipped.every((n) => n >= 1)).toBe(true);
}

/** The replay scenario of issue 13, registered in a fault-suite file's `describe`. */
export function replayFaultTests(kind: DatabaseKind): void {
  it('R1. a replay after a second consumer applied newer events: only the first applies it, once; replaying twice applies once', async () => {
    const outcome = await replayToOneConsumer(kind, { events: 2_000, poisoned: 3, writeMs: 3_000 });
    expectReplayedToOne(outcome, 3);
  });
}
