import { describe, expect, it } from 'vitest';
import { sampleEvent } from '../conformance/sample-events.js';
import type { Publisher } from '../contracts/publisher.js';
import type { Delivery } from '../contracts/subscriber.js';
import { EventDecodeError, PublishError } from '../errors.js';
import { encodeEvents } from '../event/encode.js';
import { ManualClock } from '../testing/manual-clock.js';
import { MemoryBus } from '../testing/memory-bus.js';
import { MemoryOutboxStore, memoryTransaction } from '../testing/memory-outbox-store.js';
import { Relay } from './relay.js';
import type { RelayEvent } from './relay-events.js';

/** What a consumer reads: `event #n` or `gap #n (reason)` per delivery, in stream order. */
async function consumed(bus: MemoryBus): Promise<string[]> {
  const subscriber = bus.subscriber({ name: 'basket' });
  const deliveries: Delivery[] = [...(await subscriber.fetch({ max: 100, expiresMs: 0 }))];
  return deliveries.map((delivery) => {
    if (delivery.gap) {
      expect(() => delivery.decode()).toThrow(EventDecodeError);
      return `gap ${delivery.gap.subject} #${delivery.gap.sequence} (${delivery.gap.reason}) of ${delivery.gap.eventId}`;
    }
    const event = delivery.decode();
    return `event ${event.subject} #${event.sequence} ${event.id}`;
  });
}

/** Drains until nothing is pending, moving the clock past each retry delay. */
async function drainAll(store: MemoryOutboxStore, relay: () => Relay, clock: ManualClock): Promise<void> {
  for (let round = 0; round < 20 && (await store.stats()).pending > 0; round++) {
    await relay().drain();
    await clock.advance(1_000);
  }
}

