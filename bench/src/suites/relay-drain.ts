import type { SuiteContext } from '../context.js';
import { mysqlFixture, mysqlPending } from '../fixtures/mysql.js';
import { checkSubjectOrder, type OrderCheck, streamFixture } from '../fixtures/nats.js';
import { pgFixture, pgPending } from '../fixtures/pg.js';
import type { DoneMessage } from '../workers/protocol.js';
import { exited, spawnRelayWorker } from '../workers/spawn.js';

export interface DrainResult {
  /** Events per second over the whole drain, all instances together. */
  readonly rate: number;
  readonly seconds: number;
  readonly reports: readonly DoneMessage[];
  readonly order?: OrderCheck;
}

/**
 * Loads a backlog into a fresh outbox, forks `instances` relay workers, starts them together and
 * waits until every one has drained; then checks nothing was lost (the table is empty, the stream
 * holds every event) and, when asked, per-subject order in the stream.
 */
export async function drainWithWorkers(
  ctx: SuiteContext,
  db: 'pg' | 'mysql',
  backlog: number,
  subjects: number,
  instances: number,
  checkOrder: boolean,
  nodeArgs: readonly string[] = [],
): Promise<DrainResult> {
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
      ...(pgDb ? { schema: pgDb.schema } : {}),
      ...(myDb ? { database: myDb.database } : {}),
    };
    const workers = await Promise.all(Array.from({ length: instances }, () => spawnRelayWorker(config, nodeArgs)));
    for (const worker of workers) worker.go();
    const reports = await Promise.all(workers.map((worker) => worker.done()));
    await Promise.all(workers.map((worker) => exited(worker.child)));
    const published = reports.reduce((sum, r) => sum + r.published, 0);
    const seconds = (Math.max(...reports.map((r) => r.endMs)) - Math.min(...reports.map((r) => r.startMs))) / 1000;
    const left = pgDb ? await pgPending(pgDb.pool, pgDb.schema) : await mysqlPending((myDb as NonNullable<typeof myDb>).pool);
    const stored = await stream.messages();
    if (published !== backlog || left !== 0 || stored !== backlog) {
      throw new Error(`relay drain of ${backlog} on ${db}: published ${published}, ${left} rows left, ${stored} in the stream`);
    }
    const order = checkOrder ? await checkSubjectOrder(ctx.nc, stream.name, backlog) : undefined;
    if (order && order.messages !== backlog) throw new Error(`order check read ${order.messages} of ${backlog} messages`);
    return { rate: backlog / seconds, seconds, reports, ...(order ? { order } : {}) };
  } finally {
    await stream.drop();
    await pgDb?.drop();
    await myDb?.drop();
  }
}
