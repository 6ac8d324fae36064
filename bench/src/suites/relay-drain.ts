import type { SuiteContext } from '../context.js';
import { mysqlFixture, mysqlPending } from '../fixtures/mysql.js';
import { checkSubjectOrder, type OrderCheck, streamFixture } from '../fixtures/nats.js';
import { pgFixture, pgPending } from '../fixtures/pg.js';
import type { DoneMessage } from '../workers/protocol.js';
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
      ...(pgDb ? { schema: pgDb.schema } : {}),
      ...(myDb ? { database: myDb.database } : {}),
    };
    const workers = await Promise.all(Array.from({ length: instances }, () => spawnRelayWorker(config, options.nodeArgs)));
    for (const worker of workers) worker.go();
    const reports = await Promise.all(workers.map((worker) => worker.done()));
    await Promise.all(workers.map((worker) => exited(worker.child)));
    const published = reports.reduce((sum, r) => sum + r.published, 0);
    const seconds = (Math.max(...reports.map((r) => r.endMs)) - Math.min(...reports.map((r) => r.startMs))) / 1000;
    const left = pgDb ? await pgPending(pgDb.pool, pgDb.schema) : await mysqlPending((myDb as NonNullable<typeof myDb>).pool);
    const stored = await stream.messages();
    if (published + left !== backlog || stored !== published) {
      throw new Error(`relay drain of ${backlog} on ${db}: published ${published}, ${left} rows left, ${stored} in the stream`);
    }
    const order = options.checkOrder ? await checkSubjectOrder(ctx.nc, stream.name, published) : undefined;
    if (order && order.messages !== published) throw new Error(`order check read ${order.messages} of ${published} messages`);
    return { rate: published / seconds, seconds, published, emptied: left === 0, reports, ...(order ? { order } : {}) };
  } finally {
    await stream.drop();
    await pgDb?.drop();
    await myDb?.drop();
  }
}
