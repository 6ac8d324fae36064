import { createServer } from 'node:net';
import type { OutboxStore } from '@outboxkit/outbox-core';
import type { InboxStoreHarness, OutboxStoreHarness } from '@outboxkit/outbox-core/conformance';
import { type MysqlConnectionLike, MysqlInboxStore, MysqlOutboxStore, transaction } from '@outboxkit/outbox-mysql';
import mysql from 'mysql2/promise';
import { createTestDatabase, type TestDatabase } from './database.js';

/** A loopback port nothing listens on: connections to it are refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A pool on a closed port, for the error contract; ended by `dispose()`. */
async function unreachablePool(pools: mysql.Pool[]): Promise<mysql.Pool> {
  const pool = mysql.createPool({ host: '127.0.0.1', port: await closedPort(), user: 'root', database: 'test', connectionLimit: 1 });
  pools.push(pool);
  return pool;
}

/**
 * The conformance harness of `MysqlOutboxStore`: a fresh database for the suite, a new migrated
 * table per `createStore()`, dropped with the database by `dispose()`.
 */
export function mysqlOutboxHarness(): OutboxStoreHarness<MysqlConnectionLike> {
  let db: TestDatabase | undefined;
  let pool: mysql.Pool | undefined;
  let tables = 0;
  const names = new Map<OutboxStore<MysqlConnectionLike>, string>();
  const unreachable: mysql.Pool[] = [];
  let lastLockRead = 0;
  const ready = async (): Promise<mysql.Pool> => {
    if (!pool) {
      db = await createTestDatabase();
      pool = db.pool(10);
      await db.admin.query('CREATE TABLE markers (`key` VARCHAR(64) NOT NULL) ENGINE=InnoDB');
    }
    return pool;
  };
  return {
    stampsSequences: true,
    async waitingForLock(store) {
      // InnoDB refreshes INNODB_TRX only when it was not read for 100 ms: polled more often, it
      // would show the same state forever. A poll that comes too soon answers "not yet".
      if (Date.now() - lastLockRead < 150) return false;
      await ready();
      // A transaction of this test's database waiting for a row lock while running a statement on
      // the store's counter table (table names repeat across test files, databases do not).
      const [rows] = await db!.admin.query(
        `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX AS t
         JOIN information_schema.PROCESSLIST AS p ON p.ID = t.trx_mysql_thread_id
         WHERE t.trx_state = 'LOCK WAIT' AND p.DB = ? AND LOCATE(?, t.trx_query) > 0`,
        [db!.name, `\`${names.get(store)}_subject_seq\``],
      );
      lastLockRead = Date.now();
      return Number((rows as Array<{ n: number }>)[0]?.n) > 0;
    },
    async writeUnchecked(store, events) {
      const p = await ready();
      for (const e of events) {
        await p.query(
          `INSERT INTO \`${names.get(store)}\` (id, type, source, subject, \`time\`, payload, headers, available_at) VALUES (?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))`,
          [
            e.id,
            e.type,
            e.source,
            e.subject,
            new Date(e.time).toISOString().slice(0, 23).replace('T', ' '),
            JSON.stringify(e.data),
            JSON.stringify(e.headers),
          ],
        );
      }
    },
    async writeMarker(connection, key) {
      await connection.query('INSERT INTO markers (`key`) VALUES (?)', [key]);
    },
    async countMarkers() {
      await ready();
      const [rows] = await db!.admin.query('SELECT COUNT(*) AS n FROM markers');
      return Number((rows as Array<{ n: number }>)[0]?.n);
    },
    async createStore(options) {
      const table = `outbox_${++tables}`;
      const store = new MysqlOutboxStore({
        pool: await ready(),
        table,
        deadBlocksSubject: options?.deadBlocksSubject ?? false,
        ...(options?.subjectSequence === undefined ? {} : { subjectSequence: options.subjectSequence }),
        ...(options?.maxEventBytes ? { maxEventBytes: options.maxEventBytes } : {}),
      });
      names.set(store, table);
      await store.migrate();
      return store;
    },
    async createUnmigratedStore() {
      return new MysqlOutboxStore({ pool: await ready(), table: 'never_migrated' });
    },
    async createUnreachableStore() {
      return new MysqlOutboxStore({ pool: await unreachablePool(unreachable) });
    },
    transaction: async (_store, fn) => transaction(await ready(), fn),
    notInTransaction: () => {
      if (!pool) throw new Error('createStore() first');
      return pool as unknown as MysqlConnectionLike;
    },
    async dispose() {
      await Promise.all(unreachable.map((p) => p.end()));
      await db?.dispose();
    },
  };
}

