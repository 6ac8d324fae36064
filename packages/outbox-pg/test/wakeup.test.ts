import { createEvent } from '@outboxkit/outbox-core';
import { PgOutboxStore, transaction } from '@outboxkit/outbox-pg';
import { PG_URL, waitUntil } from '@outboxkit/test-services';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase } from './helpers.js';

// Waits use timeoutMs far beyond the test timeout: a wait that returns proves a wake-up, not a poll.
const NEVER = 120_000;
const event = (subject: string) => createEvent({ type: 'test.thing.happened', source: 'tests', subject, data: {} });

describe('PgOutboxStore wake-up', { timeout: 20_000 }, () => {
  let db: Awaited<ReturnType<typeof testDatabase>>;
  let store: PgOutboxStore;
  const channel = () => `outboxkit.${db.schema}.outbox`;
  /** The wake-up flag as producers read it: armed while the store waits for work. */
  const armed = async () =>
    (await db.pool.query<{ armed: boolean }>(`SELECT armed FROM "${db.schema}".outbox_wakeup`)).rows[0]?.armed === true;
  const disarmed = async () => !(await armed());
  /** A LISTEN of the test's own on the store's channel, collecting payloads. */
  const listen = async () => {
    const listener = new pg.Client({ connectionString: PG_URL });
    await listener.connect();
    const received: string[] = [];
    listener.on('notification', (message) => received.push(message.payload ?? ''));
    await listener.query(`LISTEN "${channel()}"`);
    return {
      /** The payloads sent before now: a marker sent now arrives after any notification committed before it. */
      async settled(): Promise<string[]> {
        await db.pool.query('SELECT pg_notify($1, $2)', [channel(), 'marker']);
        await waitUntil('the marker notification', () => received.includes('marker'), 10_000, 5);
        return received.splice(0).filter((payload) => payload !== 'marker');
      },
      end: () => listener.end(),
    };
  };

  beforeAll(async () => {
    db = await testDatabase();
    store = new PgOutboxStore({ pool: db.pool, schema: db.schema });
    await store.migrate();
  });

  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  const drain = async () => {
    for (;;) {
      const batch = await store.claim({ batchSize: 100, leaseMs: 10_000 });
      if (batch.records.length === 0) return;
      await store.complete(
        batch.token,
        batch.records.map((r) => r.id),
      );
    }
  };

  it('does not miss a row committed between the last empty claim and the wait', async () => {
    expect((await store.claim({ batchSize: 10, leaseMs: 10_000 })).records).toEqual([]);
    await transaction(db.pool, (client) => store.enqueue(client, event('between')));
    await store.waitForWork!({ timeoutMs: NEVER });
    expect((await store.claim({ batchSize: 10, leaseMs: 10_000 })).records).toHaveLength(1);
    await drain();
  });

  it('wakes on the first commit after arming, then disarms so that later commits send no NOTIFY', async () => {
    const listener = await listen();
    try {
      const woken = store.waitForWork!({ timeoutMs: NEVER });
      await waitUntil('the store to arm the flag', armed, 10_000, 5);
      await transaction(db.pool, (client) => store.enqueue(client, event('first')));
      await woken;
      await waitUntil('the store to disarm the flag', disarmed, 10_000, 5);
      for (let n = 0; n < 5; n++) await transaction(db.pool, (client) => store.enqueue(client, event(`burst${n}`)));
      expect(await listener.settled()).toHaveLength(1);
    } finally {
      await listener.end();
    }
    await drain();
  });

  it('reconnects its LISTEN connection after it is killed', async () => {
    await store.waitForWork!({ timeoutMs: 10 });
    const listeners = async () =>
      (
        await db.pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()', [
          `LISTEN "${channel()}"`,
        ])
      ).rows.map((row) => row.pid);
    const [pid] = await listeners();
    expect(pid).toBeDefined();
    await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    // The store notices, reconnects with backoff and LISTENs again on a new backend.
    let replaced: number[] = [];
    while (replaced.length === 0 || replaced.includes(pid!)) {
      await store.waitForWork!({ timeoutMs: 20 });
      replaced = await listeners();
    }
    // Committed after the new connection armed the flag, the row can only wake the wait by NOTIFY.
    await waitUntil('the last wait to disarm the flag', disarmed, 10_000, 5);
    const woken = store.waitForWork!({ timeoutMs: NEVER });
    await waitUntil('the store to arm the flag', armed, 10_000, 5);
    await transaction(db.pool, (client) => store.enqueue(client, event('after-reconnect')));
    await woken;
    await drain();
  });

  it('finds the row of a producer that read the flag before it was armed and commits after the re-check', async () => {
    await waitUntil('the last wait to disarm the flag', disarmed, 10_000, 5);
    const listener = await listen();
    const client = await db.pool.connect();
    let found = 0;
    try {
      await client.query('BEGIN');
      // Reads the flag unarmed: this producer's commit sends no NOTIFY.
      await store.enqueue(client, event('straggler'));
      // The relay goes idle while that producer's transaction is still open.
      const relay = (async () => {
        for (;;) {
          const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
          if (batch.records.length > 0) {
            found = batch.records.length;
            await store.complete(
              batch.token,
              batch.records.map((r) => r.id),
            );
            return;
          }
          await store.waitForWork!({ timeoutMs: NEVER });
        }
      })();
      // Arming and the re-check are one statement: once the flag reads armed, the relay has
      // re-checked without seeing the uncommitted row, and only then does the producer commit.
      await waitUntil('the relay to arm the flag and re-check', armed, 10_000, 5);
      await client.query('COMMIT');
      await relay;
      // Found without a wake-up: the race this test is about happened.
      expect(await listener.settled()).toEqual([]);
    } finally {
      client.release();
      await listener.end();
    }
    expect(found).toBe(1);
  });

  it('has no wake-up when listen is false', async () => {
    const quiet = new PgOutboxStore({ pool: db.pool, schema: db.schema, listen: false });
    expect(quiet.capabilities.wakeUp).toBe(false);
    expect(quiet.waitForWork).toBeUndefined();
    await quiet.close();
  });
});
