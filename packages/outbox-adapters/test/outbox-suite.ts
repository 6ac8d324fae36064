import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ensureConsumer, ensureDeadLetterStream, NatsPublisher, NatsSubscriber } from '@outboxkit/bus-nats';
import { Consumer, defineEvent, type InboxStore, type OutboxStore, Relay } from '@outboxkit/outbox-core';
import { MysqlInboxStore, MysqlOutboxStore } from '@outboxkit/outbox-mysql';
import { PgInboxStore, PgOutboxStore } from '@outboxkit/outbox-pg';
import { NATS_URL, waitUntil } from '@outboxkit/test-services';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AdapterHarness } from './adapter-suite.js';
import type { TestDatabase } from './databases.js';

const ItemAdded = defineEvent('test.item.added', { schema: z.object({ key: z.string() }), source: 'adapters-test' });
const failure = new Error('the transaction fails');

/**
 * The outbox through the adapter's executor and the inbox through its runner, on the real stores,
 * and the relay draining to JetStream what the adapter wrote. Runs after `describeAdapter`, on its database.
 */
export function describeOutboxAndInbox<Tx>(harness: AdapterHarness<Tx>, database: () => TestDatabase): void {
  describe('outbox and inbox', () => {
    let outbox: OutboxStore<unknown>;
    let inbox: InboxStore<Tx>;
    let close: () => Promise<void>;
    let pgPool: pg.Pool | undefined;
    let nc: NatsConnection;
    let jsm: JetStreamManager;
    const stream = `ADAPTERS_${Math.random().toString(36).slice(2, 10).toUpperCase()}`;
    const subjectPrefix = stream.toLowerCase();

    beforeAll(async () => {
      const db = database();
      if (db.dialect === 'postgres') {
        const pool = new pg.Pool({ connectionString: db.url, max: 4 });
        pgPool = pool;
        outbox = new PgOutboxStore({ pool, schema: db.name, listen: false }) as OutboxStore<unknown>;
        inbox = new PgInboxStore({ pool, schema: db.name, transactions: harness.runner() }) as InboxStore<Tx>;
        close = () => pool.end();
      } else {
        const pool = mysql.createPool({ uri: db.url, connectionLimit: 4 });
        outbox = new MysqlOutboxStore({ pool }) as OutboxStore<unknown>;
        inbox = new MysqlInboxStore({ pool, transactions: harness.runner() }) as InboxStore<Tx>;
        close = () => pool.end();
      }
      await outbox.migrate();
      await inbox.migrate();
      nc = await connect({ servers: NATS_URL, noAsyncTraces: true });
      jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}.>`] });
    });
    afterAll(async () => {
      await jsm?.streams.delete(stream).catch(() => undefined);
      await nc?.close();
      await outbox?.close();
      await inbox?.close();
      await close?.();
    });

    const committed: ReturnType<typeof ItemAdded.create>[] = [];
    const event = (key: string) => ItemAdded.create({ key }, { subject: key });
    const pending = async () => (await outbox.stats()).pending;

    it('an event enqueued in a transaction that commits is in the outbox exactly once', async () => {
      const before = await pending();
      const added = event('enqueue-commit');
      await harness.transaction(async (tx) => {
        await harness.insertItem(tx, 'enqueue-commit');
        await outbox.enqueue(harness.executor(tx), added);
      });
      committed.push(added);
      expect(await pending()).toBe(before + 1);
      expect(await database().items()).toContain('enqueue-commit');
    });

    it('an event enqueued in a transaction that rolls back is not', async () => {
      const before = await pending();
      await expect(
        harness.transaction(async (tx) => {
          await harness.insertItem(tx, 'enqueue-rollback');
          await outbox.enqueue(harness.executor(tx), event('enqueue-rollback'));
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await pending()).toBe(before);
      expect(await database().items()).not.toContain('enqueue-rollback');
    });

    if (harness.nested) {
      const nested = harness.nested;
      it('an event enqueued in a nested transaction goes with it: rolled back alone, committed with the outer one', async () => {
        const before = await pending();
        const kept = event('enqueue-outer');
        await harness.transaction(async (tx) => {
          await outbox.enqueue(harness.executor(tx), kept);
          await expect(
            nested(tx, async (inner) => {
              await outbox.enqueue(harness.executor(inner), event('enqueue-inner'));
              throw failure;
            }),
          ).rejects.toBe(failure);
        });
        committed.push(kept);
        expect(await pending()).toBe(before + 1);
      });
    }

    it("the consumer's handler writes through the library's transaction, committed with the inbox row", async () => {
      const outcome = await inbox.process('adapters', 'message-applied', async (tx) => {
        await harness.insertItem(tx, 'handled-applied');
        return 'done';
      });
      expect(outcome).toEqual({ status: 'applied', value: 'done' });
      expect(await database().items()).toContain('handled-applied');
      expect(await inbox.isRecorded?.('adapters', 'message-applied')).toBe(true);
    });

    it('a throwing handler rolls back its writes and the inbox row; the redelivery runs it again', async () => {
      await expect(
        inbox.process('adapters', 'message-failing', async (tx) => {
          await harness.insertItem(tx, 'handled-failing');
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await database().items()).not.toContain('handled-failing');
      expect(await inbox.isRecorded?.('adapters', 'message-failing')).toBe(false);
      const retried = await inbox.process('adapters', 'message-failing', (tx) => harness.insertItem(tx, 'handled-failing'));
      expect(retried.status).toBe('applied');
      expect(await database().items()).toContain('handled-failing');
    });

    it('a duplicate delivery is skipped: the handler does not run', async () => {
      await inbox.process('adapters', 'message-twice', (tx) => harness.insertItem(tx, 'handled-twice'));
      let ran = false;
      const again = await inbox.process('adapters', 'message-twice', async () => {
        ran = true;
      });
      expect(again).toEqual({ status: 'duplicate' });
      expect(ran).toBe(false);
    });

    it('a batch applies each handler in the transaction, a throwing one rolled back alone (savepoint)', async () => {
      const outcomes = await inbox.processBatch(
        'adapters',
        [{ messageId: 'batch-1' }, { messageId: 'batch-2' }, { messageId: 'batch-3' }],
        async (tx, item) => {
          await harness.insertItem(tx, item.messageId);
          if (item.messageId === 'batch-2') throw failure;
        },
      );
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['applied', 'failed', 'applied']);
      const keys = await database().items();
      expect(keys).toEqual(expect.arrayContaining(['batch-1', 'batch-3']));
      expect(keys).not.toContain('batch-2');
    });

    it("subject order runs through the library's transactions: the position moves with the handler, a gap is passed", async () => {
      const order = (sequence: number) => ({ order: { subject: 'adapters-order', sequence } });
      const applied = await inbox.process('adapters', 'ordered-1', (tx) => harness.insertItem(tx, 'ordered-1'), order(1));
      expect(applied.status).toBe('applied');
      expect(await inbox.process('adapters', 'ordered-3', async () => {}, order(3))).toEqual({ status: 'waiting', position: 1 });
      expect(await inbox.recordGap?.('adapters', { subject: 'adapters-order', sequence: 2, reason: 'dead-letter' })).toBe(2);
      const outcomes = await inbox.processBatch(
        'adapters',
        [
          { messageId: 'ordered-3', ...order(3) },
          { messageId: 'ordered-4', ...order(4) },
        ],
        (tx, item) => harness.insertItem(tx, item.messageId),
      );
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['applied', 'applied']);
      expect(await inbox.positions?.('adapters', { subjects: ['adapters-order'] })).toMatchObject([{ position: 4, gapsAhead: [] }]);
      expect(await database().items()).toEqual(expect.arrayContaining(['ordered-1', 'ordered-3', 'ordered-4']));
    });

    it('the relay publishes what the adapter wrote, each committed event once, in write order', async () => {
      const publisher = new NatsPublisher({ connection: nc, subjectPrefix });
      const relay = new Relay({ store: outbox, publisher });
      const totals = await relay.drain();
      expect(totals).toMatchObject({ published: committed.length, failed: 0, dead: 0 });
      const info = await jsm.streams.info(stream);
      const ids: string[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const message = await jsm.streams.getMessage(stream, { seq });
        ids.push(message?.header.get('Nats-Msg-Id') ?? '');
      }
      expect(ids).toEqual(committed.map((e) => e.id));
      expect(await pending()).toBe(0);
    });

    if (harness.dialect === 'postgres') {
      it('a relay waiting on the empty outbox is woken by the commit (pg_notify runs in the adapter\u2019s transaction)', async () => {
        const listening = new PgOutboxStore({ pool: pgPool!, schema: database().name });
        try {
          // The first wait returns once its LISTEN connection is up (what was committed before went unannounced).
          await listening.waitForWork?.({ timeoutMs: 60_000 });
          const woken = listening.waitForWork?.({ timeoutMs: 60_000 });
          // Armed: from now on every enqueue runs pg_notify, and the waiting relay listens for it.
          await expect
            .poll(async () => (await database().query<{ armed: boolean }>('SELECT armed FROM outbox_wakeup'))[0]?.armed, {
              timeout: 20_000,
            })
            .toBe(true);
          const started = Date.now();
          const added = event('enqueue-wakes');
          await harness.transaction((tx) => outbox.enqueue(harness.executor(tx), added));
          committed.push(added);
          await woken;
          expect(Date.now() - started).toBeLessThan(30_000);
          expect(await new Relay({ store: outbox, publisher: new NatsPublisher({ connection: nc, subjectPrefix }) }).drain()).toMatchObject(
            {
              published: 1,
            },
          );
        } finally {
          await listening.close();
        }
      });
    }

    /** A durable `name` on the stream and a Consumer on it, its handler set by `register`, run until `done()`. */
    const consumeUntil = async (name: string, register: (consumer: Consumer<Tx>) => void, done: () => boolean): Promise<void> => {
      await ensureConsumer(nc, { stream, name, maxDeliver: 3, ackWaitMs: 5_000 });
      const subscriber = await NatsSubscriber.create({ connection: nc, stream, consumer: name, deadLetterPrefix: `${subjectPrefix}_dlq` });
      const consumer = new Consumer({ subscriber, inbox, fetchExpiresMs: 200, inboxRetentionMs: 7 * 86_400_000 });
      register(consumer);
      try {
        await waitUntil(`consumer ${name} handled every published event`, async () => {
          await consumer.runOnce();
          return done();
        });
      } finally {
        await consumer.stop({ timeoutMs: 5_000 });
        await subscriber.close();
      }
    };

    it("the consumer applies each published event once, its handler writing through the library's transaction", async () => {
      await ensureDeadLetterStream(nc, { name: `${stream}_DLQ`, subjectPrefix: `${subjectPrefix}_dlq` });
      const handled: string[] = [];
      await consumeUntil(
        'adapters',
        (consumer) =>
          consumer.on(ItemAdded, async (added, tx) => {
            await harness.insertItem(tx, `consumed-${added.data.key}`);
            handled.push(added.id);
          }),
        () => handled.length >= committed.length,
      );
      expect(handled).toEqual(committed.map((e) => e.id));
      expect(await database().items()).toEqual(expect.arrayContaining(committed.map((e) => `consumed-${e.data.key}`)));
      for (const e of committed) expect(await inbox.isRecorded?.('adapters', e.id)).toBe(true);
    });

    it("a batch handler (onBatch) gets the fetch's events in one call, writing through the library's transaction", async () => {
      const calls: string[][] = [];
      await consumeUntil(
        'adapters-batch',
        (consumer) =>
          consumer.onBatch(ItemAdded, async (events, tx) => {
            for (const added of events) await harness.insertItem(tx, `batched-${added.data.key}`);
            calls.push(events.map((added) => added.id));
          }),
        () => calls.flat().length >= committed.length,
      );
      expect(committed.length).toBeGreaterThan(1);
      expect(calls).toEqual([committed.map((e) => e.id)]);
      expect(await database().items()).toEqual(expect.arrayContaining(committed.map((e) => `batched-${e.data.key}`)));
      for (const e of committed) expect(await inbox.isRecorded?.('adapters-batch', e.id)).toBe(true);
    });
  });
}
