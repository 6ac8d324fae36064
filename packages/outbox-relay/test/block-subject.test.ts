import type { NatsConnection } from '@nats-io/transport-node';
import { createEvent } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { perSubjectSequences, readStream } from './nats-stream.js';
import { pgFixtureWithNatsPerFile, pgRelaySetup } from './pg-fixture.js';
import { runRelay } from './relay-process.js';

let nc: NatsConnection;
const { fixture, streams } = pgFixtureWithNatsPerFile((connection) => {
  nc = connection;
});

/** Each subject's `n` values in stream order (the stream interleaves subjects freely). */
async function stored(stream: string): Promise<Record<string, number[]>> {
  return Object.fromEntries(perSubjectSequences(await readStream(nc, stream)));
}

const event = (subject: string, n: number) =>
  createEvent({ type: 'test.item.changed', source: 'relay-test', subject, data: { index: n, n } });

/** A table holding a dead head of subject `a`, then a2, a3 and b1 pending; returns the env and stream. */
async function withDeadHead(blockSubject: string) {
  const setup = pgRelaySetup(fixture, streams, { OUTBOX_BLOCK_SUBJECT: blockSubject });
  const store = fixture.store(setup.table);
  await store.migrate();
  const a1 = event('a', 1);
  await fixture.enqueue(setup.table, [a1]);
  const batch = await store.claim({ batchSize: 10, leaseMs: 10_000 });
  expect(await store.deadLetter(batch.token, [{ id: a1.id, error: 'refused for good' }])).toBe(1);
  await fixture.enqueue(setup.table, [event('a', 2), event('a', 3), event('b', 1)]);
  return { ...setup, store, a1 };
}

describe('--block-subject', { timeout: 120_000 }, () => {
  it('false (the default): the subject goes on without its dead event, which a retry publishes after them', async () => {
    const { env, stream, store, a1 } = await withDeadHead('false');
    const run = await runRelay(['run', '--once'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(await stored(stream)).toEqual({ a: [2, 3], b: [1] });
    expect(await store.stats()).toMatchObject({ pending: 0, dead: 1 });

    const retry = await runRelay(['dead', 'retry', a1.id], env);
    expect(retry.stderr).toContain('applied after the newer events of its subject');
    expect((await runRelay(['run', '--once'], env)).code).toBe(0);
    expect(await stored(stream)).toEqual({ a: [2, 3, 1], b: [1] });
  });

  it('true: the dead event holds its subject back; after dead retry the subject is published in order', async () => {
    const { env, stream, store, a1 } = await withDeadHead('true');
    const run = await runRelay(['run', '--once'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(await stored(stream)).toEqual({ b: [1] });
    expect(await store.stats()).toMatchObject({ pending: 2, dead: 1 });

    expect((await runRelay(['dead', 'retry', a1.id], env)).code).toBe(0);
    expect((await runRelay(['run', '--once', '--block-subject', 'true'], { ...env, OUTBOX_BLOCK_SUBJECT: 'false' })).code).toBe(0);
    expect(await stored(stream)).toEqual({ a: [1, 2, 3], b: [1] });
    expect(await store.stats()).toMatchObject({ pending: 0, dead: 0 });
  });
});
