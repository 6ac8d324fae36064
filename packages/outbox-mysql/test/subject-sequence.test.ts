import { randomBytes } from 'node:crypto';
import { createEvent, type OutboxEvent, type OutboxStore, SchemaVersionError } from '@outboxkit/outbox-core';
import { type MysqlConnectionLike, MysqlOutboxStore, mysqlExecutor, transaction } from '@outboxkit/outbox-mysql';
import { MYSQL_URL } from '@outboxkit/test-services';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';

// What the MySQL/MariaDB store adds to the shared sequence tests of the conformance suite: the
// migration from schema version 1, the option off, the counter's collation, its lock order under
// concurrent producers, the statements enqueue sends, and the stamp trigger (migration 3) and its
// absence where the server refuses it.

let db: TestDatabase;
let pool: mysql.Pool;
let tableCount = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool(12);
});
afterAll(async () => {
  await db.dispose();
});

async function newStore(options: { subjectSequence?: boolean } = {}): Promise<{ store: MysqlOutboxStore; table: string }> {
  const table = `outbox_seq_${++tableCount}`;
  const store = new MysqlOutboxStore({ pool, table, ...options });
  await store.migrate();
  return { store, table };
}

function event(subject: string): OutboxEvent {
  return createEvent({ type: 'test.thing.happened', source: 'tests', subject, data: { subject } });
}

async function rows<Row>(sql: string, values: unknown[] = []): Promise<Row[]> {
  const [result] = await db.admin.query(sql, values);
  return result as Row[];
}

/** Claims and completes until nothing is left: what the relay would publish, in its order. */
async function drain(store: OutboxStore<unknown>): Promise<Array<{ id: string; subject: string; sequence: number | undefined }>> {
  const published: Array<{ id: string; subject: string; sequence: number | undefined }> = [];
  for (;;) {
    const batch = await store.claim({ batchSize: 500, leaseMs: 30_000 });
    if (batch.records.length === 0) return published;
    for (const record of batch.records) published.push({ id: record.id, subject: record.subject, sequence: record.sequence });
    await store.complete(
      batch.token,
      batch.records.map((record) => record.id),
    );
  }
}

