// NatsPublisher alone as the relay suite measured it until 2026-12-03 (in the bench process, the
// records built just before the clock starts) against what it measures now (`rawCeiling`: a process
// of its own that builds the records and settles its heap first, as the Go ceiling builds its
// messages first), interleaved: why the figure moved.
// Run from the repository root: `npx tsx bench/micro/publisher-in-process.ts [rounds] [records]`
// (defaults 3, 200,000).
import type { NatsPublisher } from '@outboxkit/bus-nats';
import { memoryRecords } from '../src/events.js';
import { rawCeiling, withStream } from '../src/suites/relay.js';
import { microContext } from './micro-context.js';

const rounds = Number(process.argv[2] ?? 3);
const count = Number(process.argv[3] ?? 200_000);
const { ctx, close } = await microContext();
const print = (line: string) => process.stdout.write(`${line}\n`);

/** Publishes `records` records through NatsPublisher in this process, 500 at a time: events/s and CPU s / 10k. */
async function inProcess(records: number): Promise<string> {
  return withStream(ctx, async (publisher: NatsPublisher) => {
    const input = memoryRecords(records, 1_000);
    const cpuAtStart = process.cpuUsage();
    const started = performance.now();
    for (let start = 0; start < input.length; start += 500) {
      for (const result of await publisher.publish(input.slice(start, start + 500))) {
        if (!result.ok) throw new Error(`publish failed: ${result.error.message}`);
      }
    }
    const cpu = process.cpuUsage(cpuAtStart);
    const rate = records / ((performance.now() - started) / 1000);
    return `${Math.round(rate)} events/s, ${(((cpu.user + cpu.system) / 1e6 / records) * 10_000).toFixed(3)} CPU s / 10k`;
  });
}

try {
  await inProcess(10_000); // warm-up
  for (let round = 1; round <= rounds; round++) {
    const here = await inProcess(count);
    const own = await rawCeiling(ctx, count, 1_000);
    print(
      `round ${round}: in the bench process ${here}; in its own process ${Math.round(own.rate)} events/s, ${own.cpu.client?.toFixed(3)} CPU s / 10k`,
    );
  }
} finally {
  await close();
}
