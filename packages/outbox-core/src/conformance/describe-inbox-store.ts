import { afterAll, describe, expect, it } from 'vitest';
import type { InboxStore } from '../contracts/inbox-store.js';
import { BatchRolledBackError, SchemaVersionError, StoreError } from '../errors.js';
import { newEventId } from '../event/event.js';
import { describeInboxOrder } from './describe-inbox-order.js';

/** What a driver provides to run `describeInboxStore` against its real database. */
export interface InboxStoreHarness<Tx> {
  /** A migrated store on a fresh table; called once per test. */
  createStore(): Promise<InboxStore<Tx>>;
  /** A business write inside the handler's transaction, e.g. INSERT INTO effects(message_id) VALUES (...). */
  writeEffect(tx: Tx, messageId: string): Promise<void>;
  /** How many effects were committed for messageId (or in all, without it). */
  countEffects(messageId?: string): Promise<number>;
  /** Makes rows older: sets every inbox row's and gap row's recorded time back by ms (for the cleanup tests). */
  ageRows(ms: number): Promise<void>;
  /**
   * How many transactions are waiting for a lock on the current store's position rows, e.g. from
   * `pg_stat_activity` or `information_schema.innodb_trx`. A harness of a store with `ordering`
   * provides it, and the subject order tests run.
   */
  lockWaits?(): Promise<number>;
  /** A store on a table that was never migrated (for the error contract; drivers with tables provide it). */
  createUnmigratedStore?(): Promise<InboxStore<Tx>>;
  /** A store on a database nothing answers at, e.g. a closed port (for the error contract). */
  createUnreachableStore?(): Promise<InboxStore<Tx>>;
  /** Drops what the harness created and closes its connections; called once, after the suite. */
  dispose(): Promise<void>;
}

