import { newEventId, Relay } from '@outboxkit/outbox-core';
import { type MysqlConnectionLike, MysqlOutboxStore, transaction as mysqlTransaction } from '@outboxkit/outbox-mysql';
import { type PgClientLike, PgOutboxStore, transaction as pgTransaction } from '@outboxkit/outbox-pg';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { SuiteContext } from '../context.js';
import { MYSQL_URL, PG_URL } from '../env.js';
import { EVENT_SOURCE, EVENT_TYPE, PriceChangedEvent, TRACEPARENT } from '../events.js';
import { mysqlFixture, mysqlPending } from '../fixtures/mysql.js';
import { pgFixture, pgPending } from '../fixtures/pg.js';
import { sleepMs, wallMs } from '../names.js';
import { nullPublisher } from '../null-publisher.js';
import { progress } from '../progress.js';

const SUITE = 'producer';
const PRODUCTS = 10_000;
/** Subjects every client writes in the hot-subject scenario: the sequence stamp serialises each one's producers. */
const HOT_SUBJECTS = 4;
const SCENARIOS = ['alone', 'enqueue', 'enqueue-seq', 'enqueue-seq-hot', 'insert'] as const;
type Scenario = (typeof SCENARIOS)[number];
const LABELS: Record<Scenario, string> = {
  alone: 'UPDATE alone',
  enqueue: 'UPDATE + enqueue without the sequence stamp (subjectSequence: false, with its wake-up)',
  'enqueue-seq': 'UPDATE + enqueue with the sequence stamp (the default)',
  'enqueue-seq-hot': `UPDATE + enqueue with the sequence stamp, all clients on the same ${HOT_SUBJECTS} subjects`,
  insert: 'UPDATE + hand-written INSERT',
};

/** One business transaction of a scenario, on a connection inside BEGIN. */
type Body = (tx: unknown, productId: number) => Promise<void>;

