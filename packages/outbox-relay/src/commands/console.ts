import type { NatsConnection } from '@nats-io/transport-node';
import type { ConsoleCommandConfig } from '../console/console-settings.js';
import { type RunningConsole, startConsole } from '../console/start-console.js';
import { ExitCode } from '../help.js';
import type { CliLogger } from '../logger.js';
import { connectNats } from '../nats-connection.js';
import { ShutdownSignals } from '../shutdown-signals.js';
import { type OpenedStore, openStore } from '../store-factory.js';

/**
 * `outbox-relay console`: serves the operator console until SIGTERM/SIGINT, on a small pool and a
 * NATS connection of its own; it publishes nothing. Returns the exit code.
 */
export async function consoleCommand(config: ConsoleCommandConfig, logger: CliLogger): Promise<number> {
  const { console: consoleConfig, nats } = config;
  const shutdown = new ShutdownSignals(logger, 5_000);
  let opened: OpenedStore | undefined;
  let connection: NatsConnection | undefined;
  let running: RunningConsole | undefined;
  try {
    opened = await openStore(config.database, { listen: false, logger, maxConnections: 2, deadBlocksSubject: config.blockSubject });
    await opened.store.assertSchema();
    connection = await connectNats(nats);
    running = await startConsole({
      config: consoleConfig,
      store: opened.store,
      connection,
      database: config.database,
      stream: nats.stream,
      logger,
      secrets: config.secrets,
    });
    shutdown.running = true;
    const signal = await shutdown.stopped();
    logger.info({ signal }, 'console stopping');
  } finally {
    await running?.close().catch((error: unknown) => logger.warn({ err: error }, 'closing the console failed'));
    await connection?.drain().catch((error: unknown) => logger.warn({ err: error }, 'closing the NATS connection failed'));
    await opened?.close().catch((error: unknown) => logger.warn({ err: error }, 'closing the database pool failed'));
    shutdown.dispose();
  }
  return ExitCode.ok;
}
