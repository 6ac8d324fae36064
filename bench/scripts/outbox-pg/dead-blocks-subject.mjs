// What `deadBlocksSubject` costs a drain: 20,000 pending rows over 2,000 subjects, with 0 or 1,000
// dead rows (on subjects of their own) left in the table, claimed and completed in batches of 500.
// Run from the repository root after a build:
//   npx turbo run build --filter=@outboxkit/outbox-pg... && node bench/scripts/outbox-pg/dead-blocks-subject.mjs
// Env: OUTBOX_PG_URL.
import { createEvent } from '@outboxkit/outbox-core';
import { PgOutboxStore, transaction } from '@outboxkit/outbox-pg';
import { PG_URL } from '@outboxkit/test-services';
import pg from 'pg';

const url = PG_URL;
const pool = new pg.Pool({ connectionString: url, max: 4 });
const schema = `bench_dead_${process.pid}`;
await pool.query(`CREATE SCHEMA ${schema}`);
const event = (subject, data) => createEvent({ type: 'bench.item', source: 'bench', subject, data });
try {
  for (const dead of [0, 1_000]) {
    for (const deadBlocksSubject of [false, true]) {
      const table = `t_${dead}_${deadBlocksSubject}`;
      const store = new PgOutboxStore({ pool, schema, table, listen: false, deadBlocksSubject });
      await store.migrate();
      const deadEvents = Array.from({ length: dead }, (_, i) => event(`dead-${i}`, {}));
      const events = Array.from({ length: 20_000 }, (_, i) => event(`s-${i % 2_000}`, { i }));
      for (const [rows, state] of [
        [deadEvents, 'dead'],
        [events, 'pending'],
      ]) {
        await transaction(pool, async (client) => {
          for (let i = 0; i < rows.length; i += 1_000) await store.enqueue(client, rows.slice(i, i + 1_000));
        });
        if (state === 'dead') await pool.query(`UPDATE ${schema}.${table} SET state = 'dead', dead_at = now()`);
      }
      await pool.query(`ANALYZE ${schema}.${table}`);
      let drained = 0;
      const started = performance.now();
      for (;;) {
        const batch = await store.claim({ batchSize: 500, leaseMs: 30_000 });
        if (batch.records.length === 0) break;
        drained += batch.records.length;
        await store.complete(
          batch.token,
          batch.records.map((record) => record.id),
        );
      }
      const ms = performance.now() - started;
      process.stdout.write(`dead rows ${dead}, deadBlocksSubject ${deadBlocksSubject}: ${drained} rows in ${ms.toFixed(0)} ms\n`);
    }
  }
} finally {
  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool.end();
}
