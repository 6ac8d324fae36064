import { afterAll, describe, expect, it } from 'vitest';
import { RESERVED_HEADERS, reservedHeaderRule } from '../contracts/bus-constraints.js';
import type { OutboxRecord } from '../contracts/outbox-store.js';
import type { PublishFailure, PublishSuccess } from '../contracts/publisher.js';
import type { SubjectGap } from '../contracts/subscriber.js';
import { sampleEvent } from './sample-events.js';

/** What a bus binding provides to run `describePublisher` against its real server. */
export interface PublisherHarness {
  /** A publisher on a fresh destination; called once per test. */
  createPublisher(): Promise<import('../contracts/publisher.js').Publisher>;
  /**
   * Everything the bus stored for this publisher so far, in stored order. With `subjectOrder`, each
   * message also says its `sequence` (the event's, as its subscriber decodes it) or, for a gap
   * marker, its `gap`.
   */
  stored(): Promise<
    Array<{
      id: string;
      type: string;
      subject: string;
      payload: string;
      headers: Record<string, string>;
      sequence?: number | undefined;
      gap?: SubjectGap | undefined;
    }>
  >;
  /**
   * The binding carries `OutboxRecord.sequence` and publishes gap markers (`publishGaps`): the suite
   * then checks both (docs/design/ordering.md, sections 1 and 4).
   */
  readonly subjectOrder?: boolean;
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

    it.runIf(harness.subjectOrder)('carries each record sequence, and none for a record without one', async () => {
      const publisher = await harness.createPublisher();
      const [a, b, c] = sampleRecords(3, 1);
      const records = [
        { ...a!, sequence: 1 },
        { ...b!, sequence: Number.MAX_SAFE_INTEGER },
        { ...c!, sequence: undefined },
      ];
      expect((await publisher.publish(records)).map((result) => result.ok)).toEqual([true, true, true]);
      expect((await harness.stored()).map((message) => message.sequence)).toEqual([1, Number.MAX_SAFE_INTEGER, undefined]);
    });

    it.runIf(harness.subjectOrder)(
      'publishes one gap marker per record, stores a re-published marker once, and a re-stamped one again',
      async () => {
        const publisher = await harness.createPublisher();
        const publishGaps = publisher.publishGaps?.bind(publisher);
        expect(publishGaps, 'a binding with subjectOrder has publishGaps').toBeDefined();
        if (!publishGaps) return;
        const [a, b, plain] = sampleRecords(3, 1);
        const records = [
          { ...a!, sequence: 4 },
          { ...b!, sequence: 5 },
        ];
        const results = await publishGaps([...records, plain!], 'outbox-dead-letter');
        expect(results.map((result) => [result.id, result.ok])).toEqual([
          [a!.id, true],
          [b!.id, true],
          [plain!.id, false],
        ]);
        expect((results[2] as PublishFailure).error).toMatchObject({ code: 'EVENT_INVALID', retryable: false });
        expect(await publishGaps([records[1]!], 'outbox-dead-letter')).toMatchObject([{ id: b!.id, ok: true, duplicate: true }]);
        // The same event, re-stamped by replayDead, dead again: a new gap of its subject.
        expect(await publishGaps([{ ...records[1]!, sequence: 9 }], 'outbox-dead-letter')).toMatchObject([
          { id: b!.id, ok: true, duplicate: false },
        ]);
        expect((await harness.stored()).map((message) => message.gap)).toEqual([
          { subject: a!.subject, sequence: 4, reason: 'outbox-dead-letter', eventId: a!.id },
          { subject: b!.subject, sequence: 5, reason: 'outbox-dead-letter', eventId: b!.id },
          { subject: b!.subject, sequence: 9, reason: 'outbox-dead-letter', eventId: b!.id },
        ]);
        // A marker's dedup id is not the event's: the event itself is still stored.
        expect(await publisher.publish([records[0]!])).toMatchObject([{ id: a!.id, ok: true, duplicate: false }]);
      },
    );
  });
}
