import { createEvent } from '@outboxkit/outbox-core';
import { type PgClientLike, PgOutboxStore, transaction } from '@outboxkit/outbox-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase } from './helpers.js';

const WRITERS = 16;
const CLAIMERS = 4;
const EVENTS = 20_000;
const SUBJECTS = 200;

describe('PgOutboxStore under concurrent writers and claimers', () => {
  let db: Awaited<ReturnType<typeof testDatabase>>;
  let store: PgOutboxStore;

  beforeAll(async () => {
    db = await testDatabase({ max: WRITERS + CLAIMERS + 4, asyncCommit: true });
    store = new PgOutboxStore({ pool: db.pool, schema: db.schema });
    await store.migrate();
    // The aggregates the writers update before appending: locking the row orders same-subject writers.
    await db.pool.query(`CREATE TABLE "${db.schema}".aggregates (subject text PRIMARY KEY, version integer NOT NULL DEFAULT 0)`);
    await db.pool.query(`INSERT INTO "${db.schema}".aggregates (subject) SELECT 's' || n FROM generate_series(0, ${SUBJECTS - 1}) n`);
  });

  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it('publishes every event exactly once and each subject in written order', async () => {
    let remaining = EVENTS;
    let writersDone = false;
    let released = 0;
    let claims = 0;

    // "Update the aggregate row, then append the event": the row lock makes the append order of a
    // subject its commit order, and `version` records that order in the payload. Each transaction
    // changes a few aggregates (locked in subject order, so writers cannot deadlock) and appends
    // one or two events for each in one enqueue call.
    const appendSome = async (client: PgClientLike): Promise<void> => {
      const subjects = [...new Set(Array.from({ length: 4 }, () => `s${Math.floor(Math.random() * SUBJECTS)}`))].sort();
      const counts = subjects.map(() => 1 + Math.floor(Math.random() * 4));
      const total = counts.reduce((sum, n) => sum + n, 0);
      if (remaining < total) return;
      remaining -= total;
      // One statement: the CTE locks the aggregate rows in subject order, then they are updated.
      const result = await client.query<{ subject: string; version: number }>(
        `WITH locked AS (SELECT subject FROM "${db.schema}".aggregates WHERE subject = ANY($1) ORDER BY subject FOR UPDATE)
         UPDATE "${db.schema}".aggregates a SET version = a.version + c.n
         FROM unnest($1::text[], $2::int[]) AS c(subject, n)
         WHERE a.subject = c.subject AND a.subject IN (SELECT subject FROM locked) RETURNING a.subject, a.version`,
        [subjects, counts],
      );
      const last = new Map(result.rows.map((row) => [row.subject, row.version]));
      const events = subjects.flatMap((subject, i) => {
        const count = counts[i]!;
        const first = last.get(subject)! - count + 1;
        return Array.from({ length: count }, (_, k) =>
          createEvent({ type: 'test.aggregate.changed', source: 'tests', subject, data: { version: first + k } }),
        );
      });
      await store.enqueue(client, events);
    };
    // The last few events, when fewer remain than a transaction would write, go one per transaction.
    const appendOne = async (client: PgClientLike): Promise<void> => {
      if (remaining <= 0) return;
      remaining--;
      const subject = `s${Math.floor(Math.random() * SUBJECTS)}`;
      const result = await client.query<{ version: number }>(
        `UPDATE "${db.schema}".aggregates SET version = version + 1 WHERE subject = $1 RETURNING version`,
        [subject],
      );
      await store.enqueue(
        client,
        createEvent({ type: 'test.aggregate.changed', source: 'tests', subject, data: { version: result.rows[0]!.version } }),
      );
    };
    const writer = async (): Promise<void> => {
      while (remaining >= 16) await transaction(db.pool, appendSome);
      while (remaining > 0) await transaction(db.pool, appendOne);
    };

    const published: { id: string; subject: string; version: number }[] = [];
    const claimer = async (): Promise<void> => {
      for (;;) {
        const batch = await store.claim({ batchSize: 64, leaseMs: 30_000 });
        claims++;
        if (batch.records.length === 0) {
          if (writersDone && (await store.stats()).pending === 0) return;
          await store.waitForWork?.({ timeoutMs: 100 });
          continue;
        }
        const done: string[] = [];
        const failed: { id: string; retryAfterMs: number; error: string; countAttempt: boolean }[] = [];
        for (const record of batch.records) {
          if (Math.random() < 0.05) {
            failed.push({
              id: record.id,
              retryAfterMs: Math.random() * 20,
              error: 'simulated',
              countAttempt: Math.random() < 0.5,
            });
            continue;
          }
          published.push({ id: record.id, subject: record.subject, version: (JSON.parse(record.payload) as { version: number }).version });
          done.push(record.id);
        }
        expect(await store.complete(batch.token, done)).toBe(done.length);
        released += await store.release(batch.token, failed);
      }
    };

    const started = Date.now();
    const claimers = Array.from({ length: CLAIMERS }, claimer);
    await Promise.all(Array.from({ length: WRITERS }, writer));
    writersDone = true;
    const written = Date.now();
    await Promise.all(claimers);
    console.log(`wrote ${EVENTS} in ${written - started} ms; drained ${Date.now() - written} ms later; ${claims} claims`);

    expect(published).toHaveLength(EVENTS);
    expect(new Set(published.map((entry) => entry.id)).size).toBe(EVENTS);
    expect(released).toBeGreaterThan(0);

    const bySubject = new Map<string, number[]>();
    for (const entry of published) {
      const list = bySubject.get(entry.subject) ?? [];
      list.push(entry.version);
      bySubject.set(entry.subject, list);
    }
    const versions = await db.pool.query<{ subject: string; version: number }>(`SELECT subject, version FROM "${db.schema}".aggregates`);
    for (const { subject, version } of versions.rows) {
      expect(bySubject.get(subject) ?? [], subject).toEqual(Array.from({ length: version }, (_, i) => i + 1));
    }
    expect(await store.stats()).toMatchObject({ pending: 0, dead: 0 });
  });
});
