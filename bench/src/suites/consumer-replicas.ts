import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { ensureConsumer, ensureDeadLetterStream, ensurePartitionedConsumer, NatsPublisher } from '@outboxkit/bus-nats';
import { MysqlInboxStore } from '@outboxkit/outbox-mysql';
import { PgInboxStore } from '@outboxkit/outbox-pg';
import type { SuiteContext } from '../context.js';
import { type CpuSeconds, per10k } from '../cpu.js';
import { memoryRecords } from '../events.js';
import { mysqlFixture } from '../fixtures/mysql.js';
import { streamFixture } from '../fixtures/nats.js';
import { pgFixture } from '../fixtures/pg.js';
import { sleepMs, wallMs } from '../names.js';
import { cpuFigures } from './relay-drain.js';

const workerPath = fileURLToPath(new URL('../workers/consumer-worker.mjs', import.meta.url));

type Message =
  | { type: 'ready' }
  | { type: 'progress' | 'done'; applied: number; failures: number; lastAppliedMs: number; cpuSeconds?: number }
  | { type: 'error'; message: string };

/** A forked consumer replica (consumer-worker.mjs): its latest report, `go`, `stop`, or SIGKILL. */
interface Replica {
  readonly child: ChildProcess;
  latest: { applied: number; failures: number; lastAppliedMs: number; cpuSeconds?: number };
  go(): void;
  stop(): Promise<void>;
}

async function spawnReplica(config: object): Promise<Replica> {
  const child = fork(workerPath, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let failed: string | undefined;
  let ready = false;
  let done = false;
  const replica: Replica = {
    child,
    latest: { applied: 0, failures: 0, lastAppliedMs: 0 },
    go: () => child.send('go'),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send('stop');
      const deadline = Date.now() + 15_000;
      while (!done && !failed && child.exitCode === null && Date.now() < deadline) await sleepMs(10);
    },
  };
  child.on('message', (message: Message) => {
    if (message.type === 'ready') ready = true;
    else if (message.type === 'error') failed = message.message;
    else {
      replica.latest = message;
      if (message.type === 'done') done = true;
    }
  });
  while (!ready) {
    if (failed) throw new Error(`consumer worker failed: ${failed}`);
    if (child.exitCode !== null) throw new Error(`consumer worker exited with code ${child.exitCode}`);
    await sleepMs(10);
  }
  return replica;
}

interface Setup {
  readonly config: object;
  /** Applied count per product, from the handler's table. */
  counts(): Promise<Map<string, number>>;
  outOfOrder(): Promise<number>;
  drop(): Promise<void>;
}

/** How the instances divide the stream: one shared durable, or `partitions` durables owned through leases of `leaseMs`. */
export interface Layout {
  readonly partitions?: number;
  readonly leaseMs?: number;
  /** The workers' Consumer `fetchAhead` (their default, false, when absent). */
  readonly fetchAhead?: boolean;
  /** The workers register the suite's batch handler (`onBatch`, one statement per fetch) instead of the per-event one. */
  readonly batchHandler?: boolean;
}

/**
 * A fresh stream holding `events` events over `subjects` subjects (with their sequences), a durable
 * (or one per partition), a database with basket_items and the inbox.
 */
