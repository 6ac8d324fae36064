import { createServer } from 'node:net';
import { newEventId, StoreError } from '@outboxkit/outbox-core';
import { isInfrastructureError, isTransactionConflict } from '@outboxkit/outbox-core/driver';
import { PgInboxStore } from '@outboxkit/outbox-pg';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase } from './helpers.js';

/** A loopback port nothing listens on: connections to it are refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// How the inbox reports failures, so the consumer can tell infrastructure from its handler's bugs.
describe('PgInboxStore failure classification', () => {
  let db: Awaited<ReturnType<typeof testDatabase>>;
  let inbox: PgInboxStore;
  let rows: string;

  beforeAll(async () => {
    db = await testDatabase({ max: 6 });
    inbox = new PgInboxStore({ pool: db.pool, schema: db.schema, table: 'inbox' });
    await inbox.migrate();
    rows = `"${db.schema}".rows`;
    await db.pool.query(`CREATE TABLE ${rows} (id int PRIMARY KEY, v int NOT NULL)`);
    await db.pool.query(`INSERT INTO ${rows} VALUES (1, 0), (2, 0)`);
  });

  afterAll(async () => {
    await db.drop();
  });

  it('a database that refuses connections is an infrastructure failure', async () => {
    const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/test` });
    const error = await new PgInboxStore({ pool }).process('basket', newEventId(), async () => {}).catch((caught: unknown) => caught);
    await pool.end();
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'CONNECTION_LOST', retryable: true, infrastructure: true });
  });

  it("the handler's connection terminated under it is an infrastructure failure, with the handler's error as cause", async () => {
    const id = newEventId();
    const error = await inbox
      .process('basket', id, async (tx) => {
        const {
          rows: [self],
        } = await tx.query('SELECT pg_backend_pid() AS pid');
        await db.pool.query('SELECT pg_terminate_backend($1)', [(self as { pid: number }).pid]);
        await tx.query(`UPDATE ${rows} SET v = v + 1 WHERE id = 1`);
      })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'CONNECTION_LOST', infrastructure: true });
    expect(isInfrastructureError(error)).toBe(true);
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(await inbox.isRecorded('basket', id)).toBe(false);
  });

  it('a deadlock between two handlers is a transaction conflict (infrastructure), and the other one commits', async () => {
    let release!: () => void;
    const bothLocked = new Promise<void>((resolve) => {
      let waiting = 2;
      release = () => {
        if (--waiting === 0) resolve();
      };
    });
    const crossing = (first: number, second: number) =>
      inbox
        .process('basket', newEventId(), async (tx) => {
          await tx.query(`UPDATE ${rows} SET v = v + 1 WHERE id = $1`, [first]);
          release();
          await bothLocked;
          await tx.query(`UPDATE ${rows} SET v = v + 1 WHERE id = $1`, [second]);
        })
        .then(
          (outcome) => outcome.status,
          (caught: unknown) => caught,
        );
    const results = await Promise.all([crossing(1, 2), crossing(2, 1)]);
    const failed = results.filter((result) => result !== 'applied');
    expect(results.filter((result) => result === 'applied')).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ code: 'DEADLOCK', infrastructure: true });
    expect(isTransactionConflict(failed[0])).toBe(true);
  });

  it('a server in read-only mode (a standby after a failover) is an infrastructure failure', async () => {
    const error = await inbox
      .process('basket', newEventId(), async (tx) => {
        await tx.query('SET TRANSACTION READ ONLY');
        await tx.query(`UPDATE ${rows} SET v = v + 1 WHERE id = 1`);
      })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'READ_ONLY', infrastructure: true });
  });

  it("a handler's own errors stay its own, SQL ones included: not infrastructure", async () => {
    const plain = await inbox
      .process('basket', newEventId(), async () => {
        throw new Error('price must be positive');
      })
      .catch((caught: unknown) => caught);
    expect(plain).toEqual(new Error('price must be positive'));
    expect(isInfrastructureError(plain)).toBe(false);
    const sql = await inbox
      .process('basket', newEventId(), async (tx) => {
        await tx.query(`INSERT INTO ${rows} VALUES (1, 0)`);
      })
      .catch((caught: unknown) => caught);
    expect((sql as { code?: string }).code).toBe('23505');
    expect(isInfrastructureError(sql)).toBe(false);
  });

  it('isRecorded says whether a message was applied, by any instance', async () => {
    const id = newEventId();
    expect(await inbox.isRecorded('basket', id)).toBe(false);
    await inbox.process('basket', id, async () => {});
    expect(await inbox.isRecorded('basket', id)).toBe(true);
    expect(await inbox.isRecorded('ordering', id)).toBe(false);
  });
});
