/**
 * The NATS JetStream binding: the publisher and subscriber that implement core's contracts,
 * idempotent provisioning of the stream, the consumer and the dead-letter stream, the dead-letter
 * administration, and the header names a message carries. What the binding uses only inside
 * (ack-subject parsing, error translation, subject checks, server version checks) is not exported.
 * @packageDocumentation
 */

export { bindingHeaderBytesMax, CloudEventHeaders, MSG_ID_HEADER, NATS_CONSTRAINTS, recordHeaders } from './cloud-events.js';
export {
  DEFAULT_DEAD_LETTER_PREFIX,
  DEFAULT_DEAD_LETTER_STREAM,
  DeadLetterHeaders,
  type EnsureDeadLetterStreamOptions,
  ensureDeadLetterStream,
} from './dead-letter.js';
export {
  type DeadLetter,
  type DeadLetterQuery,
  listDeadLetters,
  purgeDeadLetters,
  type ReplayOptions,
  replayDeadLetters,
} from './dead-letter-admin.js';
export {
  type EnsureConsumerOptions,
  type EnsureConsumerResult,
  type EnsurePartitionedConsumerOptions,
  ensureConsumer,
  ensurePartitionedConsumer,
  type RedeliverySettings,
  redeliveryHorizonMs,
} from './ensure-consumer.js';
export {
  DEFAULT_DUPLICATE_WINDOW_MS,
  type EnsureStreamOptions,
  type EnsureStreamResult,
  ensureStream,
  type RequiredDuplicateWindow,
  readDuplicateWindowMs,
  type StreamPlacementOptions,
  streamInfoOrNull,
} from './ensure-stream.js';
export type { JetStreamManagerSource } from './manager.js';
export type { NatsDelivery } from './nats-delivery.js';
export { NatsPublisher, type NatsPublisherOptions } from './nats-publisher.js';
export { NatsSubscriber, type NatsSubscriberCreateOptions, type NatsSubscriberOptions } from './nats-subscriber.js';
export {
  PartitionedSubscriber,
  type PartitionedSubscriberOptions,
  type PartitionOwners,
  type PartitionOwnership,
  readPartitionOwners,
} from './partitioned-subscriber.js';
export { MAX_PARTITIONS, partitionDurable, partitionedSubjectMapper, partitionFilter, partitionOf } from './partitions.js';
export { REPLAY_FOR_HEADER, replayMessageId } from './replay.js';
export { prefixSubjectMapper, type SubjectMapper } from './subjects.js';
