import { afterAll, describe, expect, it, vi } from 'vitest';
import type { OutboxStore } from '../contracts/outbox-store.js';
import { EventValidationError, OutboxConfigError, OutboxUsageError, SchemaVersionError, StoreError } from '../errors.js';
import type { OutboxEvent } from '../event/event.js';
import { createEvent } from '../event/event.js';
import { refusedEvents } from './refused-events.js';
import { sampleEvent } from './sample-events.js';

/** What a driver provides to run `describeOutboxStore` against its real database. */
export interface OutboxStoreHarness<Tx> {
  /**
   * A new store on fresh, migrated tables, isolated from other tests (unique table or schema),
   * built with the given `deadBlocksSubject` (default false), `subjectSequence` (default the
   * store's, true) and `maxEventBytes` (default the store's) options.
   */
  createStore(options?: {
    leaseMsHint?: number;
    deadBlocksSubject?: boolean;
    subjectSequence?: boolean;
    maxEventBytes?: number;
  }): Promise<OutboxStore<Tx>>;
  /** Writes rows straight into the store's table, around `enqueue`'s checks (as a hand-written INSERT would). */
  writeUnchecked(store: OutboxStore<Tx>, events: readonly OutboxEvent[]): Promise<void>;
  /** Begins a transaction, runs fn with its handle, commits (rolls back and rethrows if fn throws). */
  transaction<T>(store: OutboxStore<Tx>, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Writes a business row `key` inside the transaction `tx` (a table of the harness's own). */
  writeMarker(tx: Tx, key: string): Promise<void>;
  /** The business rows committed so far. */
  countMarkers(): Promise<number>;
  /** A handle that is NOT an open transaction (the pool), for the OutboxUsageError test. */
  notInTransaction(): Tx;
  /** A store on a table that was never migrated (for the error contract; drivers with tables provide it). */
  createUnmigratedStore?(): Promise<OutboxStore<Tx>>;
  /** A store on a database nothing answers at, e.g. a closed port (for the error contract). */
  createUnreachableStore?(): Promise<OutboxStore<Tx>>;
  /**
   * The store stamps subject sequences (`OutboxRecord.sequence`, issue 14) and takes the
   * `subjectSequence` option: runs the sequence tests. Drivers that do not stamp yet leave it out.
   */
  readonly stampsSequences?: boolean;
  /**
   * True while a transaction waits for a row lock of this store's tables (a producer queued
   * behind another on a subject's sequence counter). Stores whose transactions take locks provide
   * it; without it, the suite expects a transaction's `enqueue` never to wait for another's.
   */
  waitingForLock?(store: OutboxStore<Tx>): Promise<boolean>;
  /** Drops everything createStore made and closes what the harness opened. */
  dispose(): Promise<void>;
}

/**
 * The `OutboxStore` contract as tests: every driver runs it against its real database.
 *
 * @example
 * ```ts
 * describeOutboxStore('PgOutboxStore', () => pgHarness())
 * ```
 */
export function describeOutboxStore<Tx>(name: string, makeHarness: () => OutboxStoreHarness<Tx>): void {
  describe(`${name} (OutboxStore conformance)`, () => {
    const harness = makeHarness();
    const enqueue = (store: OutboxStore<Tx>, events: Parameters<OutboxStore<Tx>['enqueue']>[1]) =>
      harness.transaction(store, (tx) => store.enqueue(tx, events));
    afterAll(() => harness.dispose());

    it('claims what was enqueued, in write order, with payload and headers intact', async () => {
      const store = await harness.createStore();
      const events = [sampleEvent('a', 1, { price: 12.5, note: 'é"\\' }), sampleEvent('b', 1), sampleEvent('c', 1)];
      await enqueue(store, events);
      const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(batch.records.map((record) => record.id)).toEqual(events.map((event) => event.id));
      const first = batch.records[0]!;
      expect(JSON.parse(first.payload)).toEqual(events[0]!.data);
      expect(first).toMatchObject({
        type: events[0]!.type,
        source: events[0]!.source,
        subject: 'a',
        headers: events[0]!.headers,
        attempts: 0,
      });
      expect(Date.parse(first.time)).toBe(Date.parse(events[0]!.time));
      expect(
        await store.complete(
          batch.token,
          batch.records.map((record) => record.id),
        ),
      ).toBe(3);
      expect((await store.claim({ batchSize: 10, leaseMs: 10_000 })).records).toEqual([]);
      expect((await store.stats()).pending).toBe(0);
    });

    it('writes nothing when the transaction rolls back', async () => {
      const store = await harness.createStore();
      await expect(
        harness.transaction(store, async (tx) => {
          await store.enqueue(tx, sampleEvent('a', 1));
          throw new Error('business rule failed');
        }),
      ).rejects.toThrow('business rule failed');
      expect((await store.stats()).pending).toBe(0);
    });

    it('rejects a handle that is not an open transaction, writing nothing', async () => {
      const store = await harness.createStore();
      await expect(store.enqueue(harness.notInTransaction(), sampleEvent('a', 1))).rejects.toBeInstanceOf(OutboxUsageError);
      expect((await store.stats()).pending).toBe(0);
    });

    // The error contract: the same input gets the same error type and code on every driver.
    it('refuses batchSize under 1 or over 10,000 with OutboxConfigError naming batchSize', async () => {
      const store = await harness.createStore();
      for (const batchSize of [0, 10_001]) {
        const error = await store.claim({ batchSize, leaseMs: 1000 }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(OutboxConfigError);
        expect(error).toMatchObject({ code: 'CONFIG', setting: 'batchSize' });
      }
    });

    const createUnmigratedStore = harness.createUnmigratedStore?.bind(harness);
    if (createUnmigratedStore) {
      it('reports a missing table as SchemaVersionError (code SCHEMA_VERSION, found null) from enqueue, claim, stats and assertSchema', async () => {
        const store = await createUnmigratedStore();
        const attempts = [
          () => harness.transaction(store, (tx) => store.enqueue(tx, sampleEvent('a', 1))),
          () => store.claim({ batchSize: 10, leaseMs: 1000 }),
          () => store.stats(),
          () => store.assertSchema(),
        ];
        for (const attempt of attempts) {
          const error = await attempt().catch((caught: unknown) => caught);
          expect(error).toBeInstanceOf(SchemaVersionError);
          expect(error).toMatchObject({ code: 'SCHEMA_VERSION', found: null });
        }
      });
    }

    const createUnreachableStore = harness.createUnreachableStore?.bind(harness);
    if (createUnreachableStore) {
      it('reports an unreachable database as a retryable, infrastructure StoreError CONNECTION_LOST', async () => {
        const store = await createUnreachableStore();
        for (const attempt of [() => store.claim({ batchSize: 10, leaseMs: 1000 }), () => store.stats()]) {
          const error = await attempt().catch((caught: unknown) => caught);
          expect(error).toBeInstanceOf(StoreError);
          expect(error).toMatchObject({ code: 'CONNECTION_LOST', retryable: true, infrastructure: true });
        }
      });
    }

    it('rejects a whole call when one event is not JSON, naming the path, writing nothing', async () => {
      const store = await harness.createStore();
      const bad = { ...sampleEvent('a', 2), data: { items: [{ price: 1 }, { price: 2n }] } };
      const error = await harness
        .transaction(store, (tx) => store.enqueue(tx, [sampleEvent('a', 1), bad]))
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      expect(error).toBeInstanceOf(EventValidationError);
      expect((error as EventValidationError).path).toBe('events[1].data.items[1].price');
      expect((await store.stats()).pending).toBe(0);
    });

    it('refuses every input the door refuses with EventValidationError naming the path; the caller catches it and its transaction commits its own write, no outbox row', async () => {
      const store = await harness.createStore();
      const cases = refusedEvents();
      const before = await harness.countMarkers();
      for (const refused of cases) {
        const caught = await harness.transaction(store, async (tx) => {
          await harness.writeMarker(tx, refused.name);
          try {
            await store.enqueue(tx, refused.event);
            return undefined;
          } catch (error) {
            return error;
          }
        });
        expect(caught, refused.name).toBeInstanceOf(EventValidationError);
        expect((caught as EventValidationError).path, refused.name).toBe(refused.path);
      }
      expect(await harness.countMarkers()).toBe(before + cases.length);
      expect((await store.stats()).pending).toBe(0);
    });

    it("refuses an event over maxEventBytes (data and headers, UTF-8 bytes), writing nothing, the caller's own write committing", async () => {
      const store = await harness.createStore({ maxEventBytes: 10_000 });
      expect(store.maxEventBytes).toBe(10_000);
      const before = await harness.countMarkers();
      // 4,000 two-byte characters: 8,000 bytes of data, under the limit counted in characters.
      const fits = sampleEvent('a', 1, { blob: 'é'.repeat(4_000) });
      const over = sampleEvent('a', 2, { blob: 'é'.repeat(5_000) });
      const caught = await harness.transaction(store, async (tx) => {
        await harness.writeMarker(tx, 'over');
        await store.enqueue(tx, fits);
        return store.enqueue(tx, [sampleEvent('b', 1), over]).then(
          () => undefined,
          (error: unknown) => error,
        );
      });
      expect(caught).toBeInstanceOf(EventValidationError);
      expect((caught as EventValidationError).path).toBe('events[1]');
      expect((caught as Error).message).toContain('10000');
      expect(await harness.countMarkers()).toBe(before + 1);
      expect((await store.stats()).pending).toBe(1);
    });

    it('stops a claim at maxBatchBytes whatever batchSize says; the first record always fits', async () => {
      const store = await harness.createStore();
      const events = Array.from({ length: 10 }, (_, n) => sampleEvent(`b${n}`, n, { blob: 'x'.repeat(3_000) }));
      await enqueue(store, events);
      const sizes: number[] = [];
      for (;;) {
        const batch = await store.claim({ batchSize: 100, leaseMs: 10_000, maxBatchBytes: 10_000 });
        if (batch.records.length === 0) break;
        sizes.push(batch.records.length);
        await store.complete(
          batch.token,
          batch.records.map((record) => record.id),
        );
      }
      // ~3,060 bytes each: leased while the bytes before are under 10,000, so 4 per claim.
      expect(sizes).toEqual([4, 4, 2]);
      await enqueue(
        store,
        events.slice(0, 2).map((event, n) => ({ ...event, id: sampleEvent('c', n).id })),
      );
      const tiny = await store.claim({ batchSize: 100, leaseMs: 10_000, maxBatchBytes: 1_024 });
      expect(tiny.records).toHaveLength(1);
    });

    it('hands back a row over maxEventBytes that is already in the table without its payload', async () => {
      const store = await harness.createStore({ maxEventBytes: 10_000 });
      const small = [sampleEvent('s1', 1), sampleEvent('s2', 2)];
      const huge = sampleEvent('huge', 1, { blob: 'x'.repeat(50_000) });
      await harness.writeUnchecked(store, [small[0]!, huge, small[1]!]);
      const batch = await store.claim({ batchSize: 10, leaseMs: 10_000, maxBatchBytes: 2_000 });
      expect(batch.records.map((record) => record.id)).toEqual([small[0]!.id, huge.id, small[1]!.id]);
      const hugeRecord = batch.records[1]!;
      expect(hugeRecord.payload).toBe('');
      expect(hugeRecord.oversizedBytes).toBe(JSON.stringify(huge.data).length);
      expect(batch.records[0]!.oversizedBytes).toBeUndefined();
      expect(JSON.parse(batch.records[2]!.payload)).toEqual(small[1]!.data);
      expect(await store.deadLetter(batch.token, [{ id: huge.id, error: 'PAYLOAD_TOO_LARGE' }])).toBe(1);
      expect((await store.getDead(huge.id))?.payload).toBe(JSON.stringify(huge.data));
    });

    it('enqueues a thousand events in one call', async () => {
      const store = await harness.createStore();
      const events = Array.from({ length: 1000 }, (_, n) => sampleEvent(`s${n % 50}`, n));
      await enqueue(store, events);
      expect((await store.stats()).pending).toBe(1000);
    });

    it('claims only the head of each subject, so a subject is published in order', async () => {
      const store = await harness.createStore();
      const a1 = sampleEvent('a', 1);
      const a2 = sampleEvent('a', 2);
      const b1 = sampleEvent('b', 1);
      await enqueue(store, [a1, a2, b1]);
      const first = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(first.records.map((record) => record.id)).toEqual([a1.id, b1.id]);
      expect((await store.claim({ batchSize: 10, leaseMs: 10_000 })).records).toEqual([]);
      await store.complete(first.token, [a1.id, b1.id]);
      const second = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(second.records.map((record) => record.id)).toEqual([a2.id]);
    });

    it('never gives one row, or two rows of one subject, to concurrent claimers', async () => {
      const store = await harness.createStore();
      const events = Array.from({ length: 400 }, (_, n) => sampleEvent(`s${n % 40}`, n));
      await enqueue(store, events);
      const batches = await Promise.all(Array.from({ length: 6 }, () => store.claim({ batchSize: 30, leaseMs: 10_000 })));
      const claimed = batches.flatMap((batch) => batch.records);
      expect(new Set(claimed.map((record) => record.id)).size).toBe(claimed.length);
      expect(new Set(claimed.map((record) => record.subject)).size).toBe(claimed.length);
      expect(claimed.length).toBe(40);
    });

    it('hands a row to another claimer once its lease expires, and fences the old claimer', async () => {
      const store = await harness.createStore({ leaseMsHint: 300 });
      const event = sampleEvent('a', 1);
      await enqueue(store, event);
      const stale = await store.claim({ batchSize: 10, leaseMs: 300 });
      expect(stale.records).toHaveLength(1);
      expect((await store.claim({ batchSize: 10, leaseMs: 300 })).records).toEqual([]);
      // The lease runs out on the store's clock: claim until the row comes back.
      const fresh = await vi.waitFor(
        async () => {
          const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
          expect(batch.records.map((record) => record.id)).toEqual([event.id]);
          return batch;
        },
        { timeout: 10_000, interval: 20 },
      );
      expect(await store.complete(stale.token, [event.id])).toBe(0);
      expect(await store.release(stale.token, [{ id: event.id, retryAfterMs: 0, error: 'late', countAttempt: true }])).toBe(0);
      expect(await store.complete(fresh.token, [event.id])).toBe(1);
    });

    it('holds back only the subject of a row waiting for its retry, counting attempts when asked', async () => {
      const store = await harness.createStore();
      const a1 = sampleEvent('a', 1);
      const a2 = sampleEvent('a', 2);
      const b1 = sampleEvent('b', 1);
      await enqueue(store, [a1, a2, b1]);
      const batch = await store.claim({ batchSize: 1, leaseMs: 10_000 });
      expect(batch.records.map((record) => record.id)).toEqual([a1.id]);
      expect(await store.release(batch.token, [{ id: a1.id, retryAfterMs: 60_000, error: 'broker said no', countAttempt: true }])).toBe(1);
      const next = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(next.records.map((record) => record.id)).toEqual([b1.id]);
      await store.complete(next.token, [b1.id]);

      const store2 = await harness.createStore();
      await enqueue(store2, [a1]);
      const first = await store2.claim({ batchSize: 1, leaseMs: 10_000 });
      await store2.release(first.token, [{ id: a1.id, retryAfterMs: 0, error: 'outage', countAttempt: false }]);
      const again = await store2.claim({ batchSize: 1, leaseMs: 10_000 });
      expect(again.records[0]?.attempts).toBe(0);
      await store2.release(again.token, [{ id: a1.id, retryAfterMs: 0, error: 'nack', countAttempt: true }]);
      expect((await store2.claim({ batchSize: 1, leaseMs: 10_000 })).records[0]?.attempts).toBe(1);
    });

    it('dead-letters a row without blocking its subject, and lists, replays and purges dead rows', async () => {
      const store = await harness.createStore();
      const a1 = sampleEvent('a', 1);
      const a2 = sampleEvent('a', 2);
      const b1 = sampleEvent('b', 1);
      await enqueue(store, [a1, a2, b1]);
      const batch = await store.claim({ batchSize: 1, leaseMs: 10_000 });
      expect(await store.deadLetter(batch.token, [{ id: a1.id, error: 'NO_STREAM: no stream for subject' }])).toBe(1);
      const next = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(next.records.map((record) => record.id)).toEqual([a2.id, b1.id]);
      await store.complete(next.token, [a2.id, b1.id]);

      expect(await store.stats()).toMatchObject({ pending: 0, dead: 1 });
      const dead = await store.listDead();
      expect(dead.map((record) => record.id)).toEqual([a1.id]);
      expect(dead[0]?.lastError).toContain('NO_STREAM');
      expect((await store.getDead(a1.id))?.payload).toBe(JSON.stringify(a1.data));
      expect(await store.getDead(b1.id)).toBeUndefined();

      expect(await store.replayDead([a1.id])).toBe(1);
      const replayed = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(replayed.records.map((record) => ({ id: record.id, attempts: record.attempts }))).toEqual([{ id: a1.id, attempts: 0 }]);
      await store.deadLetter(replayed.token, [{ id: a1.id, error: 'again' }]);
      expect(await store.purgeDead()).toBe(1);
      expect(await store.stats()).toMatchObject({ pending: 0, dead: 0 });
    });

    it('with deadBlocksSubject, a dead row holds back the later rows of its subject until it is retried or purged', async () => {
      const store = await harness.createStore({ deadBlocksSubject: true });
      const a1 = sampleEvent('a', 1);
      const a2 = sampleEvent('a', 2);
      const b1 = sampleEvent('b', 1);
      const c1 = sampleEvent('c', 1);
      const c2 = sampleEvent('c', 2);
      await enqueue(store, [a1, a2, b1, c1, c2]);
      const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(batch.records.map((record) => record.id)).toEqual([a1.id, b1.id, c1.id]);
      await store.deadLetter(batch.token, [
        { id: a1.id, error: 'poison' },
        { id: c1.id, error: 'poison' },
      ]);
      await store.complete(batch.token, [b1.id]);
      // a2 and c2 wait behind their dead heads; other subjects are not held back.
      expect((await store.claim({ batchSize: 10, leaseMs: 10_000 })).records).toEqual([]);
      const b2 = sampleEvent('b', 2);
      await enqueue(store, [b2]);
      const other = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(other.records.map((record) => record.id)).toEqual([b2.id]);
      await store.complete(other.token, [b2.id]);

      // Retried: the dead event goes first, then the subject flows again, in order.
      expect(await store.replayDead([a1.id])).toBe(1);
      const retried = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(retried.records.map((record) => record.id)).toEqual([a1.id]);
      await store.complete(retried.token, [a1.id]);
      const after = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(after.records.map((record) => record.id)).toEqual([a2.id]);
      await store.complete(after.token, [a2.id]);

      // Purged: the subject flows again without it.
      expect(await store.purgeDead([c1.id])).toBe(1);
      const released = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(released.records.map((record) => record.id)).toEqual([c2.id]);
    });

    it("computes retry times on the database clock, not the caller's", async () => {
      const store = await harness.createStore();
      const a1 = sampleEvent('a', 1);
      const b1 = sampleEvent('b', 1);
      await enqueue(store, [a1, b1]);
      const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      // The caller's clock runs an hour ahead: a delay of 0 must still mean "at once" and 60 s
      // "not now", which a deadline computed on the caller's clock would get wrong.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3_600_000 });
      try {
        expect(
          await store.release(batch.token, [
            { id: a1.id, retryAfterMs: 0, error: 'nack', countAttempt: true },
            { id: b1.id, retryAfterMs: 60_000, error: 'nack', countAttempt: true },
          ]),
        ).toBe(2);
      } finally {
        vi.useRealTimers();
      }
      const next = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      expect(next.records.map((record) => record.id)).toEqual([a1.id]);
    });

    it("leases on the database clock and reports the lease's end on the caller's clock", async () => {
      const store = await harness.createStore();
      const a1 = sampleEvent('a', 1);
      await enqueue(store, [a1]);
      // The caller's clock runs an hour behind: the lease must still last leaseMs on the server,
      // and leaseUntil (what the relay compares with its own clock) must be leaseMs after its now.
      const behind = Date.now() - 3_600_000;
      vi.useFakeTimers({ toFake: ['Date'], now: behind });
      let batch: Awaited<ReturnType<typeof store.claim>>;
      try {
        batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      } finally {
        vi.useRealTimers();
      }
      expect(batch.records.map((record) => record.id)).toEqual([a1.id]);
      expect(Math.abs(batch.leaseUntil.getTime() - (behind + 10_000))).toBeLessThan(5_000);
      expect((await store.claim({ batchSize: 10, leaseMs: 10_000 })).records).toEqual([]);
      expect(await store.complete(batch.token, [a1.id])).toBe(1);
    });

    it('pages dead rows and replays them all', async () => {
      const store = await harness.createStore();
      const events = Array.from({ length: 5 }, (_, n) => sampleEvent(`d${n}`, n));
      await enqueue(store, events);
      const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
      await store.deadLetter(
        batch.token,
        batch.records.map((record) => ({ id: record.id, error: 'poison' })),
      );
      const page1 = await store.listDead({ limit: 2 });
      const page2 = await store.listDead({ limit: 10, afterId: page1[1]!.id });
      expect([...page1, ...page2].map((record) => record.id)).toEqual(events.map((event) => event.id));
      expect(await store.replayDead('all')).toBe(5);
      expect(await store.stats()).toMatchObject({ pending: 5, dead: 0 });
    });

    it('reports pending, lag and the largest subject backlogs', async () => {
      const store = await harness.createStore();
      const old = createEvent({ type: 'test.old', source: 'tests', subject: 'x', data: {}, time: new Date(Date.now() - 60_000) });
      await enqueue(store, [old, sampleEvent('x', 1), sampleEvent('y', 1)]);
      const stats = await store.stats();
      expect(stats.pending).toBe(3);
      expect(stats.dead).toBe(0);
      expect(stats.oldestPendingAgeMs).toBeGreaterThanOrEqual(59_000);
      const backlog = await store.subjectBacklog(10);
      expect(backlog.map((entry) => [entry.subject, entry.pending])).toEqual([
        ['x', 2],
        ['y', 1],
      ]);
      expect((await harness.createStore().then((empty) => empty.stats())).oldestPendingAgeMs).toBeNull();
    });

    it('lists the pending rows that failed, most attempts first, with their error and retry time on its clock', async () => {
      const store = await harness.createStore();
      const [a1, a2, b1, c1] = [sampleEvent('a', 1), sampleEvent('a', 2), sampleEvent('b', 1), sampleEvent('c', 1)];
      await enqueue(store, [a1!, a2!, b1!, c1!]);
      expect(await store.listFailing?.(10)).toEqual([]);
      const first = await store.claim({ batchSize: 10, leaseMs: 30_000 });
      await store.release(first.token, [
        { id: a1!.id, retryAfterMs: 0, error: 'a failed', countAttempt: true },
        { id: b1!.id, retryAfterMs: 60_000, error: '<b> failed', countAttempt: true },
        { id: c1!.id, retryAfterMs: 0, error: 'outage', countAttempt: false },
      ]);
      await store.complete(first.token, [a2!.id]);
      const second = await store.claim({ batchSize: 10, leaseMs: 30_000 });
      expect(second.records.map((record) => record.id)).toEqual(expect.arrayContaining([a1!.id]));
      await store.release(second.token, [{ id: a1!.id, retryAfterMs: 0, error: 'a failed again', countAttempt: true }]);
      if (!store.listFailing) return;
      const failing = await store.listFailing(10);
      expect(failing.map((row) => [row.id, row.subject, row.attempts, row.lastError])).toEqual([
        [a1!.id, 'a', 2, 'a failed again'],
        [b1!.id, 'b', 1, '<b> failed'],
      ]);
      expect(failing[0]!.retryInMs).toBe(0);
      expect(failing[1]!.retryInMs).toBeGreaterThan(50_000);
      expect(failing[1]!.retryInMs).toBeLessThanOrEqual(60_000);
      expect(await store.listFailing(1)).toHaveLength(1);
    });

    if (harness.stampsSequences) {
      /** Claims and completes until nothing is left: every record, in the order the relay would publish it. */
      const drain = async (store: OutboxStore<Tx>) => {
        const published: Array<{ id: string; subject: string; sequence: number | undefined }> = [];
        for (;;) {
          const batch = await store.claim({ batchSize: 100, leaseMs: 10_000 });
          if (batch.records.length === 0) return published;
          for (const record of batch.records) published.push({ id: record.id, subject: record.subject, sequence: record.sequence });
          await store.complete(
            batch.token,
            batch.records.map((record) => record.id),
          );
        }
      };

      it('stamps each subject 1, 2, 3... in write order, independently of other subjects, consecutively within one call', async () => {
        const store = await harness.createStore();
        const [a1, b1, a2, a3, b2, c1, a4] = [
          sampleEvent('a', 1),
          sampleEvent('b', 1),
          sampleEvent('a', 2),
          sampleEvent('a', 3),
          sampleEvent('b', 2),
          sampleEvent('c', 1),
          sampleEvent('a', 4),
        ];
        await enqueue(store, [a1!, b1!, a2!, a3!]);
        await enqueue(store, [b2!, c1!]);
        await enqueue(store, a4!);
        const published = await drain(store);
        const bySubject = (subject: string) => published.filter((record) => record.subject === subject);
        expect(bySubject('a').map((record) => [record.id, record.sequence])).toEqual([
          [a1!.id, 1],
          [a2!.id, 2],
          [a3!.id, 3],
          [a4!.id, 4],
        ]);
        expect(bySubject('b').map((record) => [record.id, record.sequence])).toEqual([
          [b1!.id, 1],
          [b2!.id, 2],
        ]);
        expect(bySubject('c').map((record) => [record.id, record.sequence])).toEqual([[c1!.id, 1]]);
      });

      it('gives the numbers of a rolled back transaction back: the next committed event of the subject gets the next number', async () => {
        const store = await harness.createStore();
        const [a1, a2] = [sampleEvent('a', 1), sampleEvent('a', 2)];
        await enqueue(store, a1);
        await expect(
          harness.transaction(store, async (tx) => {
            await store.enqueue(tx, [sampleEvent('a', 90), sampleEvent('a', 91), sampleEvent('b', 90)]);
            throw new Error('business rule failed');
          }),
        ).rejects.toThrow('business rule failed');
        await enqueue(store, [a2, sampleEvent('b', 1)]);
        const published = await drain(store);
        expect(published.filter((record) => record.subject === 'a').map((record) => [record.id, record.sequence])).toEqual([
          [a1.id, 1],
          [a2.id, 2],
        ]);
        expect(published.filter((record) => record.subject === 'b').map((record) => record.sequence)).toEqual([1]);
      });

      it('serialises two transactions writing one subject: commit order = sequence order = claim order', async () => {
        const store = await harness.createStore();
        const [first, second, third] = [sampleEvent('s', 1), sampleEvent('s', 2), sampleEvent('s', 3)];
        const committed: string[] = [];
        let letFirstGoOn!: () => void;
        const gate = new Promise<void>((resolve) => {
          letFirstGoOn = resolve;
        });
        let firstWrote!: () => void;
        const firstHasWritten = new Promise<void>((resolve) => {
          firstWrote = resolve;
        });
        // t1 writes `first`, then waits until t2 has asked for the subject, then writes `third`:
        // a store that numbered rows after allocating their position would put t2's row between
        // t1's two rows in claim order while numbering it after them.
        const t1 = harness
          .transaction(store, async (tx) => {
            await store.enqueue(tx, first);
            firstWrote();
            await gate;
            await store.enqueue(tx, third);
          })
          .then(() => committed.push('t1'));
        await firstHasWritten;
        const t2 = harness.transaction(store, (tx) => store.enqueue(tx, second)).then(() => committed.push('t2'));
        const waitingForLock = harness.waitingForLock?.bind(harness);
        if (waitingForLock) {
          await vi.waitFor(async () => expect(await waitingForLock(store)).toBe(true), { timeout: 10_000, interval: 20 });
        } else {
          await t2;
        }
        // With locks, t2 waits for t1's commit: neither has returned yet. Without, t2 committed
        // at once, before t1. (Once t1 commits, the order in which the two COMMITs' replies reach
        // this process says nothing: a server releases t1's locks before it replies, so t2 can go on
        // and the replies arrive in either order; a CI run saw t2's first.)
        expect(committed).toEqual(waitingForLock ? [] : ['t2']);
        const commitOrder = waitingForLock ? ['t1', 't2'] : ['t2', 't1'];
        letFirstGoOn();
        await Promise.all([t1, t2]);
        expect([...committed].sort()).toEqual(['t1', 't2']);
        const written: Record<string, string[]> = { t1: [first.id, third.id], t2: [second.id] };
        const published = await drain(store);
        expect(published.map((record) => record.id)).toEqual(commitOrder.flatMap((name) => written[name]));
        expect(published.map((record) => record.sequence)).toEqual([1, 2, 3]);
      });

      it('reports the sequence of dead rows, and replays one with a new sequence at the end of its subject, after its pending rows', async () => {
        const store = await harness.createStore();
        expect(store.capabilities.deadBlocksSubject ?? false).toBe(false);
        const [a1, a2, a3] = [sampleEvent('a', 1), sampleEvent('a', 2), sampleEvent('a', 3)];
        await enqueue(store, [a1, a2]);
        const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
        expect(batch.records.map((record) => [record.id, record.sequence])).toEqual([[a1.id, 1]]);
        await store.deadLetter(batch.token, [{ id: a1.id, error: 'poison' }]);
        expect((await store.getDead(a1.id))?.sequence).toBe(1);
        expect((await store.listDead()).map((record) => record.sequence)).toEqual([1]);
        await enqueue(store, a3);
        expect(await store.replayDead([a1.id])).toBe(1);
        expect((await drain(store)).map((record) => [record.id, record.sequence])).toEqual([
          [a2.id, 2],
          [a3.id, 3],
          [a1.id, 4],
        ]);
        await enqueue(store, sampleEvent('a', 5));
        expect((await drain(store)).map((record) => record.sequence)).toEqual([5]);
      });

      it('with deadBlocksSubject, replays a dead row with the sequence it had, before the rows it held back', async () => {
        const store = await harness.createStore({ deadBlocksSubject: true });
        expect(store.capabilities.deadBlocksSubject).toBe(true);
        const [a1, a2] = [sampleEvent('a', 1), sampleEvent('a', 2)];
        await enqueue(store, [a1, a2]);
        const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
        await store.deadLetter(batch.token, [{ id: a1.id, error: 'poison' }]);
        expect(await store.replayDead('all')).toBe(1);
        expect((await drain(store)).map((record) => [record.id, record.sequence])).toEqual([
          [a1.id, 1],
          [a2.id, 2],
        ]);
      });

      it('with subjectSequence: false, stamps nothing: no sequence claimed, dead or replayed', async () => {
        const store = await harness.createStore({ subjectSequence: false });
        const [a1, a2] = [sampleEvent('a', 1), sampleEvent('a', 2)];
        await enqueue(store, [a1, a2]);
        const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
        expect(batch.records.map((record) => [record.id, record.sequence])).toEqual([[a1.id, undefined]]);
        await store.deadLetter(batch.token, [{ id: a1.id, error: 'poison' }]);
        expect((await store.getDead(a1.id))?.sequence).toBeUndefined();
        expect(await store.replayDead([a1.id])).toBe(1);
        expect((await drain(store)).map((record) => [record.id, record.sequence])).toEqual([
          [a1.id, undefined],
          [a2.id, undefined],
        ]);
      });
    }

    it('migrates idempotently and accepts its own schema', async () => {
      const store = await harness.createStore();
      const again = await store.migrate();
      expect(again.applied).toEqual([]);
      await expect(store.assertSchema()).resolves.toBeUndefined();
    });

    it('wakes a waiting relay when a transaction commits', async () => {
      const store = await harness.createStore();
      if (!store.capabilities.wakeUp || !store.waitForWork) {
        expect(store.waitForWork).toBeUndefined();
        return;
      }
      // Committed while the wait is being armed or once it is: the store must not miss it either way.
      const woken = store.waitForWork({ timeoutMs: 60_000 });
      await enqueue(store, sampleEvent('w', 1));
      await woken; // the test's timeout fails it if the wake-up never comes
      expect((await store.claim({ batchSize: 10, leaseMs: 10_000 })).records).toHaveLength(1);
    });
  });
}
