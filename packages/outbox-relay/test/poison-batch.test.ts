import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsPublisher } from '@outboxkit/bus-nats';
import { type OutboxError, type OutboxEvent, type OutboxStore, Relay, type RelayEvent } from '@outboxkit/outbox-core';
import { MysqlOutboxStore } from '@outboxkit/outbox-mysql';
import { createPool } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEvents } from './make-events.js';
import { MysqlFixture } from './mysql-fixture.js';
import { readStream } from './nats-stream.js';
import { pgFixtureWithNatsPerFile } from './pg-fixture.js';
import { randomName } from './random-name.js';

// Rows written around enqueue's validation (by hand, or by an older version): each must fail
// alone and at once, and never cost the healthy rows of its batch an attempt.
let nc: NatsConnection;
const { fixture, streams } = pgFixtureWithNatsPerFile((connection) => {
  nc = connection;
});
const mysql = new MysqlFixture();
beforeAll(() => mysql.init());
afterAll(() => mysql.dispose());

interface RawRow {
  readonly id: string;
  readonly type: string;
  readonly subject: string;
  readonly headers: Record<string, string>;
  readonly payload: string;
}

function raw(event: OutboxEvent, patch: Partial<RawRow> = {}): RawRow {
  return {
    id: event.id,
    type: event.type,
    subject: event.subject,
    headers: { ...event.headers },
    payload: JSON.stringify(event.data),
    ...patch,
  };
}

async function scenario(store: OutboxStore<unknown>, insert: (rows: RawRow[]) => Promise<void>): Promise<void> {
  const stream = randomName('POISON').toUpperCase();
  streams.push(stream);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`] });
  await store.migrate();
  const healthy = makeEvents(50, 50);
  const badKey = makeEvents(1, 1, 'test.poison')[0]!;
  const forger = makeEvents(1, 1, 'test.forger')[0]!;
  // The forged dedup id is a healthy event's: published, it would make JetStream drop that event.
  await insert([
    raw(badKey, { subject: 'bad\nkey' }),
    ...healthy.slice(0, 25).map((event) => raw(event)),
    raw(forger, { subject: 'forger', headers: { 'Nats-Msg-Id': healthy[30]!.id } }),
    ...healthy.slice(25).map((event) => raw(event)),
  ]);

  const events: RelayEvent[] = [];
  const publisher = new NatsPublisher({ connection: nc, subjectPrefix: stream.toLowerCase() });
  const relay = new Relay({ store, publisher, batchSize: 500, onEvent: (event) => events.push(event) });
  const totals = await relay.drain();

  expect(totals).toMatchObject({ batches: 1, published: 50, failed: 0, dead: 2 });
  expect(events.filter((event) => event.type === 'failed')).toEqual([]);
  const dead = events.flatMap((event) => (event.type === 'dead' ? [event] : []));
  expect(dead.map((event) => [event.id, (event.error as OutboxError).code])).toEqual([
    [badKey.id, 'EVENT_INVALID'],
    [forger.id, 'EVENT_INVALID'],
  ]);
  const stored = await readStream(nc, stream);
  expect(stored.map((message) => message.msgId)).toEqual(healthy.map((event) => event.id));
  expect(await store.stats()).toMatchObject({ pending: 0, dead: 2 });
  expect((await store.listDead()).map((record) => record.attempts)).toEqual([1, 1]);
}

describe('a poison row among healthy ones, written around enqueue', { timeout: 60_000 }, () => {
  it('PostgreSQL: 50 published, the 2 poison rows dead at once, no attempt counted on the healthy', async () => {
    const table = randomName('outbox');
    const store = fixture.store(table);
    await scenario(store, async (rows) => {
      for (const row of rows) {
        await fixture.pool.query(
          `INSERT INTO "${fixture.schema}"."${table}" (id, type, source, subject, time, payload, headers) VALUES ($1, $2, 'relay-test', $3, now(), $4, $5::jsonb)`,
          [row.id, row.type, row.subject, row.payload, JSON.stringify(row.headers)],
        );
      }
    });
  });

  it('MariaDB: 50 published, the 2 poison rows dead at once, no attempt counted on the healthy', async () => {
    const table = randomName('outbox');
    const pool = createPool({ uri: mysql.url, connectionLimit: 2 });
    try {
      const store = new MysqlOutboxStore({ pool, table });
      await scenario(store, async (rows) => {
        for (const row of rows) {
          await pool.query(
            `INSERT INTO \`${table}\` (id, type, source, subject, \`time\`, payload, headers, available_at) VALUES (?, ?, 'relay-test', ?, UTC_TIMESTAMP(3), ?, ?, UTC_TIMESTAMP(3))`,
            [row.id, row.type, row.subject, row.payload, JSON.stringify(row.headers)],
          );
        }
      });
    } finally {
      await pool.end();
    }
  });
});
