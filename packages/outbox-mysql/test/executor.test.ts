import { createEvent, OutboxConfigError, OutboxUsageError, StoreError } from '@outboxkit/outbox-core';
import { describeInboxOnRunner } from '@outboxkit/outbox-core/conformance';
import type { SqlExecutor, TransactionRunner } from '@outboxkit/outbox-core/driver';
import {
  type MysqlConnectionLike,
  MysqlInboxStore,
  MysqlOutboxStore,
  mysqlExecutor,
  mysqlTransactions,
  transaction,
} from '@outboxkit/outbox-mysql';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';

const event = (subject: string, data: unknown = { n: 1 }) => createEvent({ type: 'test.thing.happened', source: 'tests', subject, data });

/**
 * An executor as an ORM adapter writes one: statements through the connection's text API, errors
 * wrapped in the library's own error (the mysql2 error as `cause`), and a transaction state it may
 * or may not know.
 */
function ormExecutor(connection: MysqlConnectionLike, inTransaction?: boolean): SqlExecutor {
  return {
    dialect: 'mysql',
    async query<Row>(sql: string, params?: readonly unknown[]) {
      try {
        const [result] = await connection.query(sql, params === undefined ? [] : [...params]);
        if (Array.isArray(result)) return { rows: result as Row[], affectedRows: 0 };
        return { rows: [], affectedRows: (result as { affectedRows: number }).affectedRows };
      } catch (error) {
        throw new Error('the library failed to run the query', { cause: error });
      }
    },
    ...(inTransaction === undefined ? {} : { inTransaction: () => inTransaction }),
  };
}

/** The library's own transaction object, as a handler would receive it (here: a connection plus a tag). */
interface LibraryTx {
  readonly library: 'test-orm';
  readonly connection: MysqlConnectionLike;
}

let db: TestDatabase;
let pool: mysql.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool(8);
});
afterAll(async () => {
  await db.dispose();
});

describe('MysqlOutboxStore.enqueue on an SqlExecutor', () => {
  let store: MysqlOutboxStore;

  beforeAll(async () => {
    store = new MysqlOutboxStore({ pool });
    await store.migrate();
  });

  const claimedSubjects = async () => {
    const batch = await store.claim({ batchSize: 100, leaseMs: 10_000 });
    await store.complete(
      batch.token,
      batch.records.map((r) => r.id),
    );
    return batch.records.map((r) => r.subject);
  };

  it.each([
    ['that knows it is in a transaction', true],
    ['that cannot tell (the server is asked)', undefined],
  ])('commits with the transaction through an executor %s, and writes nothing when it rolls back', async (_, known) => {
    await transaction(pool, (connection) => store.enqueue(ormExecutor(connection, known), event('committed')));
    await transaction(pool, async (connection) => {
      await store.enqueue(ormExecutor(connection, known), event('rolled-back'));
      throw new Error('the caller rolls back');
    }).catch(() => undefined);
    expect(await claimedSubjects()).toEqual(['committed']);
  });

  it('refuses an executor that is not in a transaction, by its word or by the server, writing nothing', async () => {
    const connection = await pool.getConnection();
    try {
      await expect(store.enqueue(ormExecutor(connection, false), event('refused'))).rejects.toThrow(OutboxUsageError);
      const error = await store.enqueue(ormExecutor(connection), event('refused')).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OutboxUsageError);
      expect((error as Error).message).toMatch(/autocommit mode with no transaction/);
    } finally {
      connection.release();
    }
    expect((await store.stats()).pending).toBe(0);
  });

  it('refuses an executor of another dialect', async () => {
    await transaction(pool, async (connection) => {
      const pgOne = { ...ormExecutor(connection, true), dialect: 'postgres' as const };
      await expect(store.enqueue(pgOne, event('refused'))).rejects.toThrow(/MysqlOutboxStore writes to MySQL/);
    });
    expect((await store.stats()).pending).toBe(0);
  });

  it('translates the mysql2 error an executor wraps: a duplicate id is StoreError DUPLICATE', async () => {
    const first = event('dup');
    await transaction(pool, (connection) => store.enqueue(ormExecutor(connection, true), first));
    const error = await transaction(pool, (connection) => store.enqueue(ormExecutor(connection, true), first)).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'DUPLICATE', retryable: false });
    expect(await claimedSubjects()).toEqual(['dup']);
  });

  it('takes mysqlExecutor(connection) as the connection itself: commits, and refuses it outside a transaction', async () => {
    await transaction(pool, (connection) => store.enqueue(mysqlExecutor(connection), event('raw')));
    expect(await claimedSubjects()).toEqual(['raw']);
    const connection = await pool.getConnection();
    try {
      await expect(store.enqueue(mysqlExecutor(connection), event('refused'))).rejects.toThrow(OutboxUsageError);
    } finally {
      connection.release();
    }
    expect((await store.stats()).pending).toBe(0);
  });
});

describe('MysqlInboxStore on a TransactionRunner', () => {
  // A runner as an adapter writes one: the library's own transaction object for the handler, an executor for the store.
  let runner: TransactionRunner<LibraryTx>;
  let inbox: MysqlInboxStore<LibraryTx>;

  beforeAll(async () => {
    await new MysqlInboxStore({ pool }).migrate();
    await db.admin.query('CREATE TABLE effects (id VARCHAR(64) NOT NULL PRIMARY KEY) ENGINE=InnoDB');
    runner = {
      dialect: 'mysql',
      transaction: (fn) => transaction(pool, (connection) => fn({ library: 'test-orm', connection }, ormExecutor(connection, true))),
    };
    inbox = new MysqlInboxStore({ transactions: runner });
  });

  const written = async (id: string) => {
    const [rows] = await db.admin.query('SELECT 1 FROM effects WHERE id = ?', [id]);
    return (rows as unknown[]).length;
  };
  describeInboxOnRunner('MysqlInboxStore', {
    inbox: () => inbox,
    isLibraryTransaction: (tx) => tx.library === 'test-orm',
    write: (tx, id) => tx.connection.query('INSERT INTO effects VALUES (?)', [id]),
    fail: () => Promise.reject(new Error('second fails')),
    written,
    ordering: true,
  });

  it('works on mysqlTransactions(pool), the handler receiving the mysql2 connection', async () => {
    const raw = new MysqlInboxStore({ transactions: mysqlTransactions(pool) });
    expect(
      await raw.process('basket', 'p1', async (connection) => connection.query("INSERT INTO effects VALUES ('p1')").then(() => 1)),
    ).toEqual({ status: 'applied', value: 1 });
    expect(await written('p1')).toBe(1);
  });

  it('refuses a runner of another dialect, and neither pool nor runner', () => {
    expect(() => new MysqlInboxStore({ transactions: { ...runner, dialect: 'postgres' } })).toThrow(OutboxConfigError);
    expect(() => new MysqlInboxStore({} as never)).toThrow(OutboxConfigError);
  });
});
