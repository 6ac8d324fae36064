import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'outboxkit-no-otel-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Loaded with --require before anything else: resolving @opentelemetry/api fails as if it were not
// installed (it is, in this repository), and each attempt is counted.
const hide = `
const Module = require('node:module');
const resolve = Module._resolveFilename;
globalThis.__otelAttempts = 0;
Module._resolveFilename = function (request, ...rest) {
  if (request === '@opentelemetry/api' || request.startsWith('@opentelemetry/api/')) {
    globalThis.__otelAttempts++;
    throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' });
  }
  return resolve.call(this, request, ...rest);
};
`;

// Enqueue, relay and consume with core's in-memory fakes: the whole path that touches telemetry.
const script = `
import { createRequire } from 'node:module';
import { Consumer, defineEvent, Relay } from '@outboxkit/outbox-core';
import { MemoryBus, MemoryInboxStore, MemoryOutboxStore, memoryTransaction } from '@outboxkit/outbox-core/testing';

const schema = { '~standard': { version: 1, vendor: 't', validate: (value) => ({ value }) } };
const Sample = defineEvent('test.sample.happened', { schema, source: 'tests' });
const store = new MemoryOutboxStore();
const bus = new MemoryBus();
const events = [Sample.create({ n: 1 }, { subject: 'a' }), Sample.create({ n: 2 }, { subject: 'b' })];
await memoryTransaction((tx) => store.enqueue(tx, events));
const relayed = await new Relay({ store, publisher: bus.publisher() }).drain();
const applied = [];
const consumer = new Consumer({ subscriber: bus.subscriber({ name: 'c', maxDeliver: 3 }), inbox: new MemoryInboxStore() })
  .on(Sample, async (event) => { applied.push(event.data.n); });
await consumer.runOnce();
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((key) => key.includes('@opentelemetry'));
const traceHeaders = bus.messages.map((m) => Object.keys(m.headers).filter((h) => ['traceparent', 'tracestate', 'baggage'].includes(h)));
console.log(JSON.stringify({ relayed, applied, traceHeaders, attempts: globalThis.__otelAttempts, loaded }));
`;

describe('@outboxkit/outbox-core without @opentelemetry/api', () => {
  it('enqueues, relays and consumes: the API is looked for once, nothing of it is loaded, no trace header is written', async () => {
    writeFileSync(join(dir, 'hide-otel.cjs'), hide);
    const file = join(repoRoot, 'packages/outbox-core/test', `.no-otel-${process.pid}.mjs`);
    writeFileSync(file, script);
    try {
      const { stdout } = await run(process.execPath, ['--require', join(dir, 'hide-otel.cjs'), file], { cwd: repoRoot, timeout: 10_000 });
      const result = JSON.parse(stdout.trim().split('\n').at(-1) as string);
      expect(result.relayed).toMatchObject({ published: 2, failed: 0, dead: 0 });
      expect(result.applied.sort()).toEqual([1, 2]);
      expect(result.traceHeaders).toEqual([[], []]);
      expect(result.attempts).toBe(1);
      expect(result.loaded).toEqual([]);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
