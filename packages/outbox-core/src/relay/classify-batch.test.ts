import { describe, expect, it } from 'vitest';
import type { OutboxRecord } from '../contracts/outbox-store.js';
import type { BusHealth, PublishResult } from '../contracts/publisher.js';
import { PublishError } from '../errors.js';
import { createBackoff } from '../util/backoff.js';
import { type ClassifyPolicy, classifyBatch, probeRecordLimit, probeRecords, readPublishResults } from './classify-batch.js';

function records(count: number, attempts = 0): OutboxRecord[] {
  return Array.from({ length: count }, (_, n) => ({
    id: `id-${n}`,
    type: 'test.sample.happened',
    source: 'tests',
    subject: `s${n}`,
    time: '2026-01-01T00:00:00.000Z',
    payload: '{}',
    headers: {},
    attempts,
  }));
}

const ok = (id: string, duplicate = false): PublishResult => ({ id, ok: true, duplicate, sequence: 1 });
const fail = (id: string, code: PublishError['code'], retryable: boolean): PublishResult => ({
  id,
  ok: false,
  error: new PublishError(code, `${code} for ${id}`, retryable),
});

const now = Date.parse('2026-01-01T00:00:00.000Z');
const policy: ClassifyPolicy = {
  maxAttempts: 3,
  backoff: createBackoff({ initialMs: 1_000, maxMs: 60_000, jitter: 0 }),
  outageBackoff: createBackoff({ initialMs: 500, maxMs: 15_000, jitter: 0 }),
  now,
};
const healthy: BusHealth = { ok: true };
const full: BusHealth = { ok: false, reason: 'full', detail: 'stream ORDERS is full' };

describe('readPublishResults', () => {
  it('sorts acknowledged from failed in batch order, counting duplicates and retryable failures', () => {
    const batch = records(4);
    const outcome = readPublishResults(batch, [
      ok('id-0'),
      fail('id-1', 'PUBLISH_TIMEOUT', true),
      ok('id-2', true),
      fail('id-3', 'PAYLOAD_TOO_LARGE', false),
    ]);
    expect(outcome.completed).toEqual(['id-0', 'id-2']);
    expect(outcome.duplicates).toBe(1);
    expect(outcome.failed.map((entry) => [entry.record.id, entry.error.code])).toEqual([
      ['id-1', 'PUBLISH_TIMEOUT'],
      ['id-3', 'PAYLOAD_TOO_LARGE'],
    ]);
    expect(outcome.retryableFailures).toBe(1);
  });

  it('reads a missing result as a retryable failure, so the event is retried, not lost', () => {
    const outcome = readPublishResults(records(2), [ok('id-0')]);
    expect(outcome.failed).toMatchObject([{ record: { id: 'id-1' }, error: { code: 'PUBLISH_FAILED', retryable: true } }]);
    expect(outcome.retryableFailures).toBe(1);
  });

  it('asks a probe about at most probeRecordLimit failed records', () => {
    const batch = records(probeRecordLimit + 10);
    const outcome = readPublishResults(
      batch,
      batch.map((record) => fail(record.id, 'PUBLISH_TIMEOUT', true)),
    );
    expect(probeRecords(outcome)).toEqual(batch.slice(0, probeRecordLimit));
  });
});

