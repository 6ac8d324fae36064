// What a claim costs when the backlog's subject heads are leased by other relays: a backlog of
// BENCH_ROWS pending rows on BENCH_SUBJECTS subjects (row i on subject i mod BENCH_SUBJECTS),
// then claims of 500 with every head free, half of them leased, and every one leased (the state
// of a claim when relays x batchSize exceed the subjects), then three idle waits of 10 ms
// (`waitForWork`: arm the wake-up, check for a claimable row, wait) in that state. Prints each
// claim's rows and time, and each wait's time.
// Run from the repository root after a build:
//   npx turbo run build --filter=@outboxkit/outbox-pg... && node bench/scripts/outbox-pg/leased-heads.mjs
// Env: OUTBOX_PG_URL, BENCH_ROWS (200000), BENCH_SUBJECTS (1000).
import { PgOutboxStore } from '@outboxkit/outbox-pg';
import { PG_URL } from '@outboxkit/test-services';
import pg from 'pg';

const rows = Number(process.env.BENCH_ROWS ?? 200_000);
const subjects = Number(process.env.BENCH_SUBJECTS ?? 1_000);
const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
const schema = `bench_leased_${process.pid}`;
try {
  const store = new PgOutboxStore({ pool, schema, listen: false });
  await store.migrate();
  await pool.query(`INSERT INTO ${schema}.outbox (id, type, source, subject, time, payload)
    SELECT gen_random_uuid(), 'bench.row', 'bench', 'subject-' || (g % ${subjects}), now(), repeat('x', 120)
    FROM generate_series(0, ${rows - 1}) g`);
  await pool.query(`VACUUM ANALYZE ${schema}.outbox`);
  const states = ['every head free', 'half the heads leased', 'every head leased', 'every head leased', 'every head leased'];
  for (const state of states) {
    const started = performance.now();
    // An hour's lease: the claims after it find those heads leased.
    const batch = await store.claim({ batchSize: 500, leaseMs: 3_600_000 });
    process.stdout.write(`${state}: ${batch.records.length} rows in ${(performance.now() - started).toFixed(1)} ms\n`);
  }
  // A store with its LISTEN connection, as a relay's: its wait arms the wake-up and checks first.
  const listening = new PgOutboxStore({ pool, schema });
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    await listening.waitForWork({ timeoutMs: 10 });
    process.stdout.write(`idle wait of 10 ms, every head leased: ${(performance.now() - started).toFixed(1)} ms\n`);
  }
  await listening.close();
} finally {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
}
