import { isPoolLike, PgOutboxStore, transaction } from '@outboxkit/outbox-pg';
import { PG_URL } from '@outboxkit/test-services';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase } from './helpers.js';

describe('transaction() and the pool checks', () => {
  let db: Awaited<ReturnType<typeof testDatabase>>;

  beforeAll(async () => {
    db = await testDatabase({ max: 2 });
    await db.pool.query(`CREATE TABLE "${db.schema}".t (n int)`);
  });

  afterAll(async () => {
    await db.drop();
  });

  it('commits what fn wrote and returns its value', async () => {
    const value = await transaction(db.pool, async (client) => {
      await client.query(`INSERT INTO "${db.schema}".t VALUES (1)`);
      return 'done';
    });
    expect(value).toBe('done');
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM "${db.schema}".t`)).rows[0].n).toBe(1);
  });

  it('destroys a client whose connection died inside fn, and the pool keeps working', async () => {
    const error = await transaction(db.pool, async (client) => {
      await client.query(`INSERT INTO "${db.schema}".t VALUES (2)`);
      await client.query('SELECT pg_terminate_backend(pg_backend_pid())');
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    // Both pool slots still give working connections.
    const [a, b] = await Promise.all([db.pool.connect(), db.pool.connect()]);
    await Promise.all([a.query('SELECT 1'), b.query('SELECT 1')]);
    a.release();
    b.release();
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM "${db.schema}".t WHERE n = 2`)).rows[0].n).toBe(0);
  });

  it('tells a pool from a client', async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    expect(isPoolLike(db.pool)).toBe(true);
    expect(isPoolLike(client)).toBe(false);
    const pooled = await db.pool.connect();
    expect(isPoolLike(pooled)).toBe(false);
    pooled.release();
  });

  it('returns from waitForWork on its timeout while the LISTEN connection cannot be opened', async () => {
    const store = new PgOutboxStore({
      pool: db.pool,
      schema: db.schema,
      listenClient: () => ({
        connect: () => new Promise(() => {}),
        query: async () => undefined,
        on: () => undefined,
        end: async () => {},
      }),
    });
    await store.waitForWork!({ timeoutMs: 50 });
    const aborted = new AbortController();
    const waiting = store.waitForWork!({ timeoutMs: 120_000, signal: aborted.signal });
    aborted.abort();
    await waiting;
  });
});
