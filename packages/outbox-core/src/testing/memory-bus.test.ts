import { describe, expect, it } from 'vitest';
import { sampleRecords } from '../conformance/describe-publisher.js';
import type { OutboxRecord } from '../contracts/outbox-store.js';
import { EventDecodeError, PublishError } from '../errors.js';
import { MemoryBus } from './memory-bus.js';

function sequenced(count: number): OutboxRecord[] {
  return sampleRecords(count, 1).map((record, n) => ({ ...record, sequence: n + 1 }));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EventDecodeError);
    return (error as EventDecodeError).code;
  }
  return undefined;
}

describe('MemoryBus: subject sequences and gap markers', () => {
  it('carries a record sequence to event.sequence, and none for a record without one', async () => {
    const bus = new MemoryBus();
    const [first, second] = sequenced(2);
    const plain = sampleRecords(1)[0]!;
    await bus.publisher().publish([first!, second!, plain]);
    expect(bus.messages[0]?.headers['ce-subjectseq']).toBe('1');
    const deliveries = await bus.subscriber({ name: 'c' }).fetch({ max: 3, expiresMs: 0 });
    expect(deliveries.map((delivery) => delivery.decode().sequence)).toEqual([1, 2, undefined]);
    expect(deliveries.map((delivery) => delivery.gap)).toEqual([undefined, undefined, undefined]);
    expect('sequence' in deliveries[2]!.decode()).toBe(false);
    expect(deliveries[0]!.decode().headers).not.toHaveProperty('ce-subjectseq');
  });

  it('refuses a malformed ce-subjectseq as a content failure (DECODE_FAILED)', async () => {
    const bus = new MemoryBus();
    const base = {
      'ce-specversion': '1.0',
      'ce-type': 't.x',
      'ce-source': 's',
      'ce-subject': 'p1',
      'ce-time': new Date().toISOString(),
    };
    for (const [n, value] of ['0', '-1', '1.5', 'x', '9007199254740993', '01', ' 2'].entries()) {
      bus.publishRaw({ ...base, 'ce-id': `e${n}`, 'ce-subjectseq': value }, '{}');
    }
    const deliveries = await bus.subscriber({ name: 'c' }).fetch({ max: 10, expiresMs: 0 });
    expect(deliveries).toHaveLength(7);
    for (const delivery of deliveries)
      expect(
        codeOf(() => delivery.decode()),
        delivery.messageId,
      ).toBe('DECODE_FAILED');
  });

  it('publishes one gap marker per record: Delivery.gap set, decode() throws GAP_MARKER, a re-publish stored once', async () => {
    const bus = new MemoryBus();
    const publisher = bus.publisher();
    const records = sequenced(2);
    const results = await publisher.publishGaps!(records, 'outbox-dead-letter');
    expect(results.map((result) => [result.id, result.ok, result.ok && result.duplicate])).toEqual([
      [records[0]!.id, true, false],
      [records[1]!.id, true, false],
    ]);
    const again = await publisher.publishGaps!([records[1]!], 'outbox-dead-letter');
    expect(again[0]).toMatchObject({ id: records[1]!.id, ok: true, duplicate: true });
    expect(bus.messages).toHaveLength(2);
    expect(bus.messages[1]?.body).toBe('');
    // The marker's dedup id is not the event's: the event itself can still be published.
    expect((await publisher.publish([records[1]!]))[0]).toMatchObject({ ok: true, duplicate: false });
    const deliveries = await bus.subscriber({ name: 'c' }).fetch({ max: 3, expiresMs: 0 });
    expect(deliveries[1]!.gap).toEqual({
      subject: records[1]!.subject,
      sequence: 2,
      reason: 'outbox-dead-letter',
      eventId: records[1]!.id,
    });
    expect(deliveries[1]!.messageId).toBe(`${records[1]!.id}.gap.2`);
    expect(codeOf(() => deliveries[1]!.decode())).toBe('GAP_MARKER');
    expect(deliveries[2]!.gap).toBeUndefined();
    expect(deliveries[2]!.decode().sequence).toBe(2);
  });

  it('fails a marker as publish fails (down, failGap), and refuses a record without a sequence', async () => {
    const bus = new MemoryBus();
    const publisher = bus.publisher();
    const [first, second] = sequenced(2);
    bus.down = true;
    const down = await publisher.publishGaps!([first!], 'outbox-dead-letter');
    expect(down[0]).toMatchObject({ id: first!.id, ok: false, error: { code: 'DISCONNECTED', retryable: true } });
    bus.down = false;
    bus.failGap = (record) => (record.id === second!.id ? new PublishError('PUBLISH_FAILED', 'injected', true) : undefined);
    const results = await publisher.publishGaps!([first!, second!, sampleRecords(1)[0]!], 'outbox-dead-letter');
    expect(results.map((result) => result.ok)).toEqual([true, false, false]);
    expect(results[2]).toMatchObject({ ok: false, error: { code: 'EVENT_INVALID', retryable: false } });
    expect(bus.messages).toHaveLength(1);
  });

  it('makes a malformed marker a content failure: no gap, decode() throws DECODE_FAILED', async () => {
    const bus = new MemoryBus();
    bus.publishRaw({ 'outbox-gap-subject': 'p1', 'outbox-gap-sequence': 'two', 'outbox-gap-reason': 'x', 'outbox-gap-event': 'e1' }, '');
    bus.publishRaw({ 'outbox-gap-sequence': '3', 'outbox-gap-reason': 'x' }, '');
    const deliveries = await bus.subscriber({ name: 'c' }).fetch({ max: 2, expiresMs: 0 });
    for (const delivery of deliveries) {
      expect(delivery.gap).toBeUndefined();
      expect(codeOf(() => delivery.decode())).toBe('DECODE_FAILED');
    }
  });
});
