import { createServer } from 'node:net';
import { newEventId, StoreError } from '@outboxkit/outbox-core';
import { isInfrastructureError, isTransactionConflict } from '@outboxkit/outbox-core/driver';
import { MysqlInboxStore } from '@outboxkit/outbox-mysql';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';

/** A loopback port nothing listens on: connections to it are refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let db: TestDatabase;
let pool: mysql.Pool;
let inbox: MysqlInboxStore;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool(6);
  inbox = new MysqlInboxStore({ pool });
  await inbox.migrate();
  await db.admin.query('CREATE TABLE failure_rows (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB');
  await db.admin.query('INSERT INTO failure_rows VALUES (1, 0), (2, 0)');
});
afterAll(async () => {
  await pool.end();
  await db.dispose();
});

// How the inbox reports failures, so the consumer can tell infrastructure from its handler's bugs.
describe('MysqlInboxStore failure classification', () => {
  it('a database that refuses connections is an infrastructure failure', async () => {
    const refused = mysql.createPool({ uri: `mysql://root@127.0.0.1:${await closedPort()}/test`, connectionLimit: 1 });
    const error = await new MysqlInboxStore({ pool: refused })
      .process('basket', newEventId(), async () => {})
      .catch((caught: unknown) => caught);
    await refused.end();
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'CONNECTION_LOST', retryable: true, infrastructure: true });
  });

  it("the handler's connection killed under it is an infrastructure failure", async () => {
    const id = newEventId();
    const error = await inbox
      .process('basket', id, async (connection) => {
        const [[self]] = (await connection.query('SELECT CONNECTION_ID() AS id')) as [Array<{ id: number }>, unknown];
        await db.admin.query(`KILL CONNECTION ${Number(self?.id)}`);
        await connection.query('UPDATE failure_rows SET v = v + 1 WHERE id = 1');
      })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'CONNECTION_LOST', infrastructure: true });
    expect(isInfrastructureError(error)).toBe(true);
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
        .process('basket', newEventId(), async (connection) => {
          await connection.query('UPDATE failure_rows SET v = v + 1 WHERE id = ?', [first]);
          release();
          await bothLocked;
          await connection.query('UPDATE failure_rows SET v = v + 1 WHERE id = ?', [second]);
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

  it("a handler's own errors stay its own, SQL ones included: not infrastructure", async () => {
    const plain = await inbox
      .process('basket', newEventId(), async () => {
        throw new Error('price must be positive');
      })
      .catch((caught: unknown) => caught);
    expect(plain).toEqual(new Error('price must be positive'));
    expect(isInfrastructureError(plain)).toBe(false);
    const sql = await inbox
      .process('basket', newEventId(), async (connection) => {
        await connection.query('INSERT INTO failure_rows VALUES (1, 0)');
      })
      .catch((caught: unknown) => caught);
    expect((sql as { code?: string }).code).toBe('ER_DUP_ENTRY');
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
