import type { DeadRecord, OutboxRecord } from '@outboxkit/outbox-core';
import type { DeadRow, RecordRow } from './sql/outbox-sql.js';

/** Builds the record handed to the publisher; `payload` stays the text that was written. */
export function toRecord(row: RecordRow): OutboxRecord {
  return {
    id: row.id,
    type: row.type,
    source: row.source,
    subject: row.subject,
    time: row.time,
    payload: row.payload,
    headers: JSON.parse(row.headers) as Record<string, string>,
    attempts: Number(row.attempts),
  };
}

/** Builds a dead record for operators. */
export function toDeadRecord(row: DeadRow): DeadRecord {
  return { ...toRecord(row), lastError: row.last_error ?? '', deadAt: new Date(Number(row.dead_at_ms)) };
}
