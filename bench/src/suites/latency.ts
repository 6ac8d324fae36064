import type { MysqlConnectionLike } from '@outboxkit/outbox-mysql';
import { transaction as mysqlTransaction } from '@outboxkit/outbox-mysql';
import { type PgClientLike, transaction as pgTransaction } from '@outboxkit/outbox-pg';
import type { SuiteContext } from '../context.js';
import { PriceChangedEvent, TRACEPARENT } from '../events.js';
import { mysqlFixture } from '../fixtures/mysql.js';
import { streamFixture } from '../fixtures/nats.js';
import { pgFixture } from '../fixtures/pg.js';
import { sleepMs, wallMs } from '../names.js';
import { progress } from '../progress.js';
import { fmt, percentile } from '../stats.js';
import { exited, spawnRelayWorker } from '../workers/spawn.js';

const SUITE = 'latency';
const PRODUCTS = 1_000;
const WARMUP_SECONDS = 1;
/** Producer transactions allowed in flight; beyond it the offered load is not met (reported as the achieved rate). */
const MAX_IN_FLIGHT = 32;

/**
 * Latency from a producer's COMMIT to the relay's PubAck, at steady offered loads. The producer
 * (this process) commits `UPDATE + enqueue` transactions on a fixed schedule and notes each event's
 * commit time; the relay (a child process, `Relay.start()`) notes when each event's PubAck arrived.
 */
export async function latencySuite(ctx: SuiteContext): Promise<void> {
  const { runs, scale } = ctx.options;
  ctx.note(
    SUITE,
    `Open-loop producer: transactions start on a fixed schedule (not when the previous one ends), up to ${MAX_IN_FLIGHT} in flight, each \`UPDATE products ... ; enqueue(event); COMMIT\` over ${PRODUCTS.toLocaleString('en-US')} products. ` +
      `${WARMUP_SECONDS} s warm-up is discarded, then ${scale.latencySeconds} s are measured. Latency = PubAck time in the relay process - the moment COMMIT returned in the producer (both wall clock, sub-millisecond). ` +
      "The relay runs with its defaults: PostgreSQL wakes on the coalesced LISTEN/NOTIFY, MariaDB polls adaptively (5 ms doubling to 1 s when idle). The PubAck time is when the batch's publish resolved (the relay completes rows after it).",
  );
  const histograms: Record<string, number[]> = {};
  for (let run = 1; run <= runs; run++) {
    for (const db of ['pg', 'mysql'] as const) {
      for (const rate of scale.latencyRates) {
        progress(`latency run ${run}/${runs}: ${db === 'pg' ? 'PostgreSQL' : 'MariaDB'} at ${fmt(rate)} events/s`);
        const result = await measureLatency(ctx, db, rate, scale.latencySeconds);
        const name = db === 'pg' ? 'PostgreSQL' : 'MariaDB';
        for (const [p, value] of [
          ['p50', result.p50],
          ['p90', result.p90],
          ['p99', result.p99],
          ['max', result.max],
        ] as const) {
          ctx.book.record(`latency.${db}.${rate}.${p}`, SUITE, `${name} at ${fmt(rate)}/s: ${p}`, 'ms', value);
        }
        ctx.book.record(
          `latency.${db}.${rate}.achieved`,
          SUITE,
          `${name} at ${fmt(rate)}/s: achieved commit rate`,
          'events/s',
          result.achieved,
        );
        if (result.missing > 0)
          ctx.note(
            SUITE,
            `run ${run}, ${name} at ${rate}/s: ${result.missing} events had no PubAck within 10 s after the producer stopped.`,
          );
      }
    }
  }
  ctx.extras.latencyHistograms = histograms;
}

interface LatencyResult {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly achieved: number;
  readonly missing: number;
}

export async function measureLatency(ctx: SuiteContext, db: 'pg' | 'mysql', rate: number, seconds: number): Promise<LatencyResult> {
  const stream = await streamFixture(ctx.nc);
  const pgDb = db === 'pg' ? await pgFixture({ poolSize: MAX_IN_FLIGHT, products: PRODUCTS }) : undefined;
  const myDb = db === 'mysql' ? await mysqlFixture({ poolSize: MAX_IN_FLIGHT, products: PRODUCTS }) : undefined;
  try {
    const worker = await spawnRelayWorker({
      db,
      stream: stream.name,
      mode: 'run',
      ...(pgDb ? { schema: pgDb.schema } : {}),
      ...(myDb ? { database: myDb.database } : {}),
    });
    worker.go();
    const commits = new Map<string, number>();
    const transact = (productId: number): Promise<void> => {
      const subject = `product-${productId}`;
      const event = PriceChangedEvent.create(
        { productId: subject, newPrice: productId / 100, oldPrice: productId / 100 + 1, n: 0 },
        { subject, headers: { traceparent: TRACEPARENT } },
      );
      const body = async (update: () => Promise<unknown>, enqueue: () => Promise<void>) => {
        await update();
        await enqueue();
      };
      const done = (): void => {
        commits.set(event.id, wallMs());
      };
      if (pgDb) {
        const t = pgDb.schema;
        return pgTransaction(pgDb.pool, (client: PgClientLike) =>
          body(
            () => client.query(`UPDATE ${t}.products SET price = price + 1, version = version + 1 WHERE id = $1`, [productId]),
            () => pgDb.store.enqueue(client, event),
          ),
        ).then(done);
      }
      const mine = myDb as NonNullable<typeof myDb>;
      return mysqlTransaction(mine.pool, (connection: MysqlConnectionLike) =>
        body(
          () => connection.query('UPDATE products SET price = price + 1, version = version + 1 WHERE id = ?', [productId]),
          () => mine.store.enqueue(connection, event),
        ),
      ).then(done);
    };

    const total = Math.round(rate * (WARMUP_SECONDS + seconds));
    const started = wallMs();
    const measureFrom = started + WARMUP_SECONDS * 1000;
    const inFlight = new Set<Promise<void>>();
    let launched = 0;
    let skipped = 0;
    while (launched + skipped < total) {
      const due = Math.min(total, Math.floor(((wallMs() - started) * rate) / 1000) + 1);
      while (launched + skipped < due) {
        if (inFlight.size >= MAX_IN_FLIGHT) {
          skipped++;
          continue;
        }
        const promise = transact(Math.floor(Math.random() * PRODUCTS)).finally(() => inFlight.delete(promise));
        inFlight.add(promise);
        launched++;
      }
      await sleepMs(1);
    }
    await Promise.all(inFlight);
    const producerSeconds = (wallMs() - started) / 1000;

    // Wait for the relay to publish the last events, then collect its PubAck times.
    const deadline = Date.now() + 10_000;
    while ((await stream.messages()) < commits.size && Date.now() < deadline) await sleepMs(20);
    worker.stop();
    const acks = await worker.acks();
    await exited(worker.child);

    const latencies: number[] = [];
    let measuredCommits = 0;
    const ackAt = new Map<string, number>();
    acks.ids.forEach((id, index) => {
      ackAt.set(id, acks.times[index] as number);
    });
    let missing = 0;
    for (const [id, committedAt] of commits) {
      if (committedAt < measureFrom) continue;
      measuredCommits++;
      const at = ackAt.get(id);
      if (at === undefined) missing++;
      else latencies.push(Math.max(0, at - committedAt));
    }
    latencies.sort((a, b) => a - b);
    return {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? Number.NaN,
      achieved: measuredCommits / Math.max(0.001, producerSeconds - WARMUP_SECONDS),
      missing,
    };
  } finally {
    await stream.drop();
    await pgDb?.drop();
    await myDb?.drop();
  }
}
