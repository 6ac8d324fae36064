import { createEvent, OutboxConfigError, OutboxUsageError, StoreError } from '@outboxkit/outbox-core';
import { BatchRolledBackError, type SqlExecutor, type TransactionRunner } from '@outboxkit/outbox-core/driver';
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
  let handlerTransactions: LibraryTx[];
  // A runner as an adapter writes one: the library's own transaction object for the handler, an executor for the store.
  let runner: TransactionRunner<LibraryTx>;
  let inbox: MysqlInboxStore<LibraryTx>;

  beforeAll(async () => {
    await new MysqlInboxStore({ pool }).migrate();
    await db.admin.query('CREATE TABLE effects (id VARCHAR(64) NOT NULL PRIMARY KEY) ENGINE=InnoDB');
    handlerTransactions = [];
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
  const write = (tx: LibraryTx, id: string) => {
    handlerTransactions.push(tx);
    return tx.connection.query('INSERT INTO effects VALUES (?)', [id]);
  };

  it("hands the handler the library's transaction; its writes and the inbox row commit together, once", async () => {
    handlerTransactions = [];
    expect(await inbox.process('basket', 'm1', async (tx) => write(tx, 'm1').then(() => 'done'))).toEqual({
      status: 'applied',
      value: 'done',
    });
    expect(handlerTransactions.map((tx) => tx.library)).toEqual(['test-orm']);
    expect(await written('m1')).toBe(1);
    expect(await inbox.isRecorded('basket', 'm1')).toBe(true);
    expect(await inbox.process('basket', 'm1', async (tx) => write(tx, 'm1-again'))).toEqual({ status: 'duplicate' });
    expect(await written('m1-again')).toBe(0);
  });

  it("rolls the handler's writes and the inbox row back together, rethrowing the handler's own error", async () => {
    const thrown = new Error('handler bug');
    const error = await inbox
      .process('basket', 'm2', async (tx) => {
        await write(tx, 'm2');
        throw thrown;
      })
      .catch((caught: unknown) => caught);
    expect(error).toBe(thrown);
    expect(await written('m2')).toBe(0);
    expect(await inbox.isRecorded('basket', 'm2')).toBe(false);
  });

  it('rolls back only the throwing item of a batch to its savepoint; a redelivered id in the batch is a duplicate', async () => {
    const outcomes = await inbox.processBatch(
      'basket',
      [{ messageId: 'b1' }, { messageId: 'b2' }, { messageId: 'b3' }, { messageId: 'b1' }],
      async (tx, item) => {
        await write(tx, item.messageId);
        if (item.messageId === 'b2') throw new Error('second fails');
      },
    );
    expect(outcomes.map((o) => o.status)).toEqual(['applied', 'failed', 'applied', 'duplicate']);
    expect([await written('b1'), await written('b2'), await written('b3')]).toEqual([1, 0, 1]);
    expect(await inbox.isRecorded('basket', 'b2')).toBe(false);
  });

  it('rolls the whole batch back without savepoints, with BatchRolledBackError naming the item', async () => {
    const error = await inbox
      .processBatch(
        'basket',
        [{ messageId: 'c1' }, { messageId: 'c2' }],
        async (tx, item) => {
          await write(tx, item.messageId);
          if (item.messageId === 'c2') throw new Error('second fails');
        },
        { savepoints: false },
      )
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BatchRolledBackError);
    expect(error).toMatchObject({ index: 1 });
    expect([await written('c1'), await written('c2')]).toEqual([0, 0]);
    expect(await inbox.isRecorded('basket', 'c1')).toBe(false);
  });

  it('cleans up through the runner when it has no pool', async () => {
    expect(await inbox.cleanup({ olderThanMs: 0 })).toBeGreaterThan(0);
    expect(await inbox.isRecorded('basket', 'm1')).toBe(false);
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
