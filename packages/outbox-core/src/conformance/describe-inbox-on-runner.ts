import { describe, expect, it } from 'vitest';
import type { InboxStore } from '../contracts/inbox-store.js';
import { BatchRolledBackError } from '../errors.js';

/** What a driver provides to run `describeInboxOnRunner`: an inbox built on a `TransactionRunner` (no pool). */
export interface InboxOnRunnerHarness<Tx> {
  /** The migrated inbox on the runner; called once per test. */
  inbox(): InboxStore<Tx>;
  /** True when `tx` is the library's own transaction object the runner hands out (not a raw client). */
  isLibraryTransaction(tx: Tx): boolean;
  /** A business write through `tx`, e.g. INSERT INTO effects(id) VALUES (...). */
  write(tx: Tx, id: string): Promise<unknown>;
  /** Makes the item fail inside its transaction: SQL that aborts it where the dialect does, or a throw. */
  fail(tx: Tx): Promise<unknown>;
  /** How many effects with `id` were committed. */
  written(id: string): Promise<number>;
  /** The inbox keeps subject positions (`InboxStore.ordering`): its order is checked through the runner too. */
  readonly ordering?: boolean;
}

/**
 * The inbox contract on a `TransactionRunner` (an ORM's transactions): the handler receives the
 * library's transaction, its writes commit and roll back with the inbox row, batches keep their
 * savepoints. Every driver runs it with a runner shaped as an adapter writes one.
 */
export function describeInboxOnRunner<Tx>(name: string, harness: InboxOnRunnerHarness<Tx>): void {
  describe(`${name} (InboxStore on a TransactionRunner)`, () => {
    it("hands the handler the library's transaction; its writes and the inbox row commit together, once", async () => {
      const inbox = harness.inbox();
      const seen: Tx[] = [];
      const write = (tx: Tx, id: string) => {
        seen.push(tx);
        return harness.write(tx, id);
      };
      expect(await inbox.process('basket', 'm1', async (tx) => write(tx, 'm1').then(() => 'done'))).toEqual({
        status: 'applied',
        value: 'done',
      });
      expect(seen.map((tx) => harness.isLibraryTransaction(tx))).toEqual([true]);
      expect(await harness.written('m1')).toBe(1);
      expect(await inbox.isRecorded?.('basket', 'm1')).toBe(true);
      expect(await inbox.process('basket', 'm1', async (tx) => write(tx, 'm1-again'))).toEqual({ status: 'duplicate' });
      expect(await harness.written('m1-again')).toBe(0);
    });

    it("rolls the handler's writes and the inbox row back together, rethrowing the handler's own error", async () => {
      const inbox = harness.inbox();
      const thrown = new Error('handler bug');
      const error = await inbox
        .process('basket', 'm2', async (tx) => {
          await harness.write(tx, 'm2');
          throw thrown;
        })
        .catch((caught: unknown) => caught);
      expect(error).toBe(thrown);
      expect(await harness.written('m2')).toBe(0);
      expect(await inbox.isRecorded?.('basket', 'm2')).toBe(false);
    });

    it('rolls back only the failing item of a batch to its savepoint; a redelivered id in the batch is a duplicate', async () => {
      const inbox = harness.inbox();
      const outcomes = await inbox.processBatch(
        'basket',
        [{ messageId: 'b1' }, { messageId: 'b2' }, { messageId: 'b3' }, { messageId: 'b1' }],
        async (tx, item) => {
          await harness.write(tx, item.messageId);
          if (item.messageId === 'b2') await harness.fail(tx);
        },
      );
      expect(outcomes.map((o) => o.status)).toEqual(['applied', 'failed', 'applied', 'duplicate']);
      expect([await harness.written('b1'), await harness.written('b2'), await harness.written('b3')]).toEqual([1, 0, 1]);
      expect(await inbox.isRecorded?.('basket', 'b2')).toBe(false);
    });

    it('rolls the whole batch back without savepoints, with BatchRolledBackError naming the item', async () => {
      const inbox = harness.inbox();
      const error = await inbox
        .processBatch(
          'basket',
          [{ messageId: 'c1' }, { messageId: 'c2' }],
          async (tx, item) => {
            await harness.write(tx, item.messageId);
            if (item.messageId === 'c2') throw new Error('second fails');
          },
          { savepoints: false },
        )
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(BatchRolledBackError);
      expect(error).toMatchObject({ index: 1 });
      expect([await harness.written('c1'), await harness.written('c2')]).toEqual([0, 0]);
      expect(await inbox.isRecorded?.('basket', 'c1')).toBe(false);
    });

    if (harness.ordering) {
      it('keeps subject order through the library transactions: positions, gaps and the listing without a pool', async () => {
        const inbox = harness.inbox();
        const order = (sequence: number) => ({ order: { subject: 'runner-1', sequence } });
        const positions = inbox.positions?.bind(inbox);
        const recordGap = inbox.recordGap?.bind(inbox);
        expect(inbox.ordering).toBe(true);
        expect(await inbox.process('runner', 'r1', (tx) => harness.write(tx, 'r1'), order(1))).toMatchObject({ status: 'applied' });
        expect(await inbox.process('runner', 'r3', async () => {}, order(3))).toEqual({ status: 'waiting', position: 1 });
        expect(await recordGap?.('runner', { subject: 'runner-1', sequence: 2, reason: 'dead-letter' })).toBe(2);
        const outcomes = await inbox.processBatch(
          'runner',
          [
            { messageId: 'r3', ...order(3) },
            { messageId: 'r4', ...order(4) },
          ],
          async (tx, item) => {
            await harness.write(tx, item.messageId);
          },
        );
        expect(outcomes.map((outcome) => outcome.status)).toEqual(['applied', 'applied']);
        expect(await positions?.('runner')).toMatchObject([{ subject: 'runner-1', position: 4, gapsAhead: [] }]);
        expect([await harness.written('r1'), await harness.written('r3'), await harness.written('r4')]).toEqual([1, 1, 1]);
      });
    }

    it('cleans up through the runner when it has no pool', async () => {
      const inbox = harness.inbox();
      expect(await inbox.cleanup({ olderThanMs: 0 })).toBeGreaterThan(0);
      expect(await inbox.isRecorded?.('basket', 'm1')).toBe(false);
    });
  });
}
