import { type Logger as PinoLogger, pino, destination as pinoDestination, stdTimeFunctions } from 'pino';
import type { LogLevel } from './cli-config.js';
import { redactText, secretForms } from './redact.js';

/** The pino logger the CLI writes with (pino's methods fit core's `Logger`). */
export type CliLogger = PinoLogger;

/**
 * A pino logger writing JSON lines to stdout. Every serialised line passes through `redactText`,
 * so a password can reach no log line, whatever field or driver error carried it.
 */
export function createCliLogger(level: LogLevel, secrets: readonly string[], destination: number | NodeJS.WritableStream = 1): CliLogger {
  const forms = secretForms(secrets);
  const stream = typeof destination === 'number' ? pinoDestination({ dest: destination, sync: true }) : destination;
  return pino(
    {
      level,
      base: { name: 'outbox-relay', pid: process.pid },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: (line) => (forms.length === 0 && !line.includes('://') ? line : redactText(line, forms)) },
    },
    stream,
  );
}
