import type { NatsConnection } from '@nats-io/transport-node';
import { MemoryOutboxStore } from '@outboxkit/outbox-core/testing';
import { describe, expect, it } from 'vitest';
import { ConsoleSampler } from './console-sampler.js';

describe('ConsoleSampler.observe', () => {
  it('lists a subject whose head failed until it is dead-lettered or its retry is long past', () => {
    // observe() and failing() touch neither the store nor NATS.
    const sampler = new ConsoleSampler({ store: new MemoryOutboxStore(), connection: {} as NatsConnection, stream: 'EVENTS' });
    const now = Date.now();
    sampler.observe({ type: 'failed', id: 'a', subject: 's1', attempt: 2, error: new Error('timeout'), retryAt: new Date(now + 1_000) });
    sampler.observe({ type: 'failed', id: 'b', subject: 's2', attempt: 1, error: new Error('refused'), retryAt: new Date(now + 1_000) });
    expect(sampler.failing(now).map((entry) => [entry.subject, entry.attempt, entry.error])).toEqual([
      ['s1', 2, 'timeout'],
      ['s2', 1, 'refused'],
    ]);
    sampler.observe({ type: 'dead', id: 'a', subject: 's1', attempts: 3, error: new Error('timeout') });
    expect(sampler.failing(now).map((entry) => entry.subject)).toEqual(['s2']);
    expect(sampler.failing(now + 31_001)).toEqual([]);
  });
});
