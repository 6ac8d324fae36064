import { newEventId, OutboxConfigError } from '@outboxkit/outbox-core';
import { PgInboxStore } from '@outboxkit/outbox-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase } from './helpers.js';

describe('PgInboxStore', () => {
  let db: Awaited<ReturnType<typeof testDatabase>>;
  let inbox: PgInboxStore;
  let effects: string;

  beforeAll(async () => {
    db = await testDatabase();
    inbox = new PgInboxStore({ pool: db.pool, schema: db.schema, table: 'consumer_inbox' });
    await inbox.migrate();
    effects = `"${db.schema}".effects`;
    await db.pool.query(`CREATE TABLE ${effects} (message_id text PRIMARY KEY)`);
  });

  afterAll(async () => {
    await db.drop();
  });

  const count = async (id: string) =>
    (await db.pool.query(`SELECT count(*)::int AS n FROM ${effects} WHERE message_id = $1`, [id])).rows[0].n;

  it('returns the handler value and records the message in its own table', async () => {
    const id = newEventId();
    expect(await inbox.process('basket', id, async () => 42)).toEqual({ status: 'applied', value: 42 });
    const rows = await db.pool.query(`SELECT consumer, message_id FROM "${db.schema}".consumer_inbox`);
    expect(rows.rows).toEqual([{ consumer: 'basket', message_id: id }]);
  });

  it('rethrows the handler error itself after a failed statement, and rolls back', async () => {
    const id = newEventId();
    await db.pool.query(`INSERT INTO ${effects} VALUES ($1)`, [`taken-${id}`]);
    const error = await inbox
      .process('basket', id, async (tx) => {
        await tx.query(`INSERT INTO ${effects} VALUES ($1)`, [id]);
        await tx.query(`INSERT INTO ${effects} VALUES ($1)`, [`taken-${id}`]);
      })
      .catch((caught: unknown) => caught);
    expect((error as { code?: string }).code).toBe('23505');
    expect(await count(id)).toBe(0);
    expect((await inbox.process('basket', id, async () => {})).status).toBe('applied');
  });

  it('rolls back a batch item whose SQL failed to its savepoint and commits the rest', async () => {
    const [a, b, c] = [newEventId(), newEventId(), newEventId()];
    const outcomes = await inbox.processBatch(
      'basket',
      [a, b, c].map((messageId) => ({ messageId })),
      async (tx, item) => {
        await tx.query(`INSERT INTO ${effects} VALUES ($1)`, [item.messageId]);
        // A failing statement aborts the transaction; the savepoint is what saves a and c.
        if (item.messageId === b) await tx.query('SELECT 1/0');
      },
    );
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['applied', 'failed', 'applied']);
    expect([await count(a), await count(b), await count(c)]).toEqual([1, 0, 1]);
    expect((await inbox.processBatch('basket', [{ messageId: a }, { messageId: b }], async () => {})).map((o) => o.status)).toEqual([
      'duplicate',
      'applied',
    ]);
  });

  it('cleans up in bounded batches', async () => {
    const ids = Array.from({ length: 30 }, () => newEventId());
    await inbox.processBatch(
      'cleanup',
      ids.map((messageId) => ({ messageId })),
      async () => {},
    );
    await db.pool.query(`UPDATE "${db.schema}".consumer_inbox SET recorded_at = now() - interval '2 hours' WHERE consumer = 'cleanup'`);
    expect(await inbox.cleanup({ olderThanMs: 3_600_000, batchSize: 7, maxBatches: 3 })).toBe(21);
    expect(await inbox.cleanup({ olderThanMs: 3_600_000, batchSize: 7, maxBatches: 3 })).toBe(9);
    expect(await inbox.cleanup({ olderThanMs: 3_600_000 })).toBe(0);
  });

  it('upgrades a version 1 inbox with its rows to subject order (migration 2)', async () => {
    // A version 1 inbox: migrated, then migration 2 undone.
    const store = new PgInboxStore({ pool: db.pool, schema: db.schema, table: 'inbox_v1' });
    await store.migrate();
    await db.pool.query(`DROP TABLE "${db.schema}".inbox_v1_position, "${db.schema}".inbox_v1_gap`);
    await db.pool.query(`DELETE FROM "${db.schema}".inbox_v1_migrations WHERE version = 2`);
    await store.process('basket', 'old', async () => {});
    expect(await store.migrate()).toMatchObject({ version: 2, applied: [2] });
    await store.assertSchema();
    expect(await store.process('basket', 'old', async () => {}, { order: { subject: 'p-1', sequence: 1 } })).toEqual({
      status: 'duplicate',
    });
    expect(await store.positions('basket')).toMatchObject([{ subject: 'p-1', position: 1 }]);
  });

  it('refuses identifiers that are not plain names', () => {
    expect(() => new PgInboxStore({ pool: db.pool, table: 'inbox; DROP TABLE x' })).toThrow(OutboxConfigError);
  });

  it('refuses an unmigrated table with a message that says to migrate', async () => {
    const bare = new PgInboxStore({ pool: db.pool, schema: db.schema, table: 'never_migrated' });
    await expect(bare.assertSchema()).rejects.toThrow('migrate');
    await expect(bare.process('basket', newEventId(), async () => {})).rejects.toMatchObject({ code: 'SCHEMA_VERSION' });
  });
});
