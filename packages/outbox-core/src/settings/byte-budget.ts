import { validateInteger } from './identifiers.js';

/** The default largest event `enqueue` accepts: its `data` JSON plus its headers JSON, in UTF-8 bytes (1 MiB). */
export const DEFAULT_MAX_EVENT_BYTES = 1_048_576;

/** The default byte budget of one claim: the payload bytes a relay holds per batch (8 MiB). */
export const DEFAULT_MAX_BATCH_BYTES = 8 * 1_048_576;

/**
 * Checks a `maxEventBytes` or `maxBatchBytes` setting: a whole number of bytes, at least 1 KiB.
 * @throws OutboxConfigError naming `setting`.
 */
export function validateByteLimit(value: number, setting: string): number {
  return validateInteger(value, setting, 1_024, Number.MAX_SAFE_INTEGER);
}
