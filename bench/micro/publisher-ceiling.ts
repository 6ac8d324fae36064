// NatsPublisher alone (no database) against the Go client's ceiling, the relay suite's two
// measuring functions interleaved: a quick figure of the ratio the report's "NatsPublisher alone vs
// the Go ceiling" row takes the median of. Both publish from processes of their own
// (src/workers/publish-worker.ts and go/ceiling.go), so a profile of this one shows neither.
// Run from the repository root: `npx tsx bench/micro/publisher-ceiling.ts [rounds] [records] [subjects]`
// (defaults 5, 200,000, 1,000; needs Go and nats.go: apt-get install golang-go golang-github-nats-io-go-nats-dev).
import { prepareGoCeiling } from '../src/go-ceiling.js';
import { goCeiling, rawCeiling } from '../src/suites/relay.js';
import { microContext } from './micro-context.js';

const rounds = Number(process.argv[2] ?? 5);
const count = Number(process.argv[3] ?? 200_000);
const subjects = Number(process.argv[4] ?? 1_000);
const go = prepareGoCeiling(false);
const { ctx, close } = await microContext();
const print = (line: string) => process.stdout.write(`${line}\n`);
try {
  await rawCeiling(ctx, Math.min(count, 10_000), subjects); // warm-up, as the suite does
  for (let round = 1; round <= rounds; round++) {
    const ceiling = 'binary' in go ? await goCeiling(ctx, go.binary, count, subjects) : undefined;
    const raw = await rawCeiling(ctx, count, subjects);
    const ratio = ceiling
      ? ` = ${(raw.rate / ceiling.rate).toFixed(2)}x of Go ${Math.round(ceiling.rate)} (CPU s/10k ${ceiling.cpu.client?.toFixed(3)})`
      : '';
    print(
      `round ${round}: NatsPublisher ${Math.round(raw.rate)} events/s (CPU s/10k ${raw.cpu.client?.toFixed(3)}, nats ${raw.cpu.nats?.toFixed(3)})${ratio}`,
    );
  }
} finally {
  await close();
}
