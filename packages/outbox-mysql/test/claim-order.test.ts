import { createEvent, type OutboxEvent } from '@outboxkit/outbox-core';
import { MysqlOutboxStore, transaction } from '@outboxkit/outbox-mysql';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';

let db: TestDatabase;
let pool: mysql.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool(20);
});
afterAll(async () => {
  await db.dispose();
});

function event(subject: string, data: unknown = {}): OutboxEvent {
  return createEvent({ type: 'test.aggregate.changed', source: 'tests', subject, data });
}

// sleep-ok: the claim loop's idle pause, as a relay's poll interval; no step of the test waits on it
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('claim under InnoDB locking', () => {
  it('never claims the second row of a subject while another transaction locks or deletes its head', async () => {
    const store = new MysqlOutboxStore({ pool, table: 'outbox_locks' });
    await store.migrate();
    const [a1, a2, b1] = [event('a'), event('a'), event('b')];
    await transaction(pool, (connection) => store.enqueue(connection, [a1!, a2!, b1!]));
    const other = await pool.getConnection();
    try {
      // Another relay in the middle of its claim transaction holds the head's row lock: SKIP LOCKED
      // skips a1, and a2 must still count a1 as an earlier pending row.
      await other.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
      await other.beginTransaction();
      await other.query('SELECT seq FROM outbox_locks WHERE id = ? FOR UPDATE', [a1!.id]);
      const whileLocked = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(whileLocked.records.map((record) => record.id)).toEqual([b1!.id]);
      await other.rollback();
      // Another relay completing the head, not yet committed: a2 is still not a head.
      await other.beginTransaction();
      await other.query('DELETE FROM outbox_locks WHERE id = ?', [a1!.id]);
      expect((await store.claim({ batchSize: 10, leaseMs: 10_000 })).records).toEqual([]);
      await other.commit();
      const after = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(after.records.map((record) => record.id)).toEqual([a2!.id]);
    } finally {
      other.release();
    }
  });

  it('16 writers and 4 claim loops: 20,000 events on 200 subjects, each exactly once, each subject in write order', async () => {
    const table = 'outbox_load';
    const subjects = Array.from({ length: 200 }, (_, index) => `product-${index}`);
    const total = 20_000;
    await new MysqlOutboxStore({ pool, table }).migrate();
    await db.admin.query('CREATE TABLE aggregates (subject VARCHAR(64) PRIMARY KEY, version INT NOT NULL) ENGINE=InnoDB');
    await db.admin.query(`INSERT INTO aggregates VALUES ${subjects.map(() => '(?, 0)').join(', ')}`, subjects);

    const writerPool = db.pool(16);
    const writerStore = new MysqlOutboxStore({ pool: writerPool, table });
    const committed = new Map<string, { subject: string; version: number }>();
    let reserved = 0;
    let writersDone = false;
    let rollbacks = 0;

    // The writers follow "update the aggregate, then append": the aggregate's row lock orders the
    // appends of one subject, so their seq order is their commit order.
    const writer = async (): Promise<void> => {
      while (reserved < total) {
        const count = Math.min(total - reserved, 1 + Math.floor(Math.random() * 16));
        reserved += count;
        const subject = subjects[Math.floor(Math.random() * subjects.length)]!;
        const rollBack = Math.random() < 0.05;
        const written: Array<[string, number]> = [];
        try {
          await transaction(writerPool, async (connection) => {
            const [rows] = await connection.query('SELECT version FROM aggregates WHERE subject = ? FOR UPDATE', [subject]);
            const version = Number((rows as Array<{ version: number }>)[0]!.version);
            await connection.query('UPDATE aggregates SET version = ? WHERE subject = ?', [version + count, subject]);
            const events = Array.from({ length: count }, (_, index) => event(subject, { version: version + index + 1 }));
            await writerStore.enqueue(connection, events);
            for (const [index, created] of events.entries()) written.push([created.id, version + index + 1]);
            if (rollBack) throw new Error('rolled back on purpose');
          });
          for (const [id, version] of written) committed.set(id, { subject, version });
        } catch (error) {
          if (!rollBack) throw error;
          rollbacks++;
          reserved -= count;
        }
      }
    };

    const published: Array<{ id: string; subject: string; version: number }> = [];
    const problems: string[] = [];
    let releases = 0;
    const claimLoop = async (): Promise<void> => {
      const store = new MysqlOutboxStore({ pool: db.pool(2), table });
      const deadline = Date.now() + 100_000;
      while (!(writersDone && published.length >= committed.size)) {
        if (Date.now() > deadline) throw new Error(`claim loop gave up with ${published.length} of ${committed.size} published`);
        const batch = await store.claim({ batchSize: 50, leaseMs: 30_000 });
        if (batch.records.length === 0) {
          // sleep-ok: idle poll of the claim loop (as a relay's), not a wait for another step
          await sleep(5);
          continue;
        }
        const done: string[] = [];
        const failed = [];
        for (const record of batch.records) {
          if (Math.random() < 0.03) {
            failed.push({ id: record.id, retryAfterMs: 5, error: 'simulated publish failure', countAttempt: true });
            continue;
          }
          const data = JSON.parse(record.payload) as { version: number };
          published.push({ id: record.id, subject: record.subject, version: data.version });
          done.push(record.id);
        }
        const [completed, released] = await Promise.all([store.complete(batch.token, done), store.release(batch.token, failed)]);
        releases += released;
        if (completed !== done.length) problems.push(`complete changed ${completed} of ${done.length} rows`);
        if (released !== failed.length) problems.push(`release changed ${released} of ${failed.length} rows`);
      }
    };

    const claimers = Array.from({ length: 4 }, claimLoop);
    await Promise.all(Array.from({ length: 16 }, writer));
    writersDone = true;
    await Promise.all(claimers);

    expect(problems).toEqual([]);
    expect(committed.size).toBe(total);
    expect(published).toHaveLength(total);
    expect(new Set(published.map((entry) => entry.id))).toEqual(new Set(committed.keys()));
    const bySubject = new Map<string, number[]>();
    for (const entry of published) {
      expect(committed.get(entry.id)).toEqual({ subject: entry.subject, version: entry.version });
      bySubject.set(entry.subject, [...(bySubject.get(entry.subject) ?? []), entry.version]);
    }
    for (const versions of bySubject.values()) {
      expect(versions).toEqual(Array.from({ length: versions.length }, (_, index) => index + 1));
    }
    expect(releases).toBeGreaterThan(0);
    expect(rollbacks).toBeGreaterThan(0);
    const stats = await writerStore.stats();
    expect(stats).toEqual({ pending: 0, dead: 0, oldestPendingAgeMs: null });
    // ~10-25 s here; the margin is for CI machines shared with other jobs.
  }, 120_000);
});
