// A Consumer in a process of its own, as a service replica runs it: the parent forks it, waits for
// `ready`, sends `go`; the worker reports how many events it applied (and when the last one was)
// every 20 ms, and its CPU when told `stop`. The parent may also kill it with SIGKILL (the
// rebalance measure). Plain JavaScript on the packages' built `dist/`, run by plain `node`.
//
// Config (JSON, first argument): { db, schema?, database?, stream, durable, fetchSize, checkOrder?,
// partitions?, leaseMs?, instances? }; with `partitions` the worker reads the durables `<durable>-p<k>`
// through a PartitionedSubscriber (instances divide the partitions through leases) and reports
// `ready` once the `instances` have divided them.
// The handler is the consumer suite's: UPDATE basket_items for the event's product; with
// `checkOrder` it also counts events applied after a later one of their subject (out_of_order).
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
  }).on(PriceChanged, (event, tx) => handle(event.data, tx));
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
    send({ type: 'progress', applied, failures, lastAppliedMs });
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
