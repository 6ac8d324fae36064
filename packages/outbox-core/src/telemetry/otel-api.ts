import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';

/** The `@opentelemetry/api` module, as this package uses it. */
export type Otel = typeof OtelApi;

let loaded: Otel | null | undefined;

/**
 * `@opentelemetry/api` when the application has it installed, else `undefined`. Resolved once, on
 * first use (the first `enqueue`, `new Relay`, `new Consumer`), never at import: an application
 * without it loads nothing and pays one failed resolution in the life of the process.
 *
 * `require` rather than `import()`: it is synchronous, so the first `enqueue` already sees the
 * active span, and it needs no top-level await (which would stop `require()` of this package).
 * The API keeps its registered providers on a global shared by its CommonJS and ESM builds, so the
 * SDK the application registered through `import` is the one found here.
 */
export function otelApi(): Otel | undefined {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('@opentelemetry/api') as Otel;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/** The instrumentation scope of every tracer and meter of outboxkit. */
export const scopeName = '@outboxkit/outbox-core';
