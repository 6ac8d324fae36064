/**
 * The Catalog service: owns the products on PostgreSQL, and writes every price change with its
 * `ProductPriceChanged` event into the outbox in one transaction. It never talks to NATS or to
 * Basket: the relay sidecar publishes the outbox.
 */
import { PgOutboxStore } from '@outboxkit/outbox-pg';
import pg from 'pg';
import { readConfig } from '../config.js';
import { closeServer, listen } from '../http-util.js';
import { jsonLog } from '../json-log.js';
import { failStartup, onShutdown } from '../shutdown.js';
import { startTracing } from '../tracing.js';
import { assertCatalogSchema } from './catalog-schema.js';
import { catalogServer } from './catalog-server.js';
import { CatalogStore } from './catalog-store.js';

const log = jsonLog('catalog');

async function main(): Promise<void> {
  const config = readConfig();
  // Before anything that makes spans (outboxkit's consumer makes its instruments when created).
  const stopTracing = await startTracing('catalog');
  const pool = new pg.Pool({ connectionString: config.pgUrl, max: 5, application_name: 'catalog' });
  pool.on('error', (error) => log.warn({ err: error }, 'idle PostgreSQL connection failed'));
  // Catalog only enqueues: the relay holds the LISTEN connection, not this service.
  const outbox = new PgOutboxStore({ pool, schema: config.pgSchema, listen: false, logger: log });
  // The tables are made by the setup step (`npm run setup`), not here: fail early if it has not run.
  await outbox.assertSchema();
  await assertCatalogSchema(pool, config.pgSchema);
  const store = new CatalogStore(pool, outbox, config.pgSchema);
  const server = catalogServer(store, (error) => log.error({ err: error }, 'request failed'));
  const port = await listen(server, config.host, config.catalogPort);
  log.report('listening', { url: `http://${config.host}:${port}`, schema: config.pgSchema });
  onShutdown(log, async () => {
    await closeServer(server);
    await outbox.close();
    await pool.end();
    await stopTracing();
  });
}

main().catch((error: unknown) => failStartup(log, error));
