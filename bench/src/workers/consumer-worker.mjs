// A Consumer in a process of its own, as a service replica runs it: the parent forks it, waits for
// `ready`, sends `go`; the worker reports how many events it applied (and when the last one was)
// and its CPU since `go` every 20 ms, and once more when told `stop`. The parent may also kill it with SIGKILL (the
// rebalance measure). Plain JavaScript on the packages' built `dist/`, run by plain `node`.
//
// Config (JSON, first argument): { db, schema?, database?, stream, durable, fetchSize, checkOrder?,
// batchHandler?, fetchAhead?, partitions?, leaseMs?, instances? }; with `partitions` the worker reads the durables `<durable>-p<k>`
// through a PartitionedSubscriber (instances divide the partitions through leases) and reports
// `ready` once the `instances` have divided them.
// The handler is the consumer suite's: UPDATE basket_items for the event's product; with
// `checkOrder` it also counts events applied after a later one of their subject (out_of_order).
// With `batchHandler` it is the suite's batch handler instead (`onBatch`): a fetch's events folded
// per product, their rows updated by one statement (not with `checkOrder`).
import { connect } from '@nats-io/transport-node';
import { NatsSubscriber, PartitionedSubscriber } from '@outboxkit/bus-nats';
import { Consumer, defineEvent } from '@outboxkit/outbox-core';
import { MysqlInboxStore } from '@outboxkit/outbox-mysql';
import { PgInboxStore } from '@outboxkit/outbox-pg';
import { MYSQL_URL, NATS_URL, PG_URL } from '@outboxkit/test-services';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { nextMessage, runWorker, send, wallMs } from './worker-ipc.mjs';

const config = JSON.parse(process.argv[2] ?? '{}');
const PriceChanged = defineEvent('catalog.product.price-changed', {
  source: 'catalog',
  schema: { '~standard': { version: 1, vendor: 'outboxkit-bench', validate: (value) => ({ value }) } },
});

async function main() {
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: true });
  let inbox;
  let handle;
  /** Sets each product's last price and adds its number of events, in one statement. */
  let handleMany;
  let closePool;
  if (config.db === 'pg') {
    const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
    inbox = new PgInboxStore({ pool, schema: config.schema });
    const t = config.schema;
    handle = (data, tx) =>
      config.checkOrder
        ? tx.query(
            `UPDATE ${t}.basket_items SET price = $1, updates = updates + 1, out_of_order = out_of_order + CASE WHEN $3 <= last_n THEN 1 ELSE 0 END, last_n = GREATEST(last_n, $3) WHERE product_id = $2`,
            [data.newPrice, data.productId, data.n],
          )
        : tx.query(`UPDATE ${t}.basket_items SET price = $1, updates = updates + 1 WHERE product_id = $2`, [data.newPrice, data.productId]);
    handleMany = (rows, tx) =>
      tx.query(
        `UPDATE ${t}.basket_items b SET price = v.price, updates = b.updates + v.n FROM unnest($1::text[], $2::numeric[], $3::int[]) AS v(product_id, price, n) WHERE b.product_id = v.product_id`,
        [rows.map(([id]) => id), rows.map(([, row]) => row.price), rows.map(([, row]) => row.events)],
      );
    closePool = () => pool.end();
  } else {
    const pool = mysql.createPool({ uri: MYSQL_URL, database: config.database, connectionLimit: 4 });
    inbox = new MysqlInboxStore({ pool });
    handle = (data, tx) =>
      config.checkOrder
        ? tx.query(
            'UPDATE basket_items SET price = ?, updates = updates + 1, out_of_order = out_of_order + IF(? <= last_n, 1, 0), last_n = GREATEST(last_n, ?) WHERE product_id = ?',
            [data.newPrice, data.n, data.n, data.productId],
          )
        : tx.query('UPDATE basket_items SET price = ?, updates = updates + 1 WHERE product_id = ?', [data.newPrice, data.productId]);
    handleMany = (rows, tx) =>
      tx.query(
        `INSERT INTO basket_items (product_id, price, updates) VALUES ${rows.map(() => '(?, ?, ?)').join(', ')} ON DUPLICATE KEY UPDATE price = VALUES(price), updates = updates + VALUES(updates)`,
        rows.flatMap(([id, row]) => [id, row.price, row.events]),
      );
    closePool = () => pool.end();
  }
  let applied = 0;
  let failures = 0;
  let lastAppliedMs = 0;
  const subscriber = config.partitions
    ? await PartitionedSubscriber.create({
        connection: nc,
        stream: config.stream,
        consumer: config.durable,
        partitions: config.partitions,
        ...(config.leaseMs ? { leaseMs: config.leaseMs } : {}),
      })
    : await NatsSubscriber.create({ connection: nc, stream: config.stream, consumer: config.durable });
  const consumer = new Consumer({
    subscriber,
    inbox,
    mode: 'batch',
    fetchSize: config.fetchSize,
    fetchExpiresMs: 200,
    ...(config.fetchAhead === undefined ? {} : { fetchAhead: config.fetchAhead }),
    onEvent: (event) => {
      if (event.type === 'applied') {
        applied++;
        lastAppliedMs = wallMs();
      } else if (event.type === 'retry' || event.type === 'dead' || event.type === 'batch-fallback') failures++;
    },
  });
  if (config.batchHandler) {
    if (config.checkOrder) throw new Error('batchHandler does not count out_of_order: not with checkOrder');
    consumer.onBatch(PriceChanged, (events, tx) => {
      // Each subject's events come in order: the last one of a product sets its price.
      const folded = new Map();
      for (const event of events) {
        const row = folded.get(event.data.productId);
        folded.set(event.data.productId, { price: event.data.newPrice, events: (row?.events ?? 0) + 1 });
      }
      return handleMany([...folded], tx);
    });
  } else consumer.on(PriceChanged, (event, tx) => handle(event.data, tx));
  if (config.partitions && config.instances) {
    // Ready once the instances have divided the partitions (each holds its share), so the
    // measurement does not include the joining.
    const low = Math.floor(config.partitions / config.instances);
    for (;;) {
      const { members, owned, releasing } = subscriber.partitions();
      if (members === config.instances && owned.length >= low && owned.length <= low + 1 && releasing.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  send({ type: 'ready' });
  await nextMessage();
  const cpuAtStart = process.cpuUsage();
  await consumer.start();
  let reported = -1;
  const reporter = setInterval(() => {
    if (applied === reported) return;
    reported = applied;
    const cpu = process.cpuUsage(cpuAtStart);
    send({ type: 'progress', applied, failures, lastAppliedMs, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  }, 20);
  await nextMessage();
  clearInterval(reporter);
  await consumer.stop({ timeoutMs: 10_000 });
  await subscriber.close();
  const cpu = process.cpuUsage(cpuAtStart);
  await send({ type: 'done', applied, failures, lastAppliedMs, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  await closePool();
  await nc.drain();
}

runWorker(main);
