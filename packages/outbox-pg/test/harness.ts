import { createServer } from 'node:net';
import type { InboxStore, OutboxStore } from '@outboxkit/outbox-core';
import type { InboxStoreHarness, OutboxStoreHarness } from '@outboxkit/outbox-core/conformance';
import { type PgClientLike, PgInboxStore, PgOutboxStore, transaction } from '@outboxkit/outbox-pg';
import pg from 'pg';
import { testDatabase } from './helpers.js';

/** A loopback port nothing listens on: connections to it are refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A pool on a closed port, for the error contract; ended by `dispose()`. */
async function unreachablePool(pools: pg.Pool[]): Promise<pg.Pool> {
  const pool = new pg.Pool({ host: '127.0.0.1', port: await closedPort(), user: 'postgres', database: 'test', max: 1 });
  pools.push(pool);
  return pool;
}

/** Runs the core `describeOutboxStore` suite on PostgreSQL: one schema, a new table per store. */
export function pgOutboxHarness(): OutboxStoreHarness<PgClientLike> {
  let database: Awaited<ReturnType<typeof testDatabase>> | undefined;
  const stores: PgOutboxStore[] = [];
  const tables = new Map<OutboxStore<PgClientLike>, string>();
  const unreachable: pg.Pool[] = [];
  const db = async () => {
    if (!database) {
      database = await testDatabase({ prefix: 'obx_conf' });
      await database.pool.query(`CREATE TABLE "${database.schema}".markers (key text NOT NULL)`);
    }
    return database;
  };
  return {
    stampsSequences: true,
    async createStore(options) {
      const { pool, schema } = await db();
      const table = `outbox_${stores.length}`;
      const store = new PgOutboxStore({
        pool,
        schema,
        table,
        deadBlocksSubject: options?.deadBlocksSubject ?? false,
        ...(options?.subjectSequence === undefined ? {} : { subjectSequence: options.subjectSequence }),
        ...(options?.maxEventBytes ? { maxEventBytes: options.maxEventBytes } : {}),
      });
      stores.push(store);
      tables.set(store, table);
      await store.migrate();
      return store;
    },
    async createUnmigratedStore() {
      const { pool, schema } = await db();
      const store = new PgOutboxStore({ pool, schema, table: 'never_migrated', listen: false });
      stores.push(store);
      return store;
    },
    async createUnreachableStore() {
      const store = new PgOutboxStore({ pool: await unreachablePool(unreachable), listen: false });
      stores.push(store);
      return store;
    },
    async transaction<T>(_store: OutboxStore<PgClientLike>, fn: (tx: PgClientLike) => Promise<T>) {
      return transaction((await db()).pool, fn);
    },
    async writeUnchecked(store, events) {
      const { pool, schema } = await db();
      for (const e of events) {
        await pool.query(
          `INSERT INTO "${schema}"."${tables.get(store)}" (id, type, source, subject, time, payload, headers) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)`,
          [e.id, e.type, e.source, e.subject, e.time, JSON.stringify(e.data), JSON.stringify(e.headers)],
        );
      }
    },
    async waitingForLock(store) {
      const { pool, schema } = await db();
      // A backend of this test waiting for a lock while running a statement on the store's counter table.
      const counter = `"${schema}"."${tables.get(store)}_subject_seq"`;
      const result = await pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0`,
        [counter],
      );
      return (result.rows[0].n as number) > 0;
    },
    async writeMarker(tx, key) {
      await tx.query(`INSERT INTO "${(await db()).schema}".markers (key) VALUES ($1)`, [key]);
    },
    async countMarkers() {
      const { pool, schema } = await db();
      return (await pool.query(`SELECT count(*)::int AS n FROM "${schema}".markers`)).rows[0].n as number;
    },
    notInTransaction() {
      if (!database) throw new Error('createStore() first');
      return database.pool as unknown as PgClientLike;
    },
    async dispose() {
      await Promise.all(stores.map((store) => store.close()));
      await Promise.all(unreachable.map((p) => p.end()));
      await database?.drop();
    },
  };
}

/** Runs the core `describeInboxStore` suite on PostgreSQL: a new inbox and effects table per store. */
export function pgInboxHarness(): InboxStoreHarness<PgClientLike> {
  let database: Awaited<ReturnType<typeof testDatabase>> | undefined;
  let current = 0;
  const unreachable: pg.Pool[] = [];
  const db = async () => {
    database ??= await testDatabase({ prefix: 'obx_inbox' });
    return database;
  };
  const pool = (): pg.Pool => {
    if (!database) throw new Error('createStore() first');
    return database.pool;
  };
  return {
    async createStore(): Promise<InboxStore<PgClientLike>> {
      const { pool: p, schema } = await db();
      current++;
      const store = new PgInboxStore({ pool: p, schema, table: `inbox_${current}` });
      await store.migrate();
      await p.query(`CREATE TABLE "${schema}"."effects_${current}" (message_id text NOT NULL)`);
      return store;
    },
    async createUnmigratedStore() {
      const { pool: p, schema } = await db();
      return new PgInboxStore({ pool: p, schema, table: 'never_migrated' });
    },
    async createUnreachableStore() {
      return new PgInboxStore({ pool: await unreachablePool(unreachable) });
    },
    async writeEffect(tx, messageId) {
      await tx.query(`INSERT INTO "${database!.schema}"."effects_${current}" (message_id) VALUES ($1)`, [messageId]);
    },
    async countEffects(messageId) {
      const table = `"${database!.schema}"."effects_${current}"`;
      const result =
        messageId === undefined
          ? await pool().query(`SELECT count(*)::int AS n FROM ${table}`)
          : await pool().query(`SELECT count(*)::int AS n FROM ${table} WHERE message_id = $1`, [messageId]);
      return result.rows[0].n as number;
    },
    async ageRows(ms) {
      for (const table of [`inbox_${current}`, `inbox_${current}_gap`]) {
        await pool().query(`UPDATE "${database!.schema}"."${table}" SET recorded_at = recorded_at - $1 * interval '1 millisecond'`, [ms]);
      }
    },
    async lockWaits() {
      // Backends waiting for a lock while running a statement on the current store's position table.
      const result = await pool().query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0`,
        [`"${database!.schema}"."inbox_${current}_position"`],
      );
      return result.rows[0].n as number;
    },
    async dispose() {
      await Promise.all(unreachable.map((p) => p.end()));
      await database?.drop();
    },
  };
}