interface Bench {
  readonly bodies: Record<Scenario, Body>;
  run(fn: (tx: unknown) => Promise<void>): Promise<void>;
  pending(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Producer overhead: tx/s of a business transaction alone, with `enqueue`, and with a hand-written
 * INSERT of the same row, at 8 and 32 clients; the three scenarios take turns within each run.
 */
export async function producerSuite(ctx: SuiteContext): Promise<void> {
  const { runs, scale } = ctx.options;
  ctx.note(
    SUITE,
    `Each client loops \`BEGIN; UPDATE products SET price = price + 1, version = version + 1 WHERE id = <random of ${PRODUCTS.toLocaleString('en-US')}>; [append]; COMMIT\` for ${scale.producerSeconds} s. ` +
      'The append is `enqueue(tx, event)` (PostgreSQL: one prepared INSERT ... SELECT unnest statement that also reads the coalesced wake-up flag; MariaDB: a `DO 0` transaction probe and one INSERT), ' +
      'or the same row written by a hand-written single-row INSERT with no checks and no wake-up. ' +
      '"Without the sequence stamp" is a store built with `subjectSequence: false` (no counter row, `subject_seq` NULL: the enqueue of before issue 14, and the figure the existing goals are evaluated on); "with the stamp" is the default store, which also increments the subject\'s counter row in the same transaction (PostgreSQL: in the same statement; MariaDB: in the same INSERT, by the outbox\'s stamp trigger, since every transaction here writes one subject). ' +
      `Hot subjects: every client writes one of the same ${HOT_SUBJECTS} subjects, so the counter row serialises their transactions by design (reported, no goal). ` +
      'A core Relay with a publisher that acknowledges at once drains the outbox meanwhile (its own pool), in every scenario, so the table does not grow and the wake-up is armed as in production. ' +
      'Ratios are computed within each run, then the median is taken. Default server durability (PostgreSQL synchronous_commit on, MariaDB innodb_flush_log_at_trx_commit=1).',
  );
  for (let run = 1; run <= runs; run++) {
    for (const db of ['pg', 'mysql'] as const) {
      for (const clients of scale.producerClients) {
        const bench = db === 'pg' ? await pgBench(clients) : await mysqlBench(clients);
        const rates: Partial<Record<Scenario, number>> = {};
        try {
          for (const scenario of SCENARIOS) {
            progress(`producer run ${run}/${runs}: ${db === 'pg' ? 'PostgreSQL' : 'MariaDB'}, ${clients} clients, ${LABELS[scenario]}`);
            const rate = await measure(bench, bench.bodies[scenario], clients, scale.producerSeconds);
            rates[scenario] = rate;
            ctx.book.record(
              `producer.${db}.c${clients}.${scenario}`,
              SUITE,
              `${dbName(db)}, ${clients} clients: ${LABELS[scenario]}`,
              'tx/s',
              rate,
            );
            await settle(bench);
          }
        } finally {
          await bench.close();
        }
        const { alone, enqueue, insert, 'enqueue-seq': seq, 'enqueue-seq-hot': hot } = rates as Record<Scenario, number>;
        ctx.book.record(
          `producer.${db}.c${clients}.seq-vs-enqueue`,
          SUITE,
          `${dbName(db)}, ${clients} clients: enqueue with the sequence stamp / without`,
          'ratio',
          seq / enqueue,
        );
        ctx.book.record(
          `producer.${db}.c${clients}.seq-hot-vs-enqueue`,
          SUITE,
          `${dbName(db)}, ${clients} clients: enqueue with the stamp on ${HOT_SUBJECTS} hot subjects / without the stamp`,
          'ratio',
          hot / enqueue,
        );
        ctx.book.record(
          `producer.${db}.c${clients}.enqueue-vs-alone`,
          SUITE,
          `${dbName(db)}, ${clients} clients: enqueue / UPDATE alone`,
          'ratio',
          enqueue / alone,
        );
        ctx.book.record(
          `producer.${db}.c${clients}.enqueue-vs-insert`,
          SUITE,
          `${dbName(db)}, ${clients} clients: enqueue / hand-written INSERT`,
          'ratio',
          enqueue / insert,
        );
      }
    }
  }
}

const dbName = (db: 'pg' | 'mysql') => (db === 'pg' ? 'PostgreSQL' : 'MariaDB');

async function measure(bench: Bench, body: Body, clients: number, seconds: number): Promise<number> {
  const started = wallMs();
  const deadline = started + seconds * 1000;
  let committed = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (wallMs() < deadline) {
        await bench.run((tx) => body(tx, Math.floor(Math.random() * PRODUCTS)));
        committed++;
      }
    }),
  );
  return committed / ((wallMs() - started) / 1000);
}

/** Lets the relay empty the outbox so the next scenario starts from the same state. */
async function settle(bench: Bench): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await bench.pending()) > 0 && Date.now() < deadline) await sleepMs(50);
}

function event(productId: number, hot = false) {
  const subject = hot ? `product-${productId % HOT_SUBJECTS}` : `product-${productId}`;
  const data = { productId: subject, newPrice: productId / 100, oldPrice: productId / 100 + 1, n: 0 };
  return { data, subject };
}

