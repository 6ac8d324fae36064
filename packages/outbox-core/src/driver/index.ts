/**
 * What store drivers and bus bindings share, apart from the user API of the main entry: the
 * encoding every `enqueue` runs, the checks of configuration, retry timing and error
 * classification. A service never needs this entry; a driver imports the contracts' types from
 * the main entry and these helpers from here.
 * @packageDocumentation
 */

export { reservedHeaderRule } from '../contracts/bus-constraints.js';
export { noopLogger } from '../contracts/logger.js';
// Errors: classification of what a store or bus throws.
export { BatchRolledBackError, errorMessage, isInfrastructureError, isTransactionConflict } from '../errors.js';
export { type EncodedEvent, type EncodeOptions, encodeEvents } from '../event/encode.js';
// Events: the encoding and the limits every store and bus applies.
export { MAX_ATTRIBUTE_LENGTH } from '../event/event.js';
// Settings: checked once, at construction, with an OutboxConfigError naming the setting.
export { DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_EVENT_BYTES, validateByteLimit } from '../settings/byte-budget.js';
export { checkHorizons, formatMs, type HorizonSettings } from '../settings/horizons.js';
export { validateIdentifier, validateInteger } from '../settings/identifiers.js';
// Timing and logging.
export { sleep } from '../util/abort.js';
export { type Backoff, type BackoffOptions, createBackoff } from '../util/backoff.js';