/** The `InboxStore` contract as tests: every driver runs it against its real database. */
export function describeInboxStore<Tx>(name: string, makeHarness: () => InboxStoreHarness<Tx>): void {
  describe(`${name} (InboxStore conformance)`, () => {
    const harness = makeHarness();
    afterAll(() => harness.dispose());

    // The error contract: the same input gets the same error type and code on every driver.
    const createUnmigratedStore = harness.createUnmigratedStore?.bind(harness);
    if (createUnmigratedStore) {
      it('reports a missing table as SchemaVersionError (code SCHEMA_VERSION) from process, processBatch and assertSchema', async () => {
        const store = await createUnmigratedStore();
        let ran = false;
        const handler = async () => {
          ran = true;
        };
        const attempts = [
          () => store.process('c', newEventId(), handler),
          () => store.processBatch('c', [{ messageId: newEventId() }], handler),
          ...(store.assertSchema ? [() => (store.assertSchema as () => Promise<void>).call(store)] : []),
        ];
        for (const attempt of attempts) {
          const error = await attempt().catch((caught: unknown) => caught);
          expect(error).toBeInstanceOf(SchemaVersionError);
          expect(error).toMatchObject({ code: 'SCHEMA_VERSION', found: null });
        }
        expect(ran).toBe(false);
      });
    }

    const createUnreachableStore = harness.createUnreachableStore?.bind(harness);
    if (createUnreachableStore) {
      it('reports an unreachable database as a retryable, infrastructure StoreError CONNECTION_LOST, running no handler', async () => {
        const store = await createUnreachableStore();
        let ran = false;
        const handler = async () => {
          ran = true;
        };
        const error = await store.process('c', newEventId(), handler).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(StoreError);
        expect(error).toMatchObject({ code: 'CONNECTION_LOST', retryable: true, infrastructure: true });
        expect(ran).toBe(false);
      });
    }

    it('applies a message once and skips its redelivery without running the handler', async () => {
      const inbox = await harness.createStore();
      const id = newEventId();
      let runs = 0;
      const handle = (tx: Tx) => {
        runs++;
        return harness.writeEffect(tx, id);
      };
      expect(await inbox.process('basket', id, handle)).toEqual({ status: 'applied', value: undefined });
      expect(await inbox.process('basket', id, handle)).toEqual({ status: 'duplicate' });
      expect(runs).toBe(1);
      expect(await harness.countEffects(id)).toBe(1);
    });

    it('isRecorded tells whether a message was applied, per consumer, and not before its transaction commits', async () => {
      const inbox = await harness.createStore();
      expect(typeof inbox.isRecorded).toBe('function');
      const isRecorded = (consumer: string, id: string) =>
        (inbox.isRecorded as NonNullable<typeof inbox.isRecorded>).call(inbox, consumer, id);
      const id = newEventId();
      const failed = newEventId();
      let duringTransaction: boolean | undefined;
      await inbox.process('basket', id, async (tx) => {
        duringTransaction = await isRecorded('basket', id);
        await harness.writeEffect(tx, id);
      });
      await inbox
        .process('basket', failed, async () => {
          throw new Error('handler bug');
        })
        .catch(() => undefined);
      expect(duringTransaction).toBe(false);
      expect(await isRecorded('basket', id)).toBe(true);
      expect(await isRecorded('ordering', id)).toBe(false);
      expect(await isRecorded('basket', failed)).toBe(false);
    });

    it('keeps one inbox per consumer', async () => {
      const inbox = await harness.createStore();
      const id = newEventId();
      await inbox.process('basket', id, (tx) => harness.writeEffect(tx, id));
      expect((await inbox.process('ordering', id, (tx) => harness.writeEffect(tx, id))).status).toBe('applied');
      expect(await harness.countEffects(id)).toBe(2);
    });

    it('rolls back the handler and the inbox row together when the handler throws', async () => {
      const inbox = await harness.createStore();
      const id = newEventId();
      await expect(
        inbox.process('basket', id, async (tx) => {
          await harness.writeEffect(tx, id);
          throw new Error('handler failed');
        }),
      ).rejects.toThrow('handler failed');
      expect(await harness.countEffects(id)).toBe(0);
      expect((await inbox.process('basket', id, (tx) => harness.writeEffect(tx, id))).status).toBe('applied');
      expect(await harness.countEffects(id)).toBe(1);
    });

    it('applies a message once when it is processed concurrently', async () => {
      const inbox = await harness.createStore();
      const id = newEventId();
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, () =>
          inbox.process('basket', id, (tx) => harness.writeEffect(tx, id)).catch((error: unknown) => ({ status: 'failed', error })),
        ),
      );
      expect(outcomes.filter((outcome) => outcome.status === 'applied')).toHaveLength(1);
      expect(await harness.countEffects(id)).toBe(1);
    });

    it('commits a batch with a savepoint per message: a failing one is rolled back alone', async () => {
      const inbox = await harness.createStore();
      const [a, b, c, seen] = [newEventId(), newEventId(), newEventId(), newEventId()];
      await inbox.process('basket', seen, (tx) => harness.writeEffect(tx, seen));
      const items = [a, b, c, seen, a].map((messageId) => ({ messageId }));
      const outcomes = await inbox.processBatch('basket', items, async (tx, item) => {
        await harness.writeEffect(tx, item.messageId);
        if (item.messageId === b) throw new Error('bad line');
      });
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['applied', 'failed', 'applied', 'duplicate', 'duplicate']);
      expect(await harness.countEffects(a)).toBe(1);
      expect(await harness.countEffects(b)).toBe(0);
      expect(await harness.countEffects(c)).toBe(1);
      expect(await harness.countEffects(seen)).toBe(1);
      expect((await inbox.process('basket', b, (tx) => harness.writeEffect(tx, b))).status).toBe('applied');
    });

    it('forgets a failed message of a batch, so that its redelivery applies it once', async () => {
      const inbox = await harness.createStore();
      const [a, b] = [newEventId(), newEventId()];
      const statuses = (outcomes: readonly { status: string }[]) => outcomes.map((outcome) => outcome.status);
      const first = await inbox.processBatch('basket', [{ messageId: a }, { messageId: b }], async (tx, item) => {
        await harness.writeEffect(tx, item.messageId);
        if (item.messageId === a) throw new Error('bad line');
      });
      expect(statuses(first)).toEqual(['failed', 'applied']);
      expect([await harness.countEffects(a), await harness.countEffects(b)]).toEqual([0, 1]);
      const again = await inbox.processBatch('basket', [{ messageId: a }, { messageId: b }], (tx, item) =>
        harness.writeEffect(tx, item.messageId),
      );
      expect(statuses(again)).toEqual(['applied', 'duplicate']);
      expect([await harness.countEffects(a), await harness.countEffects(b)]).toEqual([1, 1]);
    });

    it('without savepoints, rolls a batch back whole when an item throws, naming the item', async () => {
      const inbox = await harness.createStore();
      const [a, b, c] = [newEventId(), newEventId(), newEventId()];
      const items = [a, b, c].map((messageId) => ({ messageId }));
      const error = await inbox
        .processBatch(
          'basket',
          items,
          async (tx, item) => {
            await harness.writeEffect(tx, item.messageId);
            if (item.messageId === b) throw new Error('bad line');
          },
          { savepoints: false },
        )
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(BatchRolledBackError);
      expect((error as BatchRolledBackError).index).toBe(1);
      expect(((error as BatchRolledBackError).cause as Error).message).toBe('bad line');
      expect([await harness.countEffects(a), await harness.countEffects(b), await harness.countEffects(c)]).toEqual([0, 0, 0]);
      const again = await inbox.processBatch('basket', items, (tx, item) => harness.writeEffect(tx, item.messageId), {
        savepoints: false,
      });
      expect(again.map((outcome) => outcome.status)).toEqual(['applied', 'applied', 'applied']);
      expect([await harness.countEffects(a), await harness.countEffects(b), await harness.countEffects(c)]).toEqual([1, 1, 1]);
    });

    it('runs finish after the items in their transaction: its writes commit with them; a throwing finish rolls the batch back', async () => {
      const inbox = await harness.createStore();
      expect(inbox.finishesBatches).toBe(true);
      const [a, b] = [newEventId(), newEventId()];
      const seen: string[] = [];
      const outcomes = await inbox.processBatch(
        'basket',
        [a, b].map((messageId) => ({ messageId })),
        async (_tx, item) => {
          seen.push(item.messageId);
        },
        {
          savepoints: false,
          finish: async (tx) => {
            seen.push('finish');
            for (const id of [a, b]) await harness.writeEffect(tx, id);
          },
        },
      );
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['applied', 'applied']);
      expect(seen).toEqual([a, b, 'finish']);
      expect([await harness.countEffects(a), await harness.countEffects(b)]).toEqual([1, 1]);
      for (const savepoints of [false, true]) {
        const [c, d] = [newEventId(), newEventId()];
        const items = [c, d].map((messageId) => ({ messageId }));
        const error = await inbox
          .processBatch('basket', items, async () => {}, {
            savepoints,
            finish: async (tx) => {
              await harness.writeEffect(tx, c);
              throw new Error('bad batch');
            },
          })
          .catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(BatchRolledBackError);
        expect((error as BatchRolledBackError).index).toBe(1);
        expect(((error as BatchRolledBackError).cause as Error).message).toBe('bad batch');
        expect(await harness.countEffects(c)).toBe(0);
        // Nothing was recorded: both run again.
        const again = await inbox.processBatch('basket', items, (tx, item) => harness.writeEffect(tx, item.messageId));
        expect(again.map((outcome) => outcome.status)).toEqual(['applied', 'applied']);
      }
    });

    it('removes expired rows in bounded batches and keeps recent ones', async () => {
      const inbox = await harness.createStore();
      const old = Array.from({ length: 25 }, () => newEventId());
      for (const id of old) await inbox.process('basket', id, async () => {});
      await harness.ageRows(3_600_000);
      const recent = newEventId();
      await inbox.process('basket', recent, async () => {});
      expect(await inbox.cleanup({ olderThanMs: 60_000, batchSize: 10, maxBatches: 2 })).toBe(20);
      expect(await inbox.cleanup({ olderThanMs: 60_000, batchSize: 10, maxBatches: 2 })).toBe(5);
      expect(await inbox.cleanup({ olderThanMs: 60_000 })).toBe(0);
      expect((await inbox.process('basket', recent, async () => {})).status).toBe('duplicate');
      expect((await inbox.process('basket', old[0]!, async () => {})).status).toBe('applied');
    });

    const lockWaits = harness.lockWaits?.bind(harness);
    if (lockWaits) describeInboxOrder({ ...harness, lockWaits });
  });
}
