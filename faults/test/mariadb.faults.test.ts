import { afterAll, describe, expect, it } from 'vitest';
import {
  badConfiguration,
  badInput,
  consumerKilled,
  databaseConnectionsKilled,
  natsStopped,
  poison,
  relayKilled,
  stopAllProcesses,
} from '../src/index.js';
import { consumerFaultTests } from './consumer-faults.js';
import { contentFaultTests } from './content-faults.js';
import { expectBadConfigurationRejected, expectBadInputDeadLettered, expectPoisonReplayed } from './expectations.js';
import { orderFaultTests } from './order-faults.js';
import { outageFaultTests } from './outage-faults.js';
import { replayFaultTests } from './replay-faults.js';
import { expectExactlyOnce, printSummary, report } from './report.js';

// The full form on MariaDB: `npm run test:faults`. The 3-node cluster scenario (5) runs on
// PostgreSQL only: it faults the bus, which the database behind the relay does not change.
describe('fault suite, MariaDB', () => {
  afterAll(async () => {
    await stopAllProcesses();
    printSummary('MariaDB, full');
  });

  it('1. relay SIGKILLed 5 times during a 50,000-event run, restarted each time', async () => {
    const outcome = await relayKilled('mysql', { events: 50_000, faults: 5, writeMs: 30_000 });
    report(outcome.result);
    expectExactlyOnce(outcome);
  });

  it('2. nats-server stopped for 10 s mid-run: /readyz 503, resume, nothing dead-lettered', async () => {
    const outcome = await natsStopped('mysql', { events: 10_000, faults: 1, writeMs: 20_000, outageMs: 10_000 });
    report(outcome.result);
    expectExactlyOnce(outcome);
    expect(outcome.checks.readyBefore).toBe(200);
    expect(outcome.checks.readyDuringOutage).toContain(503);
    expect(outcome.checks.relayRunning).toBe(true);
  });

  it("3. the relay's connections terminated 5 times mid-batch (KILL CONNECTION)", async () => {
    const outcome = await databaseConnectionsKilled('mysql', { events: 20_000, faults: 5, writeMs: 15_000 });
    report(outcome.result);
    expectExactlyOnce(outcome);
    expect(outcome.checks.connectionsKilled).toBeGreaterThanOrEqual(5);
  });

  it('4. consumer SIGKILLed 5 times mid-handler, restarted each time', async () => {
    const outcome = await consumerKilled('mysql', { events: 10_000, faults: 5, writeMs: 5_000 });
    report(outcome.result);
    expectExactlyOnce(outcome);
  });

  it('6. poison: dead-lettered after maxDeliver, the rest applied, replayed once after the fix', async () => {
    const outcome = await poison('mysql', { events: 5_000, faults: 0, writeMs: 3_000, poisoned: 3 });
    report(outcome.result);
    expectPoisonReplayed(outcome, 5_000, 3);
  });

  it('7a. bad input on the stream and an event over max_payload: dead-lettered, the loop continues', async () => {
    const outcome = await badInput('mysql', { events: 5_000, faults: 0, writeMs: 3_000 });
    report(outcome.result);
    expectBadInputDeadLettered(outcome);
  });

  it('7b. bad configuration: SQL in identifiers (exit 2, nothing created), short windows name the setting', async () => {
    const outcome = await badConfiguration('mysql');
    report(outcome.result);
    expectBadConfigurationRejected(outcome, 'OUTBOX_TABLE');
  });

  consumerFaultTests('mysql');
  replayFaultTests('mysql');
  orderFaultTests('mysql');

  outageFaultTests('mysql');
  contentFaultTests('mysql', 2_000);
});
