/**
 * A relay in a process of its own, as the sidecar runs it: the parent forks it, waits for `ready`,
 * sends `go`, and gets the counts, its own start/end times and its memory back. `drain` mode runs
 * `Relay.drain()` over the backlog; `run` mode runs `Relay.start()` until `stop` and reports when
 * each event's PubAck came back (for the latency suite).
 */

import { NatsPublisher } from '@outboxkit/bus-nats';
import type { OutboxRecord, OutboxStore, Publisher, PublishResult } from '@outboxkit/outbox-core';
import { Relay } from '@outboxkit/outbox-core';
import { MysqlOutboxStore } from '@outboxkit/outbox-mysql';
import { PgOutboxStore } from '@outboxkit/outbox-pg';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { MYSQL_URL, PG_URL } from '../env.js';
import { natsConnect } from '../fixtures/nats.js';
import { wallMs } from '../names.js';
import type { WorkerConfig, WorkerMessage } from './protocol.js';

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const send = (message: WorkerMessage): void => {
  process.send?.(message);
};
const rssMb = (): number => process.memoryUsage.rss() / 2 ** 20;

/** Records when each record's batch was acknowledged: the moment the relay learns the bus has it. */
class AckClock implements Publisher {
  readonly ids: string[] = [];
  readonly times: number[] = [];
  constructor(readonly inner: NatsPublisher) {}
  async publish(records: readonly OutboxRecord[]): Promise<PublishResult[]> {
    const results = await this.inner.publish(records);
    const now = wallMs();
    for (const result of results) {
      if (result.ok) {
        this.ids.push(result.id);
        this.times.push(now);
      }
    }
    return results;
  }
  probe() {
    return this.inner.probe();
  }
}

async function main(): Promise<void> {
  const nc = await natsConnect();
  let store: OutboxStore<unknown>;
  let closePool: () => Promise<void>;
  if (config.db === 'pg') {
    const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
    store = new PgOutboxStore({ pool, schema: config.schema as string }) as OutboxStore<unknown>;
    closePool = () => pool.end();
  } else {
    const pool = mysql.createPool({ uri: MYSQL_URL, database: config.database as string, connectionLimit: 4 });
    store = new MysqlOutboxStore({ pool }) as OutboxStore<unknown>;
    closePool = () => pool.end();
  }
  const nats = new NatsPublisher({ connection: nc, subjectPrefix: config.stream });
  const clock = config.mode === 'run' ? new AckClock(nats) : undefined;
  const relay = new Relay({ store, publisher: clock ?? nats, ...(config.batchSize ? { batchSize: config.batchSize } : {}) });

  let peakRss = rssMb();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssMb());
  }, 50);
  const idleRssMb = rssMb();
  send({ type: 'ready', rssMb: idleRssMb });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));

  const startMs = wallMs();
  if (config.mode === 'drain') {
    const result = await relay.drain();
    const endMs = wallMs();
    clearInterval(sampler);
    peakRss = Math.max(peakRss, rssMb());
    send({
      type: 'done',
      published: result.published,
      batches: result.batches,
      failed: result.failed + result.dead,
      startMs,
      endMs,
      idleRssMb,
      peakRssMb: peakRss,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
    });
  } else {
    await relay.start();
    await new Promise<void>((resolve) => process.once('message', () => resolve()));
    await relay.stop({ timeoutMs: 10_000 });
    clearInterval(sampler);
    send({ type: 'acks', ids: clock?.ids ?? [], times: clock?.times ?? [] });
  }
  await store.close();
  await closePool();
  await nc.drain();
}

main().then(
  () => process.disconnect?.(),
  (error: unknown) => {
    send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exitCode = 1;
    process.disconnect?.();
  },
);
