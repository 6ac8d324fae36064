import { createEvent, type OutboxEvent } from '@outboxkit/outbox-core';

/** `count` events over `subjects` aggregate keys, round-robin, with a per-subject sequence number in the data. */
export function makeEvents(count: number, subjects: number, type = 'test.item.changed'): OutboxEvent[] {
  const seq = new Map<string, number>();
  return Array.from({ length: count }, (_, index) => {
    const subject = `item-${index % subjects}`;
    const n = (seq.get(subject) ?? 0) + 1;
    seq.set(subject, n);
    return createEvent({ type, source: 'relay-test', subject, data: { index, n } });
  });
}
