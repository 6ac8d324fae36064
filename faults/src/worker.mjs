// @ts-check
/**
 * The consumer of the fault scenarios, as a process of its own so it can be killed: a core
 * `Consumer` over a `NatsSubscriber` and the database's inbox. Its handler writes `applied` (by
 * event id, ignoring a second insert) and `effects` (one row per run that commits), so a double
 * application is countable. Settings come from `FAULT_*` env vars; it prints `worker ready` once
 * consuming, exits 0 on SIGTERM, and exits 1 with the error on stderr when the consumer fails to start.
 *
 * Plain JavaScript on purpose: Node starts it without a TypeScript loader, which took seconds per
 * start on a loaded 2-core machine, and the scenarios restart it often.
 */
import { connect } from '@nats-io/transport-node';
import { NatsSubscriber } from '@outboxkit/bus-nats';
import { Consumer, defineEvent } from '@outboxkit/outbox-core';
import { MysqlInboxStore } from '@outboxkit/outbox-mysql';
import { PgInboxStore } from '@outboxkit/outbox-pg';
import { createPool } from 'mysql2/promise';
import pg from 'pg';
import { z } from 'zod';

// The same definitions as src/events.ts (which the TypeScript side imports).
const data = z.object({ seq: z.number().int().nonnegative(), n: z.number().int().positive() });
const ItemChanged = defineEvent('fault.item.changed', { schema: data, source: 'faults' });
const ItemPoisoned = defineEvent('fault.item.poisoned', { schema: data, source: 'faults' });

/** @param {string} name @param {string} [fallback] @returns {string} */
function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`worker: ${name} is not set`);
  return value;
}

/** @param {number} ms */
// sleep-ok: the handler takes time on purpose (FAULT_DELAY_MS), so a SIGKILL lands inside one
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The inbox and the handler's writes for the configured database.
 * @returns {{ inbox: import('@outboxkit/outbox-core').InboxStore<any>, apply(tx: any, event: { id: string, subject: string, data: { n: number } }): Promise<void>, close(): Promise<void> }}
 */
function openDatabase() {
  const url = setting('FAULT_DB_URL');
  // A second consumer of the same stream writes tables of its own (applied_b, effects_b).
  const suffix = setting('FAULT_TABLE_SUFFIX', '');
  if (!/^[a-z0-9_]*$/.test(suffix)) throw new Error(`worker: FAULT_TABLE_SUFFIX must be [a-z0-9_]; got ${JSON.stringify(suffix)}`);
  if (setting('FAULT_DB') === 'pg') {
    const schema = setting('FAULT_SCHEMA');
    const pool = new pg.Pool({ connectionString: url, max: 20 });
    pool.on('error', () => undefined);
    /** @param {string} name */
    const q = (name) => `"${schema}"."${name}${suffix}"`;
    return {
      inbox: new PgInboxStore({ pool, schema, table: 'inbox' }),
      async apply(tx, event) {
        // One round trip: the applied row (a second insert is ignored) and one effect row per run.
        await tx.query(
          `WITH a AS (INSERT INTO ${q('applied')} (event_id, subject, n) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING)
           INSERT INTO ${q('effects')} (event_id) VALUES ($1)`,
          [event.id, event.subject, event.data.n],
        );
      },
      close: () => pool.end(),
    };
  }
  const pool = createPool({ uri: url, connectionLimit: 20 });
  return {
    inbox: new MysqlInboxStore({ pool, table: 'inbox' }),
    async apply(tx, event) {
      await tx.query(`INSERT IGNORE INTO applied${suffix} (event_id, subject, n) VALUES (?, ?, ?)`, [
        event.id,
        event.subject,
        event.data.n,
      ]);
      await tx.query(`INSERT INTO effects${suffix} (event_id) VALUES (?)`, [event.id]);
    },
    close: () => pool.end(),
  };
}

async function main() {
  const database = openDatabase();
  await database.inbox.migrate();
  const connection = await connect({
    servers: setting('FAULT_NATS_URLS').split(','),
    name: 'faults-worker',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
  });
  const subscriber = await NatsSubscriber.create({
    connection,
    stream: setting('FAULT_STREAM'),
    consumer: setting('FAULT_CONSUMER'),
    deadLetterPrefix: setting('FAULT_DLQ_PREFIX'),
    maxNakDelayMs: 1_000,
  });
  const delayMs = Number(setting('FAULT_HANDLER_DELAY_MS', '0'));
  const fixed = setting('FAULT_FIXED', '0') === '1';
  // Transient handler failures: this share of events fails once (per process), then succeeds.
  const failPercent = Number(setting('FAULT_FAIL_PERCENT', '0'));
  const failedOnce = new Set();
  const consumer = new Consumer({
    subscriber,
    inbox: database.inbox,
    mode: setting('FAULT_MODE', 'message') === 'batch' ? 'batch' : 'message',
    fetchSize: 200,
    fetchExpiresMs: 500,
    concurrency: 16,
    backoff: { initialMs: 200, maxMs: 1_000 },
    inboxRetentionMs: Number(setting('FAULT_INBOX_RETENTION_MS', String(7 * 86_400_000))),
    // Everything but a plain success is worth a line when a scenario fails.
    onEvent: (event) => {
      if (event.type === 'applied' || event.type === 'duplicate') return;
      const error = 'error' in event ? event.error.message : 'reason' in event ? event.reason : '';
      process.stdout.write(`${new Date().toISOString()} ${event.type} ${'id' in event ? event.id : ''} ${error}\n`);
    },
  })
    .on(ItemChanged, async (event, tx) => {
      // A handler that takes time, so a SIGKILL lands inside one.
      // sleep-ok: the slow handler a SIGKILL must land inside (FAULT_DELAY_MS)
      if (delayMs > 0) await sleep(delayMs);
      if (failPercent > 0 && !failedOnce.has(event.id) && Math.random() * 100 < failPercent) {
        failedOnce.add(event.id);
        throw new Error('transient handler failure (FAULT_FAIL_PERCENT)');
      }
      await database.apply(tx, event);
    })
    .on(ItemPoisoned, async (event, tx) => {
      if (!fixed) throw new Error(`handler bug: cannot apply ${event.type} (fixed in the next release)`);
      await database.apply(tx, event);
    });
  await consumer.start();
  process.stdout.write('worker ready\n');

  const stop = async () => {
    await consumer.stop({ timeoutMs: 10_000 });
    await subscriber.close();
    await connection.drain().catch(() => undefined);
    await database.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  const error = await consumer.closed();
  if (error) throw error;
}

main().catch((error) => {
  process.stderr.write(`worker failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
