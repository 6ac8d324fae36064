import type { DeadRecord, OutboxRecord } from '@outboxkit/outbox-core';
import type { DeadRow, RecordRow } from './sql/outbox-sql.js';

/**
 * A UTC `DATETIME(3)` literal for an ISO 8601 instant (already validated by core's `encodeEvents`).
 * Written as text, so mysql2's `timezone` option cannot shift it.
 */
export function toUtcDatetime(iso: string): string {
  return new Date(iso).toISOString().slice(0, 23).replace('T', ' ');
}

/** Builds the record handed to the publisher; `payload` stays the text that was written. */
export function toRecord(row: RecordRow): OutboxRecord {
  return {
    id: row.id,
    type: row.type,
    source: row.source,
    subject: row.subject,
    time: new Date(Number(row.time_ms)).toISOString(),
    payload: row.payload,
    headers: JSON.parse(row.headers) as Record<string, string>,
    attempts: Number(row.attempts),
    ...(row.subject_seq === null || row.subject_seq === undefined ? {} : { sequence: Number(row.subject_seq) }),
  };
}

/** Builds a dead record for operators. */
export function toDeadRecord(row: DeadRow): DeadRecord {
  return { ...toRecord(row), lastError: row.last_error ?? '', deadAt: new Date(Number(row.dead_at_ms)) };
}