/** The conformance harness of `MysqlInboxStore`, with an effects table per store for the handler's writes. */
export function mysqlInboxHarness(): InboxStoreHarness<MysqlConnectionLike> {
  let db: TestDatabase | undefined;
  let pool: mysql.Pool | undefined;
  let tables = 0;
  let current = 'inbox_0';
  let lastLockRead = 0;
  const unreachable: mysql.Pool[] = [];
  const ready = async (): Promise<{ db: TestDatabase; pool: mysql.Pool }> => {
    if (!db || !pool) {
      db = await createTestDatabase();
      pool = db.pool(10);
    }
    return { db, pool };
  };
  const count = async (sql: string, values: unknown[] = []): Promise<number> => {
    const [rows] = await (await ready()).db.admin.query(sql, values);
    return Number((rows as Array<{ n: number }>)[0]?.n);
  };
  return {
    async createStore() {
      current = `inbox_${++tables}`;
      const { db: database, pool: p } = await ready();
      const store = new MysqlInboxStore({ pool: p, table: current });
      await store.migrate();
      await database.admin.query(`CREATE TABLE \`${current}_effects\` (message_id VARCHAR(64) NOT NULL, KEY (message_id)) ENGINE=InnoDB`);
      return store;
    },
    async createUnmigratedStore() {
      return new MysqlInboxStore({ pool: (await ready()).pool, table: 'never_migrated' });
    },
    async createUnreachableStore() {
      return new MysqlInboxStore({ pool: await unreachablePool(unreachable) });
    },
    async writeEffect(connection, messageId) {
      await connection.query(`INSERT INTO \`${current}_effects\` (message_id) VALUES (?)`, [messageId]);
    },
    countEffects: (messageId) =>
      messageId === undefined
        ? count(`SELECT COUNT(*) AS n FROM \`${current}_effects\``)
        : count(`SELECT COUNT(*) AS n FROM \`${current}_effects\` WHERE message_id = ?`, [messageId]),
    async ageRows(ms) {
      for (const table of [current, `${current}_gap`]) {
        await (await ready()).db.admin.query(`UPDATE \`${table}\` SET recorded_at = TIMESTAMPADD(MICROSECOND, -? * 1000, recorded_at)`, [
          ms,
        ]);
      }
    },
    async lockWaits() {
      // See waitingForLock above: INNODB_TRX is refreshed only when it was not read for 100 ms.
      if (Date.now() - lastLockRead < 150) return 0;
      const { db: database } = await ready();
      // Transactions of this test's database waiting for a row lock in a statement on the position table.
      const [rows] = await database.admin.query(
        `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX AS t
         JOIN information_schema.PROCESSLIST AS p ON p.ID = t.trx_mysql_thread_id
         WHERE t.trx_state = 'LOCK WAIT' AND p.DB = ? AND LOCATE(?, t.trx_query) > 0`,
        [database.name, `\`${current}_position\``],
      );
      lastLockRead = Date.now();
      return Number((rows as Array<{ n: number }>)[0]?.n);
    },
    async dispose() {
      await Promise.all(unreachable.map((p) => p.end()));
      await db?.dispose();
    },
  };
}
