import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil as sharedWaitUntil } from '@outboxkit/test-services';

const require = createRequire(import.meta.url);
/** The built `outbox-relay` CLI: the suite runs exactly what users run. */
export const RELAY_BIN = join(dirname(require.resolve('@outboxkit/outbox-relay/package.json')), 'dist', 'bin.js');
/** The consumer worker script (plain JavaScript: Node runs it as is). */
export const WORKER_SCRIPT = fileURLToPath(new URL('./worker.mjs', import.meta.url));
/** The `faults/` folder: the worker runs there so its imports resolve from the workspace. */
export const FAULTS_DIR = fileURLToPath(new URL('..', import.meta.url));

/** A lower-case name unique to one scenario: `<prefix>_<10 hex>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

// sleep-ok: for the durations the scenarios are about (outages, write pacing, quiet periods); never to wait for a step
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `everyMs` until it is true; throws naming `what` after `timeoutMs`. */
export function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<void> {
  return sharedWaitUntil(what, check, timeoutMs, everyMs);
}

/** A random integer in [min, max]. */
export function randomBetween(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}
