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
    const env = {
      OUTBOX_DATABASE_URL: fixture.url,
      OUTBOX_TABLE: table,
      OUTBOX_NATS_URL: NATS_URL,
      OUTBOX_STREAM: stream,
      OUTBOX_SUBJECT_PREFIX: stream.toLowerCase(),
      OUTBOX_METRICS_ADDR: 'off',
    };
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
    expect(await streamCount(nc, stream)).toBe(events.length);
    const stored = await readStream(nc, stream);
    expect(idsOf(stored)).toEqual(events.map((e) => e.id).sort());
    for (const [subject, ns] of perSubjectSequences(stored)) {
      expect(ns, subject).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    }

    const status = await runRelay(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ schema: { current: true }, pending: 0, dead: 0 });
  });
});
