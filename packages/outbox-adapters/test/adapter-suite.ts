import { OutboxUsageError } from '@outboxkit/outbox-core';
import type { SqlExecutor, TransactionRunner } from '@outboxkit/outbox-core/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type Dialect, type TestDatabase } from './databases.js';
import { describeOutboxAndInbox } from './outbox-suite.js';

/** One library on one database, as the shared adapter tests drive it. */
export interface AdapterHarness<Tx> {
  readonly dialect: Dialect;
  /** Opens the library's root handle (client, db, data source) on the test database. */
  open(db: TestDatabase): Promise<void>;
  /** A transaction with the library's own API. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** The adapter's executor for a transaction. */
  executor(tx: Tx): SqlExecutor;
  /** The adapter's executor for the root handle, which must be refused. */
  executorOfRoot(): SqlExecutor;
  /** The adapter's runner on the root handle. */
  runner(): TransactionRunner<Tx>;
  /** Inserts `(key, 1)` into `items` with the library's query API (model, query builder, repository). */
  insertItem(tx: Tx, key: string): Promise<void>;
  /** Runs `fn` in a nested transaction (a savepoint), where the library has them. */
  nested?: (tx: Tx, fn: (inner: Tx) => Promise<void>) => Promise<void>;
  close(): Promise<void>;
}

const failure = new Error('the transaction fails');

