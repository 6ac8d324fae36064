import type { NatsConnection } from '@nats-io/transport-node';
import { waitUntil } from '@outboxkit/test-services';
import { afterEach, describe, expect, it } from 'vitest';
import { makeEvents } from './make-events.js';
import { idsOf, readStream, streamCount } from './nats-stream.js';
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

describe('outbox-relay on PostgreSQL: signals and crashes', { timeout: 120_000 }, () => {
  it('SIGTERM mid-backlog exits 0, and a second run --once finishes: every event once', async () => {
    const { table, stream, env } = setup({ OUTBOX_BATCH_SIZE: '100' });
    await fixture.store(table).migrate();
    const events = makeEvents(10_000, 1_000);
    await fixture.enqueue(table, events);

    const relay = startRelay(['run'], env);
    await waitUntil('some events published', async () => (await streamCount(nc, stream)) > 0);
    relay.child.kill('SIGTERM');
    const { code } = await relay.exited;
    expect(relay.stderr()).toBe('');
    expect(code).toBe(0);
    expect(relay.logs().map((line) => line.msg)).toContain('outbox-relay stopped');
    expect(await streamCount(nc, stream)).toBeLessThan(events.length);

    const second = await runRelay(['run', '--once'], env);
    expect(second.code).toBe(0);
    await expectExactlyOnce(
      stream,
      events.map((e) => e.id),
    );
  });

  it('kill -9 mid-backlog, restart: every event once (the dedup window covers the re-publish)', async () => {
    const leaseMs = 3_000;
    const { table, stream, env } = setup({
      OUTBOX_BATCH_SIZE: '200',
      OUTBOX_LEASE_MS: String(leaseMs),
      // The lease must cover a wave's publish timeout + 1 s (the relay's start-up check).
      OUTBOX_PUBLISH_TIMEOUT_MS: '2000',
    });
    await fixture.store(table).migrate();
    const events = makeEvents(10_000, 1_000);
    await fixture.enqueue(table, events);

    const relay = startRelay(['run'], env);
    await waitUntil('some events published', async () => (await streamCount(nc, stream)) > 0);
    relay.child.kill('SIGKILL');
    expect((await relay.exited).signal).toBe('SIGKILL');
    // The killed relay's lease must run out before another relay can take its rows.
    await waitUntil(
      'the killed relay to hold no lease',
      async () => {
        const held = await fixture.pool.query(`SELECT count(*)::int AS n FROM "${fixture.schema}"."${table}" WHERE locked_until > now()`);
        return held.rows[0].n === 0;
      },
      leaseMs * 4,
    );

    const restarted = await runRelay(['run', '--once'], env);
    expect(restarted.code).toBe(0);
    await expectExactlyOnce(
      stream,
      events.map((e) => e.id),
    );
  });
});
