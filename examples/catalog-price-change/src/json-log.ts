import type { Logger } from '@outboxkit/outbox-core';

/**
 * One JSON object per line on stdout: what the services report (`event` names a fact the demo
 * reads, such as `listening` or `price-applied`) and a `Logger` for the outboxkit objects.
 */
export interface JsonLog extends Logger {
  /** Writes `{ service, event, ...fields, at }`. */
  report(event: string, fields?: Record<string, unknown>): void;
}

/** A JSON-lines log for `service`; `debug` lines are dropped unless `LOG_LEVEL=debug`. */
export function jsonLog(service: string, env: NodeJS.ProcessEnv = process.env): JsonLog {
  const debug = env.LOG_LEVEL === 'debug';
  const write = (line: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify({ service, ...line, at: Date.now() }, errorReplacer)}\n`);
  };
  const log =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void =>
      write({ level, msg: message, ...fields });
  return {
    report: (event, fields = {}) => write({ event, ...fields }),
    debug: debug ? log('debug') : () => {},
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  };
}

/** Errors have no enumerable fields: log their name, code and message. */
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(code === undefined ? {} : { code }) };
  }
  return value;
}
