import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sampleEvent } from '../conformance/sample-events.js';
import { Consumer } from '../consumer/consumer.js';
import type { Publisher } from '../contracts/publisher.js';
import { defineEvent } from '../event/define-event.js';
import type { OutboxEvent } from '../event/event.js';
import { Relay } from '../relay/relay.js';
import { ManualClock } from '../testing/manual-clock.js';
import { MemoryBus } from '../testing/memory-bus.js';
import { MemoryInboxStore } from '../testing/memory-inbox-store.js';
import { MemoryOutboxStore, memoryTransaction } from '../testing/memory-outbox-store.js';
import type { StopOptions, StopResult } from './lifecycle.js';

const Changed = defineEvent('test.item.changed', { schema: z.object({ n: z.number() }), source: 'test' });

/** A promise with its resolve function, for a step the test lets happen. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** What the tests need of a `Relay` or a `Consumer`: the shared lifecycle. */
interface LongLived {
  start(options?: { signal?: AbortSignal }): Promise<void>;
  stop(options?: StopOptions): Promise<StopResult>;
  closed(): Promise<Error | undefined>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A relay or a consumer with three events to work on, whose work on them waits for `release`. */
interface Harness {
  readonly subject: LongLived;
  /** Resolves once the work has begun (the publish or the handler was entered). */
  readonly working: Promise<void>;
  /** Lets the work go on. */
  readonly release: () => void;
  /** How many of the three events were published and completed, or applied. */
  readonly done: () => number;
}

interface Kind {
  readonly name: string;
  /** A harness whose work waits for `release` (a publish or a handler that hangs). */
  harness(clock: ManualClock): Promise<Harness>;
  /** One whose start fails its checks, and the error code it fails with. */
  failing(): { subject: LongLived; code: string };
}

const kinds: Kind[] = [
  {
    name: 'Relay',
    async harness(clock) {
      const store = new MemoryOutboxStore();
      await memoryTransaction((tx) => store.enqueue(tx, [sampleEvent('a', 1), sampleEvent('b', 2), sampleEvent('c', 3)]));
      const bus = new MemoryBus();
      const started = gate();
      const released = gate();
      const inner = bus.publisher();
      const publisher: Publisher = {
        publish: async (records, options) => {
          started.open();
          await released.promise;
          return inner.publish(records, options);
        },
      };
      return {
        subject: new Relay({ store, publisher, clock }),
        working: started.promise,
        release: released.open,
        done: () => 3 - store.size,
      };
    },
    failing: () => ({
      subject: new Relay({ store: new MemoryOutboxStore({ migrated: false }), publisher: new MemoryBus().publisher() }),
      code: 'SCHEMA_VERSION',
    }),
  },
  {
    name: 'Consumer',
    async harness(clock) {
      const bus = new MemoryBus();
      await bus.publisher().publish(
        [1, 2, 3].map((n) => {
          const event: OutboxEvent = Changed.create({ n }, { subject: `s${n}` });
          return { ...event, payload: JSON.stringify(event.data), attempts: 0 };
        }),
      );
      const started = gate();
      const released = gate();
      const applied: number[] = [];
      const consumer = new Consumer({ subscriber: bus.subscriber({ name: 'basket' }), inbox: new MemoryInboxStore(), clock }).on(
        Changed,
        async (event) => {
          started.open();
          await released.promise;
          applied.push(event.data.n);
        },
      );
      return { subject: consumer, working: started.promise, release: released.open, done: () => applied.length };
    },
    failing: () => ({
      // The inbox forgets a message after a minute; the bus may redeliver it for five.
      subject: new Consumer({
        subscriber: new MemoryBus().subscriber({ name: 'basket', maxDeliver: 5, ackWaitMs: 60_000 }),
        inbox: new MemoryInboxStore(),
        inboxRetentionMs: 60_000,
      }).on(Changed, async () => {}),
      code: 'CONFIG',
    }),
  },
];

/** Whether `promise` has settled by the time the current work (microtasks and one macrotask turn) is done. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

for (const kind of kinds) {
  describe(`${kind.name} lifecycle`, () => {
    it('a start whose checks fail rejects with the typed error, and closed() settles with the same error', async () => {
      const { subject, code } = kind.failing();
      const failure = await subject.start().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ code });
      expect(await subject.closed()).toBe(failure);
      // Stopped for good: a second start is a usage error, a stop finds nothing to do.
      await expect(subject.start()).rejects.toMatchObject({ code: 'USAGE' });
      expect(await subject.stop()).toEqual({ drained: true, inFlight: 0 });
    });

    it('stop() waits for the work in hand; after timeoutMs it reports it, and closed() settles once the work ends', async () => {
      const clock = new ManualClock();
      const { subject, working, release, done } = await kind.harness(clock);
      await subject.start();
      await working;
      const stopping = subject.stop({ timeoutMs: 5_000 });
      await clock.advance(4_999);
      expect(await settled(stopping)).toBe(false);
      await clock.advance(1);
      const result = await stopping;
      expect(result.drained).toBe(false);
      expect(result.inFlight).toBeGreaterThan(0);
      expect(await settled(subject.closed())).toBe(false);
      // The work in hand still finishes: nothing is lost to a stop that gave up waiting.
      release();
      expect(await subject.closed()).toBeUndefined();
      expect(done()).toBeGreaterThan(0);
      expect(await subject.stop({ timeoutMs: 0 })).toEqual({ drained: true, inFlight: 0 });
    });

    it('stop() within its timeout drains the work in hand', async () => {
      const clock = new ManualClock();
      const { subject, working, release, done } = await kind.harness(clock);
      await subject.start();
      await working;
      const stopping = subject.stop({ timeoutMs: 5_000 });
      release();
      expect(await stopping).toEqual({ drained: true, inFlight: 0 });
      expect(await subject.closed()).toBeUndefined();
      expect(done()).toBeGreaterThan(0);
    });

    it('async dispose stops it: closed() settles and it cannot start again', async () => {
      const { subject, working, release } = await kind.harness(new ManualClock());
      await subject.start();
      await working;
      const disposing = subject[Symbol.asyncDispose]();
      release();
      await disposing;
      expect(await subject.closed()).toBeUndefined();
      await expect(subject.start()).rejects.toMatchObject({ code: 'USAGE' });
    });

    it('aborting the start signal stops it as stop() does', async () => {
      const { subject, working, release, done } = await kind.harness(new ManualClock());
      const controller = new AbortController();
      await subject.start({ signal: controller.signal });
      await working;
      controller.abort();
      release();
      expect(await subject.closed()).toBeUndefined();
      expect(done()).toBeGreaterThan(0);
    });

    it('a signal aborted before start stops it before it does any work', async () => {
      const { subject, done } = await kind.harness(new ManualClock());
      await subject.start({ signal: AbortSignal.abort() });
      expect(await subject.closed()).toBeUndefined();
      expect(done()).toBe(0);
    });

    it('a second start is a usage error that leaves the running one alone; stop before start settles closed()', async () => {
      const { subject, working, release } = await kind.harness(new ManualClock());
      await subject.start();
      await expect(subject.start()).rejects.toMatchObject({ code: 'USAGE' });
      await working;
      expect(await settled(subject.closed())).toBe(false);
      release();
      expect(await subject.stop()).toEqual({ drained: true, inFlight: 0 });

      const unstarted = (await kind.harness(new ManualClock())).subject;
      expect(await unstarted.stop()).toEqual({ drained: true, inFlight: 0 });
      expect(await unstarted.closed()).toBeUndefined();
      await expect(unstarted.start()).rejects.toMatchObject({ code: 'USAGE' });
    });

    it('stop() refuses a negative timeout with a typed error, and stops nothing', async () => {
      const { subject, working, release } = await kind.harness(new ManualClock());
      await subject.start();
      await expect(subject.stop({ timeoutMs: -1 })).rejects.toMatchObject({ code: 'CONFIG', setting: 'timeoutMs' });
      await working;
      expect(await settled(subject.closed())).toBe(false);
      release();
      expect(await subject.stop()).toEqual({ drained: true, inFlight: 0 });
    });
  });
}
