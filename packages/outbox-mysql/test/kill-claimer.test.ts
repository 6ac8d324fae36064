import { createEvent, StoreError } from '@outboxkit/outbox-core';
import { type MysqlConnectionLike, MysqlOutboxStore, type MysqlPoolLike, transaction } from '@outboxkit/outbox-mysql';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';

let db: TestDatabase;
let pool: mysql.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool(8);
});
afterAll(async () => {
  await db.dispose();
});

const events = (count: number) =>
  Array.from({ length: count }, (_, index) => createEvent({ type: 'test.kill', source: 'tests', subject: `s-${index}`, data: { index } }));

/**
 * A pool whose connections are killed (KILL <id> from the admin connection) right after a statement
 * matching `when` returns: the claimer dies in the middle of its claim transaction.
 */
function killingPool(target: mysql.Pool, when: (sql: string) => boolean): MysqlPoolLike & { kills: number } {
  const wrapper = {
    kills: 0,
    query: (sql: string, values?: unknown) => target.query(sql, values as never) as Promise<[unknown, unknown]>,
    async getConnection(): Promise<MysqlConnectionLike> {
      const connection = await target.getConnection();
      return {
        async query(sql: string, values?: unknown) {
          const result = (await connection.query(sql, values as never)) as [unknown, unknown];
          if (when(sql)) {
            wrapper.kills++;
            await db.admin.query(`KILL ${connection.threadId}`);
          }
          return result;
        },
        execute: (sql: string, values?: unknown) => connection.execute(sql, values as never) as Promise<[unknown, unknown]>,
        release: () => connection.release(),
        destroy: () => connection.destroy(),
      };
    },
  };
  return wrapper;
}

describe('a claimer whose connection is killed', () => {
  it('inside its claim transaction leaves no lease and no lock behind', async () => {
    const table = 'outbox_killed_in_claim';
    const survivor = new MysqlOutboxStore({ pool, table });
    await survivor.migrate();
    const written = events(20);
    await transaction(pool, (connection) => survivor.enqueue(connection, written));
    const victimPool = killingPool(db.pool(2), (sql) => sql.includes('FOR UPDATE SKIP LOCKED'));
    const victim = new MysqlOutboxStore({ pool: victimPool, table });
    const error = await victim.claim({ batchSize: 50, leaseMs: 60_000 }).catch((caught: unknown) => caught);
    expect(victimPool.kills).toBe(1);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('CONNECTION_LOST');
    expect((error as StoreError).retryable).toBe(true);
    // The server rolled the claim back: every row is claimable at once, long before the 60 s lease.
    const batch = await survivor.claim({ batchSize: 50, leaseMs: 10_000 });
    expect(batch.records.map((record) => record.id)).toEqual(written.map((event) => event.id));
    expect(
      await survivor.complete(
        batch.token,
        batch.records.map((record) => record.id),
      ),
    ).toBe(20);
    expect((await survivor.stats()).pending).toBe(0);
  });

  it('after its claim (mid-publish) holds the rows only until the lease ends', async () => {
    const table = 'outbox_killed_mid_batch';
    const survivor = new MysqlOutboxStore({ pool, table });
    await survivor.migrate();
    const written = events(20);
    await transaction(pool, (connection) => survivor.enqueue(connection, written));
    const victimPool = db.pool(1);
    const victim = new MysqlOutboxStore({ pool: victimPool, table });
    const leased = await victim.claim({ batchSize: 50, leaseMs: 3000 });
    expect(leased.records).toHaveLength(20);
    const [rows] = await victimPool.query('SELECT CONNECTION_ID() AS id');
    await db.admin.query(`KILL ${(rows as Array<{ id: number }>)[0]!.id}`);
    // Leased to the dead claimer: nothing for anyone else yet, and nothing published twice.
    expect((await survivor.claim({ batchSize: 50, leaseMs: 10_000 })).records).toEqual([]);
    // sleep-ok: the dead claimer's lease runs out in real time; that expiry is what frees its rows
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, leased.leaseUntil.getTime() - Date.now()) + 200));
    const batch = await survivor.claim({ batchSize: 50, leaseMs: 10_000 });
    expect(batch.records.map((record) => record.id)).toEqual(written.map((event) => event.id));
    expect(
      await survivor.complete(
        batch.token,
        batch.records.map((record) => record.id),
      ),
    ).toBe(20);
    // The dead claimer's late complete (the pool replaced the killed connection) changes nothing.
    expect(
      await victim.complete(
        leased.token,
        leased.records.map((record) => record.id),
      ),
    ).toBe(0);
    expect(await survivor.stats()).toEqual({ pending: 0, dead: 0, oldestPendingAgeMs: null });
  });
});
