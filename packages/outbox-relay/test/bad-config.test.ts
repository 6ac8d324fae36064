import { NATS_URL, PG_URL } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { pgFixturePerFile } from './pg-fixture.js';
import { randomName } from './random-name.js';
import { runRelay } from './relay-process.js';

const fixture = pgFixturePerFile();

function env(overrides: Record<string, string | undefined>): Record<string, string> {
  const base: Record<string, string | undefined> = {
    OUTBOX_DATABASE_URL: PG_URL,
    OUTBOX_SCHEMA: fixture.schema,
    OUTBOX_NATS_URL: NATS_URL,
    OUTBOX_METRICS_ADDR: 'off',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(base).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

describe('bad configuration', { timeout: 60_000 }, () => {
  it.each([
    ['an unknown URL scheme', ['run', '--once'], { OUTBOX_DATABASE_URL: 'redis://app:hunter22@127.0.0.1:6379/0' }, 'OUTBOX_DATABASE_URL'],
    ['a negative batch size', ['run', '--once'], { OUTBOX_BATCH_SIZE: '-5' }, 'OUTBOX_BATCH_SIZE'],
    ['a missing NATS URL', ['run'], { OUTBOX_NATS_URL: undefined }, 'OUTBOX_NATS_URL'],
    ['a bad flag value', ['migrate', '--table=no-dashes'], {}, '--table'],
  ])('%s exits 2 with one line naming the setting, touching nothing', async (_what, args, overrides, setting) => {
    const table = randomName('outbox');
    const result = await runRelay(args as string[], env({ OUTBOX_TABLE: table, ...overrides }));
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(setting);
    expect(result.stderr).not.toContain('hunter22');
    expect(await fixture.tableExists(table)).toBe(false);
  });

  it('names the bad value', async () => {
    const result = await runRelay(['run'], env({ OUTBOX_BATCH_SIZE: '-5' }));
    expect(result.stderr).toContain('"-5"');
    const scheme = await runRelay(['run'], env({ OUTBOX_DATABASE_URL: 'redis://app:hunter22@127.0.0.1:6379/0' }));
    expect(scheme.stderr).toContain('redis://app:***@127.0.0.1:6379/0');
  });

  it('never prints a database password, not even in a driver error', async () => {
    const url = new URL(PG_URL);
    url.password = 'hunter22';
    url.pathname = `/${randomName('missing_db')}`;
    const result = await runRelay(['run', '--once'], env({ OUTBOX_DATABASE_URL: url.toString() }));
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(`${result.stdout}${result.stderr}`).not.toContain('hunter22');
    expect(result.stdout).toContain(':***@');
  });
});
