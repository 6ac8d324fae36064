import { OutboxConfigError } from '@outboxkit/outbox-core';
import { validateInteger } from '@outboxkit/outbox-core/driver';
import { isPublishableSubject, type SubjectMapper } from './subjects.js';

/**
 * Partitions put a subject's (aggregate key's) events on one lane of the stream, so the instances
 * of one consumer can divide the subjects between them: the relay publishes an event on
 * `<prefix>.p<k>.<type>` with `k = fnv1a(subject) mod count`, each partition has its own durable
 * (`<consumer>-p<k>`, filter `<prefix>.p<k>.>`), and `PartitionedSubscriber` owns partitions
 * through leases. See docs/design/ordering.md, section 2.
 */

/** Partitions at most: each is one durable and one pull at a time per owner. */
export const MAX_PARTITIONS = 1_024;

/** @throws OutboxConfigError unless `count` is an integer from 1 to {@link MAX_PARTITIONS}. */
export function validatePartitions(count: unknown, option = 'partitions'): number {
  return validateInteger(count as number, option, 1, MAX_PARTITIONS);
}

/**
 * 32-bit FNV-1a of the UTF-8 bytes of `text` (computed without encoding it first): the standard
 * function, so a producer in another language can compute the same partition.
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  const step = (byte: number): void => {
    hash = Math.imul(hash ^ byte, 0x01000193);
  };
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (code < 0x80) step(code);
    else if (code < 0x800) {
      step(0xc0 | (code >> 6));
      step(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      step(0xe0 | (code >> 12));
      step(0x80 | ((code >> 6) & 0x3f));
      step(0x80 | (code & 0x3f));
    } else {
      step(0xf0 | (code >> 18));
      step(0x80 | ((code >> 12) & 0x3f));
      step(0x80 | ((code >> 6) & 0x3f));
      step(0x80 | (code & 0x3f));
    }
  }
  return hash >>> 0;
}

/** The partition of an event's subject (its aggregate key): `fnv1a(subject) mod count`. */
export function partitionOf(subject: string, count: number): number {
  return fnv1a(subject) % count;
}

/** The subject token of partition `k`: `p0`, `p1`, ... */
export function partitionToken(partition: number): string {
  return `p${partition}`;
}

/** The durable that reads partition `k` of consumer `name`: `<name>-p<k>`. */
export function partitionDurable(name: string, partition: number): string {
  return `${name}-${partitionToken(partition)}`;
}

/**
 * The default mapping with partitions: `<prefix>.p<k>.<record.type>`, `k` from the record's
 * subject. A stream on `<prefix>.>` stores every partition.
 * @throws OutboxConfigError for a prefix that cannot start a subject or an invalid count.
 */
export function partitionedSubjectMapper(prefix: string, count: number): SubjectMapper {
  if (!isPublishableSubject(prefix)) {
    throw new OutboxConfigError(
      'subjectPrefix',
      `subjectPrefix ${JSON.stringify(prefix)} cannot start a subject: use dot-separated tokens without spaces, * or >`,
    );
  }
  const partitions = validatePartitions(count);
  const cache = new Map<string, string>();
  return (record) => {
    const key = `${partitionOf(record.subject, partitions)}.${record.type}`;
    let subject = cache.get(key);
    if (subject === undefined) {
      subject = `${prefix}.p${key}`;
      if (cache.size < 100_000) cache.set(key, subject);
    }
    return subject;
  };
}

/**
 * A consumer's filter on the unpartitioned layout (`events.catalog.>`) turned into partition `k`'s
 * (`events.p3.catalog.>`): the partition token goes right after the prefix.
 * @throws OutboxConfigError when the filter does not start with `<prefix>.`.
 */
export function partitionFilter(filter: string, prefix: string, partition: number): string {
  if (filter === '>' || filter === `${prefix}.>`) return `${prefix}.${partitionToken(partition)}.>`;
  if (!filter.startsWith(`${prefix}.`)) {
    throw new OutboxConfigError(
      'filterSubjects',
      `the filter ${JSON.stringify(filter)} does not start with the subject prefix ${JSON.stringify(`${prefix}.`)}: with partitions, a filter names subjects as without them (events.catalog.>) and the partition token goes after the prefix`,
    );
  }
  return `${prefix}.${partitionToken(partition)}.${filter.slice(prefix.length + 1)}`;
}
