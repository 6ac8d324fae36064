// @ts-check
/**
 * The consumer of the fault scenarios, as a process of its own so it can be killed: a core
 * `Consumer` over a `NatsSubscriber` and the database's inbox. Its handler writes `applied` (by
 * event id, ignoring a second insert) and `effects` (one row per run that commits), so a double
 * application is countable. Settings come from `FAULT_*` env vars; it prints `worker ready` once
 * consuming, exits 0 on SIGTERM, and exits 1 with the error on stderr when the consumer fails to start.
 *
 * With `FAULT_RECORD_ORDER=1` (the order scenarios) the handler also records each run in
 * `applications` (subject, `event.sequence`, `data.n`; an identity column gives the application
 * order) and writes `latest(subject) = event.sequence`, in the same transaction. With
 * `FAULT_FAIL_FIRST_PERCENT` it fails the first attempt of that share of the events, chosen by
 * event id (`failsFirst`), across every worker: the first attempt inserts the id into `failed_once`
 * outside the transaction, then throws. `FAULT_ORDER` sets the consumer's `order` option (unset:
 * the default). With `FAULT_BATCH_HANDLER=1` the handler is registered with `onBatch` and applies
 * the events of a call one after the other, so a failing event fails the whole call.
 *
 * Plain JavaScript on purpose: Node starts it without a TypeScript loader, which took seconds per
 * start on a loaded 2-core machine, and the scenarios restart it often.
 */
import { connect } from '@nats-io/transport-node';
import { NatsSubscriber, PartitionedSubscriber } from '@outboxkit/bus-nats';
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

/**
 * True for the events whose first attempt fails (`FAULT_FAIL_FIRST_PERCENT`): FNV-1a of the event
 * id, mod 100. The same function as `failsFirst` in src/scenarios-order.ts, which counts them.
 * @param {string} id @param {number} percent
 */
function failsFirst(id, percent) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % 100 < percent;
}

/** @param {number} ms */
// sleep-ok: the handler takes time on purpose (FAULT_DELAY_MS), so a SIGKILL lands inside one
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The inbox and the handler's writes for the configured database.
 * @returns {{ inbox: import('@outboxkit/outbox-core').InboxStore<any>, apply(tx: any, event: { id: string, subject: string, sequence?: number | undefined, data: { n: number } }): Promise<void>, firstFailure(id: string): Promise<boolean>, close(): Promise<void> }}
 */
