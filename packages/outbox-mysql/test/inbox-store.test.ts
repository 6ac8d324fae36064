import { SchemaVersionError, type StoreError } from '@outboxkit/outbox-core';
import { type MysqlConnectionLike, MysqlInboxStore } from '@outboxkit/outbox-mysql';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';

let db: TestDatabase;
let pool: mysql.Pool;
let inbox: MysqlInboxStore;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool(8);
  inbox = new MysqlInboxStore({ pool });
  await inbox.migrate();
  // The consumer's business table; UNIQUE(message_id) lets a handler violate a constraint of its own.
  await db.admin.query('CREATE TABLE effects (message_id VARCHAR(64) NOT NULL, UNIQUE KEY (message_id)) ENGINE=InnoDB');
});
afterAll(async () => {
  await db.dispose();
});

async function writeEffect(connection: MysqlConnectionLike, messageId: string): Promise<void> {
  await connection.query('INSERT INTO effects (message_id) VALUES (?)', [messageId]);
}

async function count(sql: string, values: unknown[] = []): Promise<number> {
  const [rows] = await db.admin.query(sql, values);
  return Number((rows as Array<{ n: number }>)[0]?.n);
}

const effects = (messageId: string) => count('SELECT COUNT(*) AS n FROM effects WHERE message_id = ?', [messageId]);
const recorded = (consumer: string, messageId: string) =>
  count('SELECT COUNT(*) AS n FROM inbox WHERE consumer = ? AND message_id = ?', [consumer, messageId]);

