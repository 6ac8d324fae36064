import type { NatsConnection } from '@nats-io/transport-node';
import { NatsPublisher } from '@outboxkit/bus-nats';
import { Relay, type RelayEvent } from '@outboxkit/outbox-core';
import { errorMessage } from '@outboxkit/outbox-core/driver';
import { type RunningConsole, startConsole } from '../console/start-console.js';
import { describeDatabaseTls, isLocalHost } from '../database-tls.js';
import { ExitCode } from '../help.js';
import { type RelayHttpServer, startHttpServer } from '../http-server.js';
import type { CliLogger } from '../logger.js';
import { createRelayMetrics } from '../metrics.js';
import { connectNatsWithRetry } from '../nats-connection.js';
import { type OtlpExport, startOtlpExport } from '../otlp-export.js';
import { checkMaxPayload } from '../payload-check.js';
import { RelayReadiness } from '../readiness.js';
import { redactText, redactUrl } from '../redact.js';
import { PUBLISH_WINDOW, type RunConfig } from '../run-config.js';
import { ShutdownSignals } from '../shutdown-signals.js';
import { StatsPoller } from '../stats-poller.js';
import { type OpenedStore, openStore } from '../store-factory.js';
import { setUpStream } from '../stream-setup.js';

/**
 * `outbox-relay run [--once]`: the composition root. Opens the pool, the NATS connection (its
 * own, with `noAsyncTraces`), the HTTP server, and runs the core `Relay` until a signal; then
 * finishes the in-flight batch, drains NATS and closes the pool. Returns the exit code.
 */
