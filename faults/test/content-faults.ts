import { expect, it } from 'vitest';
import type { DatabaseKind, Outcome } from '../src/index.js';
import { bigRowAmongSmall, msgIdHeader, poisonInBatch } from '../src/scenarios-content.js';
import { report } from './report.js';

/** Content faults: every healthy event applied and stored once, the bad rows dead alone, no attempt counted. */
export function expectBadRowsAlone(outcome: Outcome): void {
  const { result, checks } = outcome;
  expect(result.written).toBeGreaterThan(0);
  expect({ lost: result.lost, twice: result.twice }).toEqual({ lost: 0, twice: 0 });
  expect(result.applied).toBe(result.written);
  expect(result.inStream).toBe(result.written);
  expect(outcome.outbox.pending).toBe(0);
  expect([...(checks.deadIds as string[])].sort()).toEqual([...(checks.badIds as string[])].sort());
  expect(checks.badErrorsMatch).toBe(true);
  expect(checks.deadHealthy).toBe(0);
  expect(outcome.deadLetters).toEqual([]);
  expect(checks.attemptsCounted).toBe(0);
  expect(outcome.relayExits).toEqual([]);
}

/**
 * P1-P3 (src/scenarios-content.ts): `events` healthy events with the bad rows in their first claim,
 * on `kinds` (P1, P2, P3 each take the next database of the list, round robin).
 */
export function contentFaultTests(kinds: DatabaseKind | readonly DatabaseKind[], events: number): void {
  const list = typeof kinds === 'string' ? [kinds] : kinds;
  const pick = (index: number): DatabaseKind => list[index % list.length] as DatabaseKind;
  const name = (kind: DatabaseKind): string => (kind === 'pg' ? 'PostgreSQL' : 'MariaDB');
  const [p1, p2, p3] = [pick(0), pick(1), pick(2)];
  it(`P1. ${name(p1)}: a 'bad\\nkey' row in a batch of healthy ones: dead alone, the rest published, no attempt counted`, async () => {
    const outcome = await poisonInBatch(p1, { events, faults: 1, writeMs: 0 });
    report(outcome.result);
    expectBadRowsAlone(outcome);
  });

  it(`P2. ${name(p2)}: a 5 MB row among small ones: dead-lettered without being loaded, the rest published`, async () => {
    const outcome = await bigRowAmongSmall(p2, { events, faults: 1, writeMs: 0 });
    report(outcome.result);
    expectBadRowsAlone(outcome);
  });

  it(`P3. ${name(p3)}: rows with Nats-Msg-Id / nats-rollup headers: refused, the healthy event they named stored once`, async () => {
    const outcome = await msgIdHeader(p3, { events, faults: 1, writeMs: 0 });
    report(outcome.result);
    expectBadRowsAlone(outcome);
  });
}