/** The tests every adapter passes on every database it supports; `context.db` is the file's fresh schema or database. */
export function describeAdapter<Tx>(harness: AdapterHarness<Tx>): { db(): TestDatabase } {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(harness.dialect);
    await harness.open(db);
  });
  afterAll(async () => {
    await harness.close();
    await db?.drop();
  });
  const p = harness.dialect === 'postgres' ? (n: number) => `$${n}` : () => '?';
  const items = harness.dialect === 'postgres' ? 'items (key, value)' : 'items (`key`, value)';

  describe('executor', () => {
    it("runs statements on the library's transaction: they commit with its own writes", async () => {
      const result = await harness.transaction(async (tx) => {
        await harness.insertItem(tx, 'exec-a');
        const sql = harness.executor(tx);
        expect(sql.dialect).toBe(harness.dialect);
        expect(sql.inTransaction?.()).toBe(true);
        const inserted = await sql.query(`INSERT INTO ${items} VALUES (${p(1)}, ${p(2)})`, ['exec-b', 2]);
        // Its own statements see the transaction's uncommitted writes.
        const seen = await sql.query<{ key: string }>(
          `SELECT ${harness.dialect === 'postgres' ? 'key' : '`key`'} FROM items WHERE value = ${p(1)}`,
          [1],
        );
        return { affected: inserted.affectedRows, seen: seen.rows.map((row) => row.key) };
      });
      expect(result).toEqual({ affected: 1, seen: ['exec-a'] });
      expect(await db.items()).toEqual(expect.arrayContaining(['exec-a', 'exec-b']));
    });

    it('rolls back with the transaction', async () => {
      await expect(
        harness.transaction(async (tx) => {
          await harness.executor(tx).query(`INSERT INTO ${items} VALUES (${p(1)}, ${p(2)})`, ['exec-rolled-back', 1]);
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await db.items()).not.toContain('exec-rolled-back');
    });

    it('refuses the non-transactional root handle with OutboxUsageError', () => {
      expect(() => harness.executorOfRoot()).toThrow(OutboxUsageError);
    });

    it('runs SAVEPOINT and ROLLBACK TO SAVEPOINT, as the inbox does around each message of a batch', async () => {
      await harness.transaction(async (tx) => {
        const sql = harness.executor(tx);
        await sql.query('SAVEPOINT outboxkit_test');
        await sql.query(`INSERT INTO ${items} VALUES (${p(1)}, 1)`, ['exec-savepoint-undone']);
        await sql.query('ROLLBACK TO SAVEPOINT outboxkit_test');
        await sql.query(`INSERT INTO ${items} VALUES (${p(1)}, 1)`, ['exec-savepoint-kept']);
        await sql.query('RELEASE SAVEPOINT outboxkit_test');
      });
      const keys = await db.items();
      expect(keys).toContain('exec-savepoint-kept');
      expect(keys).not.toContain('exec-savepoint-undone');
    });

    it('reports the rows a write changed', async () => {
      await harness.transaction(async (tx) => {
        const sql = harness.executor(tx);
        await sql.query(`INSERT INTO ${items} VALUES (${p(1)}, 7), (${p(2)}, 7)`, ['exec-c1', 'exec-c2']);
        expect((await sql.query(`UPDATE items SET value = 8 WHERE value = ${p(1)}`, [7])).affectedRows).toBe(2);
        expect((await sql.query(`DELETE FROM items WHERE value = ${p(1)}`, [8])).affectedRows).toBe(2);
      });
    });

    it("rejects a failed statement with the database's code where the stores look for it", async () => {
      await db.query(harness.dialect === 'postgres' ? 'INSERT INTO items VALUES ($1, 1)' : 'INSERT INTO items VALUES (?, 1)', ['exec-dup']);
      const error = await harness
        .transaction((tx) => harness.executor(tx).query(`INSERT INTO ${items} VALUES (${p(1)}, 1)`, ['exec-dup']))
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      const native = innermostCoded(error) as { code?: unknown; errno?: unknown };
      if (harness.dialect === 'postgres') expect(native.code).toBe('23505');
      else expect(native.errno).toBe(1062);
    });

    if (harness.dialect === 'postgres') {
      it('binds arrays, repeated placeholders and literal ? and $ in strings', async () => {
        const rows = await harness.transaction(async (tx) =>
          harness
            .executor(tx)
            .query<{ x: string; same: boolean; q: boolean; dollar: string }>(
              `SELECT x, $2::text = $2::text AS same, '{"a":1}'::jsonb ? 'a' AS q, '$1 ?' AS dollar FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n`,
              [['b', 'a'], 'z'],
            ),
        );
        expect(rows.rows).toEqual([
          { x: 'b', same: true, q: true, dollar: '$1 ?' },
          { x: 'a', same: true, q: true, dollar: '$1 ?' },
        ]);
      });
    }
  });

  describe('runner', () => {
    it('commits the handler\u2019s writes when it resolves, with the executor\u2019s statements', async () => {
      const runner = harness.runner();
      expect(runner.dialect).toBe(harness.dialect);
      const value = await runner.transaction(async (tx, sql) => {
        await harness.insertItem(tx, 'run-a');
        await sql.query(`INSERT INTO ${items} VALUES (${p(1)}, 1)`, ['run-b']);
        return 42;
      });
      expect(value).toBe(42);
      expect(await db.items()).toEqual(expect.arrayContaining(['run-a', 'run-b']));
    });

    it('rolls back both when the handler throws, and rethrows its error', async () => {
      await expect(
        harness.runner().transaction(async (tx, sql) => {
          await harness.insertItem(tx, 'run-rolled-back-a');
          await sql.query(`INSERT INTO ${items} VALUES (${p(1)}, 1)`, ['run-rolled-back-b']);
          throw failure;
        }),
      ).rejects.toBe(failure);
      const keys = await db.items();
      expect(keys).not.toContain('run-rolled-back-a');
      expect(keys).not.toContain('run-rolled-back-b');
    });

    if (harness.nested) {
      const nested = harness.nested;
      it('a nested transaction (savepoint) that throws undoes only its own writes', async () => {
        await harness.runner().transaction(async (tx, sql) => {
          await harness.insertItem(tx, 'nest-outer');
          await expect(
            nested(tx, async (inner) => {
              await harness.insertItem(inner, 'nest-inner');
              await harness.executor(inner).query(`INSERT INTO ${items} VALUES (${p(1)}, 1)`, ['nest-inner-sql']);
              throw failure;
            }),
          ).rejects.toBe(failure);
          await sql.query(`INSERT INTO ${items} VALUES (${p(1)}, 1)`, ['nest-after']);
        });
        const keys = await db.items();
        expect(keys).toEqual(expect.arrayContaining(['nest-outer', 'nest-after']));
        expect(keys).not.toContain('nest-inner');
        expect(keys).not.toContain('nest-inner-sql');
      });
    }
  });

  describeOutboxAndInbox(harness, () => db);
  return { db: () => db };
}

// As the stores find a driver's error behind an ORM's: the innermost of the cause chain with a code or errno.
function innermostCoded(error: unknown): unknown {
  let found: unknown = error;
  for (let current = error; typeof current === 'object' && current !== null; current = (current as { cause?: unknown }).cause) {
    const candidate = current as { code?: unknown; errno?: unknown };
    if (typeof candidate.code === 'string' || typeof candidate.errno === 'number') found = current;
  }
  return found;
}
