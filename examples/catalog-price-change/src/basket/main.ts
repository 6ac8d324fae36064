/**
 * The Basket service: baskets on MariaDB/MySQL, each line with its own copy of the product's
 * price. It learns about price changes only from the stream, through a durable consumer, and
 * applies each one exactly once in effect (inbox row and line updates in one transaction).
 */
import { connect } from '@nats-io/transport-node';
import { MysqlInboxStore } from '@outboxkit/outbox-mysql';
import { createPool } from 'mysql2/promise';
import { readConfig } from '../config.js';
import { closeServer, listen } from '../http-util.js';
import { jsonLog } from '../json-log.js';
import { failStartup, onShutdown } from '../shutdown.js';
import { startTracing } from '../tracing.js';
import { basketServer } from './basket-server.js';
import { BasketStore } from './basket-store.js';
import { startPriceConsumer } from './price-consumer.js';

const log = jsonLog('basket');

async function main(): Promise<void> {
  const config = readConfig();
  // Before anything that makes spans (outboxkit's consumer makes its instruments when created).
  const stopTracing = await startTracing('basket');
  // Every statement names the database, so the URL's default database does not matter. The tables,
  // the inbox and the durable consumer are made by the setup step (`npm run setup`), not here.
  const pool = createPool({ uri: config.mysqlUrl, connectionLimit: 5, decimalNumbers: true });
  const inbox = new MysqlInboxStore({ pool, database: config.mysqlDatabase, logger: log });
  const store = new BasketStore(pool, config.mysqlDatabase);
  // waitOnFirstConnect: Basket may come up before NATS does (docker compose); it keeps trying.
  const nats = await connect({ servers: config.natsUrl.split(','), name: 'basket', waitOnFirstConnect: true, maxReconnectAttempts: -1 });
  const { consumer, subscriber } = await startPriceConsumer(nats, config, inbox, store, log);
  const server = basketServer(store, (error) => log.error({ err: error }, 'request failed'));
  const port = await listen(server, config.host, config.basketPort);
  log.report('listening', { url: `http://${config.host}:${port}`, database: config.mysqlDatabase, consumer: config.consumer });
  void consumer.closed().then((error) => {
    if (error) {
      log.error({ err: error }, 'consumer stopped on an error');
      process.kill(process.pid, 'SIGTERM');
    }
  });
  onShutdown(log, async () => {
    await closeServer(server);
    await consumer.stop({ timeoutMs: 5_000 });
    await subscriber.close();
    await nats.drain();
    await pool.end();
    await stopTracing();
  });
}

main().catch((error: unknown) => failStartup(log, error));
