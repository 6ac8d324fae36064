import type { NatsConnection } from '@nats-io/transport-node';
import type { OutboxEvent } from '@outboxkit/outbox-core';
import { PgOutboxStore, transaction as pgTransaction } from '@outboxkit/outbox-pg';
import { NATS_URL, PG_URL } from '@outboxkit/test-services';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { deleteStream, natsConnect } from './nats-stream.js';
import { randomName } from './random-name.js';
import { killStartedRelays } from './relay-process.js';

/** A PostgreSQL schema of its own for one test file. */
export class PgFixture {
  readonly schema = randomName('relay');
  readonly pool = new pg.Pool({ connectionString: PG_URL, max: 4 });

  store(table: string): PgOutboxStore {
    return new PgOutboxStore({ pool: this.pool, schema: this.schema, table, listen: false });
  }

  /** Enqueues through the store inside one transaction (in chunks of 1000 rows). */
  async enqueue(table: string, events: readonly OutboxEvent[]): Promise<void> {
    const store = this.store(table);
    await pgTransaction(this.pool, async (client) => {
      for (let i = 0; i < events.length; i += 1000) await store.enqueue(client, events.slice(i, i + 1000));
    });
  }

  async tableExists(table: string): Promise<boolean> {
    const result = await this.pool.query('SELECT to_regclass($1) AS t', [`"${this.schema}"."${table}"`]);
    return result.rows[0]?.t !== null;
  }

  async dispose(): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
    await this.pool.end();
  }
}

/**
 * The per-file setup of relay tests on PostgreSQL: a schema of the file's own, created before its
 * tests (then `before` runs); after them every relay they started is killed, `after` runs, and
 * the schema is dropped.
 */
export function pgFixturePerFile(hooks: { before?: () => Promise<void>; after?: () => Promise<void> } = {}): PgFixture {
  const fixture = new PgFixture();
  beforeAll(async () => {
    await fixture.pool.query(`CREATE SCHEMA "${fixture.schema}"`);
    await hooks.before?.();
  });
  afterAll(async () => {
    killStartedRelays();
    await hooks.after?.();
    await fixture.dispose();
  });
  return fixture;
}

/**
 * `pgFixturePerFile` plus a connection to the shared nats-server (handed to `connected`); the
 * streams pushed onto the returned list are deleted after the file's tests.
 */
export function pgFixtureWithNatsPerFile(connected: (nc: NatsConnection) => void): { fixture: PgFixture; streams: string[] } {
  const streams: string[] = [];
  let nc: NatsConnection | undefined;
  const fixture = pgFixturePerFile({
    before: async () => {
      nc = await natsConnect();
      connected(nc);
    },
    after: async () => {
      if (!nc) return;
      for (const stream of streams) await deleteStream(nc, stream);
      await nc.close();
    },
  });
  return { fixture, streams };
}

/** A fresh table and stream on the fixture's schema, and the env a relay needs for them. */
export function pgRelaySetup(
  fixture: PgFixture,
  streams: string[],
  overrides: Record<string, string> = {},
): { table: string; stream: string; env: Record<string, string> } {
  const table = randomName('outbox');
  const stream = randomName('RELAY').toUpperCase();
  streams.push(stream);
  const env = {
    OUTBOX_DATABASE_URL: PG_URL,
    OUTBOX_SCHEMA: fixture.schema,
    OUTBOX_TABLE: table,
    OUTBOX_NATS_URL: NATS_URL,
    OUTBOX_STREAM: stream,
    OUTBOX_SUBJECT_PREFIX: stream.toLowerCase(),
    OUTBOX_METRICS_ADDR: 'off',
    ...overrides,
  };
  return { table, stream, env };
}
