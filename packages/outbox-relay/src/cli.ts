import { parseCommandLine, type RelayCliConfig } from './config.js';
import type { DlqCliConfig } from './dlq-config.js';
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
  let config: RelayCliConfig;
  try {
    const parsed = parseCommandLine(argv, env);
    if (parsed.kind === 'help' || parsed.kind === 'version') {
      streams.stdout.write(parsed.text);
      return ExitCode.ok;
    }
    if (parsed.kind === 'dlq') return await runDlq(parsed.config, streams);
    config = parsed.config;
  } catch (error) {
    streams.stderr.write(`${exitStatusOf(error).line}\n`);
    return ExitCode.config;
  }

  // Loaded only now: a bad configuration exits before pino, prom-client, NATS or a driver is loaded.
  const [{ createCliLogger }, { runCommand }, { migrateCommand }, { statusCommand }, { deadCommand }, { consoleCommand }] =
    await Promise.all([
      import('./logger.js'),
      import('./commands/run.js'),
      import('./commands/migrate.js'),
      import('./commands/status.js'),
      import('./commands/dead.js'),
      import('./commands/console.js'),
    ]);
  // `run` logs JSON to stdout; the admin commands print their results there, so their logs go to stderr.
  const logger = createCliLogger(config.logLevel, config.secrets, config.command === 'run' || config.command === 'console' ? 1 : 2);
  try {
    switch (config.command) {
      case 'run':
        return await runCommand(config, logger);
      case 'migrate':
        return await migrateCommand(config, logger, streams.stdout);
      case 'status':
        return await statusCommand(config, logger, streams.stdout);
      case 'console':
        return await consoleCommand(config, logger);
      default:
        return await deadCommand(config, logger, streams.stdout, streams.stderr);
    }
  } catch (error) {
    const status = exitStatusOf(error, config.secrets);
    if (config.command === 'run' || config.command === 'console')
      logger.error({ err: error, exitCode: status.code }, 'outbox-relay failed');
    streams.stderr.write(`${status.line}\n`);
    return status.code;
  }
}

/** `dlq ...`: the consumers' dead-letter stream; logs go to stderr, results to stdout. */
async function runDlq(config: DlqCliConfig, streams: CliStreams): Promise<number> {
  const [{ createCliLogger }, { dlqCommand }] = await Promise.all([import('./logger.js'), import('./commands/dlq.js')]);
  const logger = createCliLogger(config.logLevel, config.secrets, 2);
  try {
    return await dlqCommand(config, logger, streams.stdout, streams.stderr);
  } catch (error) {
    const status = exitStatusOf(error, config.secrets);
    streams.stderr.write(`${status.line}\n`);
    return status.code;
  }
}
