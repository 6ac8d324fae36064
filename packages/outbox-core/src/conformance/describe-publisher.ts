import { afterAll, describe, expect, it } from 'vitest';
import { RESERVED_HEADERS, reservedHeaderRule } from '../contracts/bus-constraints.js';
import type { OutboxRecord } from '../contracts/outbox-store.js';
import type { PublishSuccess } from '../contracts/publisher.js';
import { sampleEvent } from './sample-events.js';

/** What a bus binding provides to run `describePublisher` against its real server. */
export interface PublisherHarness {
  /** A publisher on a fresh destination; called once per test. */
  createPublisher(): Promise<import('../contracts/publisher.js').Publisher>;
  /** Everything the bus stored for this publisher so far, in stored order. */
  stored(): Promise<Array<{ id: string; type: string; subject: string; payload: string; headers: Record<string, string> }>>;
  /** Deletes what the harness created and closes its connections; called once, after the suite. */
  dispose(): Promise<void>;
}

/** Builds outbox records as a store would return them. */
export function sampleRecords(count: number, subjects = 10): OutboxRecord[] {
  return Array.from({ length: count }, (_, n) => {
    const event = sampleEvent(`s${n % subjects}`, n);
    return { ...event, payload: JSON.stringify(event.data), attempts: 0 };
  });
}

/** The `Publisher` contract as tests: every bus binding runs it against its real server. */
export function describePublisher(name: string, makeHarness: () => PublisherHarness): void {
  describe(`${name} (Publisher conformance)`, () => {
    const harness = makeHarness();
    afterAll(() => harness.dispose());

    it('publishes a batch in order, one successful result per record, attributes and payload intact', async () => {
      const publisher = await harness.createPublisher();
      const records = sampleRecords(200);
      const results = await publisher.publish(records);
      expect(results.map((result) => [result.id, result.ok])).toEqual(records.map((record) => [record.id, true]));
      expect(results.every((result) => result.ok && !result.duplicate)).toBe(true);
      const stored = await harness.stored();
      expect(stored.map((message) => message.id)).toEqual(records.map((record) => record.id));
      expect(stored[0]).toMatchObject({ type: records[0]!.type, subject: records[0]!.subject, payload: records[0]!.payload });
      expect(stored[0]?.headers.traceparent).toBe(records[0]!.headers.traceparent);
    });

    it('stores a re-published id once and reports the second publish as a duplicate', async () => {
      const publisher = await harness.createPublisher();
      const records = sampleRecords(3);
      await publisher.publish(records);
      const again = await publisher.publish([records[1]!]);
      expect(again).toHaveLength(1);
      expect(again[0]).toMatchObject({ id: records[1]!.id, ok: true, duplicate: true } satisfies Partial<PublishSuccess>);
      expect((await harness.stored()).map((message) => message.id)).toEqual(records.map((record) => record.id));
    });

    it('declares only reserved headers that enqueue already refuses', async () => {
      const publisher = await harness.createPublisher();
      const constraints = publisher.constraints ?? { reservedHeaderPrefixes: [], reservedHeaderNames: [] };
      const samples = [...constraints.reservedHeaderPrefixes.map((prefix) => `${prefix}X`), ...constraints.reservedHeaderNames];
      for (const name of samples) expect(reservedHeaderRule(name.toUpperCase(), RESERVED_HEADERS), name).toBeDefined();
    });

    it('probes healthy (when it has a probe) for records its bus can take', async () => {
      const publisher = await harness.createPublisher();
      if (!publisher.probe) return;
      const records = sampleRecords(3);
      const health = await publisher.probe({ records });
      expect(health === true || (typeof health === 'object' && health.ok)).toBe(true);
    });

    it('returns no results for no records', async () => {
      const publisher = await harness.createPublisher();
      expect(await publisher.publish([])).toEqual([]);
    });
  });
}
