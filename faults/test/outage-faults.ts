import { expect, it } from 'vitest';
import type { DatabaseKind } from '../src/index.js';
import { leaderKilledRepeatedly, quorumLost, startedWithoutMetaLeader, streamDeleted, streamFull } from '../src/scenarios-outage.js';
import { expectOutageSurvived } from './outage-expectations.js';
import { expectExactlyOnce, report } from './report.js';

/**
 * The stream-level outages of the bus (src/scenarios-outage.ts), full form: 8 and 9 on both
 * databases, the 3-node cluster ones (10-12) on PostgreSQL. The relay runs with 3 attempts, so a
 * counted failure would dead-letter within ~3 s; FAULT_QUORUM_OUTAGE_MS sets scenario 10's outage
 * (default 60 s, 20x that).
 */
export function outageFaultTests(kind: DatabaseKind): void {
  it('8. stream full (max_msgs + discard new) for 30 s, then given room: paused, resumed, nothing dead', async () => {
    const outcome = await streamFull(kind, { events: 5_000, faults: 1, writeMs: 5_000, outageMs: 30_000 });
    report(outcome.result);
    expectOutageSurvived(outcome, true);
  });

  it('9. stream deleted for 30 s, then recreated: paused (not dead-lettered), resumed', async () => {
    const outcome = await streamDeleted(kind, { events: 5_000, faults: 1, writeMs: 5_000, outageMs: 30_000 });
    report(outcome.result);
    expectOutageSurvived(outcome, true);
  });

  if (kind !== 'pg') return;

  it('10. 3-node cluster, R3: quorum lost (2 nodes SIGKILLed) for a minute, then restored', async () => {
    const outageMs = Number(process.env.FAULT_QUORUM_OUTAGE_MS ?? 60_000);
    const outcome = await quorumLost(kind, { events: 6_000, faults: 1, writeMs: 30_000, outageMs });
    report(outcome.result);
    expectOutageSurvived(outcome, false);
  });

  it('11. 3-node cluster, R3: the stream leader SIGKILLed 3 times', async () => {
    const outcome = await leaderKilledRepeatedly(kind, { events: 6_000, faults: 3, writeMs: 30_000, downMs: 5_000 });
    report(outcome.result);
    expectOutageSurvived(outcome, false);
  });

  it('12. the relay started while the cluster has no meta leader: it waits (logged), then creates its R3 stream and runs', async () => {
    const outcome = await startedWithoutMetaLeader(kind, { events: 1_000, faults: 1, writeMs: 1_000, downMs: 10_000 });
    report(outcome.result);
    expectExactlyOnce(outcome);
    expect(outcome.checks.runningWhileWaiting).toBe(true);
    expect(outcome.checks.waits as number).toBeGreaterThanOrEqual(2);
    expect(outcome.checks.replicas).toBe(3);
  });
}

/** The smoke form: a full and a deleted stream for 3 s on PostgreSQL (about 11 s each). */
export function outageSmokeTests(): void {
  it('8. PostgreSQL: stream full for 3 s: paused without dead-lettering, resumed when given room', async () => {
    const outcome = await streamFull('pg', { events: 300, faults: 1, writeMs: 0, outageMs: 3_000 });
    report(outcome.result);
    expectOutageSurvived(outcome, true);
  });

  it('9. PostgreSQL: stream deleted for 3 s: paused without dead-lettering, resumed when recreated', async () => {
    const outcome = await streamDeleted('pg', { events: 300, faults: 1, writeMs: 0, outageMs: 3_000 });
    report(outcome.result);
    expectOutageSurvived(outcome, true);
  });
}
