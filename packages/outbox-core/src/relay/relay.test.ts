import { waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { sampleEvent } from '../conformance/sample-events.js';
import { PublishError } from '../errors.js';
import { encodeEvents } from '../event/encode.js';
import { ManualClock } from '../testing/manual-clock.js';
import { MemoryBus } from '../testing/memory-bus.js';
import { MemoryOutboxStore, memoryTransaction } from '../testing/memory-outbox-store.js';
import { Relay } from './relay.js';
import type { RelayEvent } from './relay-events.js';

function subjectsInStreamOrder(bus: MemoryBus): Map<string, number[]> {
  const order = new Map<string, number[]>();
  for (const message of bus.messages) {
    const subject = message.headers['ce-subject']!;
    order.set(subject, [...(order.get(subject) ?? []), (JSON.parse(message.body) as { n: number }).n]);
  }
  return order;
}

/** A memory outbox holding 40 events, one on each of 40 subjects: four batches of 10. */
async function backlogOnFortySubjects(): Promise<MemoryOutboxStore> {
  const store = new MemoryOutboxStore();
  await memoryTransaction((tx) =>
    store.enqueue(
      tx,
      Array.from({ length: 40 }, (_, n) => sampleEvent(`s${n}`, n)),
    ),
  );
  return store;
}

describe('Relay', () => {
  it('tells the re-publish horizon of its options without being built, as a built relay does', () => {
    const store = new MemoryOutboxStore();
    const publisher = new MemoryBus().publisher();
    for (const options of [
      {},
      { leaseMs: 10_000 },
      { backoff: { maxMs: 5_000 } },
      { leaseMs: 2_000, backoff: { initialMs: 100, maxMs: 900 } },
    ]) {
      expect(Relay.republishHorizonMs(options)).toBe(new Relay({ store, publisher, ...options }).republishHorizonMs);
    }
    expect(Relay.republishHorizonMs({ leaseMs: 10_000, backoff: { maxMs: 30_000 } })).toBe(40_000);
    expect(() => Relay.republishHorizonMs({ leaseMs: 50 })).toThrow(/leaseMs/);
  });

  it('dead-letters a row over maxEventBytes at once, unpublished, and keeps each claim within maxBatchBytes', async () => {
    const store = new MemoryOutboxStore({ maxEventBytes: 10_000 });
    const bus = new MemoryBus();
    const small = Array.from({ length: 20 }, (_, n) => sampleEvent(`s${n}`, n, { blob: 'x'.repeat(1_000) }));
    const huge = sampleEvent('huge', 1, { blob: 'x'.repeat(50_000) });
    store.insertUnchecked(encodeEvents([...small.slice(0, 10), huge, ...small.slice(10)], { maxEventBytes: 1e9 }));
    const events: RelayEvent[] = [];
    const relay = new Relay({ store, publisher: bus.publisher(), maxBatchBytes: 4_000, onEvent: (event) => events.push(event) });
    const result = await relay.drain();
    expect(result).toMatchObject({ published: 20, dead: 1, failed: 0 });
    expect(bus.messages.map((message) => message.headers['ce-id'])).toEqual(small.map((event) => event.id));
    const dead = events.find((event) => event.type === 'dead');
    expect(dead).toMatchObject({ id: huge.id, attempts: 1, error: { code: 'PAYLOAD_TOO_LARGE' } });
    // ~1,020 bytes each: leased while the bytes before are under 4,000, so 4 per batch.
    const sizes = events.flatMap((event) => (event.type === 'batch' ? [event.size] : []));
    expect(Math.max(...sizes)).toBe(4);
    expect((await store.getDead(huge.id))?.payload).toBe(JSON.stringify(huge.data));
  });

  it('publishes every event once, in per-subject order, and empties the outbox', async () => {
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    const events = Array.from({ length: 1_000 }, (_, n) => sampleEvent(`s${n % 20}`, n));
    await memoryTransaction((tx) => store.enqueue(tx, events));
    const result = await new Relay({ store, publisher: bus.publisher(), batchSize: 64 }).drain();
    expect(result.published).toBe(1_000);
    expect(bus.messages.map((message) => message.headers['ce-id']).sort()).toEqual(events.map((event) => event.id).sort());
    for (const [, ns] of subjectsInStreamOrder(bus)) expect(ns).toEqual([...ns].sort((a, b) => a - b));
    expect(store.size).toBe(0);
  });

  it('with claimAhead, claims the next batch while one is published, and gives it back unpublished, no attempt counted, when stopped', async () => {
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    // 30 subjects, 2 events each: a claim of 10 takes 10 heads; the batch claimed ahead takes 10 others.
    const events = Array.from({ length: 60 }, (_, n) => sampleEvent(`s${n % 30}`, n));
    await memoryTransaction((tx) => store.enqueue(tx, events));
    const inner = bus.publisher();
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let publishing = 0;
    const publisher = {
      ...inner,
      publish: async (records: Parameters<typeof inner.publish>[0]) => {
        publishing++;
        await held;
        return inner.publish(records);
      },
    };
    const claims: number[] = [];
    const claim = store.claim.bind(store);
    store.claim = async (options) => {
      const batch = await claim(options);
      claims.push(batch.records.length);
      return batch;
    };
    expect(() => new Relay({ store, publisher, claimAhead: 'yes' as unknown as boolean })).toThrow(/claimAhead must be true or false/);
    const relay = new Relay({ store, publisher, batchSize: 10, claimAhead: true });
    await relay.start();
    // The first batch is being published and the second was claimed meanwhile.
    await waitUntil('a batch published and the next one claimed', () => publishing === 1 && claims.length === 2);
    const stopped = relay.stop({ timeoutMs: 5_000 });
    release();
    expect(await stopped).toMatchObject({ drained: true });
    expect(bus.messages).toHaveLength(10);
    // The batch claimed ahead went back: claimable at once (not after its lease), no attempt used.
    // Every subject has a head again: the 10 published ones their second event, the 20 others their first.
    const again = await store.claim({ batchSize: 100, leaseMs: 1_000 });
    expect(again.records).toHaveLength(30);
    expect(again.records.every((record) => record.attempts === 0)).toBe(true);
    const published = new Set(bus.messages.map((message) => message.headers['ce-subject']));
    expect(again.records.filter((record) => published.has(record.subject))).toHaveLength(10);
  });

  it("claims ahead by default on a store whose capabilities say so (MariaDB's), and not when claimAhead: false", async () => {
    /** How many claims had been asked for when each publish began. */
    const claimsAtPublish = async (claimAhead: boolean | undefined): Promise<number[]> => {
      const store = await backlogOnFortySubjects();
      Object.assign(store, { capabilities: { ...store.capabilities, claimAhead: true } });
      const bus = new MemoryBus();
      let calls = 0;
      const claim = store.claim.bind(store);
      store.claim = (options) => {
        calls++;
        return claim(options);
      };
      const inner = bus.publisher();
      const seen: number[] = [];
      const publisher = {
        ...inner,
        publish: (records: Parameters<typeof inner.publish>[0]) => {
          seen.push(calls);
          return inner.publish(records);
        },
      };
      const relay = new Relay({ store, publisher, batchSize: 10, ...(claimAhead === undefined ? {} : { claimAhead }) });
      expect((await relay.drain()).published).toBe(40);
      return seen;
    };
    // Ahead: the second claim is asked for before the first batch's publish begins.
    expect((await claimsAtPublish(undefined))[0]).toBe(2);
    expect((await claimsAtPublish(false))[0]).toBe(1);
  });

  it('with claimAhead, an empty claim made ahead does not end a drain while events remain', async () => {
    const store = await backlogOnFortySubjects();
    const bus = new MemoryBus();
    let calls = 0;
    const claim = store.claim.bind(store);
    // The second claim is the one made ahead: empty, as when the batch being published holds every head.
    store.claim = async (options) => (++calls === 2 ? { token: 'ahead-empty', records: [], leaseUntil: new Date() } : claim(options));
    const result = await new Relay({ store, publisher: bus.publisher(), batchSize: 10, claimAhead: true }).drain();
    expect(result.published).toBe(40);
    expect(bus.messages).toHaveLength(40);
    expect(store.size).toBe(0);
  });

  it('with claimAhead, drains a backlog with each event once and each subject in order', async () => {
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    const events = Array.from({ length: 1_000 }, (_, n) => sampleEvent(`s${n % 20}`, n));
    await memoryTransaction((tx) => store.enqueue(tx, events));
    const result = await new Relay({ store, publisher: bus.publisher(), batchSize: 7, claimAhead: true }).drain();
    expect(result.published).toBe(1_000);
    expect(bus.messages).toHaveLength(1_000);
    for (const [subject, order] of subjectsInStreamOrder(bus)) {
      expect(order, subject).toEqual([...order].sort((a, b) => a - b));
      expect(order).toHaveLength(50);
    }
    expect(store.size).toBe(0);
  });

  it('retries a failed event after its backoff, holding back only its own subject', async () => {
    // The store counts the retry delay on its clock: shared with the relay, the delay passes at once.
    const clock = new ManualClock();
    const store = new MemoryOutboxStore({ clock });
    const bus = new MemoryBus();
    const a1 = sampleEvent('a', 1);
    const a2 = sampleEvent('a', 2);
    const b1 = sampleEvent('b', 1);
    await memoryTransaction((tx) => store.enqueue(tx, [a1, a2, b1]));
    let failures = 1;
    bus.failPublish = (record) =>
      record.id === a1.id && failures-- > 0 ? new PublishError('PUBLISH_TIMEOUT', 'timed out', true) : undefined;
    const events: RelayEvent[] = [];
    const relay = new Relay({
      store,
      publisher: bus.publisher(),
      backoff: { initialMs: 400, maxMs: 400, jitter: 0 },
      onEvent: (event) => events.push(event),
      clock,
    });
    await relay.drain();
    expect(bus.messages.map((message) => message.headers['ce-id'])).toEqual([b1.id]);
    expect(events.find((event) => event.type === 'failed')).toMatchObject({ id: a1.id, attempt: 1, retryAt: new Date(clock.now() + 400) });
    await clock.advance(399);
    await new Relay({ store, publisher: bus.publisher(), clock }).drain();
    expect(bus.messages.map((message) => message.headers['ce-id'])).toEqual([b1.id]);
    await clock.advance(1);
    await new Relay({ store, publisher: bus.publisher(), clock }).drain();
    expect(bus.messages.map((message) => message.headers['ce-id'])).toEqual([b1.id, a1.id, a2.id]);
  });

  it('dead-letters an event after maxAttempts, and a non-retryable failure at once', async () => {
    const clock = new ManualClock();
    const store = new MemoryOutboxStore({ clock });
    const bus = new MemoryBus();
    const poison = sampleEvent('p', 1);
    const huge = sampleEvent('h', 1);
    const fine = sampleEvent('f', 1);
    await memoryTransaction((tx) => store.enqueue(tx, [poison, huge, fine]));
    bus.failPublish = (record) => {
      if (record.id === poison.id) return new PublishError('PUBLISH_TIMEOUT', 'always times out', true);
      if (record.id === huge.id) return new PublishError('PAYLOAD_TOO_LARGE', 'payload 2 MB over max_payload 1 MB', false);
      return undefined;
    };
    // drain() returns at the first empty claim (the poison waits for its retry): drain until it is dead.
    for (let round = 0; round < 20 && (await store.stats()).pending > 0; round++) {
      await new Relay({ store, publisher: bus.publisher(), maxAttempts: 3, backoff: { initialMs: 1, maxMs: 1, jitter: 0 }, clock }).drain();
      await clock.advance(1);
    }
    // Each dead event leaves a gap marker in its place (the store stamps a sequence), published after the batch.
    expect(bus.messages.map((message) => message.headers['ce-id'] ?? `gap of ${message.headers['outbox-gap-event']}`)).toEqual([
      fine.id,
      `gap of ${huge.id}`,
      `gap of ${poison.id}`,
    ]);
    const dead = await store.listDead();
    expect(dead.map((record) => [record.id, record.attempts])).toEqual([
      [poison.id, 3],
      [huge.id, 1],
    ]);
    expect(dead[1]?.lastError).toContain('max_payload');
  });

  it('pauses during a bus outage without using up attempts, then resumes', async () => {
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    const events = Array.from({ length: 30 }, (_, n) => sampleEvent(`s${n % 3}`, n));
    await memoryTransaction((tx) => store.enqueue(tx, events));
    bus.down = true;
    const seen: RelayEvent[] = [];
    const relay = new Relay({
      store,
      publisher: bus.publisher(),
      maxAttempts: 2,
      pollIntervalMs: 20,
      outageBackoff: { initialMs: 10, maxMs: 20 },
      onEvent: (event) => seen.push(event),
    });
    await relay.start();
    await waitUntil('three outage pauses', () => seen.filter((event) => event.type === 'outage').length > 2, 10_000, 5);
    expect(relay.outage).toBe(true);
    bus.down = false;
    await waitUntil('every event published', () => bus.messages.length === 30, 10_000, 5);
    expect(await relay.stop({ timeoutMs: 1_000 })).toEqual({ drained: true, inFlight: 0 });
    expect(await relay.closed()).toBeUndefined();
    expect(bus.messages).toHaveLength(30);
    expect(await store.listDead()).toEqual([]);
    expect(seen.some((event) => event.type === 'recovered')).toBe(true);
  });

  it('wakes up on a commit instead of waiting for the poll interval', async () => {
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    let waits = 0;
    const waitForWork = store.waitForWork.bind(store);
    store.waitForWork = (options) => {
      waits++;
      return waitForWork(options);
    };
    const relay = new Relay({ store, publisher: bus.publisher(), pollIntervalMs: 60_000 });
    await relay.start();
    // Commit once the relay waits for work, for up to its poll interval of a minute.
    await waitUntil('the relay to wait for work', () => waits === 1, 10_000, 5);
    await memoryTransaction((tx) => store.enqueue(tx, sampleEvent('a', 1)));
    await waitUntil('the event published', () => bus.messages.length === 1, 10_000, 5);
    expect(waits).toBe(1);
    await relay.stop();
  });

  it('refuses an unmigrated store, a second start and a short dedup window, with typed errors', async () => {
    const bus = new MemoryBus();
    await expect(
      new Relay({ store: new MemoryOutboxStore({ migrated: false }), publisher: bus.publisher() }).start(),
    ).rejects.toMatchObject({
      code: 'SCHEMA_VERSION',
    });
    await expect(
      new Relay({ store: new MemoryOutboxStore(), publisher: bus.publisher(), leaseMs: 30_000, duplicateWindowMs: 60_000 }).start(),
    ).rejects.toMatchObject({ code: 'CONFIG', setting: 'duplicate_window' });
    const relay = new Relay({ store: new MemoryOutboxStore(), publisher: bus.publisher() });
    await relay.start();
    await expect(relay.start()).rejects.toMatchObject({ code: 'USAGE' });
    await relay.stop();
    expect(() => new Relay({ store: new MemoryOutboxStore(), publisher: bus.publisher(), batchSize: -1 })).toThrow(/batchSize/);
  });
  it('survives a wake-up wait that fails, as when its database connection is terminated', async () => {
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    let failures = 3;
    const waitForWork = store.waitForWork.bind(store);
    store.waitForWork = async (options) => {
      if (failures-- > 0) throw new Error('terminating connection due to administrator command');
      return waitForWork(options);
    };
    const seen: RelayEvent[] = [];
    const clock = new ManualClock();
    const relay = new Relay({ store, publisher: bus.publisher(), pollIntervalMs: 50, onEvent: (event) => seen.push(event), clock });
    await relay.start();
    // Each failed wait is followed by a pause on the relay's clock (as are its first idle polls): let them pass.
    while (failures >= 0) {
      await waitUntil('the relay to pause', () => clock.sleeping > 0 || failures < 0, 10_000, 5);
      await clock.advance(10_000);
    }
    await memoryTransaction((tx) => store.enqueue(tx, sampleEvent('a', 1)));
    await waitUntil('the event published', () => bus.messages.length === 1, 10_000, 5);
    expect(seen.filter((event) => event.type === 'store-error' && event.phase === 'wait')).toHaveLength(3);
    await relay.stop();
    expect(await relay.closed()).toBeUndefined();
  });

  it('settles a batch on a retry when the store fails for a moment, publishing each event once', async () => {
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    const events = Array.from({ length: 10 }, (_, n) => sampleEvent(`s${n}`, n));
    await memoryTransaction((tx) => store.enqueue(tx, events));
    let failures = 2;
    const complete = store.complete.bind(store);
    store.complete = async (token, ids) => {
      if (failures-- > 0) throw new Error('Connection lost: The server closed the connection.');
      return complete(token, ids);
    };
    const seen: RelayEvent[] = [];
    const result = await new Relay({ store, publisher: bus.publisher(), onEvent: (event) => seen.push(event) }).drain();
    expect(result.published).toBe(10);
    expect(bus.messages).toHaveLength(10);
    expect(store.size).toBe(0);
    expect(seen.filter((event) => event.type === 'store-error').map((event) => event.type === 'store-error' && event.phase)).toEqual([
      'complete',
      'complete',
    ]);
  });
});
