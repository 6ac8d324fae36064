import { NatsPublisher } from '@outboxkit/bus-nats';
import { naiveMysqlRelay, naivePgRelay } from '../baselines/naive-relay.js';
import { PTXO_BATCH_SIZE, PTXO_POLL_MS, runPgTransactionalOutbox } from '../baselines/pg-transactional-outbox.js';
import type { SuiteContext } from '../context.js';
import { type CpuSeconds, per10k } from '../cpu.js';
import { NATS_URL } from '../env.js';
import { mysqlFixture, mysqlPending } from '../fixtures/mysql.js';
import { checkSubjectOrder, streamFixture } from '../fixtures/nats.js';
import { pgFixture, pgPending } from '../fixtures/pg.js';
import { runGoCeiling, runPublisherCeiling } from '../go-ceiling.js';
import { progress } from '../progress.js';
import { fmt } from '../stats.js';
import { profileRelayDrain } from './profile.js';
import { cpuFigures, type DrainResult, drainWithWorkers } from './relay-drain.js';

const SUITE = 'relay';
const RELAY_BATCH = 500;
/** Relay processes on one PostgreSQL table: a second (and fourth) relay must not slow the system down. */
const PG_INSTANCES = [1, 2, 4] as const;

/**
 * Relay throughput on a backlog: outboxkit's Relay (1 and 2 processes), a naive relay,
 * pg-transactional-outbox, and the raw JetStream ceiling, interleaved within each run.
 */
