import { type EnsureStreamOptions, type EnsureStreamResult, ensureStream } from './ensure-stream.js';
import type { JetStreamManagerSource } from './manager.js';

/**
 * Headers a dead letter carries on top of the original message's headers (its `ce-*` and own
 * headers are kept, so a replay republishes the same event).
 */
export const DeadLetterHeaders = {
  /** The last error, one line, at most 2,000 characters (`MAX_DEAD_ERROR_LENGTH`). */
  error: 'outbox-dead-error',
  /** The error's code, e.g. `DECODE_FAILED` or `MAX_DELIVER`. */
  code: 'outbox-dead-code',
  /** The consumer that gave up. */
  consumer: 'outbox-dead-consumer',
  /** The subject the message had in the source stream. */
  subject: 'outbox-dead-subject',
  /** The source stream. */
  stream: 'outbox-dead-stream',
  /** The message's sequence in the source stream. */
  sequence: 'outbox-dead-sequence',
  /** When the consumer gave up, ISO 8601. */
  time: 'outbox-dead-time',
  /** The original `Nats-Msg-Id` (or `ce-id`), when it had one. */
  messageId: 'outbox-dead-msg-id',
  /** Deliveries the consumer saw, the last one included. */
  deliveryCount: 'outbox-delivery-count',
} as const;

/** Longest `outbox-dead-error` value; the rest is cut. */
export const MAX_DEAD_ERROR_LENGTH = 2_000;

/** Default name of the dead-letter stream. */
export const DEFAULT_DEAD_LETTER_STREAM = 'DEAD_LETTERS';
/** Default first token of dead-letter subjects. */
export const DEFAULT_DEAD_LETTER_PREFIX = 'dlq';

/**
 * The subject of a dead letter: `<prefix>.<consumer>.<original subject>`, so operators can list
 * one consumer's dead letters (`dlq.basket.>`) or one event type's.
 */
export function deadLetterSubject(prefix: string, consumer: string, originalSubject: string): string {
  return `${prefix}.${consumer}.${originalSubject}`;
}

/** Options of {@link ensureDeadLetterStream}. */
export interface EnsureDeadLetterStreamOptions extends Partial<Pick<EnsureStreamOptions, 'storage' | 'replicas' | 'duplicateWindowMs'>> {
  /** @defaultValue `'DEAD_LETTERS'` */
  readonly name?: string;
  /** @defaultValue `'dlq'`: the stream stores `dlq.>` */
  readonly subjectPrefix?: string;
  /** How long dead letters are kept. @defaultValue 30 days */
  readonly maxAgeMs?: number;
}

/**
 * Creates or checks the stream that stores dead letters (`<subjectPrefix>.>`); idempotent like
 * {@link ensureStream}. Dead letters are deduplicated by `<stream>:<sequence>:<consumer>`, so a
 * dead-lettering repeated after a lost `term` stores the letter once.
 *
 * @throws OutboxConfigError as {@link ensureStream} does.
 */
export function ensureDeadLetterStream(
  source: JetStreamManagerSource,
  options: EnsureDeadLetterStreamOptions = {},
): Promise<EnsureStreamResult> {
  const prefix = options.subjectPrefix ?? DEFAULT_DEAD_LETTER_PREFIX;
  return ensureStream(source, {
    name: options.name ?? DEFAULT_DEAD_LETTER_STREAM,
    subjects: [`${prefix}.>`],
    maxAgeMs: options.maxAgeMs ?? 30 * 24 * 3_600_000,
    ...(options.storage === undefined ? {} : { storage: options.storage }),
    ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
    ...(options.duplicateWindowMs === undefined ? {} : { duplicateWindowMs: options.duplicateWindowMs }),
  });
}
