/**
 * The user API: events and their definitions, the relay and consumer loops, the errors a caller
 * acts on, and the contracts' types that stores and buses implement. Drivers import their shared
 * helpers from `@outboxkit/outbox-core/driver`; tests use `./testing` and `./conformance`.
 * @packageDocumentation
 */

export { type BatchEventHandler, Consumer, type EventHandler } from './consumer/consumer.js';
export type { ConsumerEvent } from './consumer/consumer-events.js';
export type { ConsumerOptions, ConsumerSkipCounts, ConsumerStatus } from './consumer/consumer-options.js';
export type { SubjectWaitStatus } from './consumer/subject-waits.js';
export { type PublisherConstraints, RESERVED_HEADERS } from './contracts/bus-constraints.js';
export type {
  InboxCleanupOptions,
  InboxItem,
  InboxOutcome,
  InboxStore,
  OrderKey,
  ProcessBatchOptions,
  ProcessOptions,
  SubjectPosition,
} from './contracts/inbox-store.js';
export type { Logger } from './contracts/logger.js';
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
export type { DeadLetterReason, Delivery, FetchOptions, SubjectGap, Subscriber } from './contracts/subscriber.js';
export {
  BatchRolledBackError,
  EventDecodeError,
  EventValidationError,
  InfrastructureError,
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
export {
  type CreateEventInput,
  createEvent,
  newEventId,
  type OutboxEvent,
  validateEvent,
} from './event/event.js';
export type { StandardSchemaV1 } from './event/standard-schema.js';
export { Relay, type RelayOptions, type RelayOutage } from './relay/relay.js';
export type { RelayDrainResult, RelayEvent, RelayStopResult } from './relay/relay-events.js';
export { type Clock, systemClock } from './util/clock.js';
// The loops.
export type { StopOptions, StopResult } from './util/lifecycle.js';
