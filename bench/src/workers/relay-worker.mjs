// A relay in a process of its own, as the sidecar runs it: the parent forks it, waits for `ready`,
// sends `go`, and gets the counts, its own start/end times and its memory back. `drain` mode runs
// `Relay.drain()` over the backlog; `run` mode runs `Relay.start()` until `stop` and reports when
// each event's PubAck came back (for the latency suite).
//
// Plain JavaScript on the packages' built `dist/`, run by plain `node` (no TypeScript loader), so
// its memory and CPU are those of a relay process and nothing else. See protocol.ts for the messages.
import { connect } from '@nats-io/transport-node';
import { NatsPublisher } from '@outboxkit/bus-nats';
import { Relay } from '@outboxkit/outbox-core';
import { MysqlOutboxStore } from '@outboxkit/outbox-mysql';
import { PgOutboxStore } from '@outboxkit/outbox-pg';
import { MYSQL_URL, NATS_URL, PG_URL } from '@outboxkit/test-services';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { nextMessage, runWorker, send, wallMs } from './worker-ipc.mjs';

/** @type {import('./protocol.js').WorkerConfig} */
const config = JSON.parse(process.argv[2] ?? '{}');
const rssMb = () => process.memoryUsage.rss() / 2 ** 20;

/** Records when each record's batch was acknowledged: the moment the relay learns the bus has it. */
class AckClock {
  /** @param {NatsPublisher} inner */
  constructor(inner) {
    this.inner = inner;
    /** @type {string[]} */
    this.ids = [];
    /** @type {number[]} */
    this.times = [];
  }
  /** @param {readonly import('@outboxkit/outbox-core').OutboxRecord[]} records */
  async publish(records) {
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
  probe(options) {
    return this.inner.probe(options);
  }
}

/**
 * The store with its claims and completions counted and timed: what two relays on one table waste
 * shows up as more, shorter or slower claims than one relay makes for the same events.
 * @template {object} T
 * @param {T} store
 */
function countClaims(store) {
  const counts = { claims: 0, emptyClaims: 0, shortClaims: 0, claimedRows: 0, claimMs: 0, completes: 0, completeMs: 0 };
  const counted = new Proxy(store, {
    get(target, prop) {
      if (prop === 'claim') {
        return async (options) => {
          const started = performance.now();
          const batch = await target.claim(options);
          counts.claimMs += performance.now() - started;
          counts.claims++;
          counts.claimedRows += batch.records.length;
          if (batch.records.length === 0) counts.emptyClaims++;
          else if (batch.records.length < options.batchSize) counts.shortClaims++;
          return batch;
        };
      }
      if (prop === 'complete') {
        return async (token, ids) => {
          const started = performance.now();
          const done = await target.complete(token, ids);
          counts.completeMs += performance.now() - started;
          counts.completes++;
          return done;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { counted, counts };
}

async function main() {
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: true });
  let store;
  let closePool;
  if (config.db === 'pg') {
    const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
    store = new PgOutboxStore({ pool, schema: config.schema });
    closePool = () => pool.end();
  } else {
    const pool = mysql.createPool({ uri: MYSQL_URL, database: config.database, connectionLimit: 4 });
    store = new MysqlOutboxStore({ pool });
    closePool = () => pool.end();
  }
  const nats = new NatsPublisher({ connection: nc, subjectPrefix: config.stream });
  const clock = config.mode === 'run' ? new AckClock(nats) : undefined;
  const { counted, counts } = countClaims(store);
  const relay = new Relay({
    store: counted,
    publisher: clock ?? nats,
    ...(config.batchSize ? { batchSize: config.batchSize } : {}),
    ...(typeof config.claimAhead === 'boolean' ? { claimAhead: config.claimAhead } : {}),
  });

  let peakRss = rssMb();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssMb());
  }, 250);
  const idleRssMb = rssMb();
  send({ type: 'ready', rssMb: idleRssMb });
  await nextMessage();

  const startMs = wallMs();
  const cpuAtStart = process.cpuUsage();
  if (config.mode === 'drain') {
    const limit = new AbortController();
    const timer = config.timeLimitMs ? setTimeout(() => limit.abort(), config.timeLimitMs) : undefined;
    const result = await relay.drain({ signal: limit.signal });
    clearTimeout(timer);
    const endMs = wallMs();
    const cpu = process.cpuUsage(cpuAtStart);
    clearInterval(sampler);
    peakRss = Math.max(peakRss, rssMb());
    await send({
      type: 'done',
      published: result.published,
      batches: result.batches,
      failed: result.failed + result.dead,
      startMs,
      endMs,
      idleRssMb,
      peakRssMb: peakRss,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      counts,
    });
  } else {
    await relay.start();
    await nextMessage();
    await relay.stop({ timeoutMs: 10_000 });
    clearInterval(sampler);
    await send({ type: 'acks', ids: clock?.ids ?? [], times: clock?.times ?? [] });
  }
  await store.close();
  await closePool();
  await nc.drain();
}

runWorker(main);
