import type { InboxStore } from '@outboxkit/outbox-core';
import { MysqlInboxStore } from '@outboxkit/outbox-mysql';
import { PgInboxStore } from '@outboxkit/outbox-pg';
import { PG_URL } from '@outboxkit/test-services';
import { createPool, type Pool as MysqlPool } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlFixture } from './mysql-fixture.js';
import { pgFixturePerFile } from './pg-fixture.js';
import { runRelay } from './relay-process.js';

const pgFixture = pgFixturePerFile();
const mysqlFixture = new MysqlFixture();
let mysqlPool: MysqlPool;
beforeAll(async () => {
  await mysqlFixture.init();
  mysqlPool = createPool({ uri: mysqlFixture.url, connectionLimit: 2 });
});
afterAll(async () => {
  await mysqlPool?.end();
  await mysqlFixture.dispose();
});

interface Setup {
  readonly inbox: InboxStore<unknown>;
  readonly env: Record<string, string>;
}

const databases: ReadonlyArray<[string, () => Setup]> = [
  [
    'PostgreSQL',
    () => ({
      inbox: new PgInboxStore({ pool: pgFixture.pool, schema: pgFixture.schema, table: 'admin_inbox' }) as InboxStore<unknown>,
      env: { OUTBOX_DATABASE_URL: PG_URL, OUTBOX_SCHEMA: pgFixture.schema, OUTBOX_INBOX_TABLE: 'admin_inbox' },
    }),
  ],
  [
    'MariaDB',
    () => ({
      inbox: new MysqlInboxStore({ pool: mysqlPool, table: 'admin_inbox' }) as InboxStore<unknown>,
      env: { OUTBOX_DATABASE_URL: mysqlFixture.url, OUTBOX_INBOX_TABLE: 'admin_inbox' },
    }),
  ],
];

describe.each(databases)('inbox positions and inbox skip on %s', { timeout: 120_000 }, (_name, setup) => {
  it('lists a waiting subject, and an operator skip lets its next event run', async () => {
    const { inbox, env } = setup();
    await inbox.migrate();
    const applied: number[] = [];
    const run = (sequence: number) =>
      inbox.process('basket', `event-${sequence}`, async () => void applied.push(sequence), { order: { subject: 'product-1', sequence } });
    expect((await run(1)).status).toBe('applied');
    // Events 2 and 3 were purged from the stream: 4 waits for 2 at position 1.
    expect(await run(4)).toEqual({ status: 'waiting', position: 1 });

    const listed = await runRelay(['inbox', 'positions', '--consumer', 'basket', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ subject: 'product-1', position: 1, gapsAhead: [] }]);

    const skipped = await runRelay(['inbox', 'skip', '--consumer', 'basket', '--subject', 'product-1', '--to', '3'], env);
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.stdout).toContain('skipped 2 sequence(s) of product-1 (2 to 3); position 3');
    expect((await run(4)).status).toBe('applied');
    expect(applied).toEqual([1, 4]);

    // Nothing to skip below the position; a skip is never undone by a second run.
    const again = await runRelay(['inbox', 'skip', '--consumer', 'basket', '--subject', 'product-1', '--to', '3'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already at position 4');
  });

  it('prints a subject with control characters escaped', async () => {
    const { inbox, env } = setup();
    await inbox.migrate();
    const subject = 'p-\u001b[31mred';
    await inbox.process('audit', 'event-a', async () => undefined, { order: { subject, sequence: 1 } });
    const listed = await runRelay(['inbox', 'positions', '--consumer', 'audit'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain('\u001b');
    expect(listed.stdout).toContain('position=1');
  });
});
