import type { NatsConnection } from '@nats-io/transport-node';
import { waitUntil } from '@outboxkit/test-services';
import { afterEach, describe, expect, it } from 'vitest';
import { makeEvents } from './make-events.js';
import { idsOf, perSubjectSequences, readStream, streamCount } from './nats-stream.js';
import { pgFixtureWithNatsPerFile, pgRelaySetup } from './pg-fixture.js';
import { killStartedRelays, runRelay, startRelay } from './relay-process.js';

let nc: NatsConnection;
const { fixture, streams } = pgFixtureWithNatsPerFile((connection) => {
  nc = connection;
});

afterEach(() => killStartedRelays());

function setup(overrides: Record<string, string> = {}): ReturnType<typeof pgRelaySetup> {
  return pgRelaySetup(fixture, streams, overrides);
}

async function expectExactlyOnce(stream: string, ids: readonly string[]): Promise<void> {
  expect(await streamCount(nc, stream)).toBe(ids.length);
  const stored = await readStream(nc, stream);
  expect(idsOf(stored)).toEqual([...ids].sort());
}

describe('outbox-relay on PostgreSQL', { timeout: 120_000 }, () => {
  it('migrate, then run --once publishes a 10,000-event backlog exactly once and exits 0', async () => {
    const { table, stream, env } = setup();
    const migrated = await runRelay(['migrate'], env);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stderr).toBe('');
    const events = makeEvents(10_000, 1_000);
    await fixture.enqueue(table, events);

    const status = await runRelay(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ schema: { current: true }, pending: 10_000, dead: 0 });

    const run = await runRelay(['run', '--once'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    await expectExactlyOnce(
      stream,
      events.map((e) => e.id),
    );
    expect(await fixture.store(table).stats()).toMatchObject({ pending: 0, dead: 0 });
  });

  it('exits 3 with a hint to migrate when the table was never migrated', async () => {
    const { env } = setup();
    const run = await runRelay(['run', '--once'], env);
    expect(run.code).toBe(3);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('outbox-relay migrate');
  });

  it('two relays on one table: each event once, per-subject order kept; /metrics counts what each published', async () => {
    const { table, stream, env } = setup({ OUTBOX_BATCH_SIZE: '100', OUTBOX_METRICS_ADDR: '127.0.0.1:0' });
    await fixture.store(table).migrate();
    const events = makeEvents(4_000, 400);
    await fixture.enqueue(table, events);

    const relays = [startRelay(['run'], env), startRelay(['run'], env)];
    const addresses = await Promise.all(
      relays.map(async (relay) => String((await relay.waitForLog('http server listening (/healthz, /readyz, /metrics)')).address)),
    );
    await waitUntil('every event published', async () => (await streamCount(nc, stream)) >= events.length, 60_000);

    const publishedBy = (address: string): Promise<number> =>
      fetch(`http://${address}/metrics`)
        .then((response) => response.text())
        .then((text) => Number(/^outbox_published_total (\d+)$/m.exec(text)?.[1]));
    const sum = async (): Promise<number[]> => Promise.all(addresses.map(publishedBy));
    // The counters move when a batch is settled, just after its PubAcks: wait for the last one.
    await waitUntil('the last batches to be counted', async () => (await sum()).reduce((a, b) => a + b) >= events.length, 10_000);
    const published = await sum();
    expect(published[0]! + published[1]!).toBe(events.length);

    for (const relay of relays) relay.child.kill('SIGTERM');
    const exits = await Promise.all(relays.map((relay) => relay.exited));
    expect(exits.map((exit) => exit.code)).toEqual([0, 0]);

    const stored = await readStream(nc, stream);
    expect(idsOf(stored)).toEqual(events.map((e) => e.id).sort());
    const sequences = perSubjectSequences(stored);
    expect(sequences.size).toBe(400);
    for (const [subject, ns] of sequences) {
      expect(ns, subject).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    }
  });
});
