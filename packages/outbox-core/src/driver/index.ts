/**
 * What store drivers and bus bindings share, apart from the user API of the main entry: the
 * encoding every `enqueue` runs, the checks of configuration, retry timing and error
 * classification. A service never needs this entry; a driver imports the contracts' types from
 * the main entry and these helpers from here.
 * @packageDocumentation
 */

export { reservedHeaderRule } from '../contracts/bus-constraints.js';
export { noopLogger } from '../contracts/logger.js';
export { BatchRolledBackError, errorMessage, isInfrastructureError, isTransactionConflict } from '../errors.js';
export { type EncodedEvent, type EncodeOptions, encodeEvents } from '../event/encode.js';
export { MAX_ATTRIBUTE_LENGTH } from '../event/event.js';
export {
  decodeSubjectSequence,
  GAP_HEADER_PREFIX,
  GAP_ID_SUFFIX,
  GapHeaders,
  gapMarkerDecodeError,
  gapMessageId,
  parseSubjectSequence,
  readGapMarker,
  SUBJECT_SEQUENCE_HEADER,
} from '../event/subject-order.js';
export { DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_EVENT_BYTES, validateByteLimit } from '../settings/byte-budget.js';
export { checkHorizons, formatMs, type HorizonSettings } from '../settings/horizons.js';
export { validateBoolean, validateIdentifier, validateInteger } from '../settings/identifiers.js';
export { sleep } from '../util/abort.js';
export { type Backoff, type BackoffOptions, createBackoff } from '../util/backoff.js';
export {
  type LockedPosition,
  type OrderSteps,
  passGaps,
  validateGap,
  validateOrderKey,
  validatePositionsOptions,
} from './inbox-order.js';
export {
  findHandlerFailure,
  HandlerFailure,
  handlerFailureError,
  type InboxSteps,
  processBatchInTransaction,
  processInTransaction,
  recordGapInTransaction,
} from './inbox-transaction.js';
export {
  type MigrationConnection,
  type MigrationDialect,
  migrateSchema,
  type NumberedMigration,
} from './migration-runner.js';
export { checkSchemaVersion, type SchemaTarget } from './schema-version.js';
export {
  isSqlExecutor,
  isTransactionRunner,
  nativeError,
  type SqlDialect,
  type SqlExecutor,
  type SqlResult,
  type TransactionRunner,
  type TranslateContext,
} from './sql-executor.js';
