import {
  createEvent,
  EventValidationError,
  OutboxConfigError,
  type OutboxEvent,
  OutboxUsageError,
  SchemaVersionError,
  StoreError,
} from '@outboxkit/outbox-core';
import { MysqlInboxStore, MysqlOutboxStore, transaction } from '@outboxkit/outbox-mysql';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';

let db: TestDatabase;
let pool: mysql.Pool;
let tableCount = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool(8);
});
afterAll(async () => {
  await db.dispose();
});

/** A store on a new, migrated table of its own. */
async function newStore(): Promise<MysqlOutboxStore> {
  const store = new MysqlOutboxStore({ pool, table: `outbox_${++tableCount}` });
  await store.migrate();
  return store;
}

function event(subject: string, data: unknown = { n: 1 }): OutboxEvent {
  return createEvent({ type: 'test.thing.happened', source: 'tests', subject, data, headers: { traceparent: '00-abc-def-01' } });
}

/** Waits until the relay-side deadline of a lease has passed (the database's ends at the same instant). */
async function leaseEnd(leaseUntil: Date): Promise<void> {
  // sleep-ok: a lease runs out in real time; its expiry is what the callers test
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, leaseUntil.getTime() - Date.now()) + 200));
}

async function rowCount(table: string): Promise<number> {
  const [rows] = await db.admin.query(`SELECT COUNT(*) AS n FROM \`${table}\``);
  return Number((rows as Array<{ n: number }>)[0]?.n);
}