describe('MysqlInboxStore', () => {
  it('applies a message once and skips its redelivery without running the handler', async () => {
    const first = await inbox.process('basket', 'm-1', async (connection) => {
      await writeEffect(connection, 'm-1');
      return 'done';
    });
    expect(first).toEqual({ status: 'applied', value: 'done' });
    let ran = false;
    const again = await inbox.process('basket', 'm-1', async () => {
      ran = true;
    });
    expect(again).toEqual({ status: 'duplicate' });
    expect(ran).toBe(false);
    // Another consumer has its own dedup.
    expect((await inbox.process('ordering', 'm-1', async () => 1)).status).toBe('applied');
    expect(await effects('m-1')).toBe(1);
  });

  it('rolls back the inbox row and the handler writes when the handler throws, so a redelivery runs again', async () => {
    const failure = new Error('handler failed');
    await expect(
      inbox.process('basket', 'm-2', async (connection) => {
        await writeEffect(connection, 'm-2');
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await effects('m-2')).toBe(0);
    expect(await recorded('basket', 'm-2')).toBe(0);
    expect((await inbox.process('basket', 'm-2', (connection) => writeEffect(connection, 'm-2'))).status).toBe('applied');
    expect(await effects('m-2')).toBe(1);
  });

  it("does not take a handler's own duplicate-key error for a duplicate message", async () => {
    await inbox.process('basket', 'm-3', (connection) => writeEffect(connection, 'm-3'));
    // A different message whose handler violates the effects table's unique key.
    const error = await inbox.process('basket', 'm-4', (connection) => writeEffect(connection, 'm-3')).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ER_DUP_ENTRY' });
    expect(await recorded('basket', 'm-4')).toBe(0);
  });

  it('lets exactly one of two concurrent deliveries apply', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, () => inbox.process('basket', 'm-5', (connection) => writeEffect(connection, 'm-5'))),
    );
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['applied', 'duplicate', 'duplicate', 'duplicate']);
    expect(await effects('m-5')).toBe(1);
  });

  it('processes a batch in one transaction with a savepoint per item', async () => {
    await inbox.process('batch', 'b-0', (connection) => writeEffect(connection, 'b-0'));
    const items = [{ messageId: 'b-1' }, { messageId: 'b-2' }, { messageId: 'b-1' }, { messageId: 'b-0' }, { messageId: 'b-3' }];
    const outcomes = await inbox.processBatch('batch', items, async (connection, item) => {
      await writeEffect(connection, item.messageId);
      if (item.messageId === 'b-2') throw new Error('b-2 is poison');
      // b-3's handler violates the effects table's unique key: a failure, not a duplicate.
      if (item.messageId === 'b-3') await writeEffect(connection, 'b-1');
    });
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['applied', 'failed', 'duplicate', 'duplicate', 'failed']);
    expect((outcomes[1] as { error: Error }).error.message).toBe('b-2 is poison');
    expect((outcomes[4] as { error: unknown }).error).toMatchObject({ code: 'ER_DUP_ENTRY' });
    expect([await effects('b-1'), await effects('b-2'), await effects('b-3')]).toEqual([1, 0, 0]);
    expect([await recorded('batch', 'b-1'), await recorded('batch', 'b-2'), await recorded('batch', 'b-3')]).toEqual([1, 0, 0]);
    expect(await inbox.processBatch('batch', [], async () => {})).toEqual([]);
  });

  it('cleans up expired rows in bounded batches, oldest first, leaving recent rows', async () => {
    const store = new MysqlInboxStore({ pool, table: 'inbox_cleanup' });
    await store.migrate();
    for (let index = 0; index < 25; index++) await store.process('c', `old-${index}`, async () => {});
    await db.admin.query('UPDATE inbox_cleanup SET recorded_at = recorded_at - INTERVAL 2 HOUR');
    for (let index = 0; index < 3; index++) await store.process('c', `new-${index}`, async () => {});
    expect(await store.cleanup({ olderThanMs: 3_600_000, batchSize: 10, maxBatches: 2 })).toBe(20);
    expect(await store.cleanup({ olderThanMs: 3_600_000, batchSize: 10, maxBatches: 2 })).toBe(5);
    expect(await store.cleanup({ olderThanMs: 3_600_000 })).toBe(0);
    expect(await count('SELECT COUNT(*) AS n FROM inbox_cleanup')).toBe(3);
  });

  it('migrates twice and concurrently without harm', async () => {
    const results = await Promise.all(Array.from({ length: 3 }, () => new MysqlInboxStore({ pool, table: 'inbox_twice' }).migrate()));
    expect(results.flatMap((result) => result.applied)).toEqual([1, 2]);
    expect(await new MysqlInboxStore({ pool, table: 'inbox_twice' }).migrate()).toEqual({ version: 2, applied: [] });
  });

  it('upgrades a version 1 inbox with its rows to subject order (migration 2)', async () => {
    // A version 1 inbox: migrated, then migration 2 undone.
    await new MysqlInboxStore({ pool, table: 'inbox_v1' }).migrate();
    await db.admin.query('DROP TABLE inbox_v1_position, inbox_v1_gap');
    await db.admin.query('DELETE FROM inbox_v1_migrations WHERE version = 2');
    await db.admin.query("INSERT INTO inbox_v1 VALUES ('basket', 'old', UTC_TIMESTAMP(3))");
    const store = new MysqlInboxStore({ pool, table: 'inbox_v1' });
    expect(await store.migrate()).toEqual({ version: 2, applied: [2] });
    await store.assertSchema();
    expect(await store.process('basket', 'old', async () => {}, { order: { subject: 'p-1', sequence: 1 } })).toEqual({
      status: 'duplicate',
    });
    expect(await store.positions('basket')).toMatchObject([{ subject: 'p-1', position: 1 }]);
  });

  it("keeps one position for subjects that differ only in trailing spaces (utf8mb4_bin pads), as the outbox's counter does", async () => {
    const store = new MysqlInboxStore({ pool, table: 'inbox_spaces' });
    await store.migrate();
    const order = (subject: string, sequence: number) => ({ order: { subject, sequence } });
    expect((await store.process('c', 's-1', async () => {}, order('a', 1))).status).toBe('applied');
    expect((await store.process('c', 's-2', async () => {}, order('a ', 2))).status).toBe('applied');
    const batch = await store.processBatch(
      'c',
      [
        { messageId: 's-3', ...order('a  ', 3) },
        { messageId: 's-4', ...order('a', 4) },
      ],
      async () => {},
    );
    expect(batch.map((outcome) => outcome.status)).toEqual(['applied', 'waiting']);
    expect((await store.processBatch('c', [{ messageId: 's-4', ...order('a', 4) }], async () => {}))[0]?.status).toBe('applied');
    expect((await store.positions('c')).map((p) => p.position)).toEqual([4]);
  });

  it('uses only the complete gap numbers when GROUP_CONCAT is cut at group_concat_max_len', async () => {
    const short = db.pool(1);
    short.on('connection', (connection) => {
      connection.query('SET SESSION group_concat_max_len = 10');
    });
    const store = new MysqlInboxStore({ pool: short, table: 'inbox_short_concat' });
    await store.migrate();
    for (const sequence of [3, 4, 1000, 1001]) await store.recordGap('c', { subject: 's', sequence, reason: 'dead-letter' });
    // "3,4,1000,1" at 10 characters: 1001 is dropped, never read as 1.
    expect(await store.positions('c')).toMatchObject([{ position: 0, gapsAhead: [3, 4, 1000] }]);
    expect(await store.recordGap('c', { subject: 's', sequence: 1, reason: 'dead-letter' })).toBe(1);
    expect((await store.process('c', 'm-2', async () => {}, { order: { subject: 's', sequence: 2 } })).status).toBe('applied');
    expect(await store.positions('c')).toMatchObject([{ position: 4, gapsAhead: [1000, 1001] }]);
  });

  it('takes inbox table names of up to 52 characters (`<table>_recorded_at` must fit 64)', async () => {
    const name = `i${'x'.repeat(51)}`;
    const store = new MysqlInboxStore({ pool, table: name });
    await store.migrate();
    expect((await store.process('c', 'm', async () => {}, { order: { subject: 's', sequence: 1 } })).status).toBe('applied');
    expect(() => new MysqlInboxStore({ pool, table: `${name}x` })).toThrow(/table/);
  });

  it('translates a missing table into SchemaVersionError (code SCHEMA_VERSION), as on PostgreSQL', async () => {
    const store = new MysqlInboxStore({ pool, table: 'inbox_missing' });
    const error = await store.process('c', 'x', async () => {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect((error as StoreError).code).toBe('SCHEMA_VERSION');
  });
});
