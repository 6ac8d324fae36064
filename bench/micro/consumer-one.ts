// One consumer scenario of the consumer suite, repeated: for a profile of the consumer process
// (`node --cpu-prof --import tsx bench/micro/consumer-one.ts pg batch-1`) or a quick figure.
// Run from the repository root: `npx tsx bench/micro/consumer-one.ts [pg|mysql] [scenario key] [rounds] [events] [seconds]`
// (defaults pg, batch-1, 3, 40,000, 8; the keys are those of bench/src/suites/consumer.ts).
import { measureConsumer, SCENARIOS } from '../src/suites/consumer.js';
import { microContext } from './micro-context.js';

const db = process.argv[2] === 'mysql' ? 'mysql' : 'pg';
const key = process.argv[3] ?? 'batch-1';
const rounds = Number(process.argv[4] ?? 3);
const events = Number(process.argv[5] ?? 40_000);
const seconds = Number(process.argv[6] ?? 8);
const scenario = SCENARIOS.find((candidate) => candidate.key === key);
if (!scenario) throw new Error(`no scenario ${key}; one of ${SCENARIOS.map((candidate) => candidate.key).join(', ')}`);
const { ctx, close } = await microContext();
try {
  for (let round = 0; round < rounds; round++) {
    const { rate, cpu } = await measureConsumer(ctx, db, scenario, events, seconds);
    process.stdout.write(
      `${db}, ${scenario.label}: ${Math.round(rate)} events/s; CPU s/10k consumer ${cpu.client?.toFixed(2)} db ${cpu.db?.toFixed(2)} nats ${cpu.nats?.toFixed(2)}\n`,
    );
  }
} finally {
  await close();
}
