import { describe, expect, it, vi } from 'vitest';
import type { InboxOutcome, OrderKey } from '../contracts/inbox-store.js';
import { BatchRolledBackError, OutboxUsageError } from '../errors.js';
import { newEventId } from '../event/event.js';
import type { InboxStoreHarness } from './describe-inbox-store.js';

const statuses = (outcomes: readonly InboxOutcome[]) => outcomes.map((outcome) => outcome.status);
const order = (subject: string, sequence: number, baseline?: boolean): { order: OrderKey } => ({
  order: baseline === undefined ? { subject, sequence } : { subject, sequence, baseline },
});

/**
 * Subject order (`InboxStore.ordering`): the `(consumer, subject)` position checked and moved in the
 * consumer's transaction, gaps, baselines, racing deliveries and bad order keys. Part of
 * `describeInboxStore`.
 */
export function describeInboxOrder<Tx>(harness: InboxStoreHarness<Tx> & { lockWaits(): Promise<number> }): void {
  describe('subject order', () => {
    /** A store with the helpers the tests share: an event of `subject` with `sequence` applied through it. */
    const setup = async () => {
      const inbox = await harness.createStore();
      expect(inbox.ordering).toBe(true);
      const positions = async (consumer = 'basket', subjects?: readonly string[]) =>
        Object.fromEntries(
          (await (inbox.positions as NonNullable<typeof inbox.positions>).call(inbox, consumer, subjects ? { subjects } : {})).map((p) => [
            p.subject,
            p.position,
          ]),
        );
      const recordGap = (subject: string, sequence: number, consumer = 'basket') =>
        (inbox.recordGap as NonNullable<typeof inbox.recordGap>).call(inbox, consumer, { subject, sequence, reason: 'dead-letter' });
      const deliver = (id: string, key: OrderKey) =>
        inbox.process(
          'basket',
          id,
          async (tx) => {
            await harness.writeEffect(tx, id);
          },
          { order: key },
        );
      return { inbox, positions, recordGap, deliver };
    };

    it('applies a subject in sequence order and moves its position with the handler', async () => {
      const { inbox, positions, deliver } = await setup();
      const ids = [newEventId(), newEventId(), newEventId()];
      for (const [index, id] of ids.entries()) {
        expect(await deliver(id, { subject: 'p-1', sequence: index + 1 })).toEqual({ status: 'applied', value: undefined });
      }
      expect(await positions()).toEqual({ 'p-1': 3 });
      expect(await harness.countEffects()).toBe(3);
      const [listed] = await (inbox.positions as NonNullable<typeof inbox.positions>).call(inbox, 'basket', { subjects: ['p-1'] });
      expect(listed).toMatchObject({ subject: 'p-1', position: 3, gapsAhead: [] });
      expect(listed?.updatedAt).toBeInstanceOf(Date);
      expect(await positions('ordering')).toEqual({});
    });

    it('makes a sequence at or below the position a duplicate, even after its inbox row was cleaned up', async () => {
      const { inbox, positions, deliver } = await setup();
      const [first, second] = [newEventId(), newEventId()];
      await deliver(first, { subject: 'p-1', sequence: 1 });
      await deliver(second, { subject: 'p-1', sequence: 2 });
      await harness.ageRows(3_600_000);
      expect(await inbox.cleanup({ olderThanMs: 60_000 })).toBe(2);
      expect(await inbox.isRecorded?.('basket', first)).toBe(false);
      let ran = false;
      const outcome = await inbox.process(
        'basket',
        first,
        async () => {
          ran = true;
        },
        order('p-1', 1),
      );
      expect(outcome).toEqual({ status: 'duplicate' });
      expect(ran).toBe(false);
      expect(await positions()).toEqual({ 'p-1': 2 });
    });

    it('makes an event beyond the next one wait with the position, changing nothing', async () => {
      const { inbox, positions, deliver } = await setup();
      await deliver(newEventId(), { subject: 'p-1', sequence: 1 });
      const early = newEventId();
      expect(await deliver(early, { subject: 'p-1', sequence: 3 })).toEqual({ status: 'waiting', position: 1 });
      expect(await harness.countEffects(early)).toBe(0);
      expect(await inbox.isRecorded?.('basket', early)).toBe(false);
      expect(await positions()).toEqual({ 'p-1': 1 });
      // Without a position, only sequence 1 runs.
      expect(await deliver(newEventId(), { subject: 'p-2', sequence: 2 })).toEqual({ status: 'waiting', position: 0 });
      expect((await deliver(newEventId(), { subject: 'p-2', sequence: 1 })).status).toBe('applied');
      expect((await deliver(early, { subject: 'p-1', sequence: 2 })).status).toBe('applied');
      expect(await positions()).toEqual({ 'p-1': 2, 'p-2': 1 });
    });

    it('decides the items of one subject in a batch in their order: 3 waits, 2 applies, and 3 applies on retry', async () => {
      const { inbox, positions, deliver } = await setup();
      await deliver(newEventId(), { subject: 'p-1', sequence: 1 });
      const [three, two, plain, other] = [newEventId(), newEventId(), newEventId(), newEventId()];
      const items = [
        { messageId: three, ...order('p-1', 3) },
        { messageId: plain },
        { messageId: two, ...order('p-1', 2) },
        { messageId: other, ...order('p-2', 1) },
      ];
      const outcomes = await inbox.processBatch('basket', items, (tx, item) => harness.writeEffect(tx, item.messageId));
      expect(outcomes).toEqual([
        { status: 'waiting', position: 1 },
        { status: 'applied', value: undefined },
        { status: 'applied', value: undefined },
        { status: 'applied', value: undefined },
      ]);
      expect(await harness.countEffects(three)).toBe(0);
      expect(await inbox.isRecorded?.('basket', three)).toBe(false);
      expect(await positions()).toEqual({ 'p-1': 2, 'p-2': 1 });
      const retry = await inbox.processBatch('basket', [items[0]!, items[2]!], (tx, item) => harness.writeEffect(tx, item.messageId));
      expect(statuses(retry)).toEqual(['applied', 'duplicate']);
      expect(await positions()).toEqual({ 'p-1': 3, 'p-2': 1 });
      expect([await harness.countEffects(three), await harness.countEffects(two)]).toEqual([1, 1]);
    });

    it('applies a message that comes twice in one batch once, at its second place when its first copy had to wait', async () => {
      const { inbox, positions } = await setup();
      const [two, one] = [newEventId(), newEventId()];
      const items = [
        { messageId: two, ...order('p-1', 2) },
        { messageId: one, ...order('p-1', 1) },
        { messageId: two, ...order('p-1', 2) },
      ];
      const outcomes = await inbox.processBatch('basket', items, (tx, item) => harness.writeEffect(tx, item.messageId));
      expect(outcomes).toEqual([
        { status: 'waiting', position: 0 },
        { status: 'applied', value: undefined },
        { status: 'applied', value: undefined },
      ]);
      expect([await harness.countEffects(two), await harness.countEffects(one)]).toEqual([1, 1]);
      expect(await inbox.isRecorded?.('basket', two)).toBe(true);
      expect(await positions()).toEqual({ 'p-1': 2 });
    });

    it('does not move the subject of a failing item; its successors in the batch wait', async () => {
      const { inbox, positions } = await setup();
      const [one, two, other] = [newEventId(), newEventId(), newEventId()];
      const items = [
        { messageId: one, ...order('p-1', 1) },
        { messageId: two, ...order('p-1', 2) },
        { messageId: other, ...order('p-2', 1) },
      ];
      const outcomes = await inbox.processBatch('basket', items, async (tx, item) => {
        await harness.writeEffect(tx, item.messageId);
        if (item.messageId === one) throw new Error('bad line');
      });
      expect(statuses(outcomes)).toEqual(['failed', 'waiting', 'applied']);
      expect(outcomes[1]).toEqual({ status: 'waiting', position: 0 });
      expect(await positions()).toEqual({ 'p-1': 0, 'p-2': 1 });
      expect([await harness.countEffects(one), await harness.countEffects(two)]).toEqual([0, 0]);
      expect([await inbox.isRecorded?.('basket', one), await inbox.isRecorded?.('basket', two)]).toEqual([false, false]);
      const retry = await inbox.processBatch('basket', items.slice(0, 2), (tx, item) => harness.writeEffect(tx, item.messageId));
      expect(statuses(retry)).toEqual(['applied', 'applied']);
      expect(await positions()).toEqual({ 'p-1': 2, 'p-2': 1 });
      // process: a throwing handler rolls its position back with it.
      await expect(
        inbox.process(
          'basket',
          newEventId(),
          async () => {
            throw new Error('handler bug');
          },
          order('p-1', 3),
        ),
      ).rejects.toThrow('handler bug');
      expect(await positions()).toEqual({ 'p-1': 2, 'p-2': 1 });
    });

    it('without savepoints, a failing item rolls every position of the batch back', async () => {
      const { inbox, positions } = await setup();
      const items = [
        { messageId: newEventId(), ...order('p-1', 1) },
        { messageId: newEventId(), ...order('p-2', 1) },
      ];
      const error = await inbox
        .processBatch(
          'basket',
          items,
          async (tx, item) => {
            await harness.writeEffect(tx, item.messageId);
            if (item === items[1]) throw new Error('bad line');
          },
          { savepoints: false },
        )
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(BatchRolledBackError);
      expect(await positions()).toEqual({});
      expect(await harness.countEffects()).toBe(0);
    });

    it('passes a gap recorded before the waiting event arrives', async () => {
      const { positions, recordGap, deliver } = await setup();
      await deliver(newEventId(), { subject: 'p-1', sequence: 1 });
      expect(await recordGap('p-1', 2)).toBe(2);
      expect(await recordGap('p-1', 2)).toBe(2);
      expect((await deliver(newEventId(), { subject: 'p-1', sequence: 3 })).status).toBe('applied');
      // The skipped event itself, delivered after all, is a duplicate.
      expect(await deliver(newEventId(), { subject: 'p-1', sequence: 2 })).toEqual({ status: 'duplicate' });
      expect(await positions()).toEqual({ 'p-1': 3 });
    });

    it('passes a gap recorded after the waiting event arrived, and gaps recorded ahead once they are reached', async () => {
      const { inbox, positions, recordGap, deliver } = await setup();
      await deliver(newEventId(), { subject: 'p-1', sequence: 1 });
      const three = newEventId();
      expect(await deliver(three, { subject: 'p-1', sequence: 3 })).toEqual({ status: 'waiting', position: 1 });
      expect(await recordGap('p-1', 2)).toBe(2);
      expect((await deliver(three, { subject: 'p-1', sequence: 3 })).status).toBe('applied');
      // Ahead of the position: kept until the events before it are applied, then passed over.
      expect(await recordGap('p-1', 5)).toBe(3);
      expect(await recordGap('p-1', 6)).toBe(3);
      const [ahead] = await (inbox.positions as NonNullable<typeof inbox.positions>).call(inbox, 'basket', { subjects: ['p-1'] });
      expect(ahead).toMatchObject({ position: 3, gapsAhead: [5, 6] });
      const batch = await inbox.processBatch(
        'basket',
        [
          { messageId: newEventId(), ...order('p-1', 4) },
          { messageId: newEventId(), ...order('p-1', 7) },
        ],
        (tx, item) => harness.writeEffect(tx, item.messageId),
      );
      expect(statuses(batch)).toEqual(['applied', 'applied']);
      expect(await positions()).toEqual({ 'p-1': 7 });
      // A gap on a subject with no position yet: 1 skipped, 2 runs.
      expect(await recordGap('p-2', 1)).toBe(1);
      expect((await deliver(newEventId(), { subject: 'p-2', sequence: 2 })).status).toBe('applied');
      expect(await recordGap('p-3', 1, 'ordering')).toBe(1);
      expect(await positions('ordering')).toEqual({ 'p-3': 1 });
    });

    it('takes a baseline event as the start of a subject with no position, and only then', async () => {
      const { inbox, positions, deliver } = await setup();
      expect((await deliver(newEventId(), { subject: 'p-1', sequence: 5, baseline: true })).status).toBe('applied');
      expect((await deliver(newEventId(), { subject: 'p-1', sequence: 6, baseline: true })).status).toBe('applied');
      expect(await deliver(newEventId(), { subject: 'p-1', sequence: 9, baseline: true })).toEqual({ status: 'waiting', position: 6 });
      expect(await deliver(newEventId(), { subject: 'p-1', sequence: 4, baseline: true })).toEqual({ status: 'duplicate' });
      const batch = await inbox.processBatch(
        'basket',
        [
          { messageId: newEventId(), ...order('p-2', 7, true) },
          { messageId: newEventId(), ...order('p-2', 9, true) },
          { messageId: newEventId(), ...order('p-2', 8, true) },
        ],
        (tx, item) => harness.writeEffect(tx, item.messageId),
      );
      expect(batch).toEqual([
        { status: 'applied', value: undefined },
        { status: 'waiting', position: 7 },
        { status: 'applied', value: undefined },
      ]);
      expect(await positions()).toEqual({ 'p-1': 6, 'p-2': 8 });
    });

    it('moves the position over an event applied before without an order key (its inbox row is there)', async () => {
      const { inbox, positions, deliver } = await setup();
      const id = newEventId();
      await inbox.process('basket', id, (tx) => harness.writeEffect(tx, id));
      expect(await deliver(id, { subject: 'p-1', sequence: 1 })).toEqual({ status: 'duplicate' });
      expect(await positions()).toEqual({ 'p-1': 1 });
      const later = newEventId();
      await inbox.process('basket', later, (tx) => harness.writeEffect(tx, later));
      const batch = await inbox.processBatch(
        'basket',
        [
          { messageId: later, ...order('p-1', 2) },
          { messageId: newEventId(), ...order('p-1', 3) },
        ],
        (tx, item) => harness.writeEffect(tx, item.messageId),
      );
      expect(statuses(batch)).toEqual(['duplicate', 'applied']);
      expect(await positions()).toEqual({ 'p-1': 3 });
      expect(await harness.countEffects(id)).toBe(1);
    });

    it('serialises two deliveries of one subject racing on two connections: the second waits for the lock and sees the moved position', async () => {
      const { inbox, positions } = await setup();
      const [first, second] = [newEventId(), newEventId()];
      let entered = false;
      let open = (): void => {};
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const running = inbox.process(
        'basket',
        first,
        async (tx) => {
          entered = true;
          await gate;
          await harness.writeEffect(tx, first);
        },
        order('p-1', 1),
      );
      await vi.waitUntil(() => entered, { timeout: 20_000, interval: 10 });
      const racing = inbox.process('basket', second, (tx) => harness.writeEffect(tx, second), order('p-1', 2));
      await vi.waitUntil(async () => (await harness.lockWaits()) > 0, { timeout: 20_000, interval: 20 });
      open();
      expect((await running).status).toBe('applied');
      expect((await racing).status).toBe('applied');
      expect(await positions()).toEqual({ 'p-1': 2 });
      // Two batches sharing subjects, locking them in one order: both finish.
      const batch = (sequence: number) =>
        inbox.processBatch(
          'basket',
          ['p-3', 'p-2', 'p-1'].map((subject) => ({
            messageId: newEventId(),
            ...order(subject, subject === 'p-1' ? sequence + 2 : sequence),
          })),
          (tx, item) => harness.writeEffect(tx, item.messageId),
        );
      const both = await Promise.all([batch(1), batch(2)]);
      expect(both.flat().filter((outcome) => outcome.status === 'applied').length).toBeGreaterThanOrEqual(3);
      expect(await positions()).toMatchObject({ 'p-1': expect.any(Number), 'p-2': expect.any(Number), 'p-3': expect.any(Number) });
    });

    it('applies every event once and in its subject order when concurrent consumers take shared subjects in any order', async () => {
      const { inbox, positions } = await setup();
      const workers = 4;
      const subjects = 8;
      const sequences = 15;
      // Every event, delivered again and again in random batches (redeliveries, events before their
      // predecessors) by workers racing on the same subjects, until each was applied.
      const pending = new Map<string, { messageId: string; order: OrderKey }>();
      for (let s = 0; s < subjects; s++) {
        for (let sequence = 1; sequence <= sequences; sequence++) {
          pending.set(`race-${s}:${sequence}`, { messageId: newEventId(), order: { subject: `race-${s}`, sequence } });
        }
      }
      // The order handlers ran in, per subject: with no transaction failing (errors stays empty), a
      // subject's runs are its commits, serialised by its position lock.
      const ran = new Map<string, number[]>();
      const errors: unknown[] = [];
      const deadline = Date.now() + 60_000;
      const apply = async (tx: Tx, item: { messageId: string; order: OrderKey }): Promise<void> => {
        await harness.writeEffect(tx, item.messageId);
        ran.set(item.order.subject, [...(ran.get(item.order.subject) ?? []), item.order.sequence]);
      };
      const worker = async (): Promise<void> => {
        while (pending.size > 0 && Date.now() < deadline) {
          // Distinct events, as one fetch delivers them; now and then a single one through process().
          const batch = [...pending.entries()].sort(() => Math.random() - 0.5).slice(0, Math.random() < 0.3 ? 1 : 6);
          try {
            const outcomes =
              batch.length === 1
                ? [await inbox.process('basket', batch[0]![1].messageId, (tx) => apply(tx, batch[0]![1]), batch[0]![1])]
                : await inbox.processBatch(
                    'basket',
                    batch.map(([, item]) => item),
                    apply,
                  );
            for (const [index, outcome] of outcomes.entries()) {
              if (outcome.status === 'applied' || outcome.status === 'duplicate') pending.delete(batch[index]![0]);
            }
          } catch (error) {
            errors.push(error);
          }
        }
      };
      await Promise.all(Array.from({ length: workers }, worker));
      expect(errors).toEqual([]);
      expect(pending.size).toBe(0);
      const inOrder = Array.from({ length: sequences }, (_, index) => index + 1);
      for (let s = 0; s < subjects; s++) expect(ran.get(`race-${s}`), `race-${s}`).toEqual(inOrder);
      expect(await harness.countEffects()).toBe(subjects * sequences);
      expect(Object.values(await positions())).toEqual(new Array(subjects).fill(sequences));
    });

    it('refuses a bad order key or gap with OutboxUsageError (code USAGE), changing nothing', async () => {
      const { inbox, positions, recordGap } = await setup();
      let ran = false;
      const handler = async () => {
        ran = true;
      };
      const bad: unknown[] = [
        { subject: 'p-1', sequence: 0 },
        { subject: 'p-1', sequence: -1 },
        { subject: 'p-1', sequence: 1.5 },
        { subject: 'p-1', sequence: '1' },
        { subject: 'p-1', sequence: Number.NaN },
        { subject: 'p-1', sequence: 2 ** 53 },
        { subject: '', sequence: 1 },
        { subject: 'x'.repeat(256), sequence: 1 },
        { subject: 'p-1', sequence: 1, baseline: 'yes' },
      ];
      const id = newEventId();
      for (const key of bad) {
        const attempts = [
          () => inbox.process('basket', id, handler, { order: key as OrderKey }),
          () => inbox.processBatch('basket', [{ messageId: newEventId() }, { messageId: id, order: key as OrderKey }], handler),
        ];
        for (const attempt of attempts) {
          const error = await attempt().catch((caught: unknown) => caught);
          expect(error, JSON.stringify(key)).toBeInstanceOf(OutboxUsageError);
          expect(error).toMatchObject({ code: 'USAGE' });
        }
      }
      for (const gap of [
        { subject: 'p-1', sequence: 0, reason: 'dead-letter' },
        { subject: '', sequence: 1, reason: 'dead-letter' },
        { subject: 'p-1', sequence: 1, reason: '' },
      ]) {
        const error = await (inbox.recordGap as NonNullable<typeof inbox.recordGap>)
          .call(inbox, 'basket', gap)
          .catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(OutboxUsageError);
      }
      await expect((inbox.positions as NonNullable<typeof inbox.positions>).call(inbox, 'basket', { limit: 0 })).rejects.toBeInstanceOf(
        OutboxUsageError,
      );
      expect(ran).toBe(false);
      expect(await inbox.isRecorded?.('basket', id)).toBe(false);
      expect(await harness.countEffects()).toBe(0);
      expect(await positions()).toEqual({});
      expect(await recordGap('p-1', 1)).toBe(1);
    });

    it('cleans up gap rows at or below their position after the retention; positions and gaps ahead stay', async () => {
      const { inbox, positions, recordGap, deliver } = await setup();
      await deliver(newEventId(), { subject: 'p-1', sequence: 1 });
      await recordGap('p-1', 2);
      await recordGap('p-1', 9);
      await harness.ageRows(3_600_000);
      // One inbox row and the passed gap 2; gap 9 is still ahead.
      expect(await inbox.cleanup({ olderThanMs: 60_000 })).toBe(2);
      expect(await inbox.cleanup({ olderThanMs: 60_000 })).toBe(0);
      const [kept] = await (inbox.positions as NonNullable<typeof inbox.positions>).call(inbox, 'basket', { subjects: ['p-1'] });
      expect(kept).toMatchObject({ position: 2, gapsAhead: [9] });
      expect(await deliver(newEventId(), { subject: 'p-1', sequence: 2 })).toEqual({ status: 'duplicate' });
      expect(await positions()).toEqual({ 'p-1': 2 });
    });

    it('lists the most recently moved positions of a consumer, up to the limit', async () => {
      const { inbox, deliver } = await setup();
      for (const subject of ['p-1', 'p-2', 'p-3']) await deliver(newEventId(), { subject, sequence: 1 });
      const list = (options: { subjects?: readonly string[]; limit?: number }) =>
        (inbox.positions as NonNullable<typeof inbox.positions>).call(inbox, 'basket', options);
      expect((await list({ limit: 2 })).map((p) => p.subject)).toEqual(['p-3', 'p-2']);
      expect((await list({ subjects: ['p-1', 'p-9'] })).map((p) => p.subject)).toEqual(['p-1']);
      expect(await list({ subjects: [] })).toEqual([]);
    });
  });
}