export async function relaySuite(ctx: SuiteContext): Promise<void> {
  const { scale, runs } = ctx.options;
  const backlog = scale.relayBacklog;
  const subjects = scale.subjects;
  const k = (n: number) => `${fmt(n / 1000, 0)}k`;
  ctx.note(
    SUITE,
    `Backlog ${fmt(backlog)} events over ${fmt(subjects)} subjects (event i belongs to subject i mod ${fmt(subjects)}), written once through \`enqueue\` into a template table and copied server-side into a fresh table before each run; a fresh stream (file storage) per run. ` +
      `Relay: core \`Relay.drain()\` with PgOutboxStore / MysqlOutboxStore and NatsPublisher, batch ${RELAY_BATCH}, each instance a child process of its own; 2 instances = 2 processes on the same table; "claimAhead" rows: one relay with the other setting than its store's default (\`claimAhead\` claims the next batch while it publishes one: on by default on MariaDB, off on PostgreSQL). ` +
      `Each drain stops when the backlog is empty or after ${scale.relaySeconds} s (the rate is then measured while the backlog shrinks from ${fmt(backlog)}; the note says so); the ${fmt(scale.smallBacklog)}-event drain always empties it. ` +
      `Rate = events published / (last instance's end - first instance's start). Every NATS connection sets \`noAsyncTraces: true\`.`,
  );
  ctx.note(
    SUITE,
    `Naive relay and pg-transactional-outbox cannot drain a large backlog in reasonable time: each is stopped after ${scale.baselineSeconds} s and its rate is events published / elapsed time; the time to drain the whole backlog is extrapolated from it. ` +
      `pg-transactional-outbox ${'0.5'} polling listener: batch size ${PTXO_BATCH_SIZE}, polling interval ${PTXO_POLL_MS} ms, segment = subject (per-subject order, as outboxkit), max-attempts and poison protections off, cleanup off; its handler publishes one message and awaits the PubAck.`,
  );
  ctx.note(
    SUITE,
    'binary' in ctx.goCeiling
      ? `JetStream ceiling, Go client: \`bench/go/ceiling.go\` (${ctx.goCeiling.version}) publishes the same records as the relay (same subject, \`traceparent\` + the 6 \`ce-*\` attributes + \`ce-subjectseq\` + \`content-type\` + \`Nats-Msg-Id\`, the same JSON payload) from memory with \`PublishMsgAsync\` (at most 4,000 awaiting their PubAck, the client's default) into a fresh file-storage stream, and waits for every PubAck: the most this machine's nats-server takes. Every relay figure is also given as a share of it, same run.`
      : `JetStream ceiling, Go client: skipped in this run (${ctx.goCeiling.skipped}).`,
  );
  ctx.note(
    SUITE,
    "CPU s / 10k events: CPU seconds (user + system) per 10,000 events published, per process, over the measurement: the relay processes together (`process.cpuUsage()`, the counters of /proc/<pid>/stat), or the publishing process for the ceilings; PostgreSQL = the postmaster and every process under it (backends that exited meanwhile included, from its cutime/cstime), MariaDB = mariadbd, nats-server: from /proc, found by the port each listens on. Server figures are whole processes: on a shared machine they include other clients' work, so compare them within a run.",
  );
  // Warms the client and the server's file store once, so the first run's ceiling is not a cold start.
  await rawCeiling(ctx, Math.min(backlog, 10_000), subjects);
  for (let run = 1; run <= runs; run++) {
    const tag = (what: string) => progress(`relay run ${run}/${runs}: ${what}`);

    if ('binary' in ctx.goCeiling) {
      tag(`JetStream ceiling with the Go client, ${k(backlog)} from memory`);
      const go = await goCeiling(ctx, ctx.goCeiling.binary, backlog, subjects);
      ctx.book.record('relay.go', SUITE, 'JetStream ceiling, Go client (async publish, no database)', 'events/s', go.rate);
      ctx.book.recordCpu('relay.go', SUITE, go.cpu);
    }

    tag(`raw JetStream ceiling, ${k(backlog)} from memory`);
    const raw = await rawCeiling(ctx, backlog, subjects);
    ctx.book.record('relay.raw', SUITE, 'NatsPublisher alone (no database)', 'events/s', raw.rate);
    ctx.book.recordCpu('relay.raw', SUITE, raw.cpu);

    for (const instances of PG_INSTANCES) {
      tag(`PostgreSQL, outboxkit Relay x${instances}, ${k(backlog)}`);
      const result = await drainWithWorkers(ctx, {
        db: 'pg',
        backlog,
        subjects,
        instances,
        timeLimitSeconds: scale.relaySeconds,
        checkOrder: instances > 1,
      });
      recordDrain(
        ctx,
        `relay.pg.outboxkit-${instances}`,
        `PostgreSQL: outboxkit Relay, ${instances} process${instances > 1 ? 'es' : ''}`,
        result,
        backlog,
      );
      if (result.order)
        ctx.book.record(
          `relay.pg.order-violations-${instances}`,
          SUITE,
          `PostgreSQL: per-subject order violations, ${instances} processes`,
          'events',
          result.order.outOfOrder,
        );
    }
    tag(`PostgreSQL, naive relay, ${k(backlog)} (${scale.baselineSeconds} s limit)`);
    ctx.book.record(
      'relay.pg.naive',
      SUITE,
      'PostgreSQL: naive relay (row at a time)',
      'events/s',
      await naive(ctx, 'pg', backlog, subjects),
    );
    for (const size of [scale.smallBacklog, backlog]) {
      tag(`PostgreSQL, pg-transactional-outbox, ${k(size)} (${scale.baselineSeconds} s limit)`);
      const result = await withStream(ctx, (publisher) => runPgTransactionalOutbox(publisher, size, subjects, scale.baselineSeconds));
      ctx.book.record(
        `relay.pg.ptxo-${size === backlog ? 'large' : 'small'}`,
        SUITE,
        `PostgreSQL: pg-transactional-outbox, ${fmt(size)} backlog`,
        'events/s',
        result.published / result.seconds,
        result.drained ? undefined : `stopped after ${fmt(result.seconds, 1)} s having published ${fmt(result.published)} of ${fmt(size)}`,
      );
    }
    tag(`PostgreSQL, outboxkit Relay x1, ${k(scale.smallBacklog)}`);
    const small = await drainWithWorkers(ctx, { db: 'pg', backlog: scale.smallBacklog, subjects, instances: 1 });
    recordDrain(
      ctx,
      'relay.pg.outboxkit-1-small',
      `PostgreSQL: outboxkit Relay, 1 process, ${fmt(scale.smallBacklog)} backlog`,
      small,
      scale.smallBacklog,
    );

    for (const instances of [1, 2]) {
      tag(`MariaDB, outboxkit Relay x${instances}, ${k(backlog)}`);
      const result = await drainWithWorkers(ctx, {
        db: 'mysql',
        backlog,
        subjects,
        instances,
        timeLimitSeconds: scale.relaySeconds,
        checkOrder: instances === 2,
      });
      recordDrain(
        ctx,
        `relay.mysql.outboxkit-${instances}`,
        `MariaDB: outboxkit Relay, ${instances} process${instances > 1 ? 'es' : ''}`,
        result,
        backlog,
      );
      if (result.order)
        ctx.book.record(
          `relay.mysql.order-violations-${instances}`,
          SUITE,
          `MariaDB: per-subject order violations, ${instances} processes`,
          'events',
          result.order.outOfOrder,
        );
    }
    // A relay alone with the other claimAhead than its store's default: on for PostgreSQL (off by
    // default: it slows several relays on few subjects), off for MariaDB (on by default).
    for (const db of ['pg', 'mysql'] as const) {
      const name = db === 'pg' ? 'PostgreSQL' : 'MariaDB';
      const claimAhead = db === 'pg';
      tag(`${name}, outboxkit Relay x1 with claimAhead: ${claimAhead}, ${k(backlog)}`);
      const result = await drainWithWorkers(ctx, {
        db,
        backlog,
        subjects,
        instances: 1,
        timeLimitSeconds: scale.relaySeconds,
        claimAhead,
      });
      recordDrain(
        ctx,
        claimAhead ? `relay.${db}.outboxkit-1-ahead` : `relay.${db}.outboxkit-1-one-batch`,
        `${name}: outboxkit Relay, 1 process, claimAhead: ${claimAhead}`,
        result,
        backlog,
      );
    }
    tag(`MariaDB, naive relay, ${k(backlog)} (${scale.baselineSeconds} s limit)`);
    ctx.book.record(
      'relay.mysql.naive',
      SUITE,
      'MariaDB: naive relay (row at a time)',
      'events/s',
      await naive(ctx, 'mysql', backlog, subjects),
    );
  }
  if (ctx.options.profile) {
    progress('relay: profiling one PostgreSQL drain with --cpu-prof');
    ctx.extras.relayProfile = await profileRelayDrain(ctx, backlog, subjects, scale.relaySeconds);
  }
}

