import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'outboxkit-no-vitest-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Resolving `vitest` fails as if it were not installed (it is, in this repository).
const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier === 'vitest' || specifier.startsWith('vitest/')) {
    throw Object.assign(new Error("Cannot find package '" + specifier + "'"), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}
`;

/** Runs `script` from the repository root with vitest hidden; returns its last stdout line, or the error. */
async function runWithoutVitest(script: string): Promise<{ ok: true; line: string } | { ok: false; stderr: string }> {
  writeFileSync(join(dir, 'hooks.mjs'), hooks);
  writeFileSync(
    join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
  );
  const file = join(repoRoot, 'packages/outbox-core/test', `.no-vitest-${process.pid}-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  try {
    const { stdout } = await run(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, file], {
      cwd: repoRoot,
      timeout: 10_000,
    });
    return { ok: true, line: stdout.trim().split('\n').at(-1) as string };
  } catch (error) {
    return { ok: false, stderr: String((error as { stderr?: string }).stderr) };
  } finally {
    rmSync(file, { force: true });
  }
}

describe('@outboxkit/outbox-core/testing without vitest installed', () => {
  it('loads and runs the in-memory store and bus', async () => {
    const result = await runWithoutVitest(`
import { createEvent, Relay } from '@outboxkit/outbox-core';
import { MemoryBus, MemoryOutboxStore, memoryTransaction } from '@outboxkit/outbox-core/testing';
const store = new MemoryOutboxStore();
const bus = new MemoryBus();
await memoryTransaction((tx) => store.enqueue(tx, createEvent({ type: 'test.sample.happened', source: 'tests', subject: 'a', data: { n: 1 } })));
const { published } = await new Relay({ store, publisher: bus.publisher() }).drain();
console.log(JSON.stringify({ published, messages: bus.messages.length }));
`);
    expect(result).toEqual({ ok: true, line: JSON.stringify({ published: 1, messages: 1 }) });
  });

  it('the conformance suites, which need vitest, fail to load with the missing package named', async () => {
    const result = await runWithoutVitest(`import '@outboxkit/outbox-core/conformance';\nconsole.log('loaded');\n`);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.stderr).toContain("Cannot find package 'vitest'");
  });
});
