import type { NatsConnection } from '@nats-io/transport-node';
import { OwnNatsServer, PG_URL, waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { makeEvents } from './make-events.js';
import { natsConnect, streamCount } from './nats-stream.js';
import { pgFixturePerFile } from './pg-fixture.js';
import { randomName } from './random-name.js';
import { startRelay } from './relay-process.js';

const nats = new OwnNatsServer();
const fixture = pgFixturePerFile({ before: () => nats.start(), after: () => nats.dispose() });

async function readyz(address: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://${address}/readyz`);
  return { status: response.status, body: await response.text() };
}

describe('/readyz and /metrics', { timeout: 120_000 }, () => {
  it('is 503 while NATS is down and 200 after it returns; /metrics counts the published events', async () => {
    const table = randomName('outbox');
    const stream = randomName('READY').toUpperCase();
    const env = {
      OUTBOX_DATABASE_URL: PG_URL,
      OUTBOX_SCHEMA: fixture.schema,
      OUTBOX_TABLE: table,
      OUTBOX_NATS_URL: nats.url,
      OUTBOX_STREAM: stream,
      OUTBOX_SUBJECT_PREFIX: stream.toLowerCase(),
      OUTBOX_METRICS_ADDR: '127.0.0.1:0',
      OUTBOX_STATS_INTERVAL_MS: '200',
    };
    await fixture.store(table).migrate();
    const relay = startRelay(['run'], env);
    const address = String((await relay.waitForLog('http server listening (/healthz, /readyz, /metrics)')).address);
    expect((await fetch(`http://${address}/healthz`)).status).toBe(200);
    await waitUntil('ready', async () => (await readyz(address)).status === 200);

    await nats.stop();
    await waitUntil('not ready while NATS is down', async () => (await readyz(address)).status === 503);
    expect((await readyz(address)).body).toContain('NATS');
    const json = await fetch(`http://${address}/readyz`, { headers: { accept: 'application/json' } });
    expect(json.status).toBe(503);
    expect(await json.json()).toMatchObject({ ready: false, failures: [{ check: 'nats' }] });
    expect((await fetch(`http://${address}/healthz`)).status).toBe(200);

    await nats.start();
    await waitUntil('ready again after NATS returns', async () => (await readyz(address)).status === 200, 60_000);

    const events = makeEvents(500, 50);
    await fixture.enqueue(table, events);
    const nc: NatsConnection = await natsConnect(nats.url);
    try {
      await waitUntil('every event in the stream', async () => (await streamCount(nc, stream)) === events.length);
    } finally {
      await nc.close();
    }
    // The counter moves when a batch is settled, just after its PubAcks: wait for the last one.
    const published = async (): Promise<number> => {
      const text = await (await fetch(`http://${address}/metrics`)).text();
      return Number(/^outbox_published_total (\d+)$/m.exec(text)?.[1]);
    };
    await waitUntil('the last batch to be counted', async () => (await published()) >= events.length, 10_000);
    const metrics = await (await fetch(`http://${address}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^outbox_published_total ${events.length}$`, 'm'));
    expect(metrics).toMatch(/^outbox_nats_connected 1$/m);
    expect(metrics).toMatch(/^outbox_pending \d+$/m);
    expect(metrics).toMatch(/^outbox_dead 0$/m);
    expect(metrics).toContain('outbox_publish_latency_seconds_bucket');
    expect(metrics).toContain('outbox_batch_size_count');
    expect(metrics).toContain('process_cpu_user_seconds_total');

    relay.child.kill('SIGTERM');
    expect((await relay.exited).code).toBe(0);
  });
});
