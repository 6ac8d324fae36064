// NatsPublisher alone, in a process of its own as the Go ceiling is (bench/go/ceiling.go): publishes
// the relay's records from memory, a relay batch at a time, and prints one JSON line with the fields
// the Go program prints. Measured in the bench process instead, with the records built just before
// the clock, the same publishes cost 0.18-0.23 CPU s / 10k instead of 0.13-0.15
// (bench/micro/publisher-in-process.ts; bench/README.md, "NatsPublisher alone").
// Run by `runPublisherCeiling` (go-ceiling.ts) with `node --expose-gc --import tsx`; arguments: url,
// subject prefix, records, subjects, batch size.
import { connect } from '@nats-io/transport-node';
import { NatsPublisher } from '@outboxkit/bus-nats';
import { memoryRecords } from '../events.js';

const [url = '', prefix = '', count = '0', subjects = '1000', batch = '500'] = process.argv.slice(2);
const records = memoryRecords(Number(count), Number(subjects));
// Built and settled before the clock starts, as the Go program builds its messages first: without
// it the collections that move these records to the old generation fall inside the measurement.
(globalThis as { gc?: () => void }).gc?.();
const nc = await connect({ servers: url, noAsyncTraces: true });
try {
  const publisher = new NatsPublisher({ connection: nc, subjectPrefix: prefix });
  const size = Number(batch);
  const cpuAtStart = process.cpuUsage();
  const started = performance.now();
  for (let start = 0; start < records.length; start += size) {
    for (const result of await publisher.publish(records.slice(start, start + size))) {
      if (!result.ok) throw new Error(`publish failed: ${result.error.message}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  await publisher.close();
  process.stdout.write(
    `${JSON.stringify({ published: records.length, seconds, rate: records.length / seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`,
  );
} finally {
  await nc.close();
}
