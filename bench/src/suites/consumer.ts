import { ensureConsumer, ensureDeadLetterStream, NatsPublisher, NatsSubscriber } from '@outboxkit/bus-nats';
import { Consumer, type InboxStore } from '@outboxkit/outbox-core';
import { type MysqlConnectionLike, MysqlInboxStore } from '@outboxkit/outbox-mysql';
import { type PgClientLike, PgInboxStore } from '@outboxkit/outbox-pg';
import type { SuiteContext } from '../context.js';
import { type CpuSeconds, per10k } from '../cpu.js';
import { memoryRecords, PriceChangedEvent } from '../events.js';
import { mysqlFixture } from '../fixtures/mysql.js';
import { natsConnect, streamFixture } from '../fixtures/nats.js';
import { pgFixture } from '../fixtures/pg.js';
import { sleepMs, wallMs } from '../names.js';
import { progress } from '../progress.js';
import { type Layout, measureReplicas, rebalanceAfterKill } from './consumer-replicas.js';
import { cpuFigures } from './relay-drain.js';

/** The two ways instances share a stream: one durable, or partitions owned through leases (16 partitions, 5 s leases). */
const LAYOUTS: readonly (Layout & { readonly key: string; readonly label: string })[] = [
  { key: '', label: 'one shared durable' },
  { key: '-part', label: '16 partitions', partitions: 16, leaseMs: 5_000 },
  { key: '-part-many', label: '16 partitions, a batch handler', partitions: 16, leaseMs: 5_000, batchHandler: true },
];

/** Subjects of the replica and kill -9 measures (fewer than the others', so each subject has several events to keep in order). */
const REPLICA_SUBJECTS = 200;

const SUITE = 'consumer';
const PRODUCTS = 1_000;
const FETCH_SIZE = 100;

export interface Scenario {
  readonly key: string;
  readonly label: string;
  readonly mode: 'batch' | 'message';
  /** Consumer instances on the same durable consumer, each with its own subscriber. */
  readonly instances: number;
  readonly concurrency: number;
  /** The Consumer's `batchTransactions` (batched mode): transactions one fetch is divided into, by subject. */
  readonly transactions?: number;
  /** The Consumer's `order`: 'subject' (the default, strict per-subject order) or 'none'. */
  readonly order: 'subject' | 'none';
  /** `onBatch`: the handler gets a fetch's events in one call and updates their rows in one statement. */
  readonly batchHandler?: boolean;
  /** The Consumer's `fetchAhead` (default false). */
  readonly fetchAhead?: boolean;
}

export const SCENARIOS: readonly Scenario[] = [
  { key: 'batch-1', label: 'batched, 1 instance', mode: 'batch', instances: 1, concurrency: 1, order: 'subject' },
  { key: 'batch-1-none', label: "batched, 1 instance, order: 'none'", mode: 'batch', instances: 1, concurrency: 1, order: 'none' },
  {
    key: 'batch-1-t4',
    label: 'batched, 1 instance, batchTransactions 4',
    mode: 'batch',
    instances: 1,
    concurrency: 1,
    transactions: 4,
    order: 'subject',
  },
  {
    key: 'batch-1-many',
    label: 'batched, 1 instance, a batch handler (onBatch: one UPDATE per fetch)',
    mode: 'batch',
    instances: 1,
    concurrency: 1,
    order: 'subject',
    batchHandler: true,
  },
  {
    key: 'batch-1-many-ahead',
    label: 'batched, 1 instance, a batch handler, fetchAhead: true',
    mode: 'batch',
    instances: 1,
    concurrency: 1,
    order: 'subject',
    batchHandler: true,
    fetchAhead: true,
  },
  { key: 'batch-4', label: 'batched, 4 instances', mode: 'batch', instances: 4, concurrency: 1, order: 'subject' },
  { key: 'message-c1', label: 'per-message, concurrency 1', mode: 'message', instances: 1, concurrency: 1, order: 'subject' },
  { key: 'message-c8', label: 'per-message, concurrency 8', mode: 'message', instances: 1, concurrency: 8, order: 'subject' },
  { key: 'message-c32', label: 'per-message, concurrency 32', mode: 'message', instances: 1, concurrency: 32, order: 'subject' },
];

/**
 * Consumer throughput with inbox dedup: core `Consumer` over a NatsSubscriber and PgInboxStore /
 * MysqlInboxStore, its handler updating one row per event in the inbox's transaction.
 */
