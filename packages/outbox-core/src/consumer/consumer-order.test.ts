import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { InboxStore } from '../contracts/inbox-store.js';
import type { OutboxRecord } from '../contracts/outbox-store.js';
import { defineEvent } from '../event/define-event.js';
import { ManualClock } from '../testing/manual-clock.js';
import { MemoryBus } from '../testing/memory-bus.js';
import { MemoryInboxStore } from '../testing/memory-inbox-store.js';
import type { MemoryTransaction } from '../testing/memory-outbox-store.js';
import { Consumer } from './consumer.js';
import type { ConsumerEvent } from './consumer-events.js';
import type { ConsumerOptions } from './consumer-options.js';

// Strict subject order (docs/design/ordering.md, sections 3 and 4) on the memory bus and inbox: the
// bus delivers in publish order, so publishing a subject's events out of sequence order stands for
// a redelivery that overtook, and two subscribers of one name for two instances on one durable.

const PriceChanged = defineEvent('catalog.product.price-changed', {
  schema: z.object({ productId: z.string(), newPrice: z.number().positive() }),
  source: 'catalog',
});

function record(subject: string, sequence: number | undefined, price = sequence ?? 1): OutboxRecord {
  const event = PriceChanged.create({ productId: subject, newPrice: price }, { subject });
  return { ...event, payload: JSON.stringify(event.data), attempts: 0, ...(sequence === undefined ? {} : { sequence }) };
}

/** Applied events as `subject:price`, in commit order. */
function consumer(
  bus: MemoryBus,
  inbox: InboxStore<MemoryTransaction>,
  applied: string[],
  options: Partial<ConsumerOptions<MemoryTransaction>> = {},
) {
  return new Consumer<MemoryTransaction>({ subscriber: bus.subscriber({ name: 'basket' }), inbox, fetchExpiresMs: 10, ...options }).on(
    PriceChanged,
    async (event, tx) => tx.onCommit(() => applied.push(`${event.subject}:${event.data.newPrice}`)),
  );
}

