/**
 * Where outboxkit writes what it does. Library code never uses `console`; pass a pino logger
 * (its methods have this shape) or any object with these four methods.
 */
export interface Logger {
  /** Detail for tracing a run (each claim, each wake-up); off in production. Must not throw. */
  debug(fields: Record<string, unknown>, message: string): void;
  /** A state change an operator wants to see (started, stopped, recovered). Must not throw. */
  info(fields: Record<string, unknown>, message: string): void;
  /** Something failed and is retried, or a setting is suspicious. Must not throw. */
  warn(fields: Record<string, unknown>, message: string): void;
  /** Something failed and will not be retried by itself. Must not throw. */
  error(fields: Record<string, unknown>, message: string): void;
}

const noop = (): void => {};

/** A logger that drops everything: the default. */
export const noopLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
