import type { DeadRecord, OutboxRecord } from '@outboxkit/outbox-core';
import type { DeadRow, RecordRow } from './sql/outbox-sql.js';

/** Builds the record handed to the publisher; `payload` stays the text that was written. */
export function toRecord(row: RecordRow): OutboxRecord {
  const record: OutboxRecord = {
    id: row.id,
    type: row.type,
    source: row.source,
    subject: row.subject,
    time: row.time,
    payload: row.payload,
    headers: row.headers ?? {},
    attempts: row.attempts,
    ...(row.subject_seq === null || row.subject_seq === undefined ? {} : { sequence: Number(row.subject_seq) }),
  };
  return row.oversized ? { ...record, oversizedBytes: Number(row.payload_bytes) } : record;
}

/** Builds a dead record for operators. */
export function toDeadRecord(row: DeadRow): DeadRecord {
  return { ...toRecord(row), lastError: row.last_error ?? '', deadAt: row.dead_at };
}
