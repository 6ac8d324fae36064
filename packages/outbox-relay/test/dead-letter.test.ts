import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { createEvent } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { streamCount } from './nats-stream.js';
import { pgFixtureWithNatsPerFile, pgRelaySetup } from './pg-fixture.js';
import { runRelay } from './relay-process.js';

let nc: NatsConnection;
const { fixture, streams } = pgFixtureWithNatsPerFile((connection) => {
  nc = connection;
});

describe('dead-letter admin', { timeout: 120_000 }, () => {
  it('lists, shows, retries and purges an event the bus refused', async () => {
    const { table, stream, env } = pgRelaySetup(fixture, streams);
    const store = fixture.store(table);
    await store.migrate();
    // Within enqueue's 1 MiB limit, but with the transport's headers over the server's max_payload
    // (1 MiB): refused for good, dead at the first attempt.
    const poison = createEvent({ type: 'test.blob', source: 'relay-test', subject: 'blob-1', data: { blob: 'x'.repeat(1_048_480) } });
    const fine = [1, 2].map((n) => createEvent({ type: 'test.item.changed', source: 'relay-test', subject: `item-${n}`, data: { n } }));
    await fixture.enqueue(table, [poison, ...fine]);

    const run = await runRelay(['run', '--once'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('"msg":"event dead-lettered"');
    // The two events, then the gap marker of the dead one (its subject's sequence 1), stored before it was dead-lettered.
    expect(await streamCount(nc, stream)).toBe(3);
    expect(await gapMarker(stream, 3)).toEqual({
      'Nats-Msg-Id': `${poison.id}.gap.1`,
      'outbox-gap-subject': 'blob-1',
      'outbox-gap-sequence': '1',
      'outbox-gap-reason': 'outbox-dead-letter',
      'outbox-gap-event': poison.id,
      bytes: 0,
    });
    const status = await runRelay(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 0, dead: 1 });

    const list = await runRelay(['dead', 'list', '--json'], env);
    expect(list.code).toBe(0);
    const dead = JSON.parse(list.stdout);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ id: poison.id, subject: 'blob-1', type: 'test.blob' });
    expect(dead[0].lastError).toContain('max_payload');

    const show = await runRelay(['dead', 'show', poison.id], env);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`id:         ${poison.id}`);
    const missing = await runRelay(['dead', 'show', fine[0]!.id], env);
    expect(missing.code).toBe(1);

    const retry = await runRelay(['dead', 'retry', poison.id], env);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout.trim()).toBe('retried 1 dead event');
    expect(retry.stderr).toContain('applied after the newer events of its subject');
    expect(await store.stats()).toMatchObject({ pending: 1, dead: 0 });
    expect((await runRelay(['run', '--once'], env)).code).toBe(0);
    expect(await store.stats()).toMatchObject({ pending: 0, dead: 1 });
    // Re-stamped at the end of its subject by the retry, it died again as sequence 2: a second marker.
    expect(await streamCount(nc, stream)).toBe(4);
    expect(await gapMarker(stream, 4)).toMatchObject({ 'Nats-Msg-Id': `${poison.id}.gap.2`, 'outbox-gap-sequence': '2' });

    const purge = await runRelay(['dead', 'purge', '--all'], env);
    expect(purge.code, purge.stderr).toBe(0);
    expect(purge.stdout.trim()).toBe('purged 1 dead event');
    expect(await store.stats()).toMatchObject({ pending: 0, dead: 0 });
    expect(await streamCount(nc, stream)).toBe(4);
  });
});

/** The headers of the message at `seq` of the stream, and its body's size. */
async function gapMarker(stream: string, seq: number): Promise<Record<string, string | number>> {
  const stored = await (await jetstreamManager(nc)).streams.getMessage(stream, { seq });
  const out: Record<string, string | number> = {};
  for (const [name, values] of stored?.header ?? []) out[name] = values.join(',');
  out.bytes = stored?.data.length ?? -1;
  return out;
}
