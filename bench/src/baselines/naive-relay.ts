import type { NatsPublisher } from '@outboxkit/bus-nats';
import type { OutboxRecord } from '@outboxkit/outbox-core';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { wallMs } from '../names.js';

/** What a time-limited baseline did: events published in `seconds`. */
export interface BaselineResult {
  readonly published: number;
  readonly seconds: number;
  readonly drained: boolean;
}

/**
 * The relay people write first: one row at a time, oldest first; select it, publish it, wait for the
 * PubAck, delete it. It reads outboxkit's own table and indexes through the same NatsPublisher, so the
 * only difference from the Relay is the algorithm. Stops when the table is empty or at `seconds`.
 */
export async function naivePgRelay(pool: pg.Pool, schema: string, publisher: NatsPublisher, seconds: number): Promise<BaselineResult> {
  const client = await pool.connect();
  const select = `SELECT * FROM ${schema}.outbox WHERE state = 'pending' ORDER BY seq LIMIT 1`;
  const remove = `DELETE FROM ${schema}.outbox WHERE id = $1`;
  try {
    return await loop(seconds, async () => {
      const { rows } = await client.query(select);
      const row = rows[0] as Row | undefined;
      if (!row) return false;
      await publishOne(publisher, toRecord(row));
      await client.query(remove, [row.id]);
      return true;
    });
  } finally {
    client.release();
  }
}

/** The same naive loop on MariaDB. */
export async function naiveMysqlRelay(pool: mysql.Pool, publisher: NatsPublisher, seconds: number): Promise<BaselineResult> {
  const connection = await pool.getConnection();
  try {
    return await loop(seconds, async () => {
      const [rows] = await connection.query("SELECT * FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT 1");
      const row = (rows as Row[])[0];
      if (!row) return false;
      await publishOne(publisher, toRecord(row));
      await connection.query('DELETE FROM outbox WHERE seq = ?', [row.seq]);
      return true;
    });
  } finally {
    connection.release();
  }
}

/** A row as a driver returns it: `time` a Date or text, `headers` JSON or text. */
type Row = Omit<OutboxRecord, 'time' | 'headers'> & { seq: number; time: Date | string; headers: string | Record<string, string> };

function toRecord(row: Row): OutboxRecord {
  return {
    id: row.id,
    type: row.type,
    source: row.source,
    subject: row.subject,
    time: row.time instanceof Date ? row.time.toISOString() : row.time,
    payload: row.payload,
    headers: typeof row.headers === 'string' ? (JSON.parse(row.headers) as Record<string, string>) : row.headers,
    attempts: Number(row.attempts),
  };
}

async function publishOne(publisher: NatsPublisher, record: OutboxRecord): Promise<void> {
  const [result] = await publisher.publish([record]);
  if (!result?.ok) throw new Error(`naive relay: publish of ${record.id} failed: ${result?.error.message}`);
}

async function loop(seconds: number, step: () => Promise<boolean>): Promise<BaselineResult> {
  const started = wallMs();
  const deadline = started + seconds * 1000;
  let published = 0;
  let drained = false;
  while (wallMs() < deadline) {
    if (!(await step())) {
      drained = true;
      break;
    }
    published++;
  }
  return { published, seconds: (wallMs() - started) / 1000, drained };
}
