import type { NatsPublisher } from '@outboxkit/bus-nats';
import pg from 'pg';
import {
  DatabaseSetup,
  type GeneralMessageHandler,
  getDisabledLogger,
  initializePollingMessageListener,
  type TransactionalMessage,
} from 'pg-transactional-outbox';
import { PG_URL } from '../env.js';
import { EVENT_SOURCE, EVENT_TYPE, TRACEPARENT } from '../events.js';
import { freshName, sleepMs, wallMs } from '../names.js';
import type { BaselineResult } from './naive-relay.js';

/** Its polling settings: ordered per segment (= our subject), no retry protections, cleanup off. */
export const PTXO_BATCH_SIZE = 50;
export const PTXO_POLL_MS = 100;

/**
 * pg-transactional-outbox 0.5 in polling mode, set up with its own `DatabaseSetup` SQL in a fresh
 * schema, the backlog written straight into its table (segment = subject so it keeps per-subject
 * order like outboxkit). Its handler publishes each message through the same NatsPublisher to the
 * same stream. Runs until the backlog is done or `seconds` pass.
 */
export async function runPgTransactionalOutbox(
  publisher: NatsPublisher,
  backlog: number,
  subjects: number,
  seconds: number,
): Promise<BaselineResult> {
  const schema = freshName('bench_ptxo');
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  const setup = { outboxOrInbox: 'outbox' as const, database: 'test', schema, table: 'outbox', listenerRole: 'postgres' };
  const polling = { ...setup, nextMessagesName: 'next_outbox_messages' };
  const client = await admin.connect();
  try {
    // Its index DDL uses unqualified DROP INDEX names: pin the search path to our schema.
    await client.query(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}`);
    await client.query(DatabaseSetup.dropAndCreateTable(setup));
    await client.query(DatabaseSetup.createPollingFunction(polling));
    await client.query(DatabaseSetup.setupPollingIndexes(polling));
    await client.query(
      `INSERT INTO ${schema}.outbox (id, aggregate_type, aggregate_id, message_type, segment, concurrency, payload, metadata, created_at)
       SELECT gen_random_uuid(), 'product', 'product-' || (g % $1), $2, 'product-' || (g % $1), 'sequential',
         jsonb_build_object('productId', 'product-' || (g % $1), 'newPrice', g / 100.0, 'oldPrice', g / 100.0 + 1, 'n', g / $1),
         jsonb_build_object('traceparent', $3::text), now() + g * interval '1 microsecond'
       FROM generate_series(0, $4::int - 1) AS g ORDER BY g`,
      [subjects, EVENT_TYPE, TRACEPARENT, backlog],
    );
    await client.query(`ANALYZE ${schema}.outbox`);
  } finally {
    client.release();
  }

  let published = 0;
  const handler: GeneralMessageHandler = {
    handle: async (message: TransactionalMessage) => {
      const [result] = await publisher.publish([
        {
          id: message.id,
          type: message.messageType,
          source: EVENT_SOURCE,
          subject: message.aggregateId,
          time: message.createdAt ?? new Date().toISOString(),
          payload: JSON.stringify(message.payload),
          headers: (message.metadata ?? {}) as Record<string, string>,
          attempts: 0,
        },
      ]);
      if (!result?.ok) throw new Error(`publish failed: ${result?.error.message}`);
      published++;
    },
  };
  const started = wallMs();
  const [shutdown] = initializePollingMessageListener(
    {
      outboxOrInbox: 'outbox',
      dbListenerConfig: { connectionString: PG_URL },
      dbHandlerConfig: { connectionString: PG_URL },
      settings: {
        dbSchema: schema,
        dbTable: 'outbox',
        enableMaxAttemptsProtection: false,
        enablePoisonousMessageProtection: false,
        nextMessagesFunctionName: 'next_outbox_messages',
        nextMessagesFunctionSchema: schema,
        nextMessagesBatchSize: PTXO_BATCH_SIZE,
        nextMessagesPollingIntervalInMs: PTXO_POLL_MS,
        messageCleanupIntervalInMs: 0,
      },
    },
    handler,
    getDisabledLogger(),
  );
  const deadline = started + seconds * 1000;
  while (published < backlog && wallMs() < deadline) await sleepMs(20);
  const elapsed = (wallMs() - started) / 1000;
  const count = published;
  await shutdown();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
  return { published: count, seconds: elapsed, drained: count >= backlog };
}
