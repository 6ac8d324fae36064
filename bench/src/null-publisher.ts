import type { OutboxRecord, Publisher, PublishResult } from '@outboxkit/outbox-core';

/**
 * Acknowledges every record at once: a relay with this publisher does the database half of
 * relaying (claim, complete, wake-up) and nothing else, so producer figures measure the database.
 */
export const nullPublisher: Publisher = {
  async publish(records: readonly OutboxRecord[]): Promise<PublishResult[]> {
    return records.map((record) => ({ id: record.id, ok: true, duplicate: false }));
  },
};