async function pgBench(clients: number): Promise<Bench> {
  const fixture = await pgFixture({ poolSize: clients, products: PRODUCTS });
  const relayPool = new pg.Pool({ connectionString: PG_URL, max: 2 });
  const relayStore = new PgOutboxStore({ pool: relayPool, schema: fixture.schema });
  const relay = new Relay({ store: relayStore, publisher: nullPublisher });
  await relay.start();
  // Today's enqueue: no counter row, subject_seq NULL. fixture.store has the default (the stamp).
  const unstamped = new PgOutboxStore({ pool: fixture.pool, schema: fixture.schema, subjectSequence: false });
  const t = fixture.schema;
  const enqueue = async (store: PgOutboxStore, tx: PgClientLike, id: number, hot = false) => {
    await update(tx, id);
    const { data, subject } = event(id, hot);
    await store.enqueue(tx, PriceChangedEvent.create(data, { subject, headers: { traceparent: TRACEPARENT } }));
  };
  const update = (tx: PgClientLike, id: number) =>
    tx.query(`UPDATE ${t}.products SET price = price + 1, version = version + 1 WHERE id = $1`, [id]);
  const insert = `INSERT INTO ${t}.outbox (id, type, source, subject, time, payload, headers) VALUES ($1, $2, $3, $4, $5, $6, $7)`;
  return {
    bodies: {
      alone: async (tx, id) => {
        await update(tx as PgClientLike, id);
      },
      enqueue: (tx, id) => enqueue(unstamped, tx as PgClientLike, id),
      'enqueue-seq': (tx, id) => enqueue(fixture.store, tx as PgClientLike, id),
      'enqueue-seq-hot': (tx, id) => enqueue(fixture.store, tx as PgClientLike, id, true),
      insert: async (tx, id) => {
        await update(tx as PgClientLike, id);
        const { data, subject } = event(id);
        await (tx as PgClientLike).query(insert, [
          newEventId(),
          EVENT_TYPE,
          EVENT_SOURCE,
          subject,
          new Date().toISOString(),
          JSON.stringify(data),
          JSON.stringify({ traceparent: TRACEPARENT }),
        ]);
      },
    },
    run: (body) => pgTransaction(fixture.pool, (client) => body(client)),
    pending: () => pgPending(fixture.pool, fixture.schema),
    async close() {
      await relay.stop();
      await unstamped.close();
      await relayStore.close();
      await relayPool.end();
      await fixture.drop();
    },
  };
}

async function mysqlBench(clients: number): Promise<Bench> {
  const fixture = await mysqlFixture({ poolSize: clients, products: PRODUCTS });
  const relayPool = mysql.createPool({ uri: MYSQL_URL, database: fixture.database, connectionLimit: 2 });
  const relay = new Relay({ store: new MysqlOutboxStore({ pool: relayPool }), publisher: nullPublisher });
  await relay.start();
  const update = (tx: MysqlConnectionLike, id: number) =>
    tx.query('UPDATE products SET price = price + 1, version = version + 1 WHERE id = ?', [id]);
  // Today's enqueue: no counter row, subject_seq NULL. fixture.store has the default (the stamp).
  const unstamped = new MysqlOutboxStore({ pool: fixture.pool, subjectSequence: false });
  const enqueue = async (store: MysqlOutboxStore, tx: MysqlConnectionLike, id: number, hot = false) => {
    await update(tx, id);
    const { data, subject } = event(id, hot);
    await store.enqueue(tx, PriceChangedEvent.create(data, { subject, headers: { traceparent: TRACEPARENT } }));
  };
  return {
    bodies: {
      alone: async (tx, id) => {
        await update(tx as MysqlConnectionLike, id);
      },
      enqueue: (tx, id) => enqueue(unstamped, tx as MysqlConnectionLike, id),
      'enqueue-seq': (tx, id) => enqueue(fixture.store, tx as MysqlConnectionLike, id),
      'enqueue-seq-hot': (tx, id) => enqueue(fixture.store, tx as MysqlConnectionLike, id, true),
      insert: async (tx, id) => {
        await update(tx as MysqlConnectionLike, id);
        const { data, subject } = event(id);
        await (tx as MysqlConnectionLike).query(
          'INSERT INTO outbox (id, type, source, subject, `time`, payload, headers, available_at) VALUES (?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))',
          [
            newEventId(),
            EVENT_TYPE,
            EVENT_SOURCE,
            subject,
            new Date().toISOString().replace('T', ' ').replace('Z', ''),
            JSON.stringify(data),
            JSON.stringify({ traceparent: TRACEPARENT }),
          ],
        );
      },
    },
    run: (body) => mysqlTransaction(fixture.pool, (connection) => body(connection)),
    pending: () => mysqlPending(fixture.pool),
    async close() {
      await relay.stop();
      await unstamped.close();
      await relayPool.end();
      await fixture.drop();
    },
  };
}
