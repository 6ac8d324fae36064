import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  DEFAULT_DUPLICATE_WINDOW_MS,
  ensureConsumer,
  ensureDeadLetterStream,
  ensureStream,
  readDuplicateWindowMs,
  redeliveryHorizonMs,
} from '@outboxkit/bus-nats';
import { OutboxConfigError } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { natsPerFile, uniqueName } from './nats.js';

let nc: NatsConnection;
let jsm: JetStreamManager;
const streams = natsPerFile((connection, manager) => {
  nc = connection;
  jsm = manager;
});

function streamName(): string {
  const name = uniqueName('PROV');
  streams.push(name);
  return name;
}

async function configError(promise: Promise<unknown>): Promise<OutboxConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OutboxConfigError);
  return error as OutboxConfigError;
}

describe('ensureStream', () => {
  it('creates the stream once and leaves it unchanged on the next calls', async () => {
    const name = streamName();
    const options = { name, subjects: [`${name}.>`], duplicateWindowMs: 90_000, maxAgeMs: 3_600_000 };
    const first = await ensureStream(nc, options);
    const second = await ensureStream(jsm, options);
    const third = await ensureStream(nc, { name, subjects: [`${name}.>`] });
    expect([first.action, second.action, third.action]).toEqual(['created', 'unchanged', 'unchanged']);
    const info = await jsm.streams.info(name);
    expect(info.config.duplicate_window).toBe(90_000_000_000);
    expect(info.config.max_age).toBe(3_600_000_000_000);
    expect(info.config.storage).toBe('file');
    expect(await readDuplicateWindowMs(nc, name)).toBe(90_000);
  });

  it('creates with the default duplicate window', async () => {
    const name = streamName();
    await ensureStream(nc, { name, subjects: [`${name}.>`] });
    expect(await readDuplicateWindowMs(jsm, name)).toBe(DEFAULT_DUPLICATE_WINDOW_MS);
  });

  it('adds missing subjects and changes only the settings passed', async () => {
    const name = streamName();
    await ensureStream(nc, { name, subjects: [`${name}.a.>`], duplicateWindowMs: 60_000 });
    const result = await ensureStream(nc, { name, subjects: [`${name}.b.>`], maxAgeMs: 600_000 });
    expect(result.action).toBe('updated');
    expect([...result.changed].sort()).toEqual(['max_age', 'subjects']);
    expect(result.info.config.subjects).toEqual([`${name}.a.>`, `${name}.b.>`]);
    expect(result.info.config.duplicate_window).toBe(60_000_000_000);
  });

  it('throws OutboxConfigError naming duplicate_window when an existing stream forgets ids sooner than the relay re-publishes', async () => {
    const name = streamName();
    await jsm.streams.add({ name, subjects: [`${name}.>`], duplicate_window: 10_000_000_000 });
    const error = await configError(
      ensureStream(nc, { name, subjects: [`${name}.>`], requiredDuplicateWindowMs: { leaseMs: 30_000, maxRetryDelayMs: 60_000 } }),
    );
    expect(error.setting).toBe('duplicate_window');
    expect(error.message).toContain('10s');
    expect(error.message).toContain('90s');
    expect((await jsm.streams.info(name)).config.duplicate_window).toBe(10_000_000_000);
  });

  it('refuses a short duplicateWindowMs before creating anything', async () => {
    const name = streamName();
    const error = await configError(
      ensureStream(nc, { name, subjects: [`${name}.>`], duplicateWindowMs: 5_000, requiredDuplicateWindowMs: 45_000 }),
    );
    expect(error.setting).toBe('duplicate_window');
    await expect(jsm.streams.info(name)).rejects.toThrow();
  });

  it('accepts a window that covers the horizon', async () => {
    const name = streamName();
    const result = await ensureStream(nc, { name, subjects: [`${name}.>`], duplicateWindowMs: 120_000, requiredDuplicateWindowMs: 90_000 });
    expect(result.action).toBe('created');
  });

  it('refuses a storage change, bad names and bad subjects', async () => {
    const name = streamName();
    await ensureStream(nc, { name, subjects: [`${name}.>`], storage: 'file' });
    expect((await configError(ensureStream(nc, { name, subjects: [`${name}.>`], storage: 'memory' }))).setting).toBe('storage');
    expect((await configError(ensureStream(nc, { name: 'a.b', subjects: ['x.>'] }))).setting).toBe('name');
    expect((await configError(ensureStream(nc, { name, subjects: ['x.>.y'] }))).setting).toBe('subjects');
    expect((await configError(ensureStream(nc, { name, subjects: [] }))).setting).toBe('subjects');
  });

  it('reports a stream that does not exist when reading its window', async () => {
    expect((await configError(readDuplicateWindowMs(nc, uniqueName('MISSING')))).setting).toBe('stream');
  });
});

