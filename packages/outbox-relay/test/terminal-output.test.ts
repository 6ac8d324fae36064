import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PG_URL } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { pgFixturePerFile } from './pg-fixture.js';
import { randomName } from './random-name.js';
import { runRelay } from './relay-process.js';

const fixture = pgFixturePerFile();

/** Whether the text holds a raw control character other than the newline ending a line of output. */
function hasControl(text: string): boolean {
  return [...text].some((char) => {
    const code = char.codePointAt(0) ?? 0;
    return (code < 0x20 && char !== '\n') || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x202e;
  });
}

// What a hostile or broken producer can leave in a row written by hand or before validation
// existed: a terminal escape that clears the screen, a forged output line, a C1 CSI, a bidi override.
const hostile = 'acct\u001b[2J\u001b[31m\nforged line: dead 0\r\u009b1m\u202eevil';

function expectSafe(output: string): void {
  expect(hasControl(output)).toBe(false);
  // No line of the output starts with the forged text: newlines in values are escaped.
  expect(output.split('\n').some((line) => line.startsWith('forged line'))).toBe(false);
}

describe('CLI output escapes control characters', { timeout: 60_000 }, () => {
  it('status, dead list and dead show print subjects, types and errors escaped', async () => {
    const table = randomName('outbox');
    await fixture.store(table).migrate();
    const t = `"${fixture.schema}"."${table}"`;
    const deadId = randomUUID();
    await fixture.pool.query(
      `INSERT INTO ${t} (id, type, source, subject, time, payload, headers, state, dead_at, last_error, attempts)
       VALUES ($1, $2, $3, $4, now(), '{}', '{}', 'dead', now(), $5, 1)`,
      [deadId, `type.${hostile}`, `src${hostile}`, hostile, `refused: ${hostile}`],
    );
    await fixture.pool.query(
      `INSERT INTO ${t} (id, type, source, subject, time, payload, headers) VALUES ($1, 'a.b', 's', $2, now(), '{}', '{}')`,
      [randomUUID(), hostile],
    );
    const env = { OUTBOX_DATABASE_URL: PG_URL, OUTBOX_SCHEMA: fixture.schema, OUTBOX_TABLE: table };

    const status = await runRelay(['status'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('acct\\x1b[2J\\x1b[31m\\nforged line: dead 0\\r\\x9b1m\\u202eevil');
    expectSafe(status.stdout);

    for (const args of [
      ['status', '--json'],
      ['dead', 'list'],
      ['dead', 'list', '--json'],
      ['dead', 'show', deadId],
      ['dead', 'show', deadId, '--json'],
    ]) {
      const result = await runRelay(args, env);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(result.stdout, args.join(' ')).toContain('forged line');
      expectSafe(result.stdout);
      expectSafe(result.stderr);
      if (args.includes('--json')) expect(JSON.stringify(JSON.parse(result.stdout))).toContain('forged line');
    }
    const list = await runRelay(['dead', 'list'], env);
    expect(list.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await runRelay([flag], {});
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`outbox-relay ${version}\n`);
    }
  });
});
