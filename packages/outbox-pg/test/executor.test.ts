import { createEvent, OutboxConfigError, OutboxUsageError, StoreError } from '@outboxkit/outbox-core';
import { describeInboxOnRunner } from '@outboxkit/outbox-core/conformance';
import type { SqlExecutor, TransactionRunner } from '@outboxkit/outbox-core/driver';
import { type PgClientLike, PgInboxStore, PgOutboxStore, pgExecutor, pgTransactions, transaction } from '@outboxkit/outbox-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase } from './helpers.js';

const event = (subject: string, data: unknown = { n: 1 }) => createEvent({ type: 'test.thing.happened', source: 'tests', subject, data });

/**
 * An executor as an ORM adapter writes one: statements through the client's text API, errors
 * wrapped in the library's own error (the pg error as `cause`), and a transaction state it may or
 * may not know.
 */
function ormExecutor(client: PgClientLike, inTransaction?: boolean): SqlExecutor {
  return {
    dialect: 'postgres',
    async query<Row>(sql: string, params?: readonly unknown[]) {
      try {
        const result = await client.query<Row>(sql, params === undefined ? [] : [...params]);
        return { rows: result.rows, affectedRows: result.rowCount ?? 0 };
      } catch (error) {
        throw new Error('the library failed to run the query', { cause: error });
      }
    },
    ...(inTransaction === undefined ? {} : { inTransaction: () => inTransaction }),
  };
}

/** The library's own transaction object, as a handler would receive it (here: a client plus a tag). */
interface LibraryTx {
  readonly library: 'test-orm';
  readonly client: PgClientLike;
}

describe('PgOutboxStore.enqueue on an SqlExecutor', () => {
  let db: Awaited<ReturnType<typeof testDatabase>>;
  let store: PgOutboxStore;

  beforeAll(async () => {
    db = await testDatabase();
    store = new PgOutboxStore({ pool: db.pool, schema: db.schema, listen: false });
    await store.migrate();
  });

  afterAll(async () => {
    await db.drop();
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
    await transaction(db.pool, (client) => store.enqueue(ormExecutor(client, known), event('committed')));
    await transaction(db.pool, async (client) => {
      await store.enqueue(ormExecutor(client, known), event('rolled-back'));
      throw new Error('the caller rolls back');
    }).catch(() => undefined);
    expect(await claimedSubjects()).toEqual(['committed']);
  });

  it('refuses an executor that is not in a transaction, by its word or by the server, writing nothing', async () => {
    const client = await db.pool.connect();
    try {
      await expect(store.enqueue(ormExecutor(client, false), event('refused'))).rejects.toThrow(OutboxUsageError);
      const error = await store.enqueue(ormExecutor(client), event('refused')).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OutboxUsageError);
      expect((error as Error).message).toMatch(/not inside a transaction block/);
    } finally {
      client.release();
    }
    expect((await store.stats()).pending).toBe(0);
  });

  it('refuses an executor of another dialect', async () => {
    await transaction(db.pool, async (client) => {
      const mysqlOne = { ...ormExecutor(client, true), dialect: 'mysql' as const };
      await expect(store.enqueue(mysqlOne, event('refused'))).rejects.toThrow(/PgOutboxStore writes to PostgreSQL/);
    });
    expect((await store.stats()).pending).toBe(0);
  });

  it('translates the pg error an executor wraps: a duplicate id is StoreError DUPLICATE', async () => {
    const first = event('dup');
    await transaction(db.pool, (client) => store.enqueue(ormExecutor(client, true), first));
    const error = await transaction(db.pool, (client) => store.enqueue(ormExecutor(client, true), first)).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'DUPLICATE', retryable: false });
    expect(await claimedSubjects()).toEqual(['dup']);
  });

  it('takes pgExecutor(client) as the client itself: commits, and refuses it outside a transaction', async () => {
    await transaction(db.pool, (client) => store.enqueue(pgExecutor(client), event('raw')));
    expect(await claimedSubjects()).toEqual(['raw']);
    const client = await db.pool.connect();
    try {
      await expect(store.enqueue(pgExecutor(client), event('refused'))).rejects.toThrow(OutboxUsageError);
    } finally {
      client.release();
    }
    expect((await store.stats()).pending).toBe(0);
  });
});

describe('PgInboxStore on a TransactionRunner', () => {
  let db: Awaited<ReturnType<typeof testDatabase>>;
  let effects: string;
  // A runner as an adapter writes one: the library's own transaction object for the handler, an executor for the store.
  let runner: TransactionRunner<LibraryTx>;
  let inbox: PgInboxStore<LibraryTx>;

  beforeAll(async () => {
    db = await testDatabase();
    await new PgInboxStore({ pool: db.pool, schema: db.schema }).migrate();
    effects = `"${db.schema}".effects`;
    await db.pool.query(`CREATE TABLE ${effects} (id text PRIMARY KEY)`);
    runner = {
      dialect: 'postgres',
      transaction: (fn) => transaction(db.pool, (client) => fn({ library: 'test-orm', client }, ormExecutor(client, true))),
    };
    inbox = new PgInboxStore({ transactions: runner, schema: db.schema });
  });

  afterAll(async () => {
    await db.drop();
  });

  const written = async (id: string) => (await db.pool.query(`SELECT 1 FROM ${effects} WHERE id = $1`, [id])).rowCount ?? 0;
  describeInboxOnRunner('PgInboxStore', {
    inbox: () => inbox,
    isLibraryTransaction: (tx) => tx.library === 'test-orm',
    write: (tx, id) => tx.client.query(`INSERT INTO ${effects} VALUES ($1)`, [id]),
    fail: (tx) => tx.client.query('SELECT 1/0'),
    written,
    ordering: true,
  });

  it('works on pgTransactions(pool), the handler receiving the pg client', async () => {
    const raw = new PgInboxStore({ transactions: pgTransactions(db.pool), schema: db.schema });
    expect(await raw.process('basket', 'p1', async (client) => client.query(`INSERT INTO ${effects} VALUES ('p1')`).then(() => 1))).toEqual(
      {
        status: 'applied',
        value: 1,
      },
    );
    expect(await written('p1')).toBe(1);
  });

  it('refuses a runner of another dialect, and neither pool nor runner', () => {
    expect(() => new PgInboxStore({ transactions: { ...runner, dialect: 'mysql' }, schema: db.schema })).toThrow(OutboxConfigError);
    expect(() => new PgInboxStore({} as never)).toThrow(OutboxConfigError);
  });
});
