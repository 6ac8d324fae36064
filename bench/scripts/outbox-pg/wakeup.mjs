// Producer throughput with and without the outbox, and what the wake-up costs producers.
// Run from the repository root after a build:
//   npx turbo run build --filter=@outboxkit/outbox-pg... && node bench/scripts/outbox-pg/wakeup.mjs
// Env: OUTBOX_PG_URL, BENCH_CLIENTS (8), BENCH_SECONDS (4), BENCH_RUNS (3).
import { createEvent } from '@outboxkit/outbox-core';
import { PgOutboxStore, transaction } from '@outboxkit/outbox-pg';
import { PG_URL } from '@outboxkit/test-services';
import pg from 'pg';

const url = PG_URL;
const clients = Number(process.env.BENCH_CLIENTS ?? 8);
const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const ACCOUNTS = 10_000;

const pool = new pg.Pool({ connectionString: url, max: clients + 4 });
const schema = `bench_wakeup_${process.pid}`;
await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
await pool.query(`CREATE SCHEMA ${schema}`);
await pool.query(`CREATE TABLE ${schema}.accounts (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0)`);
await pool.query(`INSERT INTO ${schema}.accounts (id) SELECT generate_series(1, ${ACCOUNTS})`);
const store = new PgOutboxStore({ pool, schema });
await store.migrate();
// The same outbox with every statement sent unprepared (parsed and planned on each call).
const unprepared = new PgOutboxStore({ pool, schema, listen: false, preparedStatements: false });
const channel = `outboxkit.${schema}.outbox`;

const update = (client, id) => client.query(`UPDATE ${schema}.accounts SET balance = balance + 1 WHERE id = $1`, [id]);
const eventFor = (id) => createEvent({ type: 'bench.account.credited', source: 'bench', subject: `acct-${id}`, data: { id, amount: 1 } });

const withEvent = async (client, id) => {
  await update(client, id);
  await store.enqueue(client, eventFor(id));
};
// The first design's enqueue statement, sent unprepared: producers disarmed the flag themselves.
const firstDesign = `WITH inserted AS (
  INSERT INTO ${schema}.outbox (id, type, source, subject, time, payload, headers)
  SELECT e.id, e.type, e.source, e.subject, e.time, e.payload, e.headers::jsonb
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])
    WITH ORDINALITY AS e(id, type, source, subject, time, payload, headers, ord)
  ORDER BY e.ord
  RETURNING 1
), woken AS (
  UPDATE ${schema}.outbox_wakeup SET armed = false WHERE armed RETURNING pg_notify($8, '')
)
SELECT (SELECT count(*) FROM inserted)::int AS inserted, (SELECT count(*) FROM woken)::int AS woken`;
const insert = `INSERT INTO ${schema}.outbox (id, type, source, subject, time, payload, headers) VALUES ($1, $2, $3, $4, $5, $6, $7)`;
const withInsert = async (client, id) => {
  await update(client, id);
  const e = eventFor(id);
  await client.query(insert, [e.id, e.type, e.source, e.subject, e.time, JSON.stringify(e.data), '{}']);
};
// `wait`: how the relay idles. 'listen' arms the wake-up flag (waitForWork); 'poll' sleeps 100 ms
// without arming, so producers never NOTIFY: the outbox INSERT's own cost; 'none': no relay.
const scenarios = {
  'UPDATE alone': { wait: 'listen', body: async (client, id) => update(client, id) },
  'UPDATE + enqueue, relay polling (no NOTIFY)': { wait: 'poll', body: withEvent },
  'UPDATE + hand-written INSERT, relay polling': { wait: 'poll', body: withInsert },
  'UPDATE + enqueue, coalesced wake-up': { wait: 'listen', body: withEvent },
  // No relay at all (the outbox grows for the run): what the producer's statement costs by itself.
  'same, no relay draining': { wait: 'none', body: withEvent },
  'UPDATE + hand-written INSERT, no relay draining': { wait: 'none', body: withInsert },
  'first design: producers disarm, unprepared': {
    wait: 'listen',
    body: async (client, id) => {
      await update(client, id);
      const e = eventFor(id);
      const columns = [[e.id], [e.type], [e.source], [e.subject], [e.time], [JSON.stringify(e.data)], ['{}']];
      await client.query(firstDesign, [...columns, channel]);
    },
  },
  'same, statements unprepared': {
    wait: 'listen',
    body: async (client, id) => {
      await update(client, id);
      await unprepared.enqueue(client, eventFor(id));
    },
  },
  // The transaction check's fallback: a client that cannot report its status costs one LOCK TABLE round trip.
  'same, client without getTransactionStatus': {
    wait: 'listen',
    body: async (client, id) => {
      await update(client, id);
      await store.enqueue({ query: (text, values) => client.query(text, values) }, eventFor(id));
    },
  },
  'UPDATE + enqueue + pg_notify per commit': {
    wait: 'listen',
    body: async (client, id) => {
      await withEvent(client, id);
      await client.query('SELECT pg_notify($1, $2)', [channel, '']);
    },
  },
};

