import type { InboxStore, Logger, OutboxStore } from '@outboxkit/outbox-core';
import type { DatabaseConfig } from './database-config.js';
import { mysqlSslOption, pgSslOption } from './database-tls.js';

/** An outbox store with the pool the CLI opened for it. */
export interface OpenedStore {
  readonly store: OutboxStore<unknown>;
  /** The schema version this store's package builds and `assertSchema` expects. */
  readonly schemaVersion: number;
  /** Closes the store (its LISTEN connection), then the pool the CLI opened. */
  close(): Promise<void>;
}

/** Options of `openStore`. */
export interface OpenStoreOptions {
  /** PostgreSQL: hold a LISTEN connection for wake-ups (the long-running relay only). */
  readonly listen: boolean;
  readonly logger: Logger;
  /** The stores' `maxEventBytes`: larger pending rows are claimed without their payload. @defaultValue the stores' default (1 MiB) */
  readonly maxEventBytes?: number;
  /** Most connections the pool opens. @defaultValue 4 */
  readonly maxConnections?: number;
  /** A dead row holds back the later rows of its subject. @defaultValue false */
  readonly deadBlocksSubject?: boolean;
}

/**
 * Opens a pool for the configured database and the matching store. The driver is imported only
 * when chosen, so a PostgreSQL relay never loads mysql2. Nothing connects until the first query.
 */
export async function openStore(config: DatabaseConfig, options: OpenStoreOptions): Promise<OpenedStore> {
  const max = options.maxConnections ?? 4;
  if (config.driver === 'pg') {
    const [{ default: pg }, { PgOutboxStore }] = await Promise.all([import('pg'), import('@outboxkit/outbox-pg')]);
    // With --db-tls-mode the URL carries no TLS parameter (config.ts refuses both), so this
    // `ssl` is the one pg uses.
    const pool = new pg.Pool({
      connectionString: config.url,
      max,
      application_name: 'outbox-relay',
      ...(config.tls ? { ssl: pgSslOption(config.tls) } : {}),
    });
    // An idle client's error (the server restarted) is emitted on the pool; without a listener it would crash the process.
    pool.on('error', (error) => options.logger.warn({ err: error }, 'idle PostgreSQL connection failed'));
    const store = new PgOutboxStore({
      pool,
      schema: config.schema,
      table: config.table,
      listen: options.listen,
      deadBlocksSubject: options.deadBlocksSubject ?? false,
      logger: options.logger,
      ...(options.maxEventBytes === undefined ? {} : { maxEventBytes: options.maxEventBytes }),
    });
    return {
      store,
      schemaVersion: store.schemaVersion,
      async close() {
        await store.close().catch((error: unknown) => options.logger.warn({ err: error }, 'closing the store failed'));
        await pool.end();
      },
    };
  }
  const [{ createPool }, { MysqlOutboxStore, OUTBOX_SCHEMA_VERSION }] = await Promise.all([
    import('mysql2/promise'),
    import('@outboxkit/outbox-mysql'),
  ]);
  const ssl = config.tls ? mysqlSslOption(config.tls) : undefined;
  const pool = createPool({ uri: config.url, connectionLimit: max, waitForConnections: true, ...(ssl ? { ssl } : {}) });
  const store = new MysqlOutboxStore({
    pool,
    table: config.table,
    deadBlocksSubject: options.deadBlocksSubject ?? false,
    logger: options.logger,
    ...(options.maxEventBytes === undefined ? {} : { maxEventBytes: options.maxEventBytes }),
  });
  return {
    store,
    schemaVersion: OUTBOX_SCHEMA_VERSION,
    async close() {
      await store.close().catch((error: unknown) => options.logger.warn({ err: error }, 'closing the store failed'));
      await pool.end();
    },
  };
}

/** A consumer's inbox store with the pool the CLI opened for it (`inbox positions`, `inbox skip`). */
export interface OpenedInbox {
  readonly inbox: InboxStore<unknown>;
  /** Closes the pool the CLI opened. */
  close(): Promise<void>;
}

/** Opens one connection's pool on the consumer's database and its inbox store (`config.table` is the inbox table). */
export async function openInbox(config: DatabaseConfig, logger: Logger): Promise<OpenedInbox> {
  if (config.driver === 'pg') {
    const [{ default: pg }, { PgInboxStore }] = await Promise.all([import('pg'), import('@outboxkit/outbox-pg')]);
    const pool = new pg.Pool({
      connectionString: config.url,
      max: 1,
      application_name: 'outbox-relay',
      ...(config.tls ? { ssl: pgSslOption(config.tls) } : {}),
    });
    pool.on('error', (error) => logger.warn({ err: error }, 'idle PostgreSQL connection failed'));
    const inbox = new PgInboxStore({ pool, schema: config.schema, table: config.table });
    return { inbox: inbox as InboxStore<unknown>, close: () => pool.end() };
  }
  const [{ createPool }, { MysqlInboxStore }] = await Promise.all([import('mysql2/promise'), import('@outboxkit/outbox-mysql')]);
  const ssl = config.tls ? mysqlSslOption(config.tls) : undefined;
  const pool = createPool({ uri: config.url, connectionLimit: 1, waitForConnections: true, ...(ssl ? { ssl } : {}) });
  const inbox = new MysqlInboxStore({ pool, table: config.table });
  return { inbox: inbox as InboxStore<unknown>, close: () => pool.end() };
}
