import { expect, it } from 'vitest';
import { type DatabaseKind, formatOrderResult, type OrderOutcome, type OrderSize, subjectOrder } from '../src/index.js';
import { reportLine } from './report.js';

/**
 * Every written event applied once and in its subject's order (the sequences of each subject, read
 * in application order, exactly 1..N), the projection current on every subject, the faults
 * injected as planned, nothing healthy dead-lettered, nothing left on the durable.
 */
export function expectOrderClean(outcome: OrderOutcome, size: OrderSize): void {
  const { result, checks } = outcome;
  reportLine(formatOrderResult(result));
  for (const example of result.order.examples) reportLine(`  not in order: ${example}`);
  expect(checks.stalledAt).toBeUndefined();
  expect(result.written).toBe(size.events);
  expect({
    lost: result.lost,
    twice: result.twice,
    outOfOrder: result.order.outOfOrder,
    subjectsNotExact: result.order.subjectsNotExact,
    stale: result.order.stale,
    noSequence: result.order.noSequence,
    stampMismatch: result.order.stampMismatch,
    deadHealthy: result.deadHealthy,
    stillPending: result.stillPending,
  }).toEqual({
    lost: 0,
    twice: 0,
    outOfOrder: 0,
    subjectsNotExact: 0,
    stale: 0,
    noSequence: 0,
    stampMismatch: 0,
    deadHealthy: 0,
    stillPending: 0,
  });
  expect(result.applied).toBe(result.written);
  expect(result.order.applications).toBe(result.written);
  expect(checks.kills).toBe(size.kills);
  expect(checks.failedFirst).toBe(checks.chosenToFail);
  if (size.failFirstPercent > 0) expect(checks.chosenToFail as number).toBeGreaterThan(0);
  if (size.addRemove) expect(checks.removedExit).toBe(0);
  expect(checks.workerExits).toBe(0);
}

/** O1 (item 6 of issue 14) at full size. */
export const ORDER_FULL: OrderSize = {
  events: 50_000,
  subjects: 1_000,
  writeMs: 60_000,
  instances: 3,
  kills: 10,
  addRemove: true,
  failFirstPercent: 5,
};

/** O3: O1 with the instances dividing 16 partitions through leases (issue 14 item 4). */
export const ORDER_PARTITIONED: OrderSize = { ...ORDER_FULL, mode: 'batch', partitions: 16 };

/** O3's smoke form, in the root `npm test`. */
export const ORDER_PARTITIONED_SMOKE: OrderSize = { ...ORDER_PARTITIONED, events: 1_500, subjects: 100, writeMs: 5_000, kills: 3 };

/** O4: O1 batched, each fetch divided by subject into 4 transactions run at once (`batchTransactions`). */
export const ORDER_PARTS: OrderSize = { ...ORDER_FULL, mode: 'batch', batchTransactions: 4 };

/** O4's smoke form, in the root `npm test`. */
export const ORDER_PARTS_SMOKE: OrderSize = { ...ORDER_PARTS, events: 1_500, subjects: 100, writeMs: 5_000, kills: 3 };

/** O5: O1 batched, the handler registered with `onBatch` (a fetch's events in one call). */
export const ORDER_BATCH_HANDLER: OrderSize = { ...ORDER_FULL, mode: 'batch', batchHandler: true };

/** O5's smoke form, in the root `npm test`. */
export const ORDER_BATCH_HANDLER_SMOKE: OrderSize = { ...ORDER_BATCH_HANDLER, events: 1_500, subjects: 100, writeMs: 5_000, kills: 3 };

/** O2: the reproduction, one worker SIGKILLed 12 times; one event per producer transaction, as a service writes one aggregate's change. */
export const ORDER_REPRO: OrderSize = {
  events: 3_600,
  subjects: 100,
  writeMs: 20_000,
  eventsPerTransaction: 1,
  instances: 1,
  kills: 12,
  addRemove: false,
  failFirstPercent: 0,
};

/** O1's smoke form, in the root `npm test` (`faults.smoke.test.ts`): the same faults, fewer events and kills. */
export const ORDER_SMOKE: OrderSize = {
  events: 1_500,
  subjects: 100,
  writeMs: 5_000,
  instances: 3,
  kills: 3,
  addRemove: true,
  failFirstPercent: 5,
};

/** The subject-order scenarios (O1 to O5), registered in a fault-suite file's `describe`. */
export function orderFaultTests(kind: DatabaseKind): void {
  it('O1. strict subject order: 3 consumers on one durable, 50,000 events on 1,000 subjects, SIGKILL x10, +1/-1 instance, 5% first attempts fail', async () => {
    const outcome = await subjectOrder(kind, 'O1 subject order, 3 workers', ORDER_FULL);
    expectOrderClean(outcome, ORDER_FULL);
  });

  it('O3. strict subject order with partitions: 3 consumers dividing 16 partitions through leases, batched, 50,000 events on 1,000 subjects, SIGKILL x10, +1/-1 instance, 5% first attempts fail', async () => {
    const outcome = await subjectOrder(kind, 'O3 subject order, 16 partitions', ORDER_PARTITIONED);
    expectOrderClean(outcome, ORDER_PARTITIONED);
  });

  it('O4. strict subject order, batched with 4 transactions per fetch: 3 consumers on one durable, 50,000 events on 1,000 subjects, SIGKILL x10, +1/-1 instance, 5% first attempts fail', async () => {
    const outcome = await subjectOrder(kind, 'O4 subject order, 4 transactions per fetch', ORDER_PARTS);
    expectOrderClean(outcome, ORDER_PARTS);
  });

  it('O5. strict subject order, batched with a batch handler (onBatch): 3 consumers on one durable, 50,000 events on 1,000 subjects, SIGKILL x10, +1/-1 instance, 5% first attempts fail', async () => {
    const outcome = await subjectOrder(kind, 'O5 subject order, a batch handler', ORDER_BATCH_HANDLER);
    expectOrderClean(outcome, ORDER_BATCH_HANDLER);
  });

  it('O2. the issue 14 reproduction: one consumer SIGKILLed 12 times over 3,600 events on 100 subjects, last = sequence', async () => {
    const outcome = await subjectOrder(kind, 'O2 subject order, kill -9 x12', ORDER_REPRO);
    expectOrderClean(outcome, ORDER_REPRO);
  });
}