function openDatabase() {
  const recordOrder = setting('FAULT_RECORD_ORDER', '0') === '1';
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
        if (!recordOrder) {
          await tx.query(
            `WITH a AS (INSERT INTO ${q('applied')} (event_id, subject, n) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING)
             INSERT INTO ${q('effects')} (event_id) VALUES ($1)`,
            [event.id, event.subject, event.data.n],
          );
          return;
        }
        // The same, with the application recorded and the subject's latest sequence written.
        await tx.query(
          `WITH a AS (INSERT INTO ${q('applied')} (event_id, subject, n) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING),
                o AS (INSERT INTO ${q('applications')} (subject, sequence, n, event_id) VALUES ($2, $4, $3, $1)),
                l AS (INSERT INTO ${q('latest')} (subject, sequence) VALUES ($2, $4)
                      ON CONFLICT (subject) DO UPDATE SET sequence = EXCLUDED.sequence)
           INSERT INTO ${q('effects')} (event_id) VALUES ($1)`,
          [event.id, event.subject, event.data.n, event.sequence ?? null],
        );
      },
      async firstFailure(id) {
        const result = await pool.query(`INSERT INTO ${q('failed_once')} (event_id) VALUES ($1) ON CONFLICT DO NOTHING`, [id]);
        return result.rowCount === 1;
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
      if (!recordOrder) return;
      const sequence = event.sequence ?? null;
      await tx.query(`INSERT INTO applications${suffix} (subject, sequence, n, event_id) VALUES (?, ?, ?, ?)`, [
        event.subject,
        sequence,
        event.data.n,
        event.id,
      ]);
      await tx.query(`INSERT INTO latest${suffix} (subject, sequence) VALUES (?, ?) ON DUPLICATE KEY UPDATE sequence = VALUES(sequence)`, [
        event.subject,
        sequence,
      ]);
    },
    async firstFailure(id) {
      const [result] = await pool.query(`INSERT IGNORE INTO failed_once${suffix} (event_id) VALUES (?)`, [id]);
      return /** @type {{ affectedRows: number }} */ (result).affectedRows === 1;
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
  const subscriberOptions = {
    connection,
    stream: setting('FAULT_STREAM'),
    consumer: setting('FAULT_CONSUMER'),
    deadLetterPrefix: setting('FAULT_DLQ_PREFIX'),
    maxNakDelayMs: 1_000,
  };
  // FAULT_PARTITIONS: the workers divide the partitions' durables through leases.
  const partitions = process.env.FAULT_PARTITIONS;
  const subscriber =
    partitions === undefined
      ? await NatsSubscriber.create(subscriberOptions)
      : await PartitionedSubscriber.create({
          ...subscriberOptions,
          partitions: Number(partitions),
          leaseMs: Number(setting('FAULT_LEASE_MS', '10000')),
        });
  const delayMs = Number(setting('FAULT_HANDLER_DELAY_MS', '0'));
  const fixed = setting('FAULT_FIXED', '0') === '1';
  // Transient handler failures: this share of events fails once (per process), then succeeds.
  const failPercent = Number(setting('FAULT_FAIL_PERCENT', '0'));
  const failedOnce = new Set();
  // The first attempt of this share of the events fails, whichever worker makes it.
  const failFirstPercent = Number(setting('FAULT_FAIL_FIRST_PERCENT', '0'));
  const order = process.env.FAULT_ORDER;
  const batchTransactions = process.env.FAULT_BATCH_TRANSACTIONS;
  /**
   * Applies one ItemChanged event in the inbox's transaction.
   * @param {{ id: string, subject: string, sequence?: number | undefined, data: { n: number } }} event
   * @param {any} tx
   */
  const applyChanged = async (event, tx) => {
    // A handler that takes time, so a SIGKILL lands inside one.
    // sleep-ok: the slow handler a SIGKILL must land inside (FAULT_DELAY_MS)
    if (delayMs > 0) await sleep(delayMs);
    if (failPercent > 0 && !failedOnce.has(event.id) && Math.random() * 100 < failPercent) {
      failedOnce.add(event.id);
      throw new Error('transient handler failure (FAULT_FAIL_PERCENT)');
    }
    if (failFirstPercent > 0 && failsFirst(event.id, failFirstPercent) && (await database.firstFailure(event.id))) {
      throw new Error('transient handler failure on the first attempt (FAULT_FAIL_FIRST_PERCENT)');
    }
    await database.apply(tx, event);
  };
  const consumer = new Consumer({
    ...(order === undefined ? {} : { order }),
    subscriber,
    inbox: database.inbox,
    mode: setting('FAULT_MODE', 'message') === 'batch' ? 'batch' : 'message',
    ...(batchTransactions === undefined ? {} : { batchTransactions: Number(batchTransactions) }),
    fetchSize: 200,
    fetchExpiresMs: 500,
    concurrency: 16,
    backoff: { initialMs: 200, maxMs: 1_000 },
    inboxRetentionMs: Number(setting('FAULT_INBOX_RETENTION_MS', String(7 * 86_400_000))),
    // Everything but a plain success is worth a line when a scenario fails.
    onEvent: (event) => {
      if (event.type === 'applied' || event.type === 'duplicate') return;
      const error = 'error' in event ? event.error.message : 'reason' in event ? event.reason : '';
      // Subject order's events (subject-waiting, subject-resumed, gap-recorded) name their subject.
      const fields = /** @type {Record<string, unknown>} */ (event);
      const subject = 'subject' in fields ? ` subject=${fields.subject}` : '';
      const waiting = 'waitingFor' in fields ? ` waitingFor=${fields.waitingFor}` : '';
      process.stdout.write(`${new Date().toISOString()} ${event.type} ${'id' in event ? event.id : ''} ${error}${subject}${waiting}\n`);
    },
  });
  // FAULT_BATCH_HANDLER=1: a fetch's events in one call (onBatch), each applied in turn; a failing one fails the call.
  if (setting('FAULT_BATCH_HANDLER', '0') === '1') {
    consumer.onBatch(ItemChanged, async (events, tx) => {
      for (const event of events) await applyChanged(event, tx);
    });
  } else consumer.on(ItemChanged, applyChanged);
  consumer.on(ItemPoisoned, async (event, tx) => {
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