/** A drain's rate, its CPU per 10,000 events, and what its claims counted. */
function recordDrain(ctx: SuiteContext, key: string, label: string, result: DrainResult, backlog: number): void {
  ctx.book.record(key, SUITE, label, 'events/s', result.rate, drainNote(result, backlog));
  ctx.book.recordCpu(key, SUITE, result.cpu);
  const c = result.counts;
  const per = (n: number) => (n / Math.max(1, result.published)) * 10_000;
  ctx.book.record(`claims.${key}.claims`, SUITE, 'claims', 'per 10k events', per(c.claims));
  ctx.book.record(`claims.${key}.empty`, SUITE, 'empty claims', 'per 10k events', per(c.emptyClaims));
  ctx.book.record(`claims.${key}.short`, SUITE, 'short claims (fewer rows than a batch)', 'per 10k events', per(c.shortClaims));
  ctx.book.record(`claims.${key}.claim-ms`, SUITE, 'time in claim()', 'ms per claim', c.claimMs / Math.max(1, c.claims));
  ctx.book.record(`claims.${key}.complete-ms`, SUITE, 'time in complete()', 'ms per complete', c.completeMs / Math.max(1, c.completes));
  if (result.indexReadsPerEvent !== undefined)
    ctx.book.record(`claims.${key}.index-reads`, SUITE, 'index entries read (idx_tup_read)', 'per event', result.indexReadsPerEvent);
}

