import type { OutboxRecord } from '@outboxkit/outbox-core';

/**
 * A NATS subject a message can be published on: dot-separated non-empty tokens, no whitespace,
 * no `*` or `>` wildcards (those are for subscribing; a stream would store nothing under them).
 */
const subjectPattern = /^[^\s.*>]+(?:\.[^\s.*>]+)*$/;

/** True when `subject` is a valid subject to publish on. */
export function isPublishableSubject(subject: unknown): subject is string {
  return typeof subject === 'string' && subjectPattern.test(subject);
}

/** Maps an outbox record to the NATS subject it is published on. */
export type SubjectMapper = (record: OutboxRecord) => string;

/**
 * The default mapping: `<prefix>.<record.type>`, so `catalog.product.price-changed` goes to
 * `events.catalog.product.price-changed` and a stream on `events.>` stores every type.
 */
export function prefixSubjectMapper(prefix: string): SubjectMapper {
  // Types repeat across a relay's lifetime: build each subject string once.
  const cache = new Map<string, string>();
  return (record) => {
    let subject = cache.get(record.type);
    if (subject === undefined) {
      subject = `${prefix}.${record.type}`;
      if (cache.size < 10_000) cache.set(record.type, subject);
    }
    return subject;
  };
}