export async function consumerSuite(ctx: SuiteContext): Promise<void> {
  const { runs, scale } = ctx.options;
  ctx.note(
    SUITE,
    `A fresh stream is filled with ${scale.consumerEvents.toLocaleString('en-US')} events over ${PRODUCTS.toLocaleString('en-US')} subjects, then core \`Consumer\` applies them: per event, insert (consumer, id) into the inbox and \`UPDATE basket_items SET price = ... WHERE product_id = ...\` in one local transaction, commit, ack. ` +
      `Fetch size ${FETCH_SIZE}. Batched mode: one transaction per fetch, the inbox rows of the fetch written by one statement, savepoints only once a handler failed; "instances" are Consumers on the same durable consumer, each with its own subscriber. ` +
      `The batch handler row registers the handler with \`onBatch\`: it gets the events of a fetch in one call, folds them per product (the last price, the number of events) and updates their rows in one statement (PostgreSQL \`UPDATE ... FROM unnest(...)\`, MariaDB a multi-row \`INSERT ... ON DUPLICATE KEY UPDATE\`). The row marked \`fetchAhead: true\` is the batch handler's row with the Consumer fetching the next batch while one is handled (off by default). Per-message mode: one transaction per message, up to "concurrency" subjects at once. Each measurement stops when every event is applied or after ${scale.consumerSeconds} s; rate = applied / elapsed. ` +
      `Processes: the same batched consumer in 1 or 4 child processes (\`workers/consumer-worker.mjs\`, plain node, each its own NATS connection and pool) reading ${scale.replicaEvents.toLocaleString('en-US')} events over ${REPLICA_SUBJECTS} subjects for at most ${scale.replicaSeconds} s, strict order, in three layouts: one shared durable (each instance may get any subject's events; order comes from the position check alone), 16 partitions (the relay's \`partitions\`: each subject on \`<prefix>.p<k>.<type>\`, a durable per partition, the instances dividing the partitions through leases in a KV bucket, 5 s leases), and 16 partitions with the batch handler. ` +
      `These figures are a steady state: the first ${scale.replicaWarmupSeconds} s after the processes start are not counted (events/s and CPU from then to the last event), since each fresh process first compiles its hot code, once, and a short run counts that four times over for 4 processes. ` +
      `Kill -9: 2 such processes (durable ack_wait ${scale.rebalanceAckWaitSeconds} s), in each layout; once 30% of the events are applied one is killed with SIGKILL; the figure is the time until every subject that was not complete has an event applied again (shared durable: the messages the killed process held come back after ack_wait; partitions: its leases lapse, the survivor takes its partitions, and their unacked messages come back once ack_wait has passed), then the survivor finishes and the handler's table counts events applied twice or after a later one of their subject. ` +
      "Every event carries its subject sequence (`ce-subjectseq`), so the default `order: 'subject'` checks and moves the (consumer, subject) position in the same transaction; the row `order: 'none'` is the same consumer without it (the consumer before issue 14). " +
      'CPU s / 10k events: the consumer is the bench process itself (`process.cpuUsage()` over the measurement, its 5 ms polling of the count included); the database and nats-server are read from /proc as in the relay suite.',
  );
  for (let run = 1; run <= runs; run++) {
    for (const db of ['pg', 'mysql'] as const) {
      for (const scenario of SCENARIOS) {
        const name = db === 'pg' ? 'PostgreSQL' : 'MariaDB';
        progress(`consumer run ${run}/${runs}: ${name}, ${scenario.label}`);
        const { rate, cpu } = await measureConsumer(ctx, db, scenario, scale.consumerEvents, scale.consumerSeconds);
        ctx.book.record(`consumer.${db}.${scenario.key}`, SUITE, `${name}: ${scenario.label}`, 'events/s', rate);
        ctx.book.recordCpu(`consumer.${db}.${scenario.key}`, SUITE, cpu);
      }
      const book = (key: string) => ctx.book.get(`consumer.${db}.${key}`)?.values.at(-1) as number;
      ctx.book.record(
        `consumer.${db}.order-vs-none`,
        SUITE,
        `${db === 'pg' ? 'PostgreSQL' : 'MariaDB'}: batched, strict order / order 'none'`,
        'ratio',
        book('batch-1') / book('batch-1-none'),
      );
      if (scale.consumerReplicas === 0) continue;
      const name = db === 'pg' ? 'PostgreSQL' : 'MariaDB';
      for (const layout of LAYOUTS) {
        for (const instances of [1, 4]) {
          progress(`consumer run ${run}/${runs}: ${name}, ${instances} consumer process(es), ${layout.label}`);
          const { rate, cpu } = await measureReplicas(
            ctx,
            db,
            instances,
            scale.replicaEvents,
            REPLICA_SUBJECTS,
            scale.replicaSeconds,
            layout,
            scale.replicaWarmupSeconds,
          );
          const key = `consumer.${db}.procs${layout.key}-${instances}`;
          ctx.book.record(
            key,
            SUITE,
            `${name}: batched, strict order, ${instances} process${instances > 1 ? 'es' : ''}, ${layout.label}`,
            'events/s',
            rate,
          );
          ctx.book.recordCpu(key, SUITE, cpu);
        }
        ctx.book.record(
          `consumer.${db}.procs${layout.key}-4-vs-1`,
          SUITE,
          `${name}: 4 consumer processes / 1, ${layout.label}`,
          'ratio',
          book(`procs${layout.key}-4`) / book(`procs${layout.key}-1`),
        );
      }
      const ackWaitMs = scale.rebalanceAckWaitSeconds * 1000;
      // The kill -9 run counts events applied out of order in the per-event handler.
      for (const layout of LAYOUTS.filter((candidate) => !candidate.batchHandler)) {
        progress(`consumer run ${run}/${runs}: ${name}, kill -9 of one of 2 consumer processes, ${layout.label}`);
        const r = await rebalanceAfterKill(ctx, db, scale.consumerEvents, REPLICA_SUBJECTS, ackWaitMs, layout);
        const lease = layout.leaseMs === undefined ? '' : `, lease ${layout.leaseMs / 1000} s`;
        const key = `consumer.${db}.rebalance${layout.key}`;
        ctx.book.record(
          key,
          SUITE,
          `${name}: kill -9 of 1 of 2 processes (${layout.label}) -> every subject progresses again`,
          's',
          r.seconds,
          `ack_wait ${scale.rebalanceAckWaitSeconds} s${lease}`,
        );
        ctx.book.record(`${key}-held`, SUITE, `${name}: subjects that waited > 1 s after the kill (${layout.label})`, 'subjects', r.held);
        ctx.book.record(
          `${key}-out-of-order`,
          SUITE,
          `${name}: events applied after a later one of their subject (kill -9 run, ${layout.label})`,
          'events',
          r.outOfOrder,
        );
        ctx.book.record(`${key}-twice`, SUITE, `${name}: events applied twice (kill -9 run, ${layout.label})`, 'events', r.appliedTwice);
      }
    }
  }
}