async function setup(
  ctx: SuiteContext,
  db: 'pg' | 'mysql',
  events: number,
  subjects: number,
  layout: Layout,
  ackWaitMs?: number,
): Promise<Setup> {
  const stream = await streamFixture(ctx.nc);
  const partitions = layout.partitions ?? 0;
  const publisher = new NatsPublisher({
    connection: ctx.nc,
    subjectPrefix: stream.name,
    ...(partitions > 0 ? { partitions } : {}),
  });
  const records = memoryRecords(events, subjects);
  for (let start = 0; start < records.length; start += 1_000) {
    for (const result of await publisher.publish(records.slice(start, start + 1_000))) {
      if (!result.ok) throw new Error(`filling the stream failed: ${result.error.message}`);
    }
  }
  const durable = { stream: stream.name, name: 'basket', maxDeliver: 20, maxAckPending: 10_000, ...(ackWaitMs ? { ackWaitMs } : {}) };
  if (partitions > 0) await ensurePartitionedConsumer(ctx.nc, { ...durable, partitions, subjectPrefix: stream.name });
  else await ensureConsumer(ctx.nc, durable);
  await ensureDeadLetterStream(ctx.nc);
  const base = { stream: stream.name, durable: 'basket', fetchSize: 100, ...layout };
  if (db === 'pg') {
    const f = await pgFixture({ poolSize: 4, products: 1, outbox: false });
    const t = f.schema;
    await f.pool.query(
      `CREATE TABLE ${t}.basket_items (product_id text PRIMARY KEY, price numeric NOT NULL, updates int NOT NULL DEFAULT 0, last_n int NOT NULL DEFAULT -1, out_of_order int NOT NULL DEFAULT 0)`,
    );
    await f.pool.query(
      `INSERT INTO ${t}.basket_items (product_id, price) SELECT 'product-' || g, 0 FROM generate_series(0, ${subjects - 1}) g`,
    );
    const inbox = new PgInboxStore({ pool: f.pool, schema: t });
    await inbox.migrate();
    return {
      config: { ...base, db, schema: t },
      async counts() {
        const { rows } = await f.pool.query(`SELECT product_id, updates FROM ${t}.basket_items`);
        return new Map((rows as { product_id: string; updates: number }[]).map((r) => [r.product_id, r.updates]));
      },
      async outOfOrder() {
        const { rows } = await f.pool.query(`SELECT coalesce(sum(out_of_order), 0)::int AS n FROM ${t}.basket_items`);
        return (rows[0] as { n: number }).n;
      },
      async drop() {
        await stream.drop();
        await dropLeases(ctx, stream.name);
        await f.drop();
      },
    };
  }
  const f = await mysqlFixture({ poolSize: 4, products: 1, outbox: false });
  await f.pool.query(
    'CREATE TABLE basket_items (product_id VARCHAR(64) PRIMARY KEY, price DECIMAL(12, 2) NOT NULL, updates INT NOT NULL DEFAULT 0, last_n INT NOT NULL DEFAULT -1, out_of_order INT NOT NULL DEFAULT 0)',
  );
  await f.pool.query(`INSERT INTO basket_items (product_id, price) SELECT CONCAT('product-', seq), 0 FROM seq_0_to_${subjects - 1}`);
  const inbox = new MysqlInboxStore({ pool: f.pool });
  await inbox.migrate();
  return {
    config: { ...base, db, database: f.database },
    async counts() {
      const [rows] = await f.pool.query('SELECT product_id, updates FROM basket_items');
      return new Map((rows as { product_id: string; updates: number }[]).map((r) => [r.product_id, Number(r.updates)]));
    },
    async outOfOrder() {
      const [rows] = await f.pool.query('SELECT COALESCE(SUM(out_of_order), 0) AS n FROM basket_items');
      return Number((rows as { n: number }[])[0]?.n ?? 0);
    },
    async drop() {
      await stream.drop();
      await dropLeases(ctx, stream.name);
      await f.drop();
    },
  };
}

/** Deletes the lease bucket of a partitioned run (its stream `KV_<bucket>`), if there was one. */
async function dropLeases(ctx: SuiteContext, stream: string): Promise<void> {
  const jsm = await jetstreamManager(ctx.nc);
  await jsm.streams.delete(`KV_outbox-leases_${stream}_basket`).catch(() => undefined);
}

const total = (replicas: readonly Replica[]) => replicas.reduce((sum, r) => sum + r.latest.applied, 0);

const cpuOf = (replicas: readonly Replica[]) => replicas.reduce((sum, r) => sum + (r.latest.cpuSeconds ?? 0), 0);

/**
 * `instances` consumer processes (each its own NATS connection and pool) on one durable, batched,
 * strict order (the default), at a steady state: events/s and CPU from `warmupSeconds` after `go`
 * to the last event applied (or the time limit). The warm-up is left out because each fresh process
 * first compiles its hot code, a cost paid once per process that a short run would count four times
 * over for 4 processes: 4 processes with the batch handler used 1.40 consumer CPU s / 10k events
 * over 60,000 events and 0.82 over 240,000, counted from the start (`npx tsx
 * bench/micro/consumer-partitions.ts pg 1 60000 15 partitions batch warmup=0`, and `240000 45`).
 */
