import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { OutboxRecord } from '../contracts/outbox-store.js';
import { defineEvent } from '../event/define-event.js';
import { ManualClock } from '../testing/manual-clock.js';
import { MemoryBus } from '../testing/memory-bus.js';
import { MemoryInboxStore } from '../testing/memory-inbox-store.js';
import type { MemoryTransaction } from '../testing/memory-outbox-store.js';
import { Consumer } from './consumer.js';
import { partsBySubject } from './consumer-inbox.js';
import type { Decoded } from './subject-lanes.js';

// `batchTransactions`: one fetch divided by subject into transactions run at once. The fault suite's
// O4 runs it against PostgreSQL and MariaDB under SIGKILLs; here, what the division promises.

const PriceChanged = defineEvent('catalog.product.price-changed', {
  schema: z.object({ productId: z.string(), newPrice: z.number().positive() }),
  source: 'catalog',
});

function record(subject: string, sequence: number): OutboxRecord {
  const event = PriceChanged.create({ productId: subject, newPrice: sequence }, { subject });
  return { ...event, payload: JSON.stringify(event.data), attempts: 0, sequence };
}

/** Every subject's events 1..perSubject, interleaved across subjects as a relay publishes them. */
function interleaved(subjects: number, perSubject: number): OutboxRecord[] {
  const records: OutboxRecord[] = [];
  for (let sequence = 1; sequence <= perSubject; sequence++) {
    for (let s = 0; s < subjects; s++) records.push(record(`p${s}`, sequence));
  }
  return records;
}

describe('Consumer batchTransactions', () => {
  it('runs the parts of one fetch in transactions at once, each subject whole and in order in one of them', async () => {
    const bus = new MemoryBus();
    const inbox = new MemoryInboxStore();
    await bus.publisher().publish(interleaved(8, 5));
    const applied: string[] = [];
    /** Which transaction (its first event's subject) handled each subject. */
    const transactionOf = new Map<string, Set<MemoryTransaction>>();
    let open = 0;
    let mostOpen = 0;
    const consumer = new Consumer<MemoryTransaction>({
      subscriber: bus.subscriber({ name: 'basket' }),
      inbox,
      fetchSize: 40,
      fetchExpiresMs: 10,
      batchTransactions: 4,
    }).on(PriceChanged, async (event, tx) => {
      const seen = transactionOf.get(event.subject) ?? new Set();
      seen.add(tx);
      transactionOf.set(event.subject, seen);
      open++;
      mostOpen = Math.max(mostOpen, open);
      // A round trip: lets the other parts' handlers run meanwhile.
      await new Promise((resolve) => setImmediate(resolve));
      open--;
      tx.onCommit(() => applied.push(`${event.subject}:${event.data.newPrice}`));
    });
    expect(await consumer.runOnce()).toBe(40);
    expect(mostOpen).toBe(4);
    expect([...transactionOf.values()].every((set) => set.size === 1)).toBe(true);
    expect(new Set([...transactionOf.values()].map((set) => [...set][0])).size).toBe(4);
    for (let s = 0; s < 8; s++) {
      expect(applied.filter((entry) => entry.startsWith(`p${s}:`))).toEqual([1, 2, 3, 4, 5].map((n) => `p${s}:${n}`));
    }
    expect(applied).toHaveLength(40);
    expect((await inbox.positions('basket')).every(({ position }) => position === 5)).toBe(true);
  });

  it('holds back only the failing subject: the other parts commit, and the subject resumes in order', async () => {
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    const inbox = new MemoryInboxStore();
    await bus.publisher().publish(interleaved(4, 3));
    const applied: string[] = [];
    let failOnce = true;
    const consumer = new Consumer<MemoryTransaction>({
      subscriber: bus.subscriber({ name: 'basket' }),
      inbox,
      fetchExpiresMs: 10,
      batchTransactions: 2,
      backoff: { initialMs: 20, maxMs: 20, jitter: 0 },
      clock,
    }).on(PriceChanged, async (event, tx) => {
      if (event.subject === 'p1' && event.data.newPrice === 2 && failOnce) {
        failOnce = false;
        throw new Error('transient failure');
      }
      tx.onCommit(() => applied.push(`${event.subject}:${event.data.newPrice}`));
    });
    await consumer.runOnce();
    expect(applied.filter((entry) => entry.startsWith('p1:'))).toEqual(['p1:1']);
    expect(applied.filter((entry) => !entry.startsWith('p1:')).sort()).toEqual(
      ['p0:1', 'p0:2', 'p0:3', 'p2:1', 'p2:2', 'p2:3', 'p3:1', 'p3:2', 'p3:3'].sort(),
    );
    expect(consumer.status().held).toBe(1);
    await clock.advance(20);
    await consumer.runOnce();
    expect(applied.filter((entry) => entry.startsWith('p1:'))).toEqual(['p1:1', 'p1:2', 'p1:3']);
    expect(consumer.status().held).toBe(0);
  });

  it('refuses a count that is not a whole number from 1 to 64, and any count in message mode', () => {
    const bus = new MemoryBus();
    const make = (options: { batchTransactions?: number; mode?: 'batch' | 'message' }) => () =>
      new Consumer({ subscriber: bus.subscriber({ name: 'basket' }), inbox: new MemoryInboxStore(), ...options });
    expect(make({ batchTransactions: 0 })).toThrow(/batchTransactions/);
    expect(make({ batchTransactions: 2.5 })).toThrow(/batchTransactions/);
    expect(make({ batchTransactions: 65 })).toThrow(/batchTransactions/);
    expect(make({ batchTransactions: 2, mode: 'message' })).toThrow(/batchTransactions is for mode 'batch'/);
    expect(make({ batchTransactions: 64 })).not.toThrow();
  });
});

describe('partsBySubject', () => {
  const items = (subjects: string[]) => subjects.map((subject) => ({ event: { subject } }) as unknown as Decoded);

  it('keeps each subject in one part, each part in fetch order, the parts balanced by message count', () => {
    // a (3 messages) first, then b (2), then c, d and e (1 each) each on the smallest part so far.
    const parts = partsBySubject(items(['a', 'b', 'a', 'c', 'a', 'd', 'b', 'e']), 3);
    expect(parts).toEqual([
      [0, 2, 4],
      [1, 6, 7],
      [3, 5],
    ]);
  });

  it('makes no more parts than subjects, and no empty part', () => {
    expect(partsBySubject(items(['a', 'a', 'b']), 8)).toEqual([[0, 1], [2]]);
    expect(partsBySubject(items(['a', 'a']), 4)).toEqual([[0, 1]]);
    expect(partsBySubject(items([]), 4)).toEqual([]);
  });
});
