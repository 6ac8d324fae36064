// Raw JetStream publish throughput through NatsPublisher, with and without the client's
// `noAsyncTraces`, side by side; and, as the baseline, the client's own `js.publish()` (its request
// path, where `noAsyncTraces` applies) with the same records and headers, one batch in flight at a
// time. Runs on the built dist: `npx turbo run build --filter=@outboxkit/bus-nats...` first.
//
//   node bench/scripts/bus-nats/raw-publish.mjs            (50,000 records, 3 runs per mode)
//   EVENTS=100000 RUNS=5 BATCH=1000 STORAGE=memory node bench/scripts/bus-nats/raw-publish.mjs
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsPublisher, recordHeaders } from '@outboxkit/bus-nats';
import { NATS_URL } from '@outboxkit/test-services';

const url = NATS_URL;
const events = Number(process.env.EVENTS ?? 50_000);
const runs = Number(process.env.RUNS ?? 3);
const batchSize = Number(process.env.BATCH ?? 1_000);
const storage = process.env.STORAGE ?? 'file';

// A relay's records: a UUID id, a type, a small JSON payload and a traceparent header.
function records(count) {
  const time = new Date().toISOString();
  return Array.from({ length: count }, (_, n) => ({
    id: randomUUID(),
    type: 'catalog.product.price-changed',
    source: 'catalog',
    subject: `product-${n % 1000}`,
    time,
    payload: JSON.stringify({ productId: `product-${n % 1000}`, newPrice: n / 100, oldPrice: n / 100 + 1 }),
    headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    attempts: 0,
  }));
}

const encoder = new TextEncoder();

/** The client's request path: `js.publish()` per record, a batch at a time. */
function jsPublisher(nc, prefix) {
  const js = jetstream(nc);
  return {
    publish: (batch) =>
      Promise.all(
        batch.map((record) =>
          js.publish(`${prefix}.${record.type}`, encoder.encode(record.payload), { headers: recordHeaders(record) }).then(
            () => ({ ok: true }),
            () => ({ ok: false }),
          ),
        ),
      ),
  };
}

async function run(mode, noAsyncTraces) {
  const nc = await connect({ servers: url, noAsyncTraces });
  const jsm = await jetstreamManager(nc);
  const stream = `BENCH_${randomUUID().slice(0, 8)}`;
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], storage });
  const publisher = mode === 'NatsPublisher' ? new NatsPublisher({ connection: nc, subjectPrefix: stream }) : jsPublisher(nc, stream);
  const input = records(events);
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  let failed = 0;
  for (let start = 0; start < input.length; start += batchSize) {
    for (const result of await publisher.publish(input.slice(start, start + batchSize))) if (!result.ok) failed++;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  await jsm.streams.delete(stream);
  await nc.close();
  if (failed > 0) throw new Error(`${failed} publishes failed`);
  // Client CPU per event does not depend on what else the machine runs; events/s does.
  return { rate: events / seconds, cpuMicros: (cpu.user + cpu.system) / events };
}

const print = (line) => process.stdout.write(`${line}\n`);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const format = (value) => Math.round(value).toLocaleString('en-US');

const modes = [
  ['NatsPublisher', false],
  ['NatsPublisher', true],
  ['js.publish', false],
  ['js.publish', true],
];
const results = Object.fromEntries(modes.map(([mode, fast]) => [`${mode}${fast ? ' noAsyncTraces' : ''}`, []]));
await run('NatsPublisher', true); // warm-up: JIT and the server's store
for (let i = 0; i < runs; i++) {
  // Interleave the modes so drift on the machine hits all alike.
  for (const [mode, fast] of modes) results[`${mode}${fast ? ' noAsyncTraces' : ''}`].push(await run(mode, fast));
}
const range = (values, digits = 0) =>
  `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)} - ${Math.max(...values).toFixed(digits)})`;
print(`${format(events)} records per run, batches of ${batchSize}, ${storage} storage, ${runs} runs, ${url}`);
print('mode                          events/s: median (min - max)     client CPU us/event: median (min - max)');
for (const [mode, list] of Object.entries(results)) {
  print(
    `${mode.padEnd(30)}${range(list.map((r) => r.rate)).padEnd(33)}${range(
      list.map((r) => r.cpuMicros),
      1,
    )}`,
  );
}