describe('Relay gap markers (docs/design/ordering.md, section 4)', () => {
  it('publishes the gap marker of a dead event before dead-lettering it: consumers see the gap, then the next event', async () => {
    const clock = new ManualClock();
    const store = new MemoryOutboxStore({ clock });
    const bus = new MemoryBus();
    const [a1, a2, a3] = [1, 2, 3].map((n) => sampleEvent('a', n));
    await memoryTransaction((tx) => store.enqueue(tx, [a1!, a2!, a3!]));
    bus.failPublish = (record) =>
      record.id === a2!.id ? new PublishError('PAYLOAD_TOO_LARGE', 'payload over max_payload', false) : undefined;
    const events: RelayEvent[] = [];
    await drainAll(store, () => new Relay({ store, publisher: bus.publisher(), clock, onEvent: (event) => events.push(event) }), clock);
    expect(await consumed(bus)).toEqual([`event a #1 ${a1!.id}`, `gap a #2 (outbox-dead-letter) of ${a2!.id}`, `event a #3 ${a3!.id}`]);
    expect((await store.listDead()).map((record) => [record.id, record.sequence])).toEqual([[a2!.id, 2]]);
    expect(events.filter((event) => event.type === 'dead')).toMatchObject([{ id: a2!.id, error: { code: 'PAYLOAD_TOO_LARGE' } }]);

    // Retried by an operator, it comes back as #4 and dies again: its new gap gets a marker of its
    // own, not dropped as a duplicate of the first one.
    expect(await store.replayDead([a2!.id])).toBe(1);
    await drainAll(store, () => new Relay({ store, publisher: bus.publisher(), clock }), clock);
    expect((await store.listDead()).map((record) => [record.id, record.sequence])).toEqual([[a2!.id, 4]]);
    expect(
      bus.messages.filter((message) => message.headers['outbox-gap-event'] === a2!.id).map((m) => m.headers['outbox-gap-sequence']),
    ).toEqual(['2', '4']);
  });

  it('publishes no marker for a dead row without a sequence (subjectSequence: false, or written around enqueue)', async () => {
    const clock = new ManualClock();
    const store = new MemoryOutboxStore({ clock, maxEventBytes: 2_000, subjectSequence: false });
    const bus = new MemoryBus();
    const poison = sampleEvent('p', 1);
    const huge = sampleEvent('h', 1, { blob: 'x'.repeat(5_000) });
    await memoryTransaction((tx) => store.enqueue(tx, [poison]));
    store.insertUnchecked(encodeEvents([huge], { maxEventBytes: 1e9 }));
    bus.failPublish = () => new PublishError('EVENT_INVALID', 'bad header', false);
    await drainAll(store, () => new Relay({ store, publisher: bus.publisher(), clock }), clock);
    expect((await store.listDead()).map((record) => record.id).sort()).toEqual([poison.id, huge.id].sort());
    expect(bus.messages).toEqual([]);
  });

  it('publishes no marker when the store keeps dead rows blocking their subject', async () => {
    const clock = new ManualClock();
    const store = new MemoryOutboxStore({ clock, deadBlocksSubject: true });
    const bus = new MemoryBus();
    const [a1, a2] = [1, 2].map((n) => sampleEvent('a', n));
    await memoryTransaction((tx) => store.enqueue(tx, [a1!, a2!]));
    bus.failPublish = (record) => (record.id === a1!.id ? new PublishError('EVENT_INVALID', 'bad header', false) : undefined);
    await drainAll(store, () => new Relay({ store, publisher: bus.publisher(), clock }), clock);
    expect(bus.messages).toEqual([]);
    expect((await store.listDead()).map((record) => record.id)).toEqual([a1!.id]);
  });

  it('does not dead-letter an event whose marker was not stored: retried, then dead-lettered once its marker is', async () => {
    const clock = new ManualClock();
    const store = new MemoryOutboxStore({ clock });
    const bus = new MemoryBus();
    const [a1, a2, a3] = [1, 2, 3].map((n) => sampleEvent('a', n));
    await memoryTransaction((tx) => store.enqueue(tx, [a1!, a2!, a3!]));
    bus.failPublish = (record) => (record.id === a2!.id ? new PublishError('EVENT_INVALID', 'bad header', false) : undefined);
    let gapFailures = 1;
    bus.failGap = (record) =>
      record.id === a2!.id && gapFailures-- > 0 ? new PublishError('PUBLISH_TIMEOUT', 'no PubAck for the marker', true) : undefined;
    const events: RelayEvent[] = [];
    const relay = () =>
      new Relay({
        store,
        publisher: bus.publisher(),
        clock,
        backoff: { initialMs: 500, maxMs: 500, jitter: 0 },
        onEvent: (e) => events.push(e),
      });
    await relay().drain();
    expect(await store.listDead()).toEqual([]);
    expect(events.filter((event) => event.type === 'dead')).toEqual([]);
    const failed = events.find((event) => event.type === 'failed');
    expect(failed).toMatchObject({ id: a2!.id, attempt: 1, error: { code: 'PUBLISH_TIMEOUT' } });
    expect((failed as { error: Error }).error.message).toMatch(/gap marker of event .* was not stored/);
    // a3 waits behind a2, which is pending again.
    expect(bus.messages.map((message) => message.headers['ce-id'])).toEqual([a1!.id]);

    await drainAll(store, relay, clock);
    expect(await consumed(bus)).toEqual([`event a #1 ${a1!.id}`, `gap a #2 (outbox-dead-letter) of ${a2!.id}`, `event a #3 ${a3!.id}`]);
    expect((await store.listDead()).map((record) => record.id)).toEqual([a2!.id]);
  });

  it('counts no attempt when the marker failed on a broken connection, and keeps the row when publishGaps throws', async () => {
    const clock = new ManualClock();
    const store = new MemoryOutboxStore({ clock });
    const bus = new MemoryBus();
    const a1 = sampleEvent('a', 1);
    await memoryTransaction((tx) => store.enqueue(tx, [a1]));
    bus.failPublish = () => new PublishError('EVENT_INVALID', 'bad header', false);
    bus.failGap = () => new PublishError('DISCONNECTED', 'the connection closed under the marker', true);
    await new Relay({ store, publisher: bus.publisher(), clock }).drain();
    expect(await store.listDead()).toEqual([]);
    await clock.advance(60_000);
    const claimed = await store.claim({ batchSize: 10, leaseMs: 1_000 });
    expect(claimed.records.map((record) => [record.id, record.attempts])).toEqual([[a1.id, 0]]);
    await store.release(claimed.token, [{ id: a1.id, retryAfterMs: 0, error: 'test', countAttempt: false }]);

    bus.failGap = undefined;
    const base = bus.publisher();
    const throwing: Publisher = {
      ...base,
      publishGaps: async () => {
        throw new Error('the bus client broke');
      },
    };
    await new Relay({ store, publisher: throwing, clock }).drain();
    expect(await store.listDead()).toEqual([]);
    expect(bus.messages).toEqual([]);
    await clock.advance(60_000);
    await new Relay({ store, publisher: base, clock }).drain();
    expect((await store.listDead()).map((record) => record.id)).toEqual([a1.id]);
    expect(await consumed(bus)).toEqual([`gap a #1 (outbox-dead-letter) of ${a1.id}`]);
  });
});