export async function runCommand(config: RunConfig, logger: CliLogger): Promise<number> {
  const { nats } = config;
  const readiness = new RelayReadiness();
  const metrics = createRelayMetrics({
    natsConnected: () => readiness.natsConnected,
    outage: () => readiness.outage(),
    outageReason: () => readiness.busOutage()?.reason,
  });
  // The relay gets the shutdown timeout; closing NATS and the pool gets a few seconds more.
  const shutdown = new ShutdownSignals(logger, config.shutdownTimeoutMs + 5_000);
  let http: RelayHttpServer | undefined;
  let opened: OpenedStore | undefined;
  let connection: NatsConnection | undefined;
  let poller: StatsPoller | undefined;
  let relay: Relay | undefined;
  let otlp: OtlpExport | undefined;
  let operatorConsole: RunningConsole | undefined;
  let code: number = ExitCode.ok;
  shutdown.onForce = async () => {
    // stop() with no time left reports how many events the unfinished batch holds.
    const result = relay ? await relay.stop({ timeoutMs: 0 }) : { inFlight: 0 };
    logger.error(
      { inFlight: result.inFlight },
      'exiting without waiting for the in-flight batch: its leases expire and it is re-published (the stream drops duplicates)',
    );
  };

  try {
    // Before the Relay exists: core makes its OpenTelemetry instruments when it is created.
    otlp = await startOtlpExport(process.env, logger);
    if (config.http && !config.once) {
      http = await startHttpServer({ ...config.http, registry: metrics.registry, checks: readiness.checks() });
      logger.info({ address: http.address }, 'http server listening (/healthz, /readyz, /metrics)');
    }
    opened = await openStore(config.database, {
      listen: !config.once,
      logger,
      deadBlocksSubject: config.blockSubject,
      maxEventBytes: config.maxEventBytes,
    });
    logger.info(
      {
        command: config.once ? 'run --once' : 'run',
        database: config.database.redactedUrl,
        databaseTls: describeDatabaseTls(config.database.url, config.database.tls),
        table: config.database.table,
        nats: nats.servers.map(redactUrl),
      },
      'outbox-relay starting',
    );
    if (describeDatabaseTls(config.database.url, config.database.tls) === 'off' && !isLocalHost(config.database.url)) {
      logger.warn(
        { database: config.database.redactedUrl },
        'the database connection is not encrypted; set --db-tls-mode (OUTBOX_DB_TLS_MODE)',
      );
    }
    // The database first (connect + schema version): a wrong URL or an unmigrated table must stop
    // the relay before it creates or changes anything on the bus.
    await opened.store.assertSchema();
    readiness.schemaChecked = true;
    readiness.databaseError = undefined;
    // A signal meanwhile exits at once (see ShutdownSignals): the loop needs no abort of its own.
    connection = await connectNatsWithRetry(nats, {
      retry: !config.once,
      onFailure: (error, attempt, retryInMs) => {
        // /readyz prints this reason: scrub it like a log line.
        readiness.natsError = `nats unreachable: ${redactText(errorMessage(error), config.secrets)}`;
        logger.warn({ err: error, attempt, retryInMs, servers: nats.servers.map(redactUrl) }, 'NATS unreachable; retrying');
      },
    });
    readiness.natsConnected = true;
    readiness.natsError = undefined;
    watchConnection(connection, readiness, logger);
    checkMaxPayload(connection.info?.max_payload, config.maxEventBytes, logger);

    const onEvent = (event: RelayEvent): void => {
      metrics.observe(event);
      operatorConsole?.observe(event);
      if (event.type === 'failed') {
        logger.warn(
          { id: event.id, subject: event.subject, attempt: event.attempt, retryAt: event.retryAt, err: event.error },
          'publish failed; will retry',
        );
      } else if (event.type === 'dead') {
        logger.warn({ id: event.id, subject: event.subject, attempts: event.attempts, err: event.error }, 'event dead-lettered');
      }
    };
    const publisher = new NatsPublisher({
      connection,
      subjectPrefix: nats.subjectPrefix,
      ...(nats.partitions > 0 ? { partitions: nats.partitions } : {}),
      stream: nats.stream,
      timeoutMs: nats.publishTimeoutMs,
      // The window the lease check in run-config.ts counts on.
      maxInFlight: PUBLISH_WINDOW,
      logger,
    });
    const relayOptions = {
      store: opened.store,
      publisher,
      batchSize: config.batchSize,
      maxBatchBytes: config.maxBatchBytes,
      leaseMs: config.leaseMs,
      pollIntervalMs: config.pollIntervalMs,
      maxAttempts: config.maxAttempts,
      claimAhead: config.claimAhead,
      logger,
      onEvent,
    };
    const horizonMs = Relay.republishHorizonMs(relayOptions);
    const duplicateWindowMs = await setUpStream(connection, nats, horizonMs, logger);
    relay = new Relay({ ...relayOptions, duplicateWindowMs });
    readiness.busOutage = () => relay?.busOutage;

    shutdown.running = true;
    if (config.once) {
      const abort = new AbortController();
      shutdown.onStop = () => abort.abort();
      const totals = await relay.drain({ signal: abort.signal });
      logger.info({ ...totals, interrupted: abort.signal.aborted }, 'outbox-relay run --once finished');
    } else {
      await relay.start();
      readiness.started = true;
      poller = new StatsPoller(opened.store, config.statsIntervalMs, {
        ok: (stats) => {
          readiness.databaseError = undefined;
          metrics.setStats(stats);
        },
        failed: (error) => {
          // /readyz prints this reason: scrub it like a log line.
          readiness.databaseError = redactText(errorMessage(error), config.secrets);
          logger.warn({ err: error }, 'outbox stats query failed');
        },
      });
      poller.start();
      if (config.console) {
        operatorConsole = await startConsole({
          config: config.console,
          store: opened.store,
          connection,
          database: config.database,
          stream: nats.stream,
          logger,
          secrets: config.secrets,
        });
      }
      logger.info(
        {
          batchSize: config.batchSize,
          leaseMs: config.leaseMs,
          claimAhead: config.claimAhead,
          duplicateWindowMs,
          blockSubject: config.blockSubject,
        },
        'outbox-relay started',
      );
      const reason = await Promise.race([shutdown.stopped(), relay.closed().then((error: Error | undefined) => error ?? 'relay stopped')]);
      // From here on /readyz answers 503: the relay claims nothing more.
      readiness.stopping = true;
      if (reason instanceof Error) throw reason;
      if (typeof reason === 'string' && reason !== 'relay stopped') {
        logger.info({ signal: reason, timeoutMs: config.shutdownTimeoutMs }, 'outbox-relay stopping: finishing the in-flight batch');
        const result = await relay.stop({ timeoutMs: config.shutdownTimeoutMs });
        if (!result.drained) {
          logger.error(
            { inFlight: result.inFlight, timeoutMs: config.shutdownTimeoutMs },
            'shutdown timeout: events still in flight; their leases expire and they are re-published (the stream drops duplicates)',
          );
          code = ExitCode.failure;
        }
      }
    }
  } finally {
    poller?.stop();
    await closeQuietly(logger, 'console', () => operatorConsole?.close());
    await closeQuietly(logger, 'http server', () => http?.close());
    await closeQuietly(logger, 'NATS connection', () => connection?.drain());
    await closeQuietly(logger, 'database pool', () => opened?.close());
    await closeQuietly(logger, 'OpenTelemetry export', () => otlp?.shutdown());
    shutdown.dispose();
  }
  logger.info({ exitCode: code }, 'outbox-relay stopped');
  return code;
}

function watchConnection(connection: NatsConnection, readiness: RelayReadiness, logger: CliLogger): void {
  void (async () => {
    for await (const status of connection.status()) {
      if (status.type === 'disconnect') {
        readiness.natsConnected = false;
        logger.warn({ server: redactUrl(String(status.server ?? '')) }, 'NATS disconnected');
      } else if (status.type === 'reconnect') {
        readiness.natsConnected = true;
        logger.info({ server: redactUrl(String(status.server ?? '')) }, 'NATS reconnected');
      }
    }
  })().catch(() => undefined);
}

async function closeQuietly(logger: CliLogger, what: string, close: () => Promise<unknown> | undefined): Promise<void> {
  try {
    await close();
  } catch (error) {
    logger.warn({ err: error }, `closing the ${what} failed`);
  }
}