describe('MysqlOutboxStore subject sequence', () => {
  it('migrates a version 1 table with rows: they keep their order without a sequence, new events of their subjects start at 1', async () => {
    const { store, table } = await newStore();
    // Back to schema version 1, as a table written by the previous release.
    await db.admin.query(`DROP TRIGGER \`${table}_stamp\``);
    await db.admin.query(`ALTER TABLE \`${table}\` DROP COLUMN subject_seq`);
    await db.admin.query(`DROP TABLE \`${table}_subject_seq\``);
    await db.admin.query(`DELETE FROM \`${table}_migrations\` WHERE version >= 2`);
    const old = [event('a'), event('b'), event('a')];
    for (const e of old) {
      await db.admin.query(
        `INSERT INTO \`${table}\` (id, type, source, subject, \`time\`, payload, headers, available_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3), '{}', '{}', UTC_TIMESTAMP(3))`,
        [e.id, e.type, e.source, e.subject],
      );
    }
    const refused = await store.assertSchema().catch((caught: unknown) => caught);
    expect(refused).toBeInstanceOf(SchemaVersionError);
    expect((refused as SchemaVersionError).found).toBe(1);

    expect(await store.migrate()).toEqual({ version: 3, applied: [2, 3] });
    await store.assertSchema();
    const [a1, b1, b2] = [event('a'), event('b'), event('b')];
    await transaction(pool, (connection) => store.enqueue(connection, [a1, b1]));
    await transaction(pool, (connection) => store.enqueue(connection, b2));
    const published = await drain(store);
    const bySubject = (subject: string) =>
      published.filter((record) => record.subject === subject).map((record) => [record.id, record.sequence]);
    expect(bySubject('a')).toEqual([
      [old[0]!.id, undefined],
      [old[2]!.id, undefined],
      [a1.id, 1],
    ]);
    expect(bySubject('b')).toEqual([
      [old[1]!.id, undefined],
      [b1.id, 1],
      [b2.id, 2],
    ]);
  });

  it('migrates again after an interruption before the version rows (the column and the trigger are looked up, not added twice)', async () => {
    const { store, table } = await newStore();
    await db.admin.query(`DELETE FROM \`${table}_migrations\` WHERE version >= 2`);
    expect(await store.migrate()).toEqual({ version: 3, applied: [2, 3] });
    const columns = await rows<{ n: number }>(
      `SELECT COUNT(*) AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = 'subject_seq'`,
      [db.name, table],
    );
    expect(Number(columns[0]?.n)).toBe(1);
    const triggers = await rows<{ name: string }>(
      'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?',
      [db.name, table],
    );
    expect(triggers).toEqual([{ name: `${table}_stamp` }]);
  });

  it('stamps the events of one subject inside the INSERT (the trigger): the probe and one statement, numbers shared with the upsert of a call on several subjects', async () => {
    const { store } = await newStore();
    const [x1, y1, x2, x3, z1, x4, z2] = ['x', 'y', 'x', 'x', 'z', 'x', 'z'].map(event);
    expect(await countStatements((connection) => store.enqueue(connection, [x1!, y1!]))).toEqual(['DO', 'INSERT', 'INSERT']);
    // The first call that can use the trigger looks it up on its own transaction, once per store.
    expect(await countStatements((connection) => store.enqueue(connection, [x2!, x3!]))).toEqual(['DO', 'SELECT', 'INSERT']);
    expect(await countStatements((connection) => store.enqueue(connection, z1!))).toEqual(['DO', 'INSERT']);
    expect(await countStatements((connection) => store.enqueue(connection, [x4!, z2!]))).toEqual(['DO', 'INSERT', 'INSERT']);
    // A rolled-back call gives its number back.
    await transaction(pool, async (connection) => {
      await store.enqueue(connection, event('z'));
      throw new Error('roll back');
    }).catch(() => undefined);
    const published = await drain(store);
    expect(published).toHaveLength(7);
    const sequences = new Map(published.map((record) => [record.id, record.sequence]));
    expect([x1, y1, x2, x3, z1, x4, z2].map((e) => sequences.get(e!.id))).toEqual([1, 1, 2, 3, 1, 4, 2]);
  });

  it('migrates for a user without the TRIGGER privilege: no trigger, and enqueue stamps with the upsert, saying so once in the log', async () => {
    const user = `obxk_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await db.admin.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [user, password]);
    try {
      await db.admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP ON \`${db.name}\`.* TO ?@'%'`, [user]);
      const url = new URL(MYSQL_URL);
      url.username = user;
      url.password = password;
      const limited = mysql.createPool({ uri: url.toString(), database: db.name, connectionLimit: 2 });
      try {
        const logged: string[] = [];
        const logger = {
          debug: () => undefined,
          info: (_: unknown, message: string) => logged.push(message),
          warn: () => undefined,
          error: () => undefined,
        };
        const table = `outbox_seq_${++tableCount}`;
        const store = new MysqlOutboxStore({ pool: limited, table, logger });
        expect(await store.migrate()).toEqual({ version: 3, applied: [1, 2, 3] });
        expect(
          await rows('SELECT 1 FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?', [db.name, table]),
        ).toEqual([]);
        const [p1, p2, p3] = [event('p'), event('p'), event('p')];
        const sent: string[][] = [];
        for (const batch of [[p1!, p2!], [p3!]]) {
          await transaction(limited, async (connection) => {
            const statements: string[] = [];
            sent.push(statements);
            const counting: MysqlConnectionLike = {
              query: (sql, values) => {
                statements.push(sql.trimStart().split(/\s/, 1)[0]!.toUpperCase());
                return connection.query(sql, values);
              },
              execute: (sql, values) => connection.execute(sql, values),
            };
            await store.enqueue(counting, batch);
          });
        }
        expect(sent).toEqual([
          ['DO', 'SELECT', 'INSERT', 'INSERT'],
          ['DO', 'INSERT', 'INSERT'],
        ]);
        expect(logged.filter((message) => message.includes('no stamp trigger'))).toHaveLength(1);
        expect((await drain(store)).map((record) => [record.id, record.sequence])).toEqual([
          [p1!.id, 1],
          [p2!.id, 2],
          [p3!.id, 3],
        ]);
      } finally {
        await limited.end();
      }
    } finally {
      await db.admin.query(`DROP USER ?@'%'`, [user]);
    }
  });

  it('with subjectSequence: false, writes no counter row and leaves the column NULL, in one statement after the probe', async () => {
    const { store, table } = await newStore({ subjectSequence: false });
    const statements = await countStatements((connection) => store.enqueue(connection, [event('a'), event('b'), event('a')]));
    expect(statements).toEqual(['DO', 'INSERT']);
    expect(await rows(`SELECT * FROM \`${table}_subject_seq\``)).toEqual([]);
    const stored = await rows<{ subject_seq: unknown }>(`SELECT subject_seq FROM \`${table}\``);
    expect(stored.map((row) => row.subject_seq)).toEqual([null, null, null]);
    // A store of the same table with the stamp on starts the subjects at 1 behind the unstamped rows.
    const stamping = new MysqlOutboxStore({ pool, table });
    await transaction(pool, (connection) => stamping.enqueue(connection, event('a')));
    expect((await drain(stamping)).map((record) => [record.subject, record.sequence])).toEqual([
      ['a', undefined],
      ['b', undefined],
      ['a', undefined],
      ['a', 1],
    ]);
  });

  it('stamps with two statements after the probe whatever the number of events and subjects, and the same through an executor', async () => {
    const { store } = await newStore();
    const events = Array.from({ length: 300 }, (_, index) => event(`s-${index % 17}`));
    expect(await countStatements((connection) => store.enqueue(connection, events))).toEqual(['DO', 'INSERT', 'INSERT']);
    await transaction(pool, (connection) => store.enqueue(mysqlExecutor(connection), [event('s-0'), event('s-0')]));
    const published = await drain(store);
    const s0 = published.filter((record) => record.subject === 's-0').map((record) => record.sequence);
    expect(s0).toEqual(Array.from({ length: s0.length }, (_, index) => index + 1));
    expect(s0).toHaveLength(18 + 2);
  });

  it('counts subjects that differ only by trailing spaces as one, as utf8mb4_bin compares them (no number given twice)', async () => {
    const { store } = await newStore();
    await transaction(pool, (connection) => store.enqueue(connection, [event('a'), event('a '), event('a  '), event('b')]));
    await transaction(pool, (connection) => store.enqueue(connection, event('a ')));
    const published = await drain(store);
    expect(published.filter((record) => record.subject.trimEnd() === 'a').map((record) => [record.subject, record.sequence])).toEqual([
      ['a', 1],
      ['a ', 2],
      ['a  ', 3],
      ['a ', 4],
    ]);
  });

  // One enqueue call per transaction: the call locks its subjects' counters in one order. (A
  // transaction that calls enqueue several times takes them call by call, and two such
  // transactions can deadlock like any two that lock rows in different orders: StoreError DEADLOCK,
  // retryable.)
  it('keeps every subject gapless and in claim order under concurrent producers sharing subjects, without deadlocks', async () => {
    const { store } = await newStore();
    const subjects = ['p', 'q', 'r', 's', 't'];
    const committed = new Map<string, string[]>();
    const producer = async (worker: number) => {
      for (let round = 0; round < 12; round++) {
        // Each transaction writes 1-4 events on subjects in an order of its own (new ones at first).
        const picked = Array.from(
          { length: 1 + ((worker + round) % 4) },
          (_, index) => subjects[(worker * 3 + round * 7 + index * 2) % 5]!,
        );
        const events = picked.map(event);
        await transaction(pool, (connection) => store.enqueue(connection, events));
        for (const e of events) committed.set(e.subject, [...(committed.get(e.subject) ?? []), e.id]);
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, worker) => producer(worker)));
    const published = await drain(store);
    for (const subject of subjects) {
      const mine = published.filter((record) => record.subject === subject);
      expect(mine.map((record) => record.sequence)).toEqual(Array.from({ length: mine.length }, (_, index) => index + 1));
      expect(new Set(mine.map((record) => record.id))).toEqual(new Set(committed.get(subject)));
    }
    expect(published).toHaveLength([...committed.values()].reduce((sum, ids) => sum + ids.length, 0));
  });

  it('replays dead rows by id, the stamped ones at the end of their subjects and the unstamped ones in place, in one call', async () => {
    const { store, table } = await newStore();
    const unstamped = event('a');
    await db.admin.query(
      `INSERT INTO \`${table}\` (id, type, source, subject, \`time\`, payload, headers, available_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3), '{}', '{}', UTC_TIMESTAMP(3))`,
      [unstamped.id, unstamped.type, unstamped.source, unstamped.subject],
    );
    const [b1, b2, c1] = [event('b'), event('b'), event('c')];
    await transaction(pool, (connection) => store.enqueue(connection, [b1, b2, c1]));
    const batch = await store.claim({ batchSize: 10, leaseMs: 30_000 });
    expect(batch.records.map((record) => record.id)).toEqual([unstamped.id, b1.id, c1.id]);
    await store.deadLetter(
      batch.token,
      batch.records.map((record) => ({ id: record.id, error: 'poison' })),
    );
    expect(await store.replayDead([c1.id, unstamped.id, b1.id])).toBe(3);
    expect(await store.listDead()).toEqual([]);
    const published = await drain(store);
    const bySubject = (subject: string) =>
      published.filter((record) => record.subject === subject).map((record) => [record.id, record.sequence]);
    expect(bySubject('a')).toEqual([[unstamped.id, undefined]]);
    expect(bySubject('b')).toEqual([
      [b2.id, 2],
      [b1.id, 3],
    ]);
    expect(bySubject('c')).toEqual([[c1.id, 2]]);
    const counters = await rows<{ subject: string; seq: number }>(`SELECT subject, seq FROM \`${table}_subject_seq\` ORDER BY subject`);
    expect(counters.map((row) => [row.subject, Number(row.seq)])).toEqual([
      ['b', 3],
      ['c', 2],
    ]);
  });

  it("replays 'all' at the end of the subjects, each row with its payload, headers, time and last error", async () => {
    const { store, table } = await newStore();
    const [a1, b1, a2] = [event('a'), event('b'), event('a')];
    await transaction(pool, (connection) => store.enqueue(connection, [a1, b1, a2]));
    const batch = await store.claim({ batchSize: 10, leaseMs: 30_000 });
    expect(batch.records.map((record) => record.id)).toEqual([a1.id, b1.id]);
    await store.deadLetter(
      batch.token,
      batch.records.map((record) => ({ id: record.id, error: `poison ${record.id}` })),
    );
    expect(await store.replayDead('all')).toBe(2);
    const records = [];
    for (;;) {
      const next = await store.claim({ batchSize: 10, leaseMs: 30_000 });
      if (next.records.length === 0) break;
      records.push(...next.records);
      await store.complete(
        next.token,
        next.records.map((record) => record.id),
      );
      if (records.length === 1) {
        const errors = await rows<{ id: string; last_error: string; attempts: number }>(
          `SELECT id, last_error, attempts FROM \`${table}\` ORDER BY seq`,
        );
        expect(errors.map((row) => [row.id, row.last_error, Number(row.attempts)])).toEqual([
          [b1.id, `poison ${b1.id}`, 0],
          [a1.id, `poison ${a1.id}`, 0],
        ]);
      }
    }
    expect(records.map((record) => [record.id, record.sequence, record.attempts])).toEqual([
      [a2.id, 2, 0],
      [b1.id, 2, 0],
      [a1.id, 3, 0],
    ]);
    for (const original of [a1, b1]) {
      const record = records.find((candidate) => candidate.id === original.id)!;
      expect([record.payload, record.headers, record.time, record.type, record.source]).toEqual([
        JSON.stringify(original.data),
        original.headers,
        original.time,
        original.type,
        original.source,
      ]);
    }
  });
});

/** The first word of each statement `fn` sends on its transaction's connection (COMMIT excluded). */
async function countStatements(fn: (connection: MysqlConnectionLike) => Promise<void>): Promise<string[]> {
  const sent: string[] = [];
  await transaction(pool, (connection) => {
    const counting: MysqlConnectionLike = {
      query: (sql, values) => {
        sent.push(sql.trimStart().split(/\s/, 1)[0]!.toUpperCase());
        return connection.query(sql, values);
      },
      execute: (sql, values) => {
        sent.push(sql.trimStart().split(/\s/, 1)[0]!.toUpperCase());
        return connection.execute(sql, values);
      },
    };
    return fn(counting);
  });
  return sent;
}
