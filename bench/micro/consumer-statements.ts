// Where one batched Consumer's transaction spends its time on PostgreSQL: every statement the
// bench process sends is timed on the client (from the call to its result, so the time includes
// the event loop's delay in reading it) and averaged per kind, for one consumer scenario.
// Run from the repository root: `npx tsx bench/micro/consumer-statements.ts [scenario key] [events] [seconds]`
// (defaults batch-1-many, 40,000, 8; the keys are those of bench/src/suites/consumer.ts).
import pg from 'pg';
import { measureConsumer, SCENARIOS } from '../src/suites/consumer.js';
import { microContext } from './micro-context.js';

const key = process.argv[2] ?? 'batch-1-many';
const events = Number(process.argv[3] ?? 40_000);
const seconds = Number(process.argv[4] ?? 8);
const scenario = SCENARIOS.find((candidate) => candidate.key === key);
if (!scenario) throw new Error(`no scenario ${key}; one of ${SCENARIOS.map((candidate) => candidate.key).join(', ')}`);

const timings = new Map<string, { count: number; ms: number }>();
type Query = (this: pg.Client, ...args: unknown[]) => unknown;
const prototype = pg.Client.prototype as unknown as { query: Query };
const original = prototype.query;
prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const config = args[0] as string | { text?: string };
  const text = typeof config === 'string' ? config : (config?.text ?? '');
  // The statement's first words, without the bench's generated schema names.
  const kind = text
    .replace(/"?bench_[^".\s]+"?\./g, '')
    .replace(/\s+/g, ' ')
    .slice(0, 48);
  const started = performance.now();
  const result = original.apply(this, args);
  if (result instanceof Promise) {
    result.then(
      () => {
        const entry = timings.get(kind) ?? { count: 0, ms: 0 };
        entry.count++;
        entry.ms += performance.now() - started;
        timings.set(kind, entry);
      },
      () => undefined,
    );
  }
  return result;
};

const { ctx, close } = await microContext();
try {
  const { rate } = await measureConsumer(ctx, 'pg', scenario, events, seconds);
  process.stdout.write(`pg, ${scenario.label}: ${Math.round(rate)} events/s\n`);
  const batches = Math.max(...[...timings.values()].map((entry) => entry.count));
  for (const [kind, entry] of [...timings].sort((a, b) => b[1].ms - a[1].ms)) {
    if (entry.count < batches / 2) continue;
    process.stdout.write(`${(entry.ms / entry.count).toFixed(2).padStart(6)} ms x ${entry.count}  ${kind}\n`);
  }
} finally {
  prototype.query = original;
  await close();
}
