import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { makeEvents } from './make-events.js';
import { readStream } from './nats-stream.js';
import { pgFixtureWithNatsPerFile, pgRelaySetup } from './pg-fixture.js';
import { startRelay } from './relay-process.js';

let nc: NatsConnection;
const { fixture, streams } = pgFixtureWithNatsPerFile((connection) => {
  nc = connection;
});

const MB = 1_000_000;

/** Peak resident set (VmHWM) of a running process, in bytes; 0 once it is gone. */
function peakRss(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * `rows` pending rows of 5 MB and 20 small ones; `run --once` with a 256 MB heap.
 * Writes the big rows by hand with repeat() (enqueue would refuse them), so the test takes seconds.
 */
async function runWithBigBacklog(rows: number, extraEnv: Record<string, string>) {
  const { table, stream, env } = pgRelaySetup(fixture, streams, extraEnv);
  const store = fixture.store(table);
  await store.migrate();
  const small = makeEvents(20, 20);
  await fixture.enqueue(table, small.slice(0, 10));
  // lz4 (PostgreSQL 14+) compresses the repeated text ~10x faster than the default pglz; the relay
  // sees the same 5 MB text either way.
  await fixture.pool.query(
    `SET default_toast_compression = 'lz4';
     INSERT INTO "${fixture.schema}"."${table}" (id, type, source, subject, time, payload, headers)
     SELECT gen_random_uuid(), 'test.blob', 'relay-test', 'blob-' || n, now(), '{"blob":"' || repeat('x', ${5 * MB}) || '"}', '{}'::jsonb
     FROM generate_series(1, ${rows}) AS n;
     RESET default_toast_compression`,
  );
  await fixture.enqueue(table, small.slice(10));
  const relay = startRelay(['run', '--once', '--log-level', 'warn'], { ...env, NODE_OPTIONS: '--max-old-space-size=256' });
  let peak = 0;
  // sleep-ok: a memory sampler running beside the relay, not a wait: the test waits on the relay's exit
  const sampler = setInterval(() => {
    if (relay.child.pid !== undefined) peak = Math.max(peak, peakRss(relay.child.pid));
  }, 20);
  const { code, signal } = await relay.exited;
  clearInterval(sampler);
  const stored = await readStream(nc, stream);
  return { code, signal, peak, stored, small, stats: await store.stats(), dead: await store.listDead({ limit: 1 }), relay };
}

describe('the byte budget', { timeout: 180_000 }, () => {
  it('dead-letters 200 pending rows of 5 MB without loading them, publishing the small ones, in a 256 MB heap', async () => {
    const run = await runWithBigBacklog(200, {});
    expect({ code: run.code, signal: run.signal }, run.relay.stderr()).toEqual({ code: 0, signal: null });
    expect(run.stored.map((message) => message.msgId).sort()).toEqual(run.small.map((event) => event.id).sort());
    expect(run.stats).toMatchObject({ pending: 0, dead: 200 });
    expect(run.dead[0]?.lastError).toContain('maxEventBytes');
    console.log(`200 x 5 MB rows over maxEventBytes: peak RSS ${Math.round(run.peak / 2 ** 20)} MiB`);
    expect(run.peak).toBeLessThan(256 * 2 ** 20);
  });

  it('keeps each claim within maxBatchBytes when 40 rows of 5 MB are under maxEventBytes: loaded within the 8 MiB budget, each refused by max_payload', async () => {
    const run = await runWithBigBacklog(40, { OUTBOX_MAX_EVENT_BYTES: String(6 * MB) });
    expect({ code: run.code, signal: run.signal }, run.relay.stderr()).toEqual({ code: 0, signal: null });
    expect(run.stored.map((message) => message.msgId).sort()).toEqual(run.small.map((event) => event.id).sort());
    expect(run.stats).toMatchObject({ pending: 0, dead: 40 });
    expect(run.dead[0]?.lastError).toContain('max_payload');
    // The start-up check names the setting: 6 MB events cannot fit the server's 1 MiB max_payload.
    expect(run.relay.stdout()).toContain('OUTBOX_MAX_EVENT_BYTES');
    console.log(`40 x 5 MB rows loaded within the 8 MiB budget: peak RSS ${Math.round(run.peak / 2 ** 20)} MiB`);
    expect(run.peak).toBeLessThan(256 * 2 ** 20);
  });
});
