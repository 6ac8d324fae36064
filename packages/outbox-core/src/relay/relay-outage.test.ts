import { waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { sampleEvent } from '../conformance/sample-events.js';
import type { Logger } from '../contracts/logger.js';
import type { ClaimedBatch } from '../contracts/outbox-store.js';
import type { BusOutageReason, Publisher } from '../contracts/publisher.js';
import { PublishError } from '../errors.js';
import { MemoryBus } from '../testing/memory-bus.js';
import { MemoryOutboxStore, memoryTransaction } from '../testing/memory-outbox-store.js';
import { Relay } from './relay.js';
import type { RelayEvent } from './relay-events.js';

/** Resolves once `condition` holds (checked every millisecond), or fails naming `what` after 5 s. */
function until(what: string, condition: () => boolean): Promise<void> {
  return waitUntil(what, condition, 5_000, 1);
}

/** A store whose claims are counted and whose claimed attempts are recorded. */
function watchedStore(): { store: MemoryOutboxStore; claims: () => number; maxAttemptsSeen: () => number } {
  const store = new MemoryOutboxStore();
  const claim = store.claim.bind(store);
  let claims = 0;
  let maxAttempts = 0;
  store.claim = async (options): Promise<ClaimedBatch> => {
    claims++;
    const batch = await claim(options);
    for (const record of batch.records) maxAttempts = Math.max(maxAttempts, record.attempts);
    return batch;
  };
  return { store, claims: () => claims, maxAttemptsSeen: () => maxAttempts };
}

function capturingLogger(): { logger: Logger; lines: { level: string; message: string; fields: Record<string, unknown> }[] } {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      lines.push({ level, message, fields });
    };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

describe('Relay during stream-level outages', () => {
  for (const reason of ['stream-missing', 'full', 'no-leader'] as const) {
    it(`pauses claiming while the stream is ${reason}, counts no attempt, dead-letters nothing, and resumes by itself`, async () => {
      const { store, claims, maxAttemptsSeen } = watchedStore();
      const bus = new MemoryBus();
      const events = Array.from({ length: 40 }, (_, n) => sampleEvent(`s${n % 4}`, n));
      await memoryTransaction((tx) => store.enqueue(tx, events));
      bus.streamFault = reason;
      const seen: RelayEvent[] = [];
      const relay = new Relay({
        store,
        publisher: bus.publisher(),
        maxAttempts: 2,
        outageBackoff: { initialMs: 1, maxMs: 2 },
        onEvent: (event) => seen.push(event),
      });
      await relay.start();
      // Far more pauses than maxAttempts: an outage of any length uses up nothing.
      await until('10 outage pauses', () => seen.filter((event) => event.type === 'outage').length >= 10);
      expect(relay.busOutage).toMatchObject({ reason, detail: expect.stringContaining(reason) });
      const claimsWhilePaused = claims();
      const probesBefore = bus.probes;
      await until('5 more probes', () => bus.probes >= probesBefore + 5);
      // Paused means paused: the relay probes, it does not claim (no row is touched).
      expect(claims()).toBe(claimsWhilePaused);
      bus.streamFault = undefined;
      await until('every event published', () => bus.messages.length === events.length);
      expect(relay.busOutage).toBeUndefined();
      expect(await relay.stop({ timeoutMs: 1_000 })).toEqual({ drained: true, inFlight: 0 });
      expect(await store.listDead()).toEqual([]);
      expect(maxAttemptsSeen()).toBe(0);
      expect(seen.filter((event) => event.type === 'dead' || event.type === 'failed')).toEqual([]);
      expect(seen.find((event) => event.type === 'recovered')).toMatchObject({ reason });
    });
  }

  it('with claimAhead, gives the batch claimed ahead back when the stream is full, counting no attempt, and resumes in order', async () => {
    const { store, claims, maxAttemptsSeen } = watchedStore();
    const bus = new MemoryBus();
    // 8 subjects and batches of 4: every claim is full, so the relay claims ahead from the start.
    const events = Array.from({ length: 40 }, (_, n) => sampleEvent(`s${n % 8}`, n));
    await memoryTransaction((tx) => store.enqueue(tx, events));
    bus.streamFault = 'full';
    const seen: RelayEvent[] = [];
    const relay = new Relay({
      store,
      publisher: bus.publisher(),
      batchSize: 4,
      maxAttempts: 2,
      claimAhead: true,
      outageBackoff: { initialMs: 1, maxMs: 2 },
      onEvent: (event) => seen.push(event),
    });
    await relay.start();
    await until('10 outage pauses', () => seen.filter((event) => event.type === 'outage').length >= 10);
    // The first batch and the one claimed ahead: then paused, claiming nothing more.
    expect(claims()).toBe(2);
    bus.streamFault = undefined;
    await until('every event published', () => bus.messages.length === events.length);
    expect(await relay.stop({ timeoutMs: 1_000 })).toEqual({ drained: true, inFlight: 0 });
    expect(maxAttemptsSeen()).toBe(0);
    expect(await store.listDead()).toEqual([]);
    const order = new Map<string, number[]>();
    for (const message of bus.messages) {
      const subject = message.headers['ce-subject'] as string;
      order.set(subject, [...(order.get(subject) ?? []), (JSON.parse(message.body) as { n: number }).n]);
    }
    for (const [subject, ns] of order) expect(ns, subject).toEqual([...ns].sort((a, b) => a - b));
  });

  it('logs one warn per change of reason and one info on recovery', async () => {
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    await memoryTransaction((tx) => store.enqueue(tx, [sampleEvent('a', 1), sampleEvent('b', 1)]));
    const { logger, lines } = capturingLogger();
    const seen: RelayEvent[] = [];
    const relay = new Relay({
      store,
      publisher: bus.publisher(),
      logger,
      outageBackoff: { initialMs: 1, maxMs: 2 },
      onEvent: (event) => seen.push(event),
    });
    bus.streamFault = 'full';
    await relay.start();
    await until('5 pauses', () => seen.filter((event) => event.type === 'outage').length >= 5);
    bus.streamFault = 'no-leader';
    await until('the reason to change', () => relay.busOutage?.reason === 'no-leader');
    await until('5 more pauses', () => seen.filter((event) => event.type === 'outage' && event.reason === 'no-leader').length >= 5);
    bus.streamFault = undefined;
    await until('both events published', () => bus.messages.length === 2);
    await relay.stop();
    const warns = lines.filter((line) => line.level === 'warn').map((line) => line.message);
    expect(warns).toEqual([
      'stream full; pausing the relay (no attempts are counted)',
      'stream has no leader; pausing the relay (no attempts are counted)',
    ]);
    const infos = lines.filter((line) => line.level === 'info');
    expect(infos.map((line) => line.message)).toEqual(['bus healthy again; resuming the relay']);
    expect(infos[0]?.fields.was).toBe('no-leader');
  });

  it('ends an outage only when a batch publishes: a probe that says healthy too early costs no attempt and logs no recovery', async () => {
    const { store, maxAttemptsSeen } = watchedStore();
    const bus = new MemoryBus();
    const inner = bus.publisher();
    let probes = 0;
    // Every other probe is wrong (says healthy while the stream still refuses), as a full stream
    // whose limits do not show it can be.
    const publisher: Publisher = {
      publish: (records) => inner.publish(records),
      probe: async (options) => (bus.streamFault && probes++ % 2 === 1 ? { ok: true } : (inner.probe?.(options) ?? true)),
    };
    await memoryTransaction((tx) => store.enqueue(tx, [sampleEvent('a', 1), sampleEvent('b', 1)]));
    const { logger, lines } = capturingLogger();
    const seen: RelayEvent[] = [];
    bus.streamFault = 'full';
    const relay = new Relay({
      store,
      publisher,
      logger,
      maxAttempts: 2,
      outageBackoff: { initialMs: 1, maxMs: 2 },
      onEvent: (event) => seen.push(event),
    });
    await relay.start();
    await until('20 probes', () => probes >= 20);
    expect(relay.busOutage?.reason).toBe('full');
    bus.streamFault = undefined;
    await until('both events published', () => bus.messages.length === 2);
    await relay.stop();
    expect(maxAttemptsSeen()).toBe(0);
    expect(seen.filter((event) => event.type === 'recovered')).toHaveLength(1);
    expect(lines.filter((line) => line.level === 'warn')).toHaveLength(1);
    expect(await store.listDead()).toEqual([]);
  });

  it('reads a boolean probe (the older contract) as reachable or unreachable', async () => {
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    const inner = bus.publisher();
    const publisher: Publisher = { publish: (records) => inner.publish(records), probe: async () => !bus.down };
    await memoryTransaction((tx) => store.enqueue(tx, [sampleEvent('a', 1)]));
    bus.down = true;
    const relay = new Relay({ store, publisher, maxAttempts: 1, outageBackoff: { initialMs: 1, maxMs: 2 } });
    await relay.start();
    await until('the outage', () => relay.busOutage !== undefined);
    expect(relay.busOutage?.reason).toBe<BusOutageReason>('unreachable');
    bus.down = false;
    await until('the event published', () => bus.messages.length === 1);
    await relay.stop();
    expect(await store.listDead()).toEqual([]);
  });

  it('counts no attempt for a disconnect while the bus is healthy again, and still counts one for a failure of its own', async () => {
    const { store, maxAttemptsSeen } = watchedStore();
    const bus = new MemoryBus();
    const lost = sampleEvent('a', 1);
    const flaky = sampleEvent('b', 1);
    await memoryTransaction((tx) => store.enqueue(tx, [lost, flaky]));
    const failures = new Map([
      [lost.id, 3],
      [flaky.id, 1],
    ]);
    bus.failPublish = (record) => {
      const left = failures.get(record.id) ?? 0;
      if (left === 0) return undefined;
      failures.set(record.id, left - 1);
      return record.id === lost.id
        ? new PublishError('DISCONNECTED', 'the connection broke', true)
        : new PublishError('PUBLISH_TIMEOUT', 'timed out', true);
    };
    const seen: RelayEvent[] = [];
    const relay = new Relay({
      store,
      publisher: bus.publisher(),
      maxAttempts: 2,
      backoff: { initialMs: 1, maxMs: 1, jitter: 0 },
      outageBackoff: { initialMs: 1, maxMs: 1, jitter: 0 },
      onEvent: (event) => seen.push(event),
    });
    await relay.start();
    await until('both published', () => bus.messages.length === 2);
    await relay.stop();
    // The probe said healthy each time: no outage, the disconnects cost nothing, the timeout one attempt.
    expect(seen.filter((event) => event.type === 'outage')).toEqual([]);
    expect(seen.filter((event) => event.type === 'failed').map((event) => event.type === 'failed' && event.id)).toEqual([flaky.id]);
    expect(maxAttemptsSeen()).toBe(1);
    expect(await store.listDead()).toEqual([]);
  });

  it('without a probe, a batch that fails as a whole is an outage, and the next published batch ends it', async () => {
    const store = new MemoryOutboxStore();
    const bus = new MemoryBus();
    const inner = bus.publisher();
    const publisher: Publisher = { publish: (records) => inner.publish(records) };
    await memoryTransaction((tx) => store.enqueue(tx, [sampleEvent('a', 1), sampleEvent('b', 1)]));
    bus.streamFault = 'stream-missing';
    const seen: RelayEvent[] = [];
    const relay = new Relay({ store, publisher, maxAttempts: 1, outageBackoff: { initialMs: 1, maxMs: 2 }, onEvent: (e) => seen.push(e) });
    await relay.start();
    await until('5 pauses', () => seen.filter((event) => event.type === 'outage').length >= 5);
    expect(relay.busOutage?.reason).toBe('unreachable');
    bus.streamFault = undefined;
    await until('both published', () => bus.messages.length === 2);
    await until('the recovery', () => relay.busOutage === undefined);
    await relay.stop();
    expect(await store.listDead()).toEqual([]);
  });
});
