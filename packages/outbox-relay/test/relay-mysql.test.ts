import type { NatsConnection } from '@nats-io/transport-node';
import { NATS_URL } from '@outboxkit/test-services';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeEvents } from './make-events.js';
import { MysqlFixture } from './mysql-fixture.js';
import { deleteStream, idsOf, natsConnect, perSubjectSequences, readStream, streamCount } from './nats-stream.js';
import { randomName } from './random-name.js';
import { killStartedRelays, runRelay } from './relay-process.js';

const fixture = new MysqlFixture();
let nc: NatsConnection;
const streams: string[] = [];

beforeAll(async () => {
  await fixture.init();
  nc = await natsConnect();
});

afterEach(() => killStartedRelays());

afterAll(async () => {
  killStartedRelays();
  for (const stream of streams) await deleteStream(nc, stream);
  await nc.close();
  await fixture.dispose();
});

describe('outbox-relay on MariaDB', { timeout: 120_000 }, () => {
  it('migrate, then run --once publishes a 10,000-event backlog exactly once, in per-subject order, and exits 0', async () => {
    const table = randomName('outbox');
    const stream = randomName('RELAY').toUpperCase();
    streams.push(stream);
    const env = relayEnv(table, stream);
    const before = await runRelay(['status'], env);
    expect(before.code).toBe(3);
    expect(before.stdout).toContain('outbox-relay migrate');

    const migrated = await runRelay(['migrate'], env);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stderr).toBe('');
    const events = makeEvents(10_000, 1_000);
    await fixture.enqueue(table, events);

    const run = await runRelay(['run', '--once'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    await expectPublishedOnceInOrder(stream, events, 10);

    const status = await runRelay(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ schema: { current: true }, pending: 0, dead: 0 });
  });

  it('run --once --claim-ahead true publishes the backlog exactly once, in per-subject order', async () => {
    const table = randomName('outbox');
    const stream = randomName('AHEAD').toUpperCase();
    streams.push(stream);
    const env = relayEnv(table, stream);
    expect((await runRelay(['migrate'], env)).code).toBe(0);
    const events = makeEvents(6_000, 200);
    await fixture.enqueue(table, events);
    const run = await runRelay(['run', '--once', '--claim-ahead', 'true', '--batch-size', '100'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    await expectPublishedOnceInOrder(stream, events, 30);
    const status = await runRelay(['status', '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 0, dead: 0 });
  });
});

/** Every event in the stream once, and each subject's `perSubject` events in write order. */
async function expectPublishedOnceInOrder(stream: string, events: readonly { id: string }[], perSubject: number): Promise<void> {
  expect(await streamCount(nc, stream)).toBe(events.length);
  const stored = await readStream(nc, stream);
  expect(idsOf(stored)).toEqual(events.map((e) => e.id).sort());
  for (const [subject, ns] of perSubjectSequences(stored)) {
    expect(ns, subject).toEqual(Array.from({ length: perSubject }, (_, i) => i + 1));
  }
}

/** The relay's environment for one table and one stream of this file's fixture. */
function relayEnv(table: string, stream: string): Record<string, string> {
  return {
    OUTBOX_DATABASE_URL: fixture.url,
    OUTBOX_TABLE: table,
    OUTBOX_NATS_URL: NATS_URL,
    OUTBOX_STREAM: stream,
    OUTBOX_SUBJECT_PREFIX: stream.toLowerCase(),
    OUTBOX_METRICS_ADDR: 'off',
  };
}
