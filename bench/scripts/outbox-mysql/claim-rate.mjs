// Claim + complete rate of MysqlOutboxStore on a 20,000-row backlog, on the built dist/.
//   npx turbo run build --filter=@outboxkit/outbox-mysql...
//   node bench/scripts/outbox-mysql/claim-rate.mjs [subjects=200] [claimers=1,4] [batchSize=100]
// Uses OUTBOX_MYSQL_URL (default the local MariaDB); creates and drops its own database.
import { randomBytes } from 'node:crypto';
import { createEvent } from '@outboxkit/outbox-core';
import { MysqlOutboxStore, transaction } from '@outboxkit/outbox-mysql';
import { MYSQL_URL } from '@outboxkit/test-services';
import mysql from 'mysql2/promise';

const url = MYSQL_URL;
const subjects = Number(process.argv[2] ?? 200);
const claimerCounts = (process.argv[3] ?? '1,4').split(',').map(Number);
const batchSize = Number(process.argv[4] ?? 100);
const backlog = 20_000;

const database = `outboxkit_bench_${randomBytes(4).toString('hex')}`;
const admin = await mysql.createConnection({ uri: url });
await admin.query(`CREATE DATABASE \`${database}\``);
const pools = [];
const newPool = (connectionLimit) => {
  const pool = mysql.createPool({ uri: url, database, connectionLimit });
  pools.push(pool);
  return pool;
};

try {
  const writer = newPool(4);
  for (const claimers of claimerCounts) {
    const table = `outbox_${claimers}`;
    const store = new MysqlOutboxStore({ pool: writer, table });
    await store.migrate();
    for (let start = 0; start < backlog; start += 1000) {
      const events = Array.from({ length: 1000 }, (_, n) =>
        createEvent({
          type: 'bench.product.price-changed',
          source: 'bench',
          subject: `p-${(start + n) % subjects}`,
          data: { price: n, currency: 'EUR' },
        }),
      );
      await transaction(writer, (connection) => store.enqueue(connection, events));
    }
    let done = 0;
    let claims = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: claimers }, async () => {
        const relay = new MysqlOutboxStore({ pool: newPool(2), table });
        while (done < backlog) {
          const batch = await relay.claim({ batchSize, leaseMs: 30_000 });
          claims++;
          if (batch.records.length === 0) {
            await new Promise((resolve) => setTimeout(resolve, 2));
            continue;
          }
          // Awaited first: `done += await ...` would read `done` before the await and lose other loops' counts.
          const completed = await relay.complete(
            batch.token,
            batch.records.map((record) => record.id),
          );
          done += completed;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(
      `${backlog} rows, ${subjects} subjects, ${claimers} claimer(s), batch ${batchSize}: ` +
        `${Math.round(backlog / seconds)} rows/s (${seconds.toFixed(2)} s, ${claims} claims)\n`,
    );
  }
} finally {
  await Promise.allSettled(pools.map((pool) => pool.end()));
  await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await admin.end();
}