// A relay that drains the outbox while producers run: it arms the wake-up flag whenever it goes
// idle, which is what the coalesced scenario pays for. Its batch sizes show the batching cost of waking up per commit.
async function relay(stop, wait) {
  let batches = 0;
  let events = 0;
  if (wait === 'none') return { batches, events };
  while (!stop.aborted) {
    const batch = await store.claim({ batchSize: 500, leaseMs: 30_000 });
    if (batch.records.length === 0) {
      if (wait === 'listen') await store.waitForWork({ timeoutMs: 1_000, signal: stop });
      else await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    batches++;
    events += batch.records.length;
    await store.complete(
      batch.token,
      batch.records.map((r) => r.id),
    );
  }
  return { batches, events };
}

async function measure({ body, wait }) {
  const stop = new AbortController();
  const drained = relay(stop.signal, wait);
  const deadline = Date.now() + seconds * 1000;
  let committed = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < deadline) {
        await transaction(pool, (client) => body(client, 1 + Math.floor(Math.random() * ACCOUNTS)));
        committed++;
      }
    }),
  );
  stop.abort();
  const { batches, events } = await drained;
  await pool.query(`DELETE FROM ${schema}.outbox`);
  return { txPerSecond: committed / seconds, meanBatch: batches === 0 ? 0 : events / batches };
}

const results = Object.fromEntries(Object.keys(scenarios).map((name) => [name, []]));
for (let run = 0; run < runs; run++) {
  // Interleaved, so drift in machine load spreads over every scenario.
  for (const [name, scenario] of Object.entries(scenarios)) results[name].push(await measure(scenario));
}

const print = (line) => process.stdout.write(`${line}\n`);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const base = median(results['UPDATE alone'].map((r) => r.txPerSecond));
print(
  `${clients} clients, ${seconds} s per run, ${runs} runs; PostgreSQL ${(await pool.query('SHOW server_version')).rows[0].server_version}`,
);
print('| scenario | tx/s median | min - max | vs UPDATE alone | relay batch (median) |');
print('| --- | ---: | ---: | ---: | ---: |');
for (const [name, list] of Object.entries(results)) {
  const tps = list.map((r) => r.txPerSecond);
  const meanBatch = median(list.map((r) => r.meanBatch));
  const batch = meanBatch === 0 ? '-' : meanBatch.toFixed(1);
  print(
    `| ${name} | ${median(tps).toFixed(0)} | ${Math.min(...tps).toFixed(0)} - ${Math.max(...tps).toFixed(0)} | ${(median(tps) / base).toFixed(2)}x | ${batch} |`,
  );
}

// Wake-up latency: an idle relay waiting in waitForWork, one producer commit, time until it returns.
const latencies = [];
for (let n = 0; n < 50; n++) {
  const woken = store.waitForWork({ timeoutMs: 5_000 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const committed = await transaction(pool, async (client) => {
    await store.enqueue(client, eventFor(n));
    return () => performance.now();
  }).then((now) => now());
  await woken;
  latencies.push(performance.now() - committed);
  await pool.query(`DELETE FROM ${schema}.outbox`);
}
latencies.sort((a, b) => a - b);
print('');
print(
  `wake-up latency, commit to waitForWork() returning, 50 samples: median ${latencies[25].toFixed(1)} ms, p90 ${latencies[45].toFixed(1)} ms, max ${latencies[49].toFixed(1)} ms`,
);

await store.close();
await pool.query(`DROP SCHEMA ${schema} CASCADE`);
await pool.end();