describe('Consumer, strict subject order', () => {
  for (const mode of ['batch', 'message'] as const) {
    it(`applies a subject's events in sequence order when they arrive out of it (${mode} mode)`, async () => {
      const bus = new MemoryBus();
      const inbox = new MemoryInboxStore();
      await bus.publisher().publish([record('a', 3), record('b', 2), record('a', 1), record('b', 1), record('a', 2)]);
      const applied: string[] = [];
      await consumer(bus, inbox, applied, { mode }).runOnce();
      expect(applied.filter((entry) => entry.startsWith('a:'))).toEqual(['a:1', 'a:2', 'a:3']);
      expect(applied.filter((entry) => entry.startsWith('b:'))).toEqual(['b:1', 'b:2']);
      expect((await inbox.positions('basket')).map(({ subject, position }) => [subject, position]).sort()).toEqual([
        ['a', 3],
        ['b', 2],
      ]);
    });
  }

  it('keeps a later event waiting in hand, without a failed delivery, until its predecessor arrives', async () => {
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    const inbox = new MemoryInboxStore();
    const events: ConsumerEvent[] = [];
    const applied: string[] = [];
    const instance = consumer(bus, inbox, applied, { clock, onEvent: (event) => events.push(event) });
    await bus.publisher().publish([record('a', 2)]);
    await instance.runOnce();
    expect(applied).toEqual([]);
    expect(instance.status().waiting).toEqual([{ subject: 'a', waitingFor: 1, since: clock.now(), held: 1 }]);
    expect(instance.status().waitingSubjects).toBe(1);
    expect(events.filter((event) => event.type === 'subject-waiting')).toEqual([
      { type: 'subject-waiting', subject: 'a', waitingFor: 1, position: 0 },
    ]);
    expect(events.some((event) => event.type === 'retry' || event.type === 'dead')).toBe(false);

    await clock.advance(40);
    await bus.publisher().publish([record('a', 1)]);
    await instance.runOnce();
    expect(applied).toEqual(['a:1', 'a:2']);
    expect(instance.status().waiting).toEqual([]);
    expect(events.filter((event) => event.type === 'subject-resumed')).toEqual([{ type: 'subject-resumed', subject: 'a', waitedMs: 40 }]);
    // The waiting message was acked once applied, not dead-lettered nor redelivered.
    expect(bus.deadLetters).toEqual([]);
    expect(await instance.runOnce()).toBe(0);
  });

  it('lets two instances on one inbox apply each event once, in order, whatever each receives first', async () => {
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    const inbox = new MemoryInboxStore();
    const subjects = ['a', 'b', 'c', 'd'];
    const records: OutboxRecord[] = [];
    // Each subject's events published newest first: every instance receives them out of order.
    for (let sequence = 6; sequence >= 1; sequence--) for (const subject of subjects) records.push(record(subject, sequence));
    await bus.publisher().publish(records);
    const applied: string[] = [];
    const first = consumer(bus, inbox, applied, { clock, fetchSize: 5 });
    const second = consumer(bus, inbox, applied, { clock, fetchSize: 7, mode: 'message' });
    for (let round = 0; round < 20 && applied.length < records.length; round++) {
      await Promise.all([first.runOnce(), second.runOnce()]);
      await clock.advance(5_000);
    }
    for (const subject of subjects) {
      expect(applied.filter((entry) => entry.startsWith(`${subject}:`))).toEqual([1, 2, 3, 4, 5, 6].map((n) => `${subject}:${n}`));
    }
    expect(applied).toHaveLength(records.length);
  });

  it("records the relay's gap marker and lets the next event pass", async () => {
    const bus = new MemoryBus();
    const inbox = new MemoryInboxStore();
    const events: ConsumerEvent[] = [];
    const dead = record('a', 2);
    await bus.publisher().publish([record('a', 1), record('a', 3)]);
    await bus.publisher().publishGaps?.([dead], 'outbox-dead-letter');
    const applied: string[] = [];
    await consumer(bus, inbox, applied, { onEvent: (event) => events.push(event) }).runOnce();
    expect(applied).toEqual(['a:1', 'a:3']);
    expect(events.filter((event) => event.type === 'gap-recorded')).toEqual([
      { type: 'gap-recorded', subject: 'a', sequence: 2, reason: 'outbox-dead-letter' },
    ]);
    expect(await inbox.positions('basket')).toMatchObject([{ subject: 'a', position: 3, gapsAhead: [] }]);
  });

  it('records a gap for an event it dead-letters, so its subject goes on', async () => {
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    const inbox = new MemoryInboxStore();
    const events: ConsumerEvent[] = [];
    const poison = record('a', 1, 13);
    await bus.publisher().publish([poison, record('a', 2)]);
    const applied: string[] = [];
    const instance = new Consumer<MemoryTransaction>({
      subscriber: bus.subscriber({ name: 'basket', maxDeliver: 3 }),
      inbox,
      fetchExpiresMs: 10,
      backoff: { initialMs: 10, maxMs: 10, jitter: 0 },
      clock,
      onEvent: (event) => events.push(event),
    }).on(PriceChanged, async (event, tx) => {
      if (event.data.newPrice === 13) throw new Error('the handler cannot take 13');
      tx.onCommit(() => applied.push(`${event.subject}:${event.data.newPrice}`));
    });
    for (let round = 0; round < 10 && applied.length === 0; round++) {
      await instance.runOnce();
      await clock.advance(10);
    }
    expect(applied).toEqual(['a:2']);
    expect(bus.deadLetters.map((letter) => letter.message.headers['ce-id'])).toEqual([poison.id]);
    expect(events.filter((event) => event.type === 'gap-recorded')).toEqual([
      { type: 'gap-recorded', subject: 'a', sequence: 1, reason: 'dead-letter' },
    ]);
    expect(await inbox.positions('basket')).toMatchObject([{ subject: 'a', position: 2 }]);
  });

  it('records a gap for an event of a type it has no handler for, so its subject goes on', async () => {
    const bus = new MemoryBus();
    const inbox = new MemoryInboxStore();
    const events: ConsumerEvent[] = [];
    const other = { ...record('a', 1), type: 'catalog.product.renamed' };
    await bus.publisher().publish([other, record('a', 2)]);
    const applied: string[] = [];
    const instance = consumer(bus, inbox, applied, { onEvent: (event) => events.push(event) });
    await instance.runOnce();
    expect(applied).toEqual(['a:2']);
    expect(instance.skipped.unknownType).toBe(1);
    expect(events.filter((event) => event.type === 'gap-recorded')).toEqual([
      { type: 'gap-recorded', subject: 'a', sequence: 1, reason: 'no-handler' },
    ]);
  });

  it("starts a subject with no position at 1, or at the first event delivered with orderBaseline: 'first-delivered'", async () => {
    const bus = new MemoryBus();
    await bus.publisher().publish([record('a', 5), record('a', 6)]);
    const waiting: string[] = [];
    const waits = consumer(bus, new MemoryInboxStore(), waiting);
    await waits.runOnce();
    expect(waiting).toEqual([]);
    expect(waits.status().waiting).toMatchObject([{ subject: 'a', waitingFor: 1, held: 2 }]);

    const applied: string[] = [];
    await consumer(bus, new MemoryInboxStore(), applied, { orderBaseline: 'first-delivered' }).runOnce();
    expect(applied).toEqual(['a:5', 'a:6']);
  });

  it('runs events without a sequence as before, and an old duplicate of an applied one is only acked', async () => {
    const bus = new MemoryBus();
    const inbox = new MemoryInboxStore();
    const first = record('a', 1);
    await bus.publisher().publish([record('a', undefined, 7), first, record('a', 2)]);
    const applied: string[] = [];
    await consumer(bus, inbox, applied).runOnce();
    expect(applied).toEqual(['a:7', 'a:1', 'a:2']);
    // The same event under a new id (a replay from the producer's side) is below the position: not applied again.
    await bus.publisher().publish([{ ...first, id: `${first.id}-again` }]);
    await consumer(bus, inbox, applied).runOnce();
    expect(applied).toEqual(['a:7', 'a:1', 'a:2']);
  });

  it("refuses to start on an inbox without subject positions, unless order is 'none'", async () => {
    const bus = new MemoryBus();
    const memory = new MemoryInboxStore();
    const plain: InboxStore<MemoryTransaction> = {
      process: (name, id, fn, options) => memory.process(name, id, fn, options),
      processBatch: (name, items, fn, options) => memory.processBatch(name, items, fn, options),
      isRecorded: (name, id) => memory.isRecorded(name, id),
      cleanup: (options) => memory.cleanup(options),
      migrate: () => memory.migrate(),
      close: () => memory.close(),
    };
    const refused = consumer(bus, plain, []);
    await expect(refused.runOnce()).rejects.toMatchObject({ code: 'CONFIG', setting: 'order' });
    await bus.publisher().publish([record('a', 2), record('a', 1)]);
    const applied: string[] = [];
    await consumer(bus, plain, applied, { order: 'none' }).runOnce();
    expect(applied).toEqual(['a:2', 'a:1']);
  });
});
