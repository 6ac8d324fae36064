import { MYSQL_URL, NATS_URL, PG_URL, waitUntil } from '@outboxkit/test-services';
import { describe, expect, it } from 'vitest';
import { pgFixturePerFile } from './pg-fixture.js';
import { randomName } from './random-name.js';
import { runRelay, startRelay } from './relay-process.js';

const fixture = pgFixturePerFile();
const secret = 'hunter22';
// Every spelling of the secret a line could show it in.
const spellings = [secret, 'hun%74er22', 'hunter%32%32'];

function withUserinfo(base: string, user: string, password: string): string {
  const url = new URL(base);
  url.username = user;
  url.password = password;
  return url.toString();
}

function withQuery(base: string, query: string): string {
  return `${base}${base.includes('?') ? '&' : '?'}${query}`;
}

const natsHost = NATS_URL.replace(/^nats:\/\//, '');

// [form, database URL, NATS URL]. Where the server ignores the credential (trust auth, a NATS
// server without auth), the command gets as far as logging its configuration; where it rejects
// it, the driver's error is what must be scrubbed.
const forms: Array<[string, string, string]> = [
  ['pg userinfo', withUserinfo(PG_URL, 'postgres', secret), NATS_URL],
  ['pg userinfo, percent-encoded', PG_URL.replace('postgres@', 'postgres:hun%74er22@'), NATS_URL],
  ['pg ?password=', withQuery(PG_URL, `password=${secret}`), NATS_URL],
  ['pg ?PASSWORD= (any case)', withQuery(PG_URL, `PASSWORD=${secret}`), NATS_URL],
  ['pg ?sslpassword=', withQuery(PG_URL, `sslpassword=${secret}`), NATS_URL],
  ['pg ?sslkey= (the driver echoes it in a file error)', withQuery(PG_URL, `sslkey=${secret}`), NATS_URL],
  ['mysql userinfo (rejected by the server)', withUserinfo(MYSQL_URL, 'root', secret), NATS_URL],
  ['mysql ?password= (rejected by the server)', withQuery(MYSQL_URL, `password=${secret}`), NATS_URL],
  ['nats user:password', PG_URL, `nats://relay:${secret}@${natsHost}`],
  ['nats token', PG_URL, `nats://${secret}@${natsHost}`],
];

function expectNoSecret(what: string, text: string): void {
  for (const spelling of spellings) expect(text, `${what} shows the secret`).not.toContain(spelling);
}

describe('secrets in URLs', { timeout: 120_000 }, () => {
  it.each(forms)('%s: never in a log line, an error or status', async (_form, databaseUrl, natsUrl) => {
    const table = randomName('outbox');
    const stream = randomName('SECRETS').toUpperCase();
    const env = {
      OUTBOX_DATABASE_URL: databaseUrl,
      OUTBOX_SCHEMA: fixture.schema,
      OUTBOX_TABLE: table,
      OUTBOX_NATS_URL: natsUrl,
      OUTBOX_STREAM: stream,
      OUTBOX_SUBJECT_PREFIX: stream.toLowerCase(),
      OUTBOX_METRICS_ADDR: 'off',
      OUTBOX_LOG_LEVEL: 'debug',
    };
    const run = await runRelay(['run', '--once'], env);
    expectNoSecret('run --once', `${run.stdout}${run.stderr}`);
    // It did print something about the connection: the check above is not vacuous.
    expect(`${run.stdout}${run.stderr}`.length).toBeGreaterThan(0);
    const status = await runRelay(['status'], env);
    expectNoSecret('status', `${status.stdout}${status.stderr}`);
    const statusJson = await runRelay(['status', '--json'], env);
    expectNoSecret('status --json', `${statusJson.stdout}${statusJson.stderr}`);
    const configError = await runRelay(['run', '--once'], { ...env, OUTBOX_BATCH_SIZE: 'x' });
    expect(configError.code).toBe(2);
    expectNoSecret('a configuration error', `${configError.stdout}${configError.stderr}`);
  });

  it('the starting line shows the redacted URLs', async () => {
    const table = randomName('outbox');
    const stream = randomName('SECRETS').toUpperCase();
    const run = await runRelay(['run', '--once'], {
      OUTBOX_DATABASE_URL: withQuery(PG_URL, `Password=${secret}`),
      OUTBOX_SCHEMA: fixture.schema,
      OUTBOX_TABLE: table,
      OUTBOX_NATS_URL: `nats://${secret}@${natsHost}`,
      OUTBOX_STREAM: stream,
      OUTBOX_SUBJECT_PREFIX: stream.toLowerCase(),
      OUTBOX_METRICS_ADDR: 'off',
    });
    const starting = run.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.msg === 'outbox-relay starting');
    expect(starting?.database).toBe(withQuery(PG_URL, 'Password=***'));
    expect(starting?.nats).toEqual([`nats://***@${natsHost}`]);
  });

  it('an unparsable or unsupported URL is echoed redacted in the configuration error', async () => {
    for (const url of [
      `redis://app:${secret}@127.0.0.1:6379/0`,
      `redis://127.0.0.1/0?password=${secret}`,
      `postgres://[bad/db?password=${secret}`,
    ]) {
      const result = await runRelay(['status'], { OUTBOX_DATABASE_URL: url });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('OUTBOX_DATABASE_URL');
      expectNoSecret('configuration error', `${result.stdout}${result.stderr}`);
    }
  });

  it('never in /metrics or /readyz', async () => {
    const table = randomName('outbox');
    const stream = randomName('SECRETS').toUpperCase();
    await fixture.store(table).migrate();
    const relay = startRelay(['run'], {
      OUTBOX_DATABASE_URL: withQuery(PG_URL, `password=${secret}`),
      OUTBOX_SCHEMA: fixture.schema,
      OUTBOX_TABLE: table,
      OUTBOX_NATS_URL: `nats://${secret}@${natsHost}`,
      OUTBOX_STREAM: stream,
      OUTBOX_SUBJECT_PREFIX: stream.toLowerCase(),
      OUTBOX_METRICS_ADDR: '127.0.0.1:0',
      OUTBOX_STATS_INTERVAL_MS: '200',
    });
    const address = String((await relay.waitForLog('http server listening (/healthz, /readyz, /metrics)')).address);
    await waitUntil('ready', async () => (await fetch(`http://${address}/readyz`)).status === 200);
    for (const path of ['/metrics', '/readyz', '/healthz']) {
      expectNoSecret(path, await (await fetch(`http://${address}${path}`)).text());
    }
    relay.child.kill('SIGTERM');
    expect((await relay.exited).code).toBe(0);
    expectNoSecret('run', `${relay.stdout()}${relay.stderr()}`);
  });
});
