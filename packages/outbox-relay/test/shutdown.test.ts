import { OwnNatsServer, PG_URL, waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { makeEvents } from './make-events.js';
import { pgFixturePerFile } from './pg-fixture.js';
import { randomName } from './random-name.js';
import { startRelay } from './relay-process.js';

const nats = new OwnNatsServer();
const fixture = pgFixturePerFile({ before: () => nats.start(), after: () => nats.dispose() });

/** Starts a relay, freezes NATS, and returns once a batch is leased (so its publishes hang in flight). */
async function relayWithBatchInFlight(extraEnv: Record<string, string>): Promise<ReturnType<typeof startRelay>> {
  const table = randomName('outbox');
  const stream = randomName('SHUTDOWN').toUpperCase();
  await fixture.store(table).migrate();
  const relay = startRelay(['run'], {
    OUTBOX_DATABASE_URL: PG_URL,
    OUTBOX_SCHEMA: fixture.schema,
    OUTBOX_TABLE: table,
    OUTBOX_NATS_URL: nats.url,
    OUTBOX_STREAM: stream,
    OUTBOX_SUBJECT_PREFIX: stream.toLowerCase(),
    OUTBOX_METRICS_ADDR: 'off',
    // Long enough that the frozen publishes outlast each test; one wave (batch <= 256), so the
    // default 30 s lease still covers it (the relay's start-up check).
    OUTBOX_PUBLISH_TIMEOUT_MS: '20000',
    OUTBOX_BATCH_SIZE: '100',
    ...extraEnv,
  });
  await relay.waitForLog('outbox-relay started');
  // Frozen, not dead: the connection stays up and PubAcks never come, so the batch stays in flight.
  nats.signal('SIGSTOP');
  await fixture.enqueue(table, makeEvents(20, 20));
  await waitUntil('a batch to be claimed', async () => {
    const result = await fixture.pool.query(`SELECT count(*)::int AS n FROM "${fixture.schema}"."${table}" WHERE locked_until > now()`);
    return result.rows[0].n > 0;
  });
  return relay;
}

describe('shutdown', { timeout: 120_000 }, () => {
  it('exits 1 after OUTBOX_SHUTDOWN_TIMEOUT_MS when the in-flight batch cannot finish, logging what was in flight', async () => {
    try {
      const relay = await relayWithBatchInFlight({ OUTBOX_SHUTDOWN_TIMEOUT_MS: '300' });
      relay.child.kill('SIGTERM');
      expect((await relay.exited).code).toBe(1);
      const timeout = relay.logs().find((line) => String(line.msg).startsWith('shutdown timeout'));
      expect(timeout?.inFlight).toBe(20);
    } finally {
      nats.signal('SIGCONT');
    }
  });

  it('/readyz answers 503 from the stop signal on, while the in-flight batch finishes; then exit 0', async () => {
    let frozen = true;
    try {
      const relay = await relayWithBatchInFlight({ OUTBOX_SHUTDOWN_TIMEOUT_MS: '60000', OUTBOX_METRICS_ADDR: '127.0.0.1:0' });
      const address = String(relay.logs().find((line) => line.msg === 'http server listening (/healthz, /readyz, /metrics)')?.address);
      relay.child.kill('SIGTERM');
      await relay.waitForLog('outbox-relay stopping: finishing the in-flight batch');
      const response = await fetch(`http://${address}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.text()).toContain('the relay is stopping');
      nats.signal('SIGCONT');
      frozen = false;
      expect((await relay.exited).code).toBe(0);
    } finally {
      if (frozen) nats.signal('SIGCONT');
    }
  });

  it('a second signal forces exit 1 at once, logging what was in flight', async () => {
    try {
      const relay = await relayWithBatchInFlight({ OUTBOX_SHUTDOWN_TIMEOUT_MS: '60000' });
      relay.child.kill('SIGTERM');
      await relay.waitForLog('outbox-relay stopping: finishing the in-flight batch');
      relay.child.kill('SIGTERM');
      expect((await relay.exited).code).toBe(1);
      const forced = relay.logs().find((line) => String(line.msg).startsWith('exiting without waiting'));
      expect(forced?.inFlight).toBe(20);
    } finally {
      nats.signal('SIGCONT');
    }
  });
});
