export { Consumer, type EventHandler } from './consumer/consumer.js';
export type { ConsumerEvent } from './consumer/consumer-events.js';
export type { ConsumerOptions, ConsumerSkipCounts, ConsumerStatus } from './consumer/consumer-options.js';
export { type PublisherConstraints, RESERVED_HEADERS, reservedHeaderRule } from './contracts/bus-constraints.js';
export type { InboxCleanupOptions, InboxItem, InboxOutcome, InboxStore, ProcessBatchOptions } from './contracts/inbox-store.js';
export { type Logger, noopLogger } from './contracts/logger.js';
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
} from './contracts/outbox-store.js';
export type {
  BusHealth,
  BusOutageReason,
  ProbeOptions,
  Publisher,
  PublishFailure,
  PublishOptions,
  PublishResult,
  PublishSuccess,
} from './contracts/publisher.js';
export type { DeadLetterReason, Delivery, FetchOptions, Subscriber } from './contracts/subscriber.js';
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
export { type CreateOptions, type DefineEventOptions, defineEvent, type EventData, type EventDefinition } from './event/define-event.js';
export { type EncodedEvent, type EncodeOptions, encodeEvents } from './event/encode.js';
export {
  type CreateEventInput,
  createEvent,
  MAX_ATTRIBUTE_LENGTH,
  MAX_SUBJECT_LENGTH,
  newEventId,
  type OutboxEvent,
  validateEvent,
} from './event/event.js';
export { assertJsonSafe } from './event/json-safety.js';
export type { StandardSchemaV1 } from './event/standard-schema.js';
export { Relay, type RelayOptions, type RelayOutage } from './relay/relay.js';
export type { RelayDrainResult, RelayEvent, RelayStopResult } from './relay/relay-events.js';
export { DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_EVENT_BYTES, validateByteLimit } from './settings/byte-budget.js';
export { checkHorizons, formatMs, type HorizonSettings } from './settings/horizons.js';
export { validateIdentifier, validateInteger } from './settings/identifiers.js';
export { linkedController, sleep } from './util/abort.js';
export { type Backoff, type BackoffOptions, createBackoff } from './util/backoff.js';
