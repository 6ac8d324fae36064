import type { SuiteContext } from '../context.js';
import { type CpuSeconds, per10k } from '../cpu.js';
import { mysqlFixture, mysqlPending } from '../fixtures/mysql.js';
import { checkSubjectOrder, type OrderCheck, streamFixture } from '../fixtures/nats.js';
import { pgFixture, pgPending } from '../fixtures/pg.js';
import type { ClaimCounts, DoneMessage } from '../workers/protocol.js';
import { exited, spawnRelayWorker } from '../workers/spawn.js';

export interface DrainResult {
  /** Events per second over the drain, all instances together. */
  readonly rate: number;
  readonly seconds: number;
  readonly published: number;
  /** True when the backlog was emptied; false when the time limit stopped the relays first. */
  readonly emptied: boolean;
  readonly reports: readonly DoneMessage[];
  readonly order?: OrderCheck;
  /** CPU seconds per 10,000 events published: the relay processes together, the database, nats-server. */
  readonly cpu: CpuSeconds;
  /** The claims of all instances together (see ClaimCounts). */
  readonly counts: ClaimCounts;
  /** PostgreSQL only: index entries the drain read (pg_stat_user_indexes.idx_tup_read on the outbox table), per event published. */
  readonly indexReadsPerEvent?: number;
}

export interface DrainOptions {
  readonly db: 'pg' | 'mysql';
  readonly backlog: number;
  readonly subjects: number;
  readonly instances: number;
  /** Stop claiming after this many seconds even if rows are left. */
  readonly timeLimitSeconds?: number;
  /** Read the stream back and check per-subject order. */
  readonly checkOrder?: boolean;
  /** Extra node flags for the workers, e.g. `--cpu-prof`. */
  readonly nodeArgs?: readonly string[];
  /** The relays' `claimAhead`. @defaultValue the store's default (MariaDB: on, PostgreSQL: off) */
  readonly claimAhead?: boolean;
}

/**
 * Copies a backlog into a fresh outbox, forks `instances` relay workers, starts them together and
 * waits until every one has drained (or hit the time limit); then checks nothing was lost or doubled
 * (published + rows left = backlog, the stream holds exactly the published events) and, when asked,
 * per-subject order in the stream.
 */
export async function drainWithWorkers(ctx: SuiteContext, options: DrainOptions): Promise<DrainResult> {
  const { db, backlog, subjects, instances } = options;
  const stream = await streamFixture(ctx.nc);
  const pgDb = db === 'pg' ? await pgFixture({ products: 1 }) : undefined;
  const myDb = db === 'mysql' ? await mysqlFixture({ products: 1 }) : undefined;
  try {
    if (pgDb) await ctx.backlogs.fillPg(pgDb, backlog, subjects);
    if (myDb) await ctx.backlogs.fillMysql(myDb, backlog, subjects);
    const config = {
      db,
      stream: stream.name,
      mode: 'drain' as const,
      ...(options.timeLimitSeconds ? { timeLimitMs: options.timeLimitSeconds * 1000 } : {}),
      ...(options.claimAhead === undefined ? {} : { claimAhead: options.claimAhead }),
      ...(pgDb ? { schema: pgDb.schema } : {}),
      ...(myDb ? { database: myDb.database } : {}),
    };
    const workers = await Promise.all(Array.from({ length: instances }, () => spawnRelayWorker(config, options.nodeArgs)));
    const before = ctx.cpu.sample(db);
    for (const worker of workers) worker.go();
    const reports = await Promise.all(workers.map((worker) => worker.done()));
    const after = ctx.cpu.sample(db);
    await Promise.all(workers.map((worker) => exited(worker.child)));
    const published = reports.reduce((sum, r) => sum + r.published, 0);
    const seconds = (Math.max(...reports.map((r) => r.endMs)) - Math.min(...reports.map((r) => r.startMs))) / 1000;
    const counts = sumCounts(reports.map((r) => r.counts));
    const left = pgDb ? await pgPending(pgDb.pool, pgDb.schema) : await mysqlPending((myDb as NonNullable<typeof myDb>).pool);
    const stored = await stream.messages();
    if (published + left !== backlog || stored !== published) {
      throw new Error(`relay drain of ${backlog} on ${db}: published ${published}, ${left} rows left, ${stored} in the stream`);
    }
    const order = options.checkOrder ? await checkSubjectOrder(ctx.nc, stream.name, published) : undefined;
    if (order && order.messages !== published) throw new Error(`order check read ${order.messages} of ${published} messages`);
    // Read last: the workers' backends flush their statistics as they exit, which follows the workers' own exit.
    const indexReads = pgDb ? await pgIndexReads(pgDb.pool, pgDb.schema) : undefined;
    const relayCpu = reports.reduce((sum, r) => sum + r.cpuSeconds, 0);
    const cpu = cpuFigures({
      client: per10k(0, relayCpu, published),
      db: per10k(before.db, after.db, published),
      nats: per10k(before.nats, after.nats, published),
    });
    return {
      rate: published / seconds,
      seconds,
      published,
      emptied: left === 0,
      reports,
      cpu,
      counts,
      ...(indexReads !== undefined && published > 0 ? { indexReadsPerEvent: indexReads / published } : {}),
      ...(order ? { order } : {}),
    };
  } finally {
    await stream.drop();
    await pgDb?.drop();
    await myDb?.drop();
  }
}

/** Drops the processes whose CPU could not be read. */
export function cpuFigures(values: { client?: number | undefined; db?: number | undefined; nats?: number | undefined }): CpuSeconds {
  const out: { client?: number; db?: number; nats?: number } = {};
  if (values.client !== undefined) out.client = values.client;
  if (values.db !== undefined) out.db = values.db;
  if (values.nats !== undefined) out.nats = values.nats;
  return out;
}

function sumCounts(all: readonly ClaimCounts[]): ClaimCounts {
  const sum = { claims: 0, emptyClaims: 0, shortClaims: 0, claimedRows: 0, claimMs: 0, completes: 0, completeMs: 0 };
  for (const c of all) for (const key of Object.keys(sum) as (keyof ClaimCounts)[]) sum[key] += c[key];
  return sum;
}

/** Index entries read on the outbox table's indexes since it was created (the copy of the backlog reads none). */
async function pgIndexReads(pool: import('pg').Pool, schema: string): Promise<number | undefined> {
  try {
    const { rows } = await pool.query(
      `SELECT coalesce(sum(idx_tup_read), 0)::float8 AS n FROM pg_stat_user_indexes WHERE schemaname = $1 AND relname = 'outbox'`,
      [schema],
    );
    return (rows[0] as { n: number }).n;
  } catch {
    return undefined;
  }
}
