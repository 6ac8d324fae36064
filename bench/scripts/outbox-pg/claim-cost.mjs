// What an empty claim costs, with the claim PREPAREd per connection and sent as text each time.
// Run from the repository root after a build:
//   npx turbo run build --filter=@outboxkit/outbox-pg... && node bench/scripts/outbox-pg/claim-cost.mjs
// Env: OUTBOX_PG_URL, BENCH_CALLS (2000), BENCH_RUNS (3).
import { PgOutboxStore } from '@outboxkit/outbox-pg';
import { PG_URL } from '@outboxkit/test-services';
import pg from 'pg';

const url = PG_URL;
const calls = Number(process.env.BENCH_CALLS ?? 2_000);
const runs = Number(process.env.BENCH_RUNS ?? 3);

const pool = new pg.Pool({ connectionString: url, max: 1 });
const schema = `bench_claim_${process.pid}`;
await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
const stores = {
  prepared: new PgOutboxStore({ pool, schema, listen: false }),
  'sent as text': new PgOutboxStore({ pool, schema, listen: false, preparedStatements: false }),
};
await stores.prepared.migrate();

const perCall = Object.fromEntries(Object.keys(stores).map((name) => [name, []]));
for (let run = 0; run < runs; run++) {
  // Interleaved, one client, sequential calls: the time per call is round trip plus server work.
  for (const [name, store] of Object.entries(stores)) {
    const started = performance.now();
    for (let i = 0; i < calls; i++) await store.claim({ batchSize: 500, leaseMs: 30_000 });
    perCall[name].push(((performance.now() - started) / calls) * 1000);
  }
}

const print = (line) => process.stdout.write(`${line}\n`);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
print(`empty claim, ${calls} sequential calls on one connection, ${runs} interleaved runs`);
print('| claim | us per call, median | min - max |');
print('| --- | ---: | ---: |');
for (const [name, values] of Object.entries(perCall)) {
  print(`| ${name} | ${median(values).toFixed(0)} | ${Math.min(...values).toFixed(0)} - ${Math.max(...values).toFixed(0)} |`);
}

await pool.query(`DROP SCHEMA ${schema} CASCADE`);
await pool.end();
