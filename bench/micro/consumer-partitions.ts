// 1 and 4 consumer processes on 16 partitions with leases (batched, strict order), interleaved,
// at a steady state: the issue 14 item 4 figure without the rest of the consumer suite. Each
// measurement applies up to `events` events on 200 subjects and stops after `seconds`.
// Run from the repository root: `npx tsx bench/micro/consumer-partitions.ts [pg|mysql] [rounds] [events] [seconds] [partitions|shared] [ahead] [batch] [warmup=S]`
// (defaults pg, 3, 150,000, 20, partitions, as the suite; PostgreSQL or MariaDB and NATS at the test services' addresses):
// `shared` puts the processes on one shared durable instead, `ahead` sets the Consumers' fetchAhead,
// `batch` registers the batch handler (onBatch) instead of the per-event one, `warmup=S` leaves the
// first S seconds out of the figures (default 5, as the suite; `warmup=0` counts from the start).
import { measureReplicas } from '../src/suites/consumer-replicas.js';
import { microContext } from './micro-context.js';

const db = process.argv[2] === 'mysql' ? 'mysql' : 'pg';
const rounds = Number(process.argv[3] ?? 3);
const events = Number(process.argv[4] ?? 150_000);
const seconds = Number(process.argv[5] ?? 20);
const flags = process.argv.slice(7);
const warmup = Number(flags.find((flag) => flag.startsWith('warmup='))?.slice('warmup='.length) ?? 5);
const layout = {
  ...(process.argv[6] === 'shared' ? {} : { partitions: 16, leaseMs: 5_000 }),
  ...(flags.includes('ahead') ? { fetchAhead: true } : {}),
  ...(flags.includes('batch') ? { batchHandler: true } : {}),
};
const { ctx, close } = await microContext();
const ratios: number[] = [];
try {
  for (let round = 0; round < rounds; round++) {
    const rates: number[] = [];
    for (const instances of [1, 4]) {
      const { rate, cpu } = await measureReplicas(ctx, db, instances, events, 200, seconds, layout, warmup);
      rates.push(rate);
      process.stdout.write(
        `${db}, ${instances} process(es): ${Math.round(rate)} events/s; CPU s/10k consumers ${cpu.client?.toFixed(2)} db ${cpu.db?.toFixed(2)} nats ${cpu.nats?.toFixed(2)}\n`,
      );
    }
    ratios.push((rates[1] as number) / (rates[0] as number));
    process.stdout.write(`round ${round + 1}: 4 vs 1 ${ratios.at(-1)?.toFixed(2)}x\n`);
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  process.stdout.write(
    `4 vs 1: median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(2)}x (${sorted[0]?.toFixed(2)}-${sorted.at(-1)?.toFixed(2)})\n`,
  );
} finally {
  await close();
}
