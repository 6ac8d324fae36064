import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { freePort, waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { pgFixtureWithNatsPerFile, pgRelaySetup } from './pg-fixture.js';
import { runRelay, startRelay } from './relay-process.js';

let nc: NatsConnection;
const { fixture, streams } = pgFixtureWithNatsPerFile((connection) => {
  nc = connection;
});

async function streamExists(stream: string): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  return jsm.streams.info(stream).then(
    () => true,
    () => false,
  );
}

describe('run start-up', { timeout: 60_000 }, () => {
  it('checks the database before it touches the stream: an unmigrated table exits 3, a dead database 1, no stream created', async () => {
    const unmigrated = pgRelaySetup(fixture, streams);
    const result = await runRelay(['run'], unmigrated.env);
    expect(result.code, result.stderr).toBe(3);
    expect(await streamExists(unmigrated.stream)).toBe(false);

    const port = await freePort();
    const noDatabase = pgRelaySetup(fixture, streams, { OUTBOX_DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test` });
    const failed = await runRelay(['run'], noDatabase.env);
    expect(failed.code, failed.stderr).toBe(1);
    expect(await streamExists(noDatabase.stream)).toBe(false);
  });

  it('with NATS unreachable: warns within 2 s and again with backoff, /readyz names NATS, SIGTERM exits 1', async () => {
    const port = await freePort();
    const { table, env } = pgRelaySetup(fixture, streams, {
      OUTBOX_NATS_URL: `nats://127.0.0.1:${port}`,
      OUTBOX_METRICS_ADDR: '127.0.0.1:0',
    });
    await fixture.store(table).migrate();
    const relay = startRelay(['run'], env);
    const address = String((await relay.waitForLog('http server listening (/healthz, /readyz, /metrics)')).address);
    const starting = await relay.waitForLog('outbox-relay starting');
    const firstWarn = await relay.waitForLog('NATS unreachable; retrying', 5_000);
    expect(firstWarn.level).toBe('warn');
    expect(Date.parse(String(firstWarn.time)) - Date.parse(String(starting.time))).toBeLessThan(2_000);
    // Attempts at about 0, 0.5, 1.5 and 3.5 s: the fourth warning comes after a 2 s wait, long
    // enough for a 1.5 s "no answer" warning to slip in if the backoff were counted as an attempt.
    await waitUntil('four warnings', () => relay.logs().filter((l) => l.msg === 'NATS unreachable; retrying').length >= 4, 15_000);
    const waits = relay
      .logs()
      .filter((l) => l.msg === 'NATS unreachable; retrying')
      .map((l) => Number(l.retryInMs));
    expect(waits[1]).toBeGreaterThan(waits[0] as number);
    // A refused connection is reported once per attempt, never as "no answer" during the backoff.
    expect(waits.every((ms) => ms > 0)).toBe(true);

    const readyz = await fetch(`http://${address}/readyz`);
    expect(readyz.status).toBe(503);
    const body = await readyz.text();
    expect(body).toContain('nats unreachable: ');
    expect(body).not.toContain('database unreachable');
    expect(body).toContain('not ready: relay: the relay is starting');

    relay.child.kill('SIGTERM');
    expect((await relay.exited).code).toBe(1);
  });

  // A signal before the relay runs exits 1 (above), so "ready" must mean "running": a probe or a
  // script that stops the relay as soon as /readyz says 200 gets the graceful stop. /readyz is
  // polled every millisecond so the SIGTERM lands right after the first 200, inside the start-up
  // steps that follow the NATS connection (stream set-up, Relay.start) if /readyz answered early.
  it('SIGTERM right after the first /readyz 200 stops gracefully and exits 0', async () => {
    for (let round = 0; round < 3; round++) {
      const { table, env } = pgRelaySetup(fixture, streams, { OUTBOX_METRICS_ADDR: '127.0.0.1:0' });
      await fixture.store(table).migrate();
      const relay = startRelay(['run'], env);
      const address = String((await relay.waitForLog('http server listening (/healthz, /readyz, /metrics)')).address);
      await waitUntil('ready', async () => (await fetch(`http://${address}/readyz`)).status === 200, 20_000, 1);
      relay.child.kill('SIGTERM');
      const { code } = await relay.exited;
      expect(code, relay.stdout()).toBe(0);
      expect(relay.logs().find((line) => line.msg === 'outbox-relay stopped')?.exitCode).toBe(0);
    }
  });
});
