import type { CliConfig } from './cli-config.js';
import { parseCommandLine } from './config.js';
import { exitStatusOf } from './exit-status.js';
import { ExitCode } from './help.js';

/** Where the CLI writes: stdout for results and JSON logs, stderr for the one-line failure. */
export interface CliStreams {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/**
 * Runs `outbox-relay` with the given arguments and environment and resolves to its exit code:
 * 0 ok, 1 runtime failure, 2 bad configuration (nothing was opened), 3 schema not migrated.
 * It never throws; a failure is printed as one redacted line on stderr (and logged).
 *
 * @example
 * ```ts
 * process.exitCode = await main(process.argv.slice(2), process.env)
 * ```
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, streams: CliStreams = process): Promise<number> {
  let config: CliConfig;
  try {
    const parsed = parseCommandLine(argv, env);
    if (parsed.kind === 'help' || parsed.kind === 'version') {
      streams.stdout.write(parsed.text);
      return ExitCode.ok;
    }
    config = parsed.config;
  } catch (error) {
    streams.stderr.write(`${exitStatusOf(error).line}\n`);
    return ExitCode.config;
  }

  // Loaded only now: a bad configuration exits before pino, prom-client, NATS or a driver is loaded.
  const { createCliLogger } = await import('./logger.js');
  // `run` and `console` log JSON to stdout; the admin commands print their results there, so their logs go to stderr.
  const longRunning = config.command === 'run' || config.command === 'console';
  const logger = createCliLogger(config.logLevel, config.secrets, longRunning ? 1 : 2);
  try {
    switch (config.command) {
      case 'run':
        return await (await import('./commands/run.js')).runCommand(config, logger);
      case 'migrate':
        return await (await import('./commands/migrate.js')).migrateCommand(config, logger, streams.stdout);
      case 'status':
        return await (await import('./commands/status.js')).statusCommand(config, logger, streams.stdout);
      case 'console':
        return await (await import('./commands/console.js')).consoleCommand(config, logger);
      case 'dead list':
      case 'dead show':
      case 'dead retry':
      case 'dead purge':
        return await (await import('./commands/dead.js')).deadCommand(config, logger, streams.stdout, streams.stderr);
      case 'inbox positions':
      case 'inbox skip':
        return await (await import('./commands/inbox.js')).inboxCommand(config, logger, streams.stdout);
      case 'partitions':
        return await (await import('./commands/partitions.js')).partitionsCommand(config, streams.stdout, streams.stderr);
      default:
        return await (await import('./commands/dlq.js')).dlqCommand(config, logger, streams.stdout, streams.stderr);
    }
  } catch (error) {
    const status = exitStatusOf(error, config.secrets);
    if (longRunning) logger.error({ err: error, exitCode: status.code }, 'outbox-relay failed');
    streams.stderr.write(`${status.line}\n`);
    return status.code;
  }
}