describe('MysqlOutboxStore', () => {
  it('enqueues in the caller transaction and hands the payload text through unchanged', async () => {
    const store = await newStore();
    const data = { price: 12.5, name: 'Grüße 🚀', nested: { list: [1, 'two', null] } };
    const first = event('product-1', data);
    const second = event('product-2');
    await transaction(pool, (connection) => store.enqueue(connection, [first, second]));
    const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(batch.records.map((record) => record.id)).toEqual([first.id, second.id]);
    const record = batch.records[0]!;
    expect(record).toMatchObject({ type: first.type, source: 'tests', subject: 'product-1', time: first.time, attempts: 0 });
    expect(record.payload).toBe(JSON.stringify(data));
    expect(record.headers).toEqual({ traceparent: '00-abc-def-01' });
    expect(await store.complete(batch.token, [first.id, second.id])).toBe(2);
    expect((await store.stats()).pending).toBe(0);
  });

  it('writes nothing when the transaction rolls back', async () => {
    const store = await newStore();
    await expect(
      transaction(pool, async (connection) => {
        await store.enqueue(connection, event('a'));
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    expect(await rowCount(`outbox_${tableCount}`)).toBe(0);
  });

  it('rejects a pool with OutboxUsageError and writes nothing', async () => {
    const store = await newStore();
    const error = await store.enqueue(pool as never, event('a')).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OutboxUsageError);
    expect((error as Error).message).toContain('Pool');
    expect(await rowCount(`outbox_${tableCount}`)).toBe(0);
  });

  it('rejects a connection outside a transaction with OutboxUsageError and writes nothing', async () => {
    const store = await newStore();
    const connection = await pool.getConnection();
    try {
      await expect(store.enqueue(connection, event('a'))).rejects.toBeInstanceOf(OutboxUsageError);
      // After a commit the connection is back in autocommit mode: rejected again.
      await connection.beginTransaction();
      await connection.commit();
      await expect(store.enqueue(connection, event('a'))).rejects.toBeInstanceOf(OutboxUsageError);
    } finally {
      connection.release();
    }
    expect(await rowCount(`outbox_${tableCount}`)).toBe(0);
  });

  it('accepts a connection with autocommit off (the INSERT opens the transaction the caller commits)', async () => {
    const store = await newStore();
    const connection = await pool.getConnection();
    try {
      await connection.query('SET autocommit = 0');
      await store.enqueue(connection, event('a'));
      await connection.query('ROLLBACK');
      expect(await rowCount(`outbox_${tableCount}`)).toBe(0);
      await store.enqueue(connection, event('a'));
      await connection.query('COMMIT');
      expect(await rowCount(`outbox_${tableCount}`)).toBe(1);
    } finally {
      await connection.query('SET autocommit = 1');
      connection.release();
    }
  });

  it('validates every event before writing any', async () => {
    const store = await newStore();
    const bad = { ...event('b'), data: { price: 10n } } as OutboxEvent;
    const error = await transaction(pool, (connection) => store.enqueue(connection, [event('a'), bad])).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EventValidationError);
    expect((error as EventValidationError).path).toBe('events[1].data.price');
    expect(await rowCount(`outbox_${tableCount}`)).toBe(0);
  });

  it('translates a duplicate event id into StoreError DUPLICATE', async () => {
    const store = await newStore();
    const once = event('a');
    await transaction(pool, (connection) => store.enqueue(connection, once));
    const error = await transaction(pool, (connection) => store.enqueue(connection, once)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('DUPLICATE');
    expect((error as StoreError).cause).toMatchObject({ code: 'ER_DUP_ENTRY' });
  });

  it('rejects bad identifiers and a missing pool with OutboxConfigError naming the setting', () => {
    const settingOf = (build: () => unknown): string | undefined => {
      try {
        build();
      } catch (error) {
        expect(error).toBeInstanceOf(OutboxConfigError);
        return (error as OutboxConfigError).setting;
      }
      return undefined;
    };
    expect(settingOf(() => new MysqlOutboxStore({ pool, table: 'outbox`; DROP TABLE x; --' }))).toBe('table');
    expect(settingOf(() => new MysqlOutboxStore({ pool, table: '1outbox' }))).toBe('table');
    // <table>_subject_seq must fit MySQL's 64 characters: 52 is the longest outbox table name.
    expect(settingOf(() => new MysqlOutboxStore({ pool, table: 'x'.repeat(53) }))).toBe('table');
    expect(settingOf(() => new MysqlOutboxStore({ pool, table: 'x'.repeat(52) }))).toBeUndefined();
    expect(settingOf(() => new MysqlOutboxStore({ pool, subjectSequence: 'yes' as never }))).toBe('subjectSequence');
    expect(settingOf(() => new MysqlOutboxStore({ pool, deadBlocksSubject: 1 as never }))).toBe('deadBlocksSubject');
    expect(settingOf(() => new MysqlOutboxStore({ pool, database: 'db-name' }))).toBe('database');
    expect(settingOf(() => new MysqlOutboxStore({ pool: undefined as never }))).toBe('pool');
    expect(settingOf(() => new MysqlInboxStore({ pool, table: 'in box' }))).toBe('table');
  });

  it('enqueues 500 events in one call', async () => {
    const store = await newStore();
    const events = Array.from({ length: 500 }, (_, index) => event(`s-${index % 7}`, { index }));
    await transaction(pool, (connection) => store.enqueue(connection, events));
    expect((await store.stats()).pending).toBe(500);
  });
});

describe('claims and leases', () => {
  it('claims only subject heads, in write order, and the next row after the head completes', async () => {
    const store = await newStore();
    const [a1, a2, b1, a3] = [event('a'), event('a'), event('b'), event('a')];
    await transaction(pool, (connection) => store.enqueue(connection, [a1!, a2!, b1!, a3!]));
    const first = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(first.records.map((record) => record.id)).toEqual([a1!.id, b1!.id]);
    // While the heads are leased, nothing else of those subjects is ready.
    expect((await store.claim({ batchSize: 10, leaseMs: 10_000 })).records).toEqual([]);
    expect(await store.complete(first.token, [a1!.id])).toBe(1);
    const second = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(second.records.map((record) => record.id)).toEqual([a2!.id]);
    expect(second.token).not.toBe(first.token);
  });

  it('fences complete, release and deadLetter with the claim token', async () => {
    const store = await newStore();
    const one = event('a');
    await transaction(pool, (connection) => store.enqueue(connection, one));
    const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(await store.complete('some-other-token', [one.id])).toBe(0);
    expect(await store.release('some-other-token', [{ id: one.id, retryAfterMs: 0, error: 'x', countAttempt: true }])).toBe(0);
    expect(await store.deadLetter('some-other-token', [{ id: one.id, error: 'x' }])).toBe(0);
    expect(await store.complete(batch.token, [one.id])).toBe(1);
    expect(await store.complete(batch.token, [one.id])).toBe(0);
  });

  it('lets another claimer take rows once a lease expires, and the late token then changes nothing', async () => {
    const store = await newStore();
    const one = event('a');
    await transaction(pool, (connection) => store.enqueue(connection, one));
    const stale = await store.claim({ batchSize: 10, leaseMs: 200 });
    expect(stale.records).toHaveLength(1);
    await leaseEnd(stale.leaseUntil);
    const fresh = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(fresh.records.map((record) => record.id)).toEqual([one.id]);
    expect(await store.complete(stale.token, [one.id])).toBe(0);
    expect(await store.complete(fresh.token, [one.id])).toBe(1);
  });

  it('changes nothing for a token whose lease ran out, even before anyone else claims the row', async () => {
    const store = await newStore();
    const one = event('a');
    await transaction(pool, (connection) => store.enqueue(connection, one));
    const expired = await store.claim({ batchSize: 10, leaseMs: 100 });
    await leaseEnd(expired.leaseUntil);
    expect(await store.complete(expired.token, [one.id])).toBe(0);
    expect(await store.deadLetter(expired.token, [{ id: one.id, error: 'late' }])).toBe(0);
    expect((await store.stats()).pending).toBe(1);
  });

  it('release holds back only its own subject for retryAfterMs, counting attempts when asked', async () => {
    const store = await newStore();
    const [a1, a2, b1] = [event('a'), event('a'), event('b')];
    await transaction(pool, (connection) => store.enqueue(connection, [a1!, a2!, b1!]));
    const batch = await store.claim({ batchSize: 1, leaseMs: 10_000 });
    expect(batch.records.map((record) => record.id)).toEqual([a1!.id]);
    // Far enough ahead that the next claim surely runs before it, even on a loaded machine.
    const released = Date.now();
    expect(await store.release(batch.token, [{ id: a1!.id, retryAfterMs: 1500, error: 'broker said no', countAttempt: true }])).toBe(1);
    const meanwhile = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(meanwhile.records.map((record) => record.id)).toEqual([b1!.id]);
    let retried = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    while (retried.records.length === 0 && Date.now() - released < 10_000) {
      retried = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    }
    // Not before the delay (the server's clock; 100 ms of slack for the clocks' resolution).
    expect(Date.now() - released).toBeGreaterThanOrEqual(1400);
    expect(retried.records.map((record) => [record.id, record.attempts])).toEqual([[a1!.id, 1]]);
    expect(await store.release(retried.token, [{ id: a1!.id, retryAfterMs: 0, error: 'outage', countAttempt: false }])).toBe(1);
    const again = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(again.records.map((record) => [record.id, record.attempts])).toEqual([[a1!.id, 1]]);
  });

  it('dead-letters, lists, inspects, replays and purges', async () => {
    const store = await newStore();
    const [a1, a2, b1] = [event('a'), event('a'), event('b')];
    await transaction(pool, (connection) => store.enqueue(connection, [a1!, a2!, b1!]));
    const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(
      await store.deadLetter(batch.token, [
        { id: a1!.id, error: 'poison' },
        { id: b1!.id, error: 'x'.repeat(10_000) },
      ]),
    ).toBe(2);
    // A dead row holds nothing back: a2 is now the head of subject a.
    const next = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(next.records.map((record) => record.id)).toEqual([a2!.id]);
    const dead = await store.listDead();
    expect(dead.map((record) => record.id)).toEqual([a1!.id, b1!.id]);
    expect(dead[0]).toMatchObject({ lastError: 'poison', attempts: 1, payload: JSON.stringify(a1!.data) });
    expect(Math.abs(dead[0]!.deadAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(dead[1]!.lastError.length).toBeLessThanOrEqual(4000);
    expect((await store.listDead({ afterId: a1!.id })).map((record) => record.id)).toEqual([b1!.id]);
    expect((await store.getDead(a1!.id))?.lastError).toBe('poison');
    expect(await store.getDead(a2!.id)).toBeUndefined();
    expect(await store.stats()).toMatchObject({ pending: 1, dead: 2 });
    expect(await store.replayDead([b1!.id])).toBe(1);
    const replayed = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(replayed.records.map((record) => [record.id, record.attempts])).toEqual([[b1!.id, 0]]);
    expect(await store.purgeDead()).toBe(1);
    expect(await store.listDead()).toEqual([]);
  });

  it('reports stats and the subjects with the largest backlog', async () => {
    const store = await newStore();
    expect(await store.stats()).toEqual({ pending: 0, dead: 0, oldestPendingAgeMs: null });
    await transaction(pool, (connection) =>
      store.enqueue(connection, [event('a'), event('a'), event('a'), event('b'), event('c'), event('c')]),
    );
    // sleep-ok: the backlog's age grows with real time, and that is what oldestPendingAgeMs reports
    await new Promise((resolve) => setTimeout(resolve, 30));
    const stats = await store.stats();
    expect(stats.pending).toBe(6);
    expect(stats.oldestPendingAgeMs).toBeGreaterThanOrEqual(20);
    const backlog = await store.subjectBacklog(2);
    expect(backlog.map((entry) => [entry.subject, entry.pending])).toEqual([
      ['a', 3],
      ['c', 2],
    ]);
  });
});

describe('migrations', () => {
  it('migrates once, twice and concurrently; assertSchema says what to run before', async () => {
    const store = new MysqlOutboxStore({ pool, table: 'outbox_migrated' });
    const error = await store.assertSchema().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect((error as SchemaVersionError).found).toBeNull();
    expect((error as Error).message).toContain('migrate');
    const results = await Promise.all(Array.from({ length: 4 }, () => new MysqlOutboxStore({ pool, table: 'outbox_migrated' }).migrate()));
    expect(results.map((result) => result.version)).toEqual([3, 3, 3, 3]);
    expect(results.flatMap((result) => result.applied)).toEqual([1, 2, 3]);
    expect(await store.migrate()).toEqual({ version: 3, applied: [] });
    await store.assertSchema();
  });

  it('refuses a schema newer than it knows', async () => {
    const store = await newStore();
    await db.admin.query(`INSERT INTO \`outbox_${tableCount}_migrations\` VALUES (99, 'future', UTC_TIMESTAMP(3))`);
    const error = await store.assertSchema().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect((error as SchemaVersionError).found).toBe(99);
    // migrate() refuses it too, as on PostgreSQL, instead of reporting nothing to apply.
    await expect(store.migrate()).rejects.toBeInstanceOf(SchemaVersionError);
  });

  it('turns a missing table into SchemaVersionError (code SCHEMA_VERSION) saying to migrate, as on PostgreSQL', async () => {
    const store = new MysqlOutboxStore({ pool, table: 'never_migrated' });
    const error = await store.stats().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect((error as StoreError).code).toBe('SCHEMA_VERSION');
    expect((error as Error).message).toContain('migrate()');
  });

  it('qualifies tables with the database option', async () => {
    const store = new MysqlOutboxStore({ pool, table: 'outbox_qualified', database: db.name });
    expect((await store.migrate()).applied).toEqual([1, 2, 3]);
    // From a connection whose current database is another one: the trigger is found in the table's.
    await transaction(pool, async (connection) => {
      await connection.query('USE information_schema');
      await store.enqueue(connection, event('a'));
      await connection.query(`USE \`${db.name}\``); // the pooled connection goes back as it came
    });
    expect(await rowCount('outbox_qualified')).toBe(1);
    expect(await rowCount('outbox_qualified_subject_seq')).toBe(1);
    const [stamped] = (await db.admin.query(`SELECT subject_seq FROM \`${db.name}\`.outbox_qualified`)) as unknown as [
      Array<{ subject_seq: number }>,
    ];
    expect(stamped).toEqual([{ subject_seq: 1 }]);
  });
});