export async function measureConsumer(
  ctx: SuiteContext,
  db: 'pg' | 'mysql',
  scenario: Scenario,
  events: number,
  seconds: number,
): Promise<{ rate: number; cpu: CpuSeconds }> {
  const stream = await streamFixture(ctx.nc);
  const pgDb = db === 'pg' ? await pgFixture({ poolSize: 36, products: 1, outbox: false }) : undefined;
  const myDb = db === 'mysql' ? await mysqlFixture({ poolSize: 36, products: 1, outbox: false }) : undefined;
  const nc = await natsConnect();
  const consumers: Consumer<unknown>[] = [];
  try {
    const publisher = new NatsPublisher({ connection: ctx.nc, subjectPrefix: stream.name });
    // Each record carries its place in its subject (1, 2, 3...), as the relay publishes it from a stamped outbox.
    const records = memoryRecords(events, PRODUCTS);
    for (let start = 0; start < records.length; start += 1_000) {
      for (const result of await publisher.publish(records.slice(start, start + 1_000))) {
        if (!result.ok) throw new Error(`filling the stream failed: ${result.error.message}`);
      }
    }
    await ensureConsumer(ctx.nc, { stream: stream.name, name: 'basket', maxDeliver: 5, maxAckPending: 10_000 });
    // NatsSubscriber.create checks that a stream stores the consumer's dead letters.
    await ensureDeadLetterStream(ctx.nc);

    let inbox: InboxStore<unknown>;
    let handler: (productId: string, price: number, tx: unknown) => Promise<void>;
    let many: (folded: Map<string, { price: number; events: number }>, tx: unknown) => Promise<void>;
    if (pgDb) {
      const t = pgDb.schema;
      await pgDb.pool.query(
        `CREATE TABLE ${t}.basket_items (product_id text PRIMARY KEY, price numeric NOT NULL, updates int NOT NULL DEFAULT 0)`,
      );
      await pgDb.pool.query(
        `INSERT INTO ${t}.basket_items (product_id, price) SELECT 'product-' || g, 0 FROM generate_series(0, ${PRODUCTS - 1}) g`,
      );
      const store = new PgInboxStore({ pool: pgDb.pool, schema: t });
      await store.migrate();
      inbox = store as InboxStore<unknown>;
      handler = async (productId, price, tx) => {
        await (tx as PgClientLike).query(`UPDATE ${t}.basket_items SET price = $1, updates = updates + 1 WHERE product_id = $2`, [
          price,
          productId,
        ]);
      };
      many = async (folded, tx) => {
        const rows = [...folded];
        await (tx as PgClientLike).query(
          `UPDATE ${t}.basket_items b SET price = v.price, updates = b.updates + v.n FROM unnest($1::text[], $2::numeric[], $3::int[]) AS v(product_id, price, n) WHERE b.product_id = v.product_id`,
          [rows.map(([id]) => id), rows.map(([, row]) => row.price), rows.map(([, row]) => row.events)],
        );
      };
    } else {
      const mine = myDb as NonNullable<typeof myDb>;
      await mine.pool.query(
        'CREATE TABLE basket_items (product_id VARCHAR(64) PRIMARY KEY, price DECIMAL(12, 2) NOT NULL, updates INT NOT NULL DEFAULT 0)',
      );
      await mine.pool.query(`INSERT INTO basket_items (product_id, price) SELECT CONCAT('product-', seq), 0 FROM seq_0_to_${PRODUCTS - 1}`);
      const store = new MysqlInboxStore({ pool: mine.pool });
      await store.migrate();
      inbox = store as InboxStore<unknown>;
      handler = async (productId, price, tx) => {
        await (tx as MysqlConnectionLike).query('UPDATE basket_items SET price = ?, updates = updates + 1 WHERE product_id = ?', [
          price,
          productId,
        ]);
      };
      many = async (folded, tx) => {
        const rows = [...folded];
        await (tx as MysqlConnectionLike).query(
          `INSERT INTO basket_items (product_id, price, updates) VALUES ${rows.map(() => '(?, ?, ?)').join(', ')} ON DUPLICATE KEY UPDATE price = VALUES(price), updates = updates + VALUES(updates)`,
          rows.flatMap(([id, row]) => [id, row.price, row.events]),
        );
      };
    }

    let applied = 0;
    let failures = 0;
    for (let i = 0; i < scenario.instances; i++) {
      const subscriber = await NatsSubscriber.create({ connection: nc, stream: stream.name, consumer: 'basket' });
      const consumer = new Consumer<unknown>({
        subscriber,
        inbox,
        mode: scenario.mode,
        fetchSize: FETCH_SIZE,
        fetchExpiresMs: 200,
        concurrency: scenario.concurrency,
        ...(scenario.transactions === undefined ? {} : { batchTransactions: scenario.transactions }),
        order: scenario.order,
        ...(scenario.fetchAhead === undefined ? {} : { fetchAhead: scenario.fetchAhead }),
        onEvent: (event) => {
          if (event.type === 'applied') applied++;
          else if (event.type === 'retry' || event.type === 'dead' || event.type === 'batch-fallback') failures++;
        },
      });
      if (scenario.batchHandler) {
        consumer.onBatch(PriceChangedEvent, (batch, tx) => {
          // Each subject's events come in order: the last one of a product sets its price.
          const folded = new Map<string, { price: number; events: number }>();
          for (const event of batch) {
            const row = folded.get(event.data.productId);
            folded.set(event.data.productId, { price: event.data.newPrice, events: (row?.events ?? 0) + 1 });
          }
          return many(folded, tx);
        });
      } else consumer.on(PriceChangedEvent, (event, tx) => handler(event.data.productId, event.data.newPrice, tx));
      consumers.push(consumer);
    }
    const before = ctx.cpu.sample(db);
    const cpuAtStart = process.cpuUsage();
    const started = wallMs();
    await Promise.all(consumers.map((consumer) => consumer.start()));
    const deadline = started + seconds * 1000;
    while (applied < events && wallMs() < deadline) await sleepMs(5);
    const elapsed = (wallMs() - started) / 1000;
    const count = applied;
    const own = process.cpuUsage(cpuAtStart);
    const after = ctx.cpu.sample(db);
    if (failures > 0) throw new Error(`consumer ${scenario.key} on ${db}: ${failures} retries, dead letters or batch fallbacks`);
    const cpu = cpuFigures({
      client: per10k(0, (own.user + own.system) / 1e6, count),
      db: per10k(before.db, after.db, count),
      nats: per10k(before.nats, after.nats, count),
    });
    return { rate: count / elapsed, cpu };
  } finally {
    await Promise.all(consumers.map((consumer) => consumer.stop({ timeoutMs: 10_000 })));
    await nc.drain();
    await stream.drop();
    await pgDb?.drop();
    await myDb?.drop();
  }
}
