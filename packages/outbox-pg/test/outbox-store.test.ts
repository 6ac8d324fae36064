import { createEvent, OutboxConfigError, OutboxUsageError, SchemaVersionError, StoreError } from '@outboxkit/outbox-core';
import { type PgClientLike, PgOutboxStore, type PgPoolLike, transaction } from '@outboxkit/outbox-pg';
import { PG_URL } from '@outboxkit/test-services';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimTurn, orderedWalk, outboxSql, sortedHeads } from '../src/sql/outbox-sql.js';
import { tableNames } from '../src/table-name.js';
import { freshSchemaName, testDatabase } from './helpers.js';

const event = (subject: string, data: unknown = { n: 1 }) => createEvent({ type: 'test.thing.happened', source: 'tests', subject, data });

describe('PgOutboxStore', () => {
  let db: Awaited<ReturnType<typeof testDatabase>>;
  let store: PgOutboxStore;
  const extraSchemas: string[] = [];

  beforeAll(async () => {
    db = await testDatabase();
    store = new PgOutboxStore({ pool: db.pool, schema: db.schema, listen: false });
    await store.migrate();
  });

  afterAll(async () => {
    for (const schema of extraSchemas) await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.drop();
  });

  const pending = async (s: PgOutboxStore = store) => (await s.stats()).pending;
  const drain = async (s: PgOutboxStore = store) => {
    for (;;) {
      const batch = await s.claim({ batchSize: 1000, leaseMs: 10_000 });
      if (batch.records.length === 0) return;
      await s.complete(
        batch.token,
        batch.records.map((r) => r.id),
      );
    }
  };

  /** Runs `run` on a client of its own inside a transaction that is rolled back, after the store's session settings. */
  const rolledBack = async <T>(settings: string, run: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(settings);
      return await run(client);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  };

  /** What a statement reads of the (seq) index, run as the store runs it (its settings first), per EXPLAIN ANALYZE. */
  const seqIndexReads = (settings: string, statement: string): Promise<number> =>
    rolledBack(settings, async (client) => {
      const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement}`);
      let reads = 0;
      const visit = (node: Record<string, unknown>): void => {
        if (node['Index Name'] === 'outbox_seq_idx') {
          reads += (Number(node['Actual Rows']) + Number(node['Rows Removed by Filter'] ?? 0)) * Number(node['Actual Loops']);
        }
        for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) visit(child);
      };
      const [explained] = (rows[0]?.['QUERY PLAN'] ?? []) as { Plan: Record<string, unknown> }[];
      visit(explained?.Plan ?? {});
      return reads;
    });

  /** Leases the head of each of `subjects` subjects, 10 per claim, for a minute: what other relays hold. */
  const leaseEveryHead = async (subjects: number) => {
    const held = [];
    for (let i = 0; i < subjects / 10; i++) held.push(await store.claim({ batchSize: 10, leaseMs: 60_000 }));
    expect(held.flatMap((b) => b.records)).toHaveLength(subjects);
    return held;
  };

  it('fills batches from few subjects with long backlogs and from many interleaved subjects, in either order', async () => {
    await drain();
    // Few subjects, long backlogs: every claim takes each subject's head.
    await transaction(db.pool, (client) =>
      store.enqueue(
        client,
        Array.from({ length: 300 }, (_, n) => event(`few-${n % 3}`, { n })),
      ),
    );
    const few = await store.claim({ batchSize: 50, leaseMs: 10_000 });
    expect(few.records.map((r) => r.subject).sort()).toEqual(['few-0', 'few-1', 'few-2']);
    expect(few.records.map((r) => (JSON.parse(r.payload) as { n: number }).n)).toEqual([0, 1, 2]);
    await store.complete(
      few.token,
      few.records.map((r) => r.id),
    );
    await drain();
    // Then many subjects: claims fill whole batches again, and every event is claimed once.
    await transaction(db.pool, (client) =>
      store.enqueue(
        client,
        Array.from({ length: 600 }, (_, n) => event(`many-${n}`, { n })),
      ),
    );
    const claimed: string[] = [];
    for (let batch = await store.claim({ batchSize: 50, leaseMs: 10_000 }); batch.records.length > 0; ) {
      expect(batch.records).toHaveLength(Math.min(50, 600 - claimed.length));
      claimed.push(...batch.records.map((r) => r.id));
      await store.complete(
        batch.token,
        batch.records.map((r) => r.id),
      );
      batch = await store.claim({ batchSize: 50, leaseMs: 10_000 });
    }
    expect(new Set(claimed).size).toBe(600);
  });

  it('fills a batch from subjects whose heads lie past the claim window (10 x batchSize pending rows), in write order', async () => {
    await drain();
    // The first 150 pending rows are one subject's: a batch of 10 reads a window of 100 rows, all of them 'deep'.
    await transaction(db.pool, (client) =>
      store.enqueue(client, [
        ...Array.from({ length: 150 }, (_, n) => event('deep', { n })),
        ...Array.from({ length: 40 }, (_, n) => event(`wide-${n % 20}`, { n: 150 + n })),
      ]),
    );
    const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(batch.records.map((r) => r.subject)).toEqual(['deep', ...Array.from({ length: 9 }, (_, n) => `wide-${n}`)]);
    expect(batch.records.map((r) => (JSON.parse(r.payload) as { n: number }).n)).toEqual([
      0,
      ...Array.from({ length: 9 }, (_, n) => 150 + n),
    ]);
    await store.complete(
      batch.token,
      batch.records.map((r) => r.id),
    );
    await drain();
  });

  it('reads a bounded part of the backlog when every subject head is leased, not every pending row', async () => {
    await drain();
    // 30 subjects, 100 rows deep each; three claims of 10 lease every head.
    await transaction(db.pool, (client) =>
      store.enqueue(
        client,
        Array.from({ length: 3_000 }, (_, n) => event(`held-${n % 30}`, { n })),
      ),
    );
    const held = await leaseEveryHead(30);
    // What each claim statement reads of the (seq) index, as the store runs it (its settings first), per EXPLAIN ANALYZE.
    const sql = outboxSql(tableNames(db.schema, 'outbox'));
    const args = {
      batchSize: '10',
      leaseMs: '60000',
      token: `'${crypto.randomUUID()}'`,
      maxBatchBytes: '1000000',
      maxEventBytes: '1000000',
    };
    // The walk: the window's 100 entries, then at most those 100 rows again (it read all 3,000 before).
    expect(await seqIndexReads(orderedWalk, sql.claim(args))).toBeLessThanOrEqual(200);
    // Subject by subject: the heads by row address, none of the (seq) index (it walked all 3,000, filtering on them).
    expect(await seqIndexReads(`${orderedWalk}\n${sortedHeads}`, sql.claimBySubject(args))).toBe(0);
    expect((await store.claim({ batchSize: 10, leaseMs: 10_000 })).records).toEqual([]);
    for (const b of held) {
      await store.complete(
        b.token,
        b.records.map((r) => r.id),
      );
    }
    await drain();
    expect(await pending()).toBe(0);
  });

  it("bounds the wake-up's ready check when nothing is claimable, and still sees a commit made since the last claim", async () => {
    await drain();
    // 60,000 pending rows on 30 subjects, written directly; three claims of 10 lease every head.
    await db.pool.query(`INSERT INTO "${db.schema}".outbox (id, type, source, subject, time, payload)
      SELECT gen_random_uuid(), 'test.thing.happened', 'tests', 'arm-' || (g % 30), now(), '{}' FROM generate_series(0, 59999) g`);
    await leaseEveryHead(30);
    const { arm } = outboxSql(tableNames(db.schema, 'outbox'));
    const check = arm.slice(orderedWalk.length);
    // Both ends of the backlog, 5,000 rows each, read twice at most (the bound, then the walk): it read all 60,000.
    expect(await seqIndexReads(orderedWalk, check)).toBeLessThanOrEqual(20_000);
    const ready = (): Promise<boolean> =>
      rolledBack(orderedWalk, async (client) => (await client.query<{ ready: boolean }>(check)).rows[0]?.ready === true);
    expect(await ready()).toBe(false);
    await transaction(db.pool, (client) => store.enqueue(client, [event('arm-new')]));
    expect(await ready()).toBe(true);
    // 2,000 claims would drain 30 subjects of 2,000 rows: remove them instead.
    await db.pool.query(`DELETE FROM "${db.schema}".outbox`);
    expect(await pending()).toBe(0);
  });

  it('sends its statements prepared by default, and unprepared when told (for poolers that cannot keep them)', async () => {
    await drain();
    // A connection of its own, so only this enqueue can have prepared anything on it.
    const preparedOn = async (s: PgOutboxStore) => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query('BEGIN');
        await s.enqueue(client, event('prepared'));
        const { rows } = await client.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'outboxkit_%'",
        );
        await client.query('COMMIT');
        return rows[0]?.n;
      } finally {
        await client.end();
      }
    };
    expect(await preparedOn(store)).toBe(1);
    const unprepared = new PgOutboxStore({ pool: db.pool, schema: db.schema, listen: false, preparedStatements: false });
    expect(await preparedOn(unprepared)).toBe(0);
    expect(await pending()).toBe(2);
    await drain(unprepared);
    expect(await pending()).toBe(0);
  });

  it("takes turns with other claims of its table (not of another table's), and leases what the turn before it left", async () => {
    await drain();
    const other = new PgOutboxStore({ pool: db.pool, schema: db.schema, table: 'other_outbox', listen: false });
    await other.migrate();
    for (const s of [store, other]) await transaction(db.pool, (client) => s.enqueue(client, [event('turn-a'), event('turn-b')]));
    // Another claimer's turn, held open: a claim on this table waits for it, one on another table does not.
    const holder = new pg.Client({ connectionString: PG_URL });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      const turn = claimTurn(tableNames(db.schema, 'outbox'));
      await holder.query(turn);
      const waiting = store.claim({ batchSize: 10, leaseMs: 10_000 });
      const elsewhere = await other.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(elsewhere.records.map((r) => r.subject).sort()).toEqual(['turn-a', 'turn-b']);
      await expect
        .poll(async () => {
          const { rows } = await db.pool.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND strpos(query, $1) > 0",
            [turn],
          );
          return rows[0]?.n;
        })
        .toBe(1);
      // The turn before it leased 'turn-a': the waiting claim, whose snapshot follows that commit, leaves it.
      await holder.query(`UPDATE "${db.schema}".outbox SET locked_until = now() + interval '10 seconds' WHERE subject = 'turn-a'`);
      await holder.query('COMMIT');
      const claimed = await waiting;
      expect(claimed.records.map((r) => r.subject)).toEqual(['turn-b']);
      await store.complete(
        claimed.token,
        claimed.records.map((r) => r.id),
      );
      await other.complete(
        elsewhere.token,
        elsewhere.records.map((r) => r.id),
      );
    } finally {
      await holder.end();
    }
    await db.pool.query(`UPDATE "${db.schema}".outbox SET locked_until = NULL`);
    await drain();
    expect(await pending()).toBe(0);
  });

  it('rejects a pool before writing anything', async () => {
    const error = await store.enqueue(db.pool as unknown as PgClientLike, event('a')).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OutboxUsageError);
    expect((error as Error).message).toContain('got a pg.Pool');
    expect(await pending()).toBe(0);
  });

  it('rejects a client outside a transaction, with or without a client-side status', async () => {
    const client = await db.pool.connect();
    try {
      await expect(store.enqueue(client, event('a'))).rejects.toBeInstanceOf(OutboxUsageError);
      // A bare { query } has no getTransactionStatus(): the server decides.
      const bare = { query: client.query.bind(client) } as PgClientLike;
      await expect(store.enqueue(bare, event('a'))).rejects.toBeInstanceOf(OutboxUsageError);
    } finally {
      client.release();
    }
    expect(await pending()).toBe(0);
  });

  it('accepts an open transaction that has written nothing yet, even without a client-side status', async () => {
    await transaction(db.pool, async (client) => {
      const bare = { query: client.query.bind(client) } as PgClientLike;
      await store.enqueue(bare, event('fresh'));
    });
    expect(await pending()).toBe(1);
    await drain();
  });

  it('rejects a client whose transaction has failed', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT 1/0').catch(() => undefined);
      await expect(store.enqueue(client, event('a'))).rejects.toBeInstanceOf(OutboxUsageError);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  it('leaves no event behind when the transaction rolls back', async () => {
    await expect(
      transaction(db.pool, async (client) => {
        await store.enqueue(client, [event('a'), event('b')]);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await pending()).toBe(0);
  });

  it('passes the payload through as the exact JSON text and parses headers', async () => {
    const data = { price: 12.5, name: 'Crème "brûlée" \\ 🍮', nested: { list: [1, null, true] } };
    const e = createEvent({
      type: 'catalog.price-changed',
      source: 'catalog',
      subject: 'p1',
      data,
      headers: { 'x-correlation-id': 'c-1' },
    });
    await transaction(db.pool, (client) => store.enqueue(client, e));
    const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
    expect(batch.records[0]?.payload).toBe(JSON.stringify(data));
    expect(batch.records[0]?.headers).toEqual({ 'x-correlation-id': 'c-1' });
    expect(batch.records[0]?.time).toBe(e.time);
    expect(batch.leaseUntil.getTime()).toBeGreaterThan(Date.now());
    await store.complete(batch.token, [e.id]);
  });

  it('refuses identifiers that are not plain names, naming the setting', () => {
    const bad = (options: { schema?: string; table?: string }) => {
      try {
        new PgOutboxStore({ pool: db.pool, listen: false, ...options });
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const table = bad({ table: 'outbox; DROP TABLE x' });
    expect(table).toBeInstanceOf(OutboxConfigError);
    expect((table as OutboxConfigError).setting).toBe('table');
    expect((bad({ schema: 'public"."x' }) as OutboxConfigError).setting).toBe('schema');
    expect((bad({ table: 'x'.repeat(53) }) as OutboxConfigError).setting).toBe('table');
  });

  it('works in a non-default schema and table, creating the schema', async () => {
    const schema = freshSchemaName('obx_custom');
    extraSchemas.push(schema);
    const custom = new PgOutboxStore({ pool: db.pool, schema, table: 'integration_events', listen: false });
    expect((await custom.migrate()).applied).toEqual([1, 2]);
    await transaction(db.pool, (client) => custom.enqueue(client, event('a')));
    const tables = await db.pool.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema]);
    expect(tables.rows.map((row) => row.table_name)).toEqual([
      'integration_events',
      'integration_events_migrations',
      'integration_events_subject_seq',
      'integration_events_wakeup',
    ]);
    expect(await pending(custom)).toBe(1);
    expect(await pending()).toBe(0);
  });

  it('migrates twice and concurrently without harm', async () => {
    const schema = freshSchemaName('obx_mig');
    extraSchemas.push(schema);
    const stores = Array.from({ length: 5 }, () => new PgOutboxStore({ pool: db.pool, schema, listen: false }));
    const results = await Promise.all(stores.map((s) => s.migrate()));
    expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
    expect(results.every((r) => r.version === 2)).toBe(true);
    expect(await stores[0]!.migrate()).toEqual({ version: 2, applied: [] });
    await expect(stores[0]!.assertSchema()).resolves.toBeUndefined();
  });

  it('tells to migrate when the tables are missing', async () => {
    const unmigrated = new PgOutboxStore({ pool: db.pool, schema: freshSchemaName('obx_none'), listen: false });
    const checked = await unmigrated.assertSchema().catch((caught: unknown) => caught);
    expect(checked).toBeInstanceOf(SchemaVersionError);
    expect((checked as Error).message).toContain('outbox-relay migrate');
    const claimed = await unmigrated.claim({ batchSize: 1, leaseMs: 1000 }).catch((caught: unknown) => caught);
    expect(claimed).toBeInstanceOf(SchemaVersionError);
    expect((claimed as Error).message).toContain('store.migrate()');
    const enqueued = await transaction(db.pool, (client) => unmigrated.enqueue(client, event('a'))).catch((caught: unknown) => caught);
    expect(enqueued).toBeInstanceOf(SchemaVersionError);
  });

  it('refuses a schema version newer than it knows', async () => {
    const schema = freshSchemaName('obx_new');
    extraSchemas.push(schema);
    const s = new PgOutboxStore({ pool: db.pool, schema, listen: false });
    await s.migrate();
    await db.pool.query(`INSERT INTO "${schema}"."outbox_migrations" (version, name) VALUES (99, 'from-the-future')`);
    const checked = await s.assertSchema().catch((caught: unknown) => caught);
    expect(checked).toBeInstanceOf(SchemaVersionError);
    expect((checked as SchemaVersionError).found).toBe(99);
    await expect(s.migrate()).rejects.toBeInstanceOf(SchemaVersionError);
  });

  it('translates database errors, keeping the native error as cause', async () => {
    const e = event('dup');
    await transaction(db.pool, (client) => store.enqueue(client, e));
    const error = await transaction(db.pool, (client) => store.enqueue(client, e)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('DUPLICATE');
    expect(((error as Error).cause as { code?: string }).code).toBe('23505');
    await drain();
  });

  it('recovers the rows of a claimer whose connection is killed mid-batch, after its lease', async () => {
    const events = Array.from({ length: 20 }, (_, n) => event(`k${n}`, { n }));
    await transaction(db.pool, (client) => store.enqueue(client, events));
    // The doomed relay's only connection: a single client behind a pool-shaped facade, so nothing reconnects it.
    const client = new pg.Client({ connectionString: PG_URL });
    client.on('error', () => {});
    await client.connect();
    const single = {
      query: client.query.bind(client),
      connect: async () => ({ query: client.query.bind(client), release: () => {} }),
    } as unknown as PgPoolLike;
    const doomed = new PgOutboxStore({ pool: single, schema: db.schema, listen: false });
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const batch = await doomed.claim({ batchSize: 100, leaseMs: 1_000 });
    expect(batch.records).toHaveLength(20);

    // The relay is "publishing" when its connection dies: it can neither complete nor release.
    await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    const error = await doomed
      .complete(
        batch.token,
        batch.records.map((r) => r.id),
      )
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('CONNECTION_LOST');
    expect((error as StoreError).retryable).toBe(true);

    // Nothing is stuck: the rows stay leased until the lease runs out, then another claimer takes them.
    expect((await store.claim({ batchSize: 100, leaseMs: 10_000 })).records).toEqual([]);
    // sleep-ok: the dead claimer's lease runs out in real time; that expiry is what frees its rows
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, batch.leaseUntil.getTime() - Date.now()) + 200));
    const retaken = await store.claim({ batchSize: 100, leaseMs: 10_000 });
    expect(retaken.records.map((r) => r.id).sort()).toEqual(events.map((e) => e.id).sort());
    expect(await store.complete(batch.token, [events[0]!.id])).toBe(0);
    expect(
      await store.complete(
        retaken.token,
        retaken.records.map((r) => r.id),
      ),
    ).toBe(20);
    expect(await pending()).toBe(0);
    await client.end().catch(() => undefined);
  });
});