/** Says in the report when a drain was stopped by its time limit, with how much it published. */
function drainNote(result: DrainResult, backlog: number): string | undefined {
  return result.emptied
    ? undefined
    : `time limit hit (last run: ${fmt(result.published)} of ${fmt(backlog)} in ${fmt(result.seconds, 1)} s)`;
}

/** A ceiling's rate and the CPU seconds per 10,000 events of its client and of nats-server. */
interface Ceiling {
  readonly rate: number;
  readonly cpu: CpuSeconds;
}

/** The same records published from memory in the relay's batch size through NatsPublisher, in a process of its own (as the Go client's). */
export async function rawCeiling(ctx: SuiteContext, count: number, subjects: number): Promise<Ceiling> {
  return withStream(ctx, async (_publisher, stream) => {
    const before = ctx.cpu.sample(undefined);
    const run = await runPublisherCeiling(NATS_URL, stream, count, subjects, RELAY_BATCH);
    const after = ctx.cpu.sample(undefined);
    return { rate: run.rate, cpu: cpuFigures({ client: per10k(0, run.cpuSeconds, count), nats: per10k(before.nats, after.nats, count) }) };
  });
}

/** The same records published by the Go client (bench/go/ceiling.go) into a fresh stream; checks the stream holds them all. */
export async function goCeiling(ctx: SuiteContext, binary: string, count: number, subjects: number): Promise<Ceiling> {
  const stream = await streamFixture(ctx.nc);
  try {
    const before = ctx.cpu.sample(undefined);
    const run = await runGoCeiling(binary, NATS_URL, stream.name, count, subjects);
    const after = ctx.cpu.sample(undefined);
    const stored = await stream.messages();
    if (stored !== count) throw new Error(`Go ceiling: ${stored} of ${count} messages in the stream`);
    return { rate: run.rate, cpu: cpuFigures({ client: per10k(0, run.cpuSeconds, count), nats: per10k(before.nats, after.nats, count) }) };
  } finally {
    await stream.drop();
  }
}

async function naive(ctx: SuiteContext, db: 'pg' | 'mysql', backlog: number, subjects: number): Promise<number> {
  const seconds = ctx.options.scale.baselineSeconds;
  if (db === 'pg') {
    const fixture = await pgFixture({ products: 1 });
    try {
      await ctx.backlogs.fillPg(fixture, backlog, subjects);
      const result = await withStream(ctx, (publisher) => naivePgRelay(fixture.pool, fixture.schema, publisher, seconds));
      if (!result.drained && (await pgPending(fixture.pool, fixture.schema)) !== backlog - result.published)
        throw new Error('naive relay lost rows');
      return result.published / result.seconds;
    } finally {
      await fixture.drop();
    }
  }
  const fixture = await mysqlFixture({ products: 1 });
  try {
    await ctx.backlogs.fillMysql(fixture, backlog, subjects);
    const result = await withStream(ctx, (publisher) => naiveMysqlRelay(fixture.pool, publisher, seconds));
    if (!result.drained && (await mysqlPending(fixture.pool)) !== backlog - result.published) throw new Error('naive relay lost rows');
    return result.published / result.seconds;
  } finally {
    await fixture.drop();
  }
}

/** Runs `body` with a publisher on a fresh stream, then drops the stream. */
export async function withStream<T>(ctx: SuiteContext, body: (publisher: NatsPublisher, stream: string) => Promise<T>): Promise<T> {
  const stream = await streamFixture(ctx.nc);
  try {
    return await body(new NatsPublisher({ connection: ctx.nc, subjectPrefix: stream.name }), stream.name);
  } finally {
    await stream.drop();
  }
}

export { checkSubjectOrder };
