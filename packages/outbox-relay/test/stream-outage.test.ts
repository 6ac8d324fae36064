import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { makeEvents } from './make-events.js';
import { streamCount } from './nats-stream.js';
import { pgFixtureWithNatsPerFile, pgRelaySetup } from './pg-fixture.js';
import { runRelay, startRelay } from './relay-process.js';

let nc: NatsConnection;
const { fixture, streams } = pgFixtureWithNatsPerFile((connection) => {
  nc = connection;
});

async function readyz(address: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://${address}/readyz`);
  return { status: response.status, body: await response.text() };
}

describe('outbox-relay run through stream-level outages', { timeout: 120_000 }, () => {
  it('pauses on a full stream and on a deleted one (/readyz 503 naming the reason), resumes by itself, dead-letters nothing', async () => {
    const { table, stream, env } = pgRelaySetup(fixture, streams, {
      OUTBOX_METRICS_ADDR: '127.0.0.1:0',
      OUTBOX_STATS_INTERVAL_MS: '200',
      OUTBOX_MAX_ATTEMPTS: '2',
    });
    const jsm = await jetstreamManager(nc);
    // The operator's stream: 5 messages at most, new ones refused.
    await jsm.streams.add({
      name: stream,
      subjects: [`${stream.toLowerCase()}.>`],
      max_msgs: 5,
      discard: 'new' as never,
      duplicate_window: 120_000_000_000,
    });
    await fixture.store(table).migrate();
    const relay = startRelay(['run'], env);
    const address = String((await relay.waitForLog('http server listening (/healthz, /readyz, /metrics)')).address);
    await waitUntil('ready', async () => (await readyz(address)).status === 200);

    await fixture.enqueue(table, makeEvents(20, 4));
    await waitUntil('/readyz 503 for the full stream', async () => (await readyz(address)).status === 503);
    expect((await readyz(address)).body).toMatch(/bus outage \(full\).*max_msgs 5/);
    expect(await (await fetch(`http://${address}/metrics`)).text()).toMatch(/^outbox_bus_outage_reason\{reason="full"\} 1$/m);
    expect(await streamCount(nc, stream)).toBe(5);
    // Longer than maxAttempts (2) x the first retry delay (1 s): still paused, nothing counted.
    const since = Date.parse(/since (\S+):/.exec((await readyz(address)).body)?.[1] ?? '');
    await waitUntil('4 s of outage', async () => Date.now() - since > 4_000);
    expect((await readyz(address)).status).toBe(503);
    const info = await jsm.streams.info(stream);
    await jsm.streams.update(stream, { ...info.config, max_msgs: 1_000 });
    await waitUntil('every event in the stream', async () => (await streamCount(nc, stream)) === 20);
    await waitUntil('/readyz 200 after the stream has room', async () => (await readyz(address)).status === 200);

    await jsm.streams.delete(stream);
    await fixture.enqueue(table, makeEvents(10, 2));
    await waitUntil('/readyz 503 for the deleted stream', async () => (await readyz(address)).status === 503);
    expect((await readyz(address)).body).toMatch(/bus outage \(stream-missing\).*does not exist/);
    await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`], duplicate_window: 120_000_000_000 });
    await waitUntil('the 10 new events in the recreated stream', async () => (await streamCount(nc, stream)) === 10);
    await waitUntil('/readyz 200 after the stream is back', async () => (await readyz(address)).status === 200);

    const warns = relay.logs().filter((line) => line.level === 40 || line.level === 'warn');
    const outageWarns = warns.map((line) => String(line.msg)).filter((msg) => msg.includes('pausing the relay'));
    expect(outageWarns).toEqual([
      'stream full; pausing the relay (no attempts are counted)',
      'stream missing; pausing the relay (no attempts are counted)',
    ]);
    expect(relay.logs().filter((line) => line.msg === 'bus healthy again; resuming the relay')).toHaveLength(2);
    expect(relay.logs().filter((line) => line.msg === 'event dead-lettered' || line.msg === 'publish failed; will retry')).toEqual([]);
    relay.child.kill('SIGTERM');
    expect((await relay.exited).code).toBe(0);
    const status = await runRelay(['status', '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 0, dead: 0 });
  });

  it('refuses a --stream-replicas outside 1 to 5 with exit 2 naming the setting', async () => {
    const { env } = pgRelaySetup(fixture, streams);
    const result = await runRelay(['run', '--once', '--stream-replicas', '7'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--stream-replicas');
  });

  it('creates its stream with --stream-placement-tags and --stream-placement-cluster', async () => {
    const { table, stream, env } = pgRelaySetup(fixture, streams);
    await fixture.store(table).migrate();
    const result = await runRelay(['run', '--once', '--stream-placement-tags', 'az:1,ssd', '--stream-placement-cluster', 'local'], env);
    expect(result.code, result.stderr).toBe(0);
    // A single server keeps the placement in the stream's configuration (a cluster also enforces it:
    // bus-nats cluster.test.ts).
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.config.placement).toEqual({ cluster: 'local', tags: ['az:1', 'ssd'] });
  });
});