describe('classifyBatch', () => {
  it('completes every acknowledged event and pauses nothing when the whole batch published', () => {
    const plan = classifyBatch(readPublishResults(records(2), [ok('id-0'), ok('id-1', true)]), undefined, policy);
    expect(plan).toEqual({ complete: ['id-0', 'id-1'], duplicates: 1, release: [], deadLetter: [], events: [], pause: undefined });
  });

  it('releases a retryable content failure after the backoff of its attempt, counting it, and reports when it is due', () => {
    const batch = records(2, 1);
    const plan = classifyBatch(readPublishResults(batch, [ok('id-0'), fail('id-1', 'PUBLISH_TIMEOUT', true)]), healthy, policy);
    // Attempt 2 of 3: 1_000 * 2^(2-1).
    expect(plan.release).toEqual([{ id: 'id-1', retryAfterMs: 2_000, error: 'PUBLISH_TIMEOUT for id-1', countAttempt: true }]);
    expect(plan.events).toMatchObject([{ type: 'failed', id: 'id-1', subject: 's1', attempt: 2, retryAt: new Date(now + 2_000) }]);
    expect(plan.complete).toEqual(['id-0']);
    expect(plan.deadLetter).toEqual([]);
    expect(plan.pause).toBeUndefined();
  });

  it('dead-letters a retryable failure on its last attempt', () => {
    const plan = classifyBatch(readPublishResults(records(2, 2), [ok('id-0'), fail('id-1', 'PUBLISH_TIMEOUT', true)]), healthy, policy);
    expect(plan.deadLetter).toEqual([{ id: 'id-1', error: 'PUBLISH_TIMEOUT for id-1' }]);
    expect(plan.events).toMatchObject([{ type: 'dead', id: 'id-1', attempts: 3, error: { code: 'PUBLISH_TIMEOUT' } }]);
    expect(plan.release).toEqual([]);
  });

  it('dead-letters a non-retryable failure at its first attempt, without asking about the bus', () => {
    const plan = classifyBatch(readPublishResults(records(1), [fail('id-0', 'PAYLOAD_TOO_LARGE', false)]), undefined, policy);
    expect(plan.deadLetter).toEqual([{ id: 'id-0', error: 'PAYLOAD_TOO_LARGE for id-0' }]);
    expect(plan.events).toMatchObject([{ type: 'dead', id: 'id-0', attempts: 1 }]);
    expect(plan.pause).toBeUndefined();
  });

  it('when the probe says the bus is down: releases every failure at once without counting it, dead-letters nothing, and pauses', () => {
    const batch = records(3, 2);
    const outcome = readPublishResults(batch, [ok('id-0'), fail('id-1', 'PUBLISH_FAILED', true), fail('id-2', 'PAYLOAD_TOO_LARGE', false)]);
    const plan = classifyBatch(outcome, full, policy);
    expect(plan.release).toEqual([
      { id: 'id-1', retryAfterMs: 0, error: 'PUBLISH_FAILED for id-1', countAttempt: false },
      { id: 'id-2', retryAfterMs: 0, error: 'PAYLOAD_TOO_LARGE for id-2', countAttempt: false },
    ]);
    expect(plan.deadLetter).toEqual([]);
    expect(plan.events).toEqual([]);
    expect(plan.complete).toEqual(['id-0']);
    expect(plan.pause).toEqual({ health: full, error: outcome.failed[0]?.error, records: [batch[1], batch[2]] });
  });

  it('releases a DISCONNECTED failure after the first outage step without counting it, though the bus is healthy', () => {
    const plan = classifyBatch(readPublishResults(records(2, 2), [ok('id-0'), fail('id-1', 'DISCONNECTED', true)]), healthy, policy);
    expect(plan.release).toEqual([{ id: 'id-1', retryAfterMs: 500, error: 'DISCONNECTED for id-1', countAttempt: false }]);
    expect(plan.events).toEqual([]);
    expect(plan.pause).toBeUndefined();
  });

  describe('without a probe', () => {
    it('a batch of several whose every publish failed retryably is an outage', () => {
      const plan = classifyBatch(
        readPublishResults(records(2), [fail('id-0', 'PUBLISH_TIMEOUT', true), fail('id-1', 'PUBLISH_TIMEOUT', true)]),
        undefined,
        policy,
      );
      expect(plan.pause).toMatchObject({ health: { ok: false, reason: 'unreachable', detail: 'PUBLISH_TIMEOUT for id-0' } });
      expect(plan.release.every((entry) => !entry.countAttempt && entry.retryAfterMs === 0)).toBe(true);
    });

    it('a lone publish that failed retryably is the event’s own failure, unless it is DISCONNECTED', () => {
      const timeout = classifyBatch(readPublishResults(records(1), [fail('id-0', 'PUBLISH_TIMEOUT', true)]), undefined, policy);
      expect(timeout.pause).toBeUndefined();
      expect(timeout.release).toMatchObject([{ id: 'id-0', countAttempt: true, retryAfterMs: 1_000 }]);
      const disconnected = classifyBatch(readPublishResults(records(1), [fail('id-0', 'DISCONNECTED', true)]), undefined, policy);
      expect(disconnected.pause).toMatchObject({ health: { reason: 'unreachable' } });
      expect(disconnected.release).toMatchObject([{ id: 'id-0', countAttempt: false, retryAfterMs: 0 }]);
    });

    it('a batch with one publish through is no outage: its failures are their own', () => {
      const plan = classifyBatch(readPublishResults(records(2), [ok('id-0'), fail('id-1', 'PUBLISH_TIMEOUT', true)]), undefined, policy);
      expect(plan.pause).toBeUndefined();
      expect(plan.release).toMatchObject([{ id: 'id-1', countAttempt: true }]);
    });
  });
});
