import type { JsonLog } from './json-log.js';

/**
 * Runs `stop` once on the first SIGTERM or SIGINT, then exits: 0 when it finished, 1 when it threw
 * or took longer than `timeoutMs`.
 */
export function onShutdown(log: JsonLog, stop: () => Promise<void>, timeoutMs = 10_000): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.report('stopping', { signal });
    const timer = setTimeout(() => {
      log.error({ timeoutMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    stop().then(
      () => {
        log.report('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}

/** Logs a startup failure and exits 1. */
export function failStartup(log: JsonLog, error: unknown): never {
  log.error({ err: error }, 'startup failed');
  process.exit(1);
}