describe('ensureConsumer', () => {
  it('creates a durable pull consumer with explicit acks, idempotently, and updates changed settings', async () => {
    const stream = streamName();
    await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
    const options = {
      stream,
      name: 'basket',
      filterSubjects: [`${stream}.catalog.>`],
      ackWaitMs: 10_000,
      maxDeliver: 4,
      backoffMs: [1_000, 5_000],
    };
    const first = await ensureConsumer(nc, options);
    const second = await ensureConsumer(jsm, options);
    expect([first.action, second.action]).toEqual(['created', 'unchanged']);
    const config = second.info.config;
    expect(config.durable_name).toBe('basket');
    expect(config.ack_policy).toBe('explicit');
    expect(config.deliver_subject).toBeUndefined();
    expect(config.max_deliver).toBe(4);
    expect(config.filter_subject).toBe(`${stream}.catalog.>`);
    expect(config.backoff).toEqual([1_000_000_000, 5_000_000_000]);
    const third = await ensureConsumer(nc, { ...options, maxDeliver: 6 });
    expect(third.action).toBe('updated');
    expect(third.changed).toEqual(['max_deliver']);
    expect(third.info.config.max_deliver).toBe(6);
  });

  it('refuses a push consumer of the same name, too many backoff steps and a missing stream', async () => {
    const stream = streamName();
    await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, { durable_name: 'pushy', ack_policy: 'explicit', deliver_subject: uniqueName('deliver') });
    expect((await configError(ensureConsumer(nc, { stream, name: 'pushy' }))).setting).toBe('consumer');
    expect((await configError(ensureConsumer(nc, { stream, name: 'c', maxDeliver: 2, backoffMs: [1, 2] }))).setting).toBe('backoffMs');
    expect((await configError(ensureConsumer(nc, { stream: uniqueName('MISSING'), name: 'c' }))).setting).toBe('stream');
  });

  it('gates several filter subjects on nats-server 2.10', async () => {
    const stream = streamName();
    await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
    const options = { stream, name: 'multi', filterSubjects: [`${stream}.a`, `${stream}.b`] };
    const version = nc.info?.version ?? '0.0.0';
    const [major, minor] = version.split('.').map(Number) as [number, number];
    if (major > 2 || (major === 2 && minor >= 10)) {
      expect((await ensureConsumer(nc, options)).info.config.filter_subjects).toEqual(options.filterSubjects);
    } else {
      expect((await configError(ensureConsumer(nc, options))).setting).toBe('filterSubjects');
    }
  });
});

describe('ensureDeadLetterStream', () => {
  it('creates a stream for <prefix>.> with a retention, idempotently', async () => {
    const name = streamName();
    const prefix = uniqueName('dlq');
    const first = await ensureDeadLetterStream(nc, { name, subjectPrefix: prefix, maxAgeMs: 86_400_000 });
    const second = await ensureDeadLetterStream(nc, { name, subjectPrefix: prefix, maxAgeMs: 86_400_000 });
    expect([first.action, second.action]).toEqual(['created', 'unchanged']);
    expect(second.info.config.subjects).toEqual([`${prefix}.>`]);
    expect(second.info.config.max_age).toBe(86_400_000_000_000);
  });
});

describe('redeliveryHorizonMs', () => {
  it('adds the gaps between deliveries and the last ack wait', () => {
    expect(redeliveryHorizonMs({ ackWaitMs: 30_000, maxDeliver: 3 })).toBe(90_000);
    expect(redeliveryHorizonMs({ ackWaitMs: 30_000, maxDeliver: 4, backoffMs: [1_000, 10_000] })).toBe(1_000 + 10_000 + 10_000 + 30_000);
    expect(redeliveryHorizonMs({ ackWaitMs: 5_000, maxDeliver: 2, maxNakDelayMs: 60_000 })).toBe(65_000);
  });
});