export async function measureReplicas(
  ctx: SuiteContext,
  db: 'pg' | 'mysql',
  instances: number,
  events: number,
  subjects: number,
  seconds: number,
  layout: Layout = {},
  warmupSeconds = 0,
): Promise<{ rate: number; cpu: CpuSeconds }> {
  const s = await setup(ctx, db, events, subjects, layout);
  const replicas: Replica[] = [];
  try {
    // Forked together: with partitions each is ready once the instances have divided them.
    replicas.push(...(await Promise.all(Array.from({ length: instances }, () => spawnReplica({ ...s.config, instances })))));
    const started = wallMs();
    for (const r of replicas) r.go();
    const deadline = started + seconds * 1000;
    while (total(replicas) < events && wallMs() < started + warmupSeconds * 1000) await sleepMs(5);
    // Counts and CPU as the workers last reported them (every 20 ms while they apply events).
    const from = { ms: wallMs(), applied: total(replicas), cpuSeconds: cpuOf(replicas), sample: ctx.cpu.sample(db) };
    if (warmupSeconds > 0 && from.applied >= events) {
      throw new Error(`all ${events} events were applied within the ${warmupSeconds} s warm-up: measure with more replicaEvents`);
    }
    while (total(replicas) < events && wallMs() < deadline) await sleepMs(5);
    const after = ctx.cpu.sample(db);
    const to = { applied: total(replicas), cpuSeconds: cpuOf(replicas) };
    const end = to.applied >= events ? Math.max(...replicas.map((r) => r.latest.lastAppliedMs)) : wallMs();
    await Promise.all(replicas.map((r) => r.stop()));
    const failures = replicas.reduce((sum, r) => sum + r.latest.failures, 0);
    if (failures > 0) throw new Error(`${instances} consumer processes on ${db}: ${failures} retries, dead letters or batch fallbacks`);
    const count = to.applied - from.applied;
    return {
      rate: count / ((end - from.ms) / 1000),
      cpu: cpuFigures({
        client: per10k(from.cpuSeconds, to.cpuSeconds, count),
        db: per10k(from.sample.db, after.db, count),
        nats: per10k(from.sample.nats, after.nats, count),
      }),
    };
  } finally {
    for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await s.drop();
  }
}

export interface RebalanceResult {
  /** From the SIGKILL until every subject not yet complete had an event applied again (s). */
  readonly seconds: number;
  /** Subjects that waited longer than 1 s after the kill: the ones the killed instance held. */
  readonly held: number;
  readonly outOfOrder: number;
  readonly appliedTwice: number;
}

/**
 * Two consumer processes, strict order; once 30% of the events are applied one is killed with
 * SIGKILL. Time until every subject that was not complete has progressed again (its messages held
 * by the killed instance come back after ack_wait); then the survivor finishes and the handler's
 * table says whether any event was applied twice or after a later one of its subject.
 */
export async function rebalanceAfterKill(
  ctx: SuiteContext,
  db: 'pg' | 'mysql',
  events: number,
  subjects: number,
  ackWaitMs: number,
  layout: Layout = {},
): Promise<RebalanceResult> {
  const s = await setup(ctx, db, events, subjects, layout, ackWaitMs);
  const replicas: Replica[] = [];
  const perSubject = events / subjects;
  try {
    replicas.push(...(await Promise.all([0, 1].map(() => spawnReplica({ ...s.config, checkOrder: true, instances: 2 })))));
    for (const r of replicas) r.go();
    const limit = wallMs() + 60_000;
    while (total(replicas) < events * 0.3 && wallMs() < limit) await sleepMs(2);
    (replicas[0] as Replica).child.kill('SIGKILL');
    const killedMs = wallMs();
    const snapshot = await s.counts();
    const waiting = new Set([...snapshot].filter(([, n]) => n < perSubject).map(([subject]) => subject));
    let held = 0;
    let lastProgressMs = killedMs;
    const deadline = killedMs + 3 * ackWaitMs + 30_000;
    while (waiting.size > 0 && wallMs() < deadline) {
      await sleepMs(50);
      const now = wallMs();
      for (const [subject, n] of await s.counts()) {
        if (waiting.has(subject) && n > (snapshot.get(subject) ?? 0)) {
          waiting.delete(subject);
          lastProgressMs = now;
          if (now - killedMs > 1_000) held++;
        }
      }
    }
    if (waiting.size > 0) throw new Error(`rebalance on ${db}: ${waiting.size} subjects never progressed after the kill`);
    let counts = await s.counts();
    const sum = () => [...counts.values()].reduce((a, b) => a + b, 0);
    while (sum() < events && wallMs() < deadline) {
      await sleepMs(50);
      counts = await s.counts();
    }
    const appliedTwice = [...counts.values()].reduce((a, n) => a + Math.max(0, n - perSubject), 0);
    return { seconds: (lastProgressMs - killedMs) / 1000, held, outOfOrder: await s.outOfOrder(), appliedTwice };
  } finally {
    await replicas[1]?.stop();
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await s.drop();
  }
}
