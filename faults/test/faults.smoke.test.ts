import { afterAll, describe, expect, it } from 'vitest';
import {
  badConfiguration,
  badInput,
  consumerKilled,
  consumerReplicas,
  databaseConnectionsKilled,
  poison,
  relayKilled,
  replayToOneConsumer,
  stopAllProcesses,
  subjectOrder,
} from '../src/index.js';
import { expectConsumerClean } from './consumer-faults.js';
import { contentFaultTests } from './content-faults.js';
import { expectBadConfigurationRejected, expectBadInputDeadLettered, expectPoisonReplayed } from './expectations.js';
import { expectOrderClean, ORDER_BATCH_HANDLER_SMOKE, ORDER_PARTITIONED_SMOKE, ORDER_PARTS_SMOKE, ORDER_SMOKE } from './order-faults.js';
import { outageSmokeTests } from './outage-faults.js';
import { expectReplayedToOne } from './replay-faults.js';
import { expectExactlyOnce, printSummary, report } from './report.js';

// The shortened form that runs in the root `npm test`: the same scenarios and assertions as
// test/*.faults.test.ts with fewer events and faults. The NATS outage and the cluster run only
// in the full form (`npm run test:faults`): they wait out fixed downtimes.
describe('fault suite, smoke', { timeout: 120_000 }, () => {
  afterAll(async () => {
    await stopAllProcesses();
    printSummary('smoke');
  });

  it('1. PostgreSQL: relay SIGKILLed twice mid-run, restarted', async () => {
    const outcome = await relayKilled('pg', { events: 1_000, faults: 2, writeMs: 1_000 });
    report(outcome.result);
    expectExactlyOnce(outcome);
  });

  it("3. MariaDB: the relay's connections KILLed twice mid-batch", async () => {
    const outcome = await databaseConnectionsKilled('mysql', { events: 1_000, faults: 2, writeMs: 1_000 });
    report(outcome.result);
    expectExactlyOnce(outcome);
    expect(outcome.checks.connectionsKilled).toBeGreaterThanOrEqual(2);
    // MariaDB's relay runs as it does by default: claiming the next batch while one is published.
    expect(outcome.result.faults).toContain('relay claiming ahead');
  });

  it('4. PostgreSQL: consumer SIGKILLed twice mid-handler, restarted', async () => {
    const outcome = await consumerKilled('pg', { events: 500, faults: 2, writeMs: 0 });
    report(outcome.result);
    expectExactlyOnce(outcome);
  });

  it('6. PostgreSQL: poison dead-lettered, the rest applied, replayed once after the fix', async () => {
    const outcome = await poison('pg', { events: 200, faults: 0, writeMs: 0, poisoned: 2 });
    report(outcome.result);
    expectPoisonReplayed(outcome, 200, 2);
  });

  it('R1. MariaDB: a replay reaches only the consumer that dead-lettered it, once, with a second consumer on the stream', async () => {
    const outcome = await replayToOneConsumer('mysql', { events: 600, poisoned: 2, writeMs: 0 });
    expectReplayedToOne(outcome, 2);
  });

  it('7. PostgreSQL: bad input dead-lettered, bad configuration rejected', async () => {
    const input = await badInput('pg', { events: 200, faults: 0, writeMs: 0 });
    report(input.result);
    expectBadInputDeadLettered(input);
    const config = await badConfiguration('pg');
    report(config.result);
    expectBadConfigurationRejected(config, 'OUTBOX_SCHEMA');
  });

  outageSmokeTests();

  it('C2. PostgreSQL: 3 consumers on one durable, 5% transient failures, one SIGKILLed once', async () => {
    const outcome = await consumerReplicas('pg', { events: 600, subjects: 20, writeMs: 3_000, kills: 1, failPercent: 5 });
    expectConsumerClean(outcome);
  });

  it('O1. MariaDB: strict subject order, 3 consumers on one durable, SIGKILL x3, +1/-1 instance, 5% first attempts fail', async () => {
    const outcome = await subjectOrder('mysql', 'O1 subject order, 3 workers', ORDER_SMOKE);
    expectOrderClean(outcome, ORDER_SMOKE);
  });

  it('O3. PostgreSQL: strict subject order, 3 consumers dividing 16 partitions through leases, SIGKILL x3, +1/-1 instance, 5% first attempts fail', async () => {
    const outcome = await subjectOrder('pg', 'O3 subject order, 16 partitions', ORDER_PARTITIONED_SMOKE);
    expectOrderClean(outcome, ORDER_PARTITIONED_SMOKE);
  });

  it('O4. MariaDB: strict subject order, batched with 4 transactions per fetch, 3 consumers on one durable, SIGKILL x3, +1/-1 instance, 5% first attempts fail', async () => {
    const outcome = await subjectOrder('mysql', 'O4 subject order, 4 transactions per fetch', ORDER_PARTS_SMOKE);
    expectOrderClean(outcome, ORDER_PARTS_SMOKE);
  });

  it('O5. PostgreSQL: strict subject order, batched with a batch handler (onBatch), 3 consumers on one durable, SIGKILL x3, +1/-1 instance, 5% first attempts fail', async () => {
    const outcome = await subjectOrder('pg', 'O5 subject order, a batch handler', ORDER_BATCH_HANDLER_SMOKE);
    expectOrderClean(outcome, ORDER_BATCH_HANDLER_SMOKE);
  });

  contentFaultTests(['pg', 'mysql'], 500);
});
