import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger, OutboxStore, RelayEvent } from '@outboxkit/outbox-core';
import { type DatabaseConfig, tableLabel } from '../database-config.js';
import { ConsoleApi } from './console-api.js';
import { ConsoleSampler } from './console-sampler.js';
import { type ConsoleServer, startConsoleServer } from './console-server.js';
import type { ConsoleConfig } from './console-settings.js';

/** What {@link startConsole} needs: the relay's store and NATS connection, which it does not close. */
export interface StartConsoleOptions {
  readonly config: ConsoleConfig;
  readonly store: OutboxStore<unknown>;
  readonly connection: NatsConnection;
  /** The outbox's database: the page names its driver and table (never its URL). */
  readonly database: DatabaseConfig;
  /** The stream the relay publishes to. */
  readonly stream: string;
  readonly logger: Logger;
  readonly secrets: readonly string[];
  /** @defaultValue 2000 */
  readonly sampleIntervalMs?: number;
}

/** A running console. */
export interface RunningConsole {
  readonly address: string;
  /** Feeds the relay's events (`run --console`), for the subjects whose head is failing. */
  observe(event: RelayEvent): void;
  /** Stops sampling and closes the HTTP server; the store and the connection stay open. */
  close(): Promise<void>;
}

/** Starts the sampler and the console's HTTP server on the given store and connection. */
export async function startConsole(options: StartConsoleOptions): Promise<RunningConsole> {
  const { config } = options;
  const sampler = new ConsoleSampler({
    store: options.store,
    connection: options.connection,
    stream: options.stream,
    intervalMs: options.sampleIntervalMs ?? 2_000,
  });
  await sampler.start();
  const api = new ConsoleApi({
    store: options.store,
    connection: options.connection,
    sampler,
    logger: options.logger,
    labels: { driver: options.database.driver, table: tableLabel(options.database), stream: options.stream },
    dlqStream: config.dlqStream,
    dlqPrefix: config.dlqPrefix,
    mutations: config.token !== undefined,
  });
  let server: ConsoleServer;
  try {
    server = await startConsoleServer({
      host: config.host,
      port: config.port,
      ...(config.token === undefined ? {} : { token: config.token }),
      api,
      logger: options.logger,
      secrets: options.secrets,
    });
  } catch (error) {
    sampler.stop();
    throw error;
  }
  options.logger.info(
    { address: server.address, url: `http://${server.address}/console/`, mutations: config.token !== undefined },
    'console listening',
  );
  return {
    address: server.address,
    observe: (event) => sampler.observe(event),
    async close() {
      sampler.stop();
      await server.close();
    },
  };
}
