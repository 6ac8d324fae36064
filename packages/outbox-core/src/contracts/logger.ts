/**
 * Where outboxkit writes what it does. Library code never uses `console`; pass a pino logger
 * (its methods have this shape) or any object with these four methods.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

const noop = (): void => {};

/** A logger that drops everything: the default. */
export const noopLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
