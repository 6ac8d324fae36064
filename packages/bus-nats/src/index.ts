export { type AckSubjectInfo, parseAckSubject } from './ack-subject.js';
export {
  bindingHeaderBytesMax,
  CLOUD_EVENTS_SPEC_VERSION,
  CloudEventHeaders,
  decodeCloudEvent,
  MSG_ID_HEADER,
  NATS_CONSTRAINTS,
  recordHeaders,
} from './cloud-events.js';
export {
  DEFAULT_DEAD_LETTER_PREFIX,
  DEFAULT_DEAD_LETTER_STREAM,
  DeadLetterHeaders,
  deadLetterSubject,
  type EnsureDeadLetterStreamOptions,
  ensureDeadLetterStream,
  MAX_DEAD_ERROR_LENGTH,
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
  ensureConsumer,
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
export { type JetStreamManagerSource, serverAtLeast } from './manager.js';
export type { NatsDelivery } from './nats-delivery.js';
export { NatsPublisher, type NatsPublisherOptions } from './nats-publisher.js';
export { NatsSubscriber, type NatsSubscriberCreateOptions, type NatsSubscriberOptions } from './nats-subscriber.js';
export { REPLAY_FOR_HEADER, replayMessageId } from './replay.js';
export { checkSubject, type SubjectCheck } from './subject-check.js';
export { isPublishableSubject, prefixSubjectMapper, type SubjectMapper } from './subjects.js';
export { translatePublishError } from './translate-error.js';
