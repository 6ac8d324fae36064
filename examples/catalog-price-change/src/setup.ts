import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { MysqlInboxStore } from '@outboxkit/outbox-mysql';
import { transaction } from '@outboxkit/outbox-pg';
import { createPool } from 'mysql2/promise';
import pg from 'pg';
import { migrateBasket, seedBasket } from './basket/basket-schema.js';
import { provisionStreams } from './basket/price-consumer.js';
import { migrateCatalog, seedCatalog } from './catalog/catalog-schema.js';
import type { Product } from './catalog/catalog-store.js';
import type { ExampleConfig } from './config.js';
import { relayBinPath } from './relay-bin.js';

/** What `setUp` did. */
export interface SetupResult {
  /** The outbox migration's one-line report, from `outbox-relay migrate`. */
  readonly outbox: string;
  readonly productsInserted: number;
  readonly linesInserted: number;
  readonly products: readonly Product[];
}

/**
 * Everything that must exist before the services start, all idempotent: Catalog's schema and
 * table, the outbox (`outbox-relay migrate`, as an operator would run it), Basket's database,
 * tables and inbox, the streams and Basket's durable consumer, and the seed data that is missing.
 * The services themselves create nothing: like any deploy step, this runs before they start.
 */
export async function setUp(config: ExampleConfig): Promise<SetupResult> {
  const pgPool = new pg.Pool({ connectionString: config.pgUrl, max: 2 });
  const mysqlPool = createPool({ uri: config.mysqlUrl, connectionLimit: 2, decimalNumbers: true });
  try {
    // Independent steps run at once; the outbox migration waits for the schema Catalog creates,
    // so two CREATE SCHEMA IF NOT EXISTS never race.
    const catalogReady = (async () => {
      await migrateCatalog(pgPool, config.pgSchema);
      const [outbox, productsInserted] = await Promise.all([
        migrateOutbox(config),
        transaction(pgPool, (client) => seedCatalog(client, config.pgSchema)),
      ]);
      const { rows } = await pgPool.query<{ id: string; name: string; price: string; version: number }>(
        `SELECT id, name, price, version FROM "${config.pgSchema}".products ORDER BY id`,
      );
      return { outbox, productsInserted, products: rows.map((row) => ({ ...row, price: Number(row.price) })) };
    })();
    const basketReady = (async () => {
      await migrateBasket(mysqlPool, config.mysqlDatabase);
      await new MysqlInboxStore({ pool: mysqlPool, database: config.mysqlDatabase }).migrate();
    })();
    const [{ outbox, productsInserted, products }] = await Promise.all([catalogReady, basketReady, provisionNats(config)]);

    const connection = await mysqlPool.getConnection();
    let linesInserted: number;
    try {
      linesInserted = await seedBasket(connection, config.mysqlDatabase, products);
    } finally {
      connection.release();
    }
    return { outbox, productsInserted, linesInserted, products };
  } finally {
    await Promise.allSettled([pgPool.end(), mysqlPool.end()]);
  }
}

/** Runs `outbox-relay migrate` on Catalog's database; returns its report line. */
async function migrateOutbox(config: ExampleConfig): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [relayBinPath(), 'migrate'], {
    env: { ...process.env, OUTBOX_DATABASE_URL: config.pgUrl, OUTBOX_SCHEMA: config.pgSchema, OUTBOX_LOG_LEVEL: 'warn' },
    timeout: 30_000,
  });
  return stdout.trim();
}

async function provisionNats(config: ExampleConfig): Promise<void> {
  // Retries a while: under docker compose NATS may still be starting.
  const nats = await connect({
    servers: config.natsUrl.split(','),
    name: 'catalog-price-change-setup',
    waitOnFirstConnect: true,
    maxReconnectAttempts: 30,
    reconnectTimeWait: 1_000,
  });
  try {
    await provisionStreams(nats, config);
  } finally {
    await nats.close();
  }
}
