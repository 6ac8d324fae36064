export { linkedController, sleep } from './abort.js';
export { type Backoff, type BackoffOptions, createBackoff } from './backoff.js';
export { type PublisherConstraints, RESERVED_HEADERS, reservedHeaderRule } from './bus-constraints.js';
export { DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_EVENT_BYTES, validateByteLimit } from './byte-budget.js';
export { Consumer, type EventHandler } from './consumer.js';
export type { ConsumerEvent } from './consumer-events.js';
export type { ConsumerOptions, ConsumerSkipCounts, ConsumerStatus } from './consumer-options.js';
export { type CreateOptions, type DefineEventOptions, defineEvent, type EventData, type EventDefinition } from './define-event.js';
export { type EncodedEvent, type EncodeOptions, encodeEvents } from './encode.js';
export {
  BatchRolledBackError,
  EventDecodeError,
  EventValidationError,
  errorMessage,
  InfrastructureError,
  isInfrastructureError,
  isTransactionConflict,
  OutboxConfigError,
  OutboxError,
  type OutboxErrorCode,
  type OutboxErrorOptions,
  OutboxUsageError,
  PublishError,
  SchemaVersionError,
  StoreError,
  type StoreErrorOptions,
} from './errors.js';
export {
  type CreateEventInput,
  createEvent,
  MAX_ATTRIBUTE_LENGTH,
  MAX_SUBJECT_LENGTH,
  newEventId,
  type OutboxEvent,
  validateEvent,
} from './event.js';
export { checkHorizons, formatMs, type HorizonSettings } from './horizons.js';
export { validateIdentifier, validateInteger } from './identifiers.js';
export type { InboxCleanupOptions, InboxItem, InboxOutcome, InboxStore, ProcessBatchOptions } from './inbox-store.js';
export { assertJsonSafe } from './json-safety.js';
export { type Logger, noopLogger } from './logger.js';
export type {
  ClaimedBatch,
  ClaimOptions,
  DeadLetterEntry,
  DeadRecord,
  FailingRecord,
  ListDeadOptions,
  MigrationResult,
  OutboxRecord,
  OutboxStats,
  OutboxStore,
  OutboxStoreCapabilities,
  ReleaseEntry,
  SubjectBacklog,
  WaitForWorkOptions,
} from './outbox-store.js';
export type {
  BusHealth,
  BusOutageReason,
  ProbeOptions,
  Publisher,
  PublishFailure,
  PublishOptions,
  PublishResult,
  PublishSuccess,
} from './publisher.js';
export { Relay, type RelayOptions, type RelayOutage } from './relay.js';
export type { RelayDrainResult, RelayEvent, RelayStopResult } from './relay-events.js';
export type { StandardSchemaV1 } from './standard-schema.js';
export type { DeadLetterReason, Delivery, FetchOptions, Subscriber } from './subscriber.js';
