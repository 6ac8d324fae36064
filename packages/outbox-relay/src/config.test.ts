import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutboxConfigError } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import type { CliConfig } from './cli-config.js';
import { commands } from './commands.js';
import { packageVersion, parseCommandLine } from './config.js';
import type { RunConfig } from './run-config.js';
import { rangeText } from './settings.js';

const baseEnv = { OUTBOX_DATABASE_URL: 'postgres://app:s3cret@db:5432/orders', OUTBOX_NATS_URL: 'nats://nats:4222' };

function config(argv: string[], env: NodeJS.ProcessEnv = baseEnv): CliConfig {
  const parsed = parseCommandLine(argv, env);
  if (parsed.kind !== 'command') throw new Error('expected a command');
  return parsed.config;
}

function run(argv: string[], env: NodeJS.ProcessEnv = baseEnv): RunConfig {
  const parsed = config(argv, env);
  if (parsed.command !== 'run') throw new Error(`expected run; got ${parsed.command}`);
  return parsed;
}

function configError(argv: string[], env: NodeJS.ProcessEnv = baseEnv): OutboxConfigError {
  try {
    parseCommandLine(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(OutboxConfigError);
    return error as OutboxConfigError;
  }
  throw new Error('expected an OutboxConfigError');
}

describe('parseCommandLine', () => {
  it('runs `run` by default with the documented defaults', () => {
    const c = run([]);
    expect(c.command).toBe('run');
    expect(c.database).toMatchObject({ driver: 'pg', schema: 'public', table: 'outbox', redactedUrl: 'postgres://app:***@db:5432/orders' });
    expect(c.nats).toMatchObject({
      servers: ['nats://nats:4222'],
      stream: 'EVENTS',
      subjectPrefix: 'events',
      partitions: 0,
      ensureStream: true,
      duplicateWindowMs: 120_000,
    });
    expect(c).toMatchObject({
      batchSize: 500,
      maxBatchBytes: 8_388_608,
      maxEventBytes: 1_048_576,
      pollIntervalMs: 1_000,
      leaseMs: 30_000,
      maxAttempts: 10,
      shutdownTimeoutMs: 10_000,
      logLevel: 'info',
      once: false,
    });
    expect(c.http).toEqual({ host: '0.0.0.0', port: 9464 });
  });

  it('takes a flag over the env var over the default', () => {
    expect(run(['--batch-size', '50'], { ...baseEnv, OUTBOX_BATCH_SIZE: '20' }).batchSize).toBe(50);
    expect(run([], { ...baseEnv, OUTBOX_BATCH_SIZE: '20' }).batchSize).toBe(20);
    expect(run(['run', '--once', '--table=orders_outbox']).database.table).toBe('orders_outbox');
    expect(run(['run', '--once']).once).toBe(true);
    expect(run(['--max-batch-bytes', '65536'], { ...baseEnv, OUTBOX_MAX_BATCH_BYTES: '2048' }).maxBatchBytes).toBe(65_536);
    expect(run([], { ...baseEnv, OUTBOX_MAX_EVENT_BYTES: '2048' }).maxEventBytes).toBe(2_048);
  });

  it('picks the driver from the URL scheme', () => {
    expect(run([], { ...baseEnv, OUTBOX_DATABASE_URL: 'postgresql://h/db' }).database.driver).toBe('pg');
    expect(run([], { ...baseEnv, OUTBOX_DATABASE_URL: 'mysql://root@h:3306/shop' }).database.driver).toBe('mysql');
  });

  it('rejects an unknown scheme naming the setting, without the password', () => {
    const error = configError([], { ...baseEnv, OUTBOX_DATABASE_URL: 'redis://app:s3cret@cache:6379' });
    expect(error.setting).toBe('OUTBOX_DATABASE_URL');
    expect(error.message).toContain('redis://app:***@cache:6379');
    expect(error.message).not.toContain('s3cret');
    expect(error.message).not.toContain('\n');
  });

  it.each([
    ['OUTBOX_BATCH_SIZE', '-5'],
    ['OUTBOX_BATCH_SIZE', '0'],
    ['OUTBOX_BATCH_SIZE', '10001'],
    ['OUTBOX_BATCH_SIZE', '1.5'],
    ['OUTBOX_MAX_BATCH_BYTES', '1023'],
    ['OUTBOX_MAX_EVENT_BYTES', '1.5'],
    ['OUTBOX_LEASE_MS', 'abc'],
    ['OUTBOX_POLL_INTERVAL_MS', '0'],
    ['OUTBOX_MAX_ATTEMPTS', '0'],
    ['OUTBOX_SHUTDOWN_TIMEOUT_MS', '-1'],
    ['OUTBOX_METRICS_ADDR', 'localhost'],
    ['OUTBOX_METRICS_ADDR', '127.0.0.1:70000'],
    ['OUTBOX_LOG_LEVEL', 'loud'],
    ['OUTBOX_TABLE', 'drop table;'],
    ['OUTBOX_SCHEMA', '1abc'],
    ['OUTBOX_ENSURE_STREAM', 'maybe'],
    ['OUTBOX_STREAM', 'has.dot'],
    ['OUTBOX_SUBJECT_PREFIX', 'events.>'],
    ['OUTBOX_PARTITIONS', '1025'],
    ['OUTBOX_PARTITIONS', '-1'],
    ['OUTBOX_NATS_URL', 'http://'],
  ])('rejects %s=%s naming the setting and the value', (name, value) => {
    const error = configError([], { ...baseEnv, [name]: value });
    expect(error.setting).toBe(name);
    expect(error.message).toContain(name);
    expect(error.message).toContain(JSON.stringify(value).slice(1, -1));
  });

  it('reads OUTBOX_PARTITIONS', () => {
    expect(run([], { ...baseEnv, OUTBOX_PARTITIONS: '16' }).nats.partitions).toBe(16);
    expect(run(['--partitions', '4']).nats.partitions).toBe(4);
  });

  it('refuses a lease that does not cover a batch of publishes, naming the settings and the rule', () => {
    // 5000 ms x ceil(500 / 256) = 2 waves + 1000 ms = 11000 ms.
    const error = configError([], { ...baseEnv, OUTBOX_LEASE_MS: '10999' });
    expect(error.setting).toBe('OUTBOX_LEASE_MS');
    expect(error.message).toContain('OUTBOX_PUBLISH_TIMEOUT_MS');
    expect(error.message).toContain('OUTBOX_BATCH_SIZE');
    expect(error.message).toContain('11000');
    expect(run([], { ...baseEnv, OUTBOX_LEASE_MS: '11000' }).leaseMs).toBe(11_000);
    // One wave for 256 events; the flag is named when the value came from it.
    expect(run(['--lease-ms', '6000', '--batch-size', '256']).leaseMs).toBe(6_000);
    expect(configError(['--lease-ms', '6000', '--batch-size', '257']).setting).toBe('--lease-ms');
    expect(configError(['--publish-timeout-ms', '30000']).message).toContain('61000');
    // Admin commands publish nothing: no check.
    expect(config(['status'], { ...baseEnv, OUTBOX_LEASE_MS: '100' }).command).toBe('status');
  });

  it('reads OUTBOX_CLAIM_AHEAD, and then asks the lease to cover two batches', () => {
    expect(run([]).claimAhead).toBe(false);
    expect(run([], { ...baseEnv, OUTBOX_CLAIM_AHEAD: 'true' }).claimAhead).toBe(true);
    expect(configError([], { ...baseEnv, OUTBOX_CLAIM_AHEAD: 'maybe' }).setting).toBe('OUTBOX_CLAIM_AHEAD');
    // 5000 ms x 2 waves x 2 batches + 1000 ms = 21000 ms.
    const error = configError(['--claim-ahead', 'true'], { ...baseEnv, OUTBOX_LEASE_MS: '20999' });
    expect(error.setting).toBe('OUTBOX_LEASE_MS');
    expect(error.message).toContain('two batches (--claim-ahead)');
    expect(error.message).toContain('21000');
    expect(run(['--claim-ahead', 'true'], { ...baseEnv, OUTBOX_LEASE_MS: '21000' }).leaseMs).toBe(21_000);
  });

  it('OUTBOX_CLAIM_AHEAD=auto (the default): on for MariaDB/MySQL when the lease covers two batches, off for PostgreSQL', () => {
    const mysqlEnv = { ...baseEnv, OUTBOX_DATABASE_URL: 'mysql://app:s3cret@db:3306/orders' };
    expect(run([], mysqlEnv).claimAhead).toBe(true);
    expect(run([], { ...mysqlEnv, OUTBOX_CLAIM_AHEAD: 'AUTO' }).claimAhead).toBe(true);
    expect(run([], { ...mysqlEnv, OUTBOX_CLAIM_AHEAD: 'false' }).claimAhead).toBe(false);
    expect(run([]).claimAhead).toBe(false);
    // A lease that covers one batch only (11000 ms of the 21000 two need): auto turns it off, the relay starts.
    expect(run([], { ...mysqlEnv, OUTBOX_LEASE_MS: '11000' })).toMatchObject({ claimAhead: false, leaseMs: 11_000 });
    expect(run([], { ...mysqlEnv, OUTBOX_LEASE_MS: '21000' }).claimAhead).toBe(true);
    const error = configError([], { ...mysqlEnv, OUTBOX_CLAIM_AHEAD: 'sometimes' });
    expect(error.setting).toBe('OUTBOX_CLAIM_AHEAD');
    expect(error.message).toContain('must be auto, true or false');
  });

  it('reads the database TLS settings and refuses contradictory ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-tls-config-'));
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, 'x');
    expect(run([]).database.tls).toBeUndefined();
    expect(run(['--db-tls-mode', 'verify-full', '--db-tls-ca', ca]).database.tls).toEqual({ mode: 'verify-full', caFile: ca });
    expect(run([], { ...baseEnv, OUTBOX_DB_TLS_MODE: 'REQUIRE' }).database.tls?.mode).toBe('require');
    expect(configError([], { ...baseEnv, OUTBOX_DB_TLS_MODE: 'prefer' }).setting).toBe('OUTBOX_DB_TLS_MODE');
    expect(configError(['--db-tls-ca', ca]).setting).toBe('--db-tls-ca');
    expect(configError(['--db-tls-mode', 'require', '--db-tls-ca', ca]).setting).toBe('--db-tls-ca');
    expect(configError(['--db-tls-mode', 'require', '--db-tls-cert', ca]).setting).toBe('OUTBOX_DB_TLS_KEY (--db-tls-key)');
    expect(configError(['--db-tls-mode', 'verify-full', '--db-tls-ca', join(dir, 'missing.pem')]).setting).toBe('--db-tls-ca');
    const both = configError(['--db-tls-mode', 'verify-full'], {
      ...baseEnv,
      OUTBOX_DATABASE_URL: 'postgres://app:s3cret@db/x?sslmode=require',
    });
    expect(both.message).toContain('sslmode');
    expect(both.message).not.toContain('s3cret');
  });

  it('reads --block-subject (default false)', () => {
    expect(run([]).blockSubject).toBe(false);
    expect(run([], { ...baseEnv, OUTBOX_BLOCK_SUBJECT: 'true' }).blockSubject).toBe(true);
    expect(configError([], { ...baseEnv, OUTBOX_BLOCK_SUBJECT: 'sometimes' }).setting).toBe('OUTBOX_BLOCK_SUBJECT');
  });

  it('reads the stream placement (unset by default) and refuses tags with spaces', () => {
    expect(run([]).nats?.streamPlacement).toBeUndefined();
    expect(run(['--stream-placement-tags', 'az:1, ssd', '--stream-placement-cluster', 'east']).nats?.streamPlacement).toEqual({
      cluster: 'east',
      tags: ['az:1', 'ssd'],
    });
    expect(run([], { ...baseEnv, OUTBOX_STREAM_PLACEMENT_TAGS: 'az:2' }).nats?.streamPlacement).toEqual({ tags: ['az:2'] });
    expect(configError(['--stream-placement-tags', 'az 1']).setting).toBe('--stream-placement-tags');
    expect(configError([], { ...baseEnv, OUTBOX_STREAM_PLACEMENT_CLUSTER: 'a\nb' }).setting).toBe('OUTBOX_STREAM_PLACEMENT_CLUSTER');
  });

  it('--version and -V print the version, nothing else is parsed', () => {
    const parsed = parseCommandLine(['--version'], {});
    expect(parsed).toEqual({ kind: 'version', text: `outbox-relay ${packageVersion()}\n` });
    expect(parseCommandLine(['-V'], {}).kind).toBe('version');
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('names the flag when the bad value came from a flag', () => {
    const error = configError(['--batch-size=-5']);
    expect(error.setting).toBe('--batch-size');
    expect(error.message).toContain('"-5"');
  });

  it('requires the database URL, and the NATS URL for run only', () => {
    expect(configError([], { OUTBOX_NATS_URL: 'nats://n:4222' }).setting).toBe('OUTBOX_DATABASE_URL (--database-url)');
    expect(configError(['run'], { OUTBOX_DATABASE_URL: baseEnv.OUTBOX_DATABASE_URL }).setting).toBe('OUTBOX_NATS_URL (--nats-url)');
    expect(config(['migrate'], { OUTBOX_DATABASE_URL: baseEnv.OUTBOX_DATABASE_URL }).command).toBe('migrate');
    expect(config(['status', '--json'], { OUTBOX_DATABASE_URL: baseEnv.OUTBOX_DATABASE_URL })).toMatchObject({
      command: 'status',
      json: true,
    });
  });

  it('disables the HTTP server with off and parses host:port forms', () => {
    expect(run([], { ...baseEnv, OUTBOX_METRICS_ADDR: 'off' }).http).toBeUndefined();
    expect(run([], { ...baseEnv, OUTBOX_METRICS_ADDR: '127.0.0.1:9464' }).http).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(run([], { ...baseEnv, OUTBOX_METRICS_ADDR: ':8080' }).http).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(run([], { ...baseEnv, OUTBOX_METRICS_ADDR: '[::1]:9464' }).http).toEqual({ host: '::1', port: 9464 });
  });

  it('checks NATS auth settings and collects every secret for redaction', () => {
    const c = run([], { ...baseEnv, OUTBOX_NATS_USER: 'relay', OUTBOX_NATS_PASSWORD: 'natspw' });
    expect(c.nats).toMatchObject({ user: 'relay', password: 'natspw' });
    expect(c.secrets).toEqual(expect.arrayContaining(['s3cret', 'natspw']));
    expect(configError([], { ...baseEnv, OUTBOX_NATS_USER: 'relay' }).setting).toContain('OUTBOX_NATS_PASSWORD');
    expect(configError([], { ...baseEnv, OUTBOX_NATS_TOKEN: 't0ken', OUTBOX_NATS_USER: 'u', OUTBOX_NATS_PASSWORD: 'p' }).setting).toBe(
      'OUTBOX_NATS_TOKEN',
    );
    expect(configError([], { ...baseEnv, OUTBOX_NATS_CREDS: '/nonexistent/relay.creds' }).setting).toBe('OUTBOX_NATS_CREDS');
  });

  it('accepts readable TLS files and requires cert and key together', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outbox-relay-config-'));
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, 'pem');
    expect(run([], { ...baseEnv, OUTBOX_NATS_TLS_CA: ca }).nats?.tls).toEqual({ caFile: ca, certFile: undefined, keyFile: undefined });
    expect(configError([], { ...baseEnv, OUTBOX_NATS_TLS_CERT: ca }).setting).toContain('OUTBOX_NATS_TLS_KEY');
  });

  it('parses the dead-letter subcommands and their arguments', () => {
    const env = { OUTBOX_DATABASE_URL: 'mysql://root@h/db' };
    expect(config(['dead', 'show', 'id-1'], env)).toMatchObject({ command: 'dead show', ids: ['id-1'] });
    expect(config(['dead', 'retry', '--all'], env)).toMatchObject({ command: 'dead retry', all: true, ids: [] });
    expect(config(['dead', 'purge', 'a', 'b'], env)).toMatchObject({ command: 'dead purge', ids: ['a', 'b'] });
    expect(config(['dead', 'list', '--limit', '5'], env)).toMatchObject({ command: 'dead list', limit: 5 });
    expect(configError(['dead', 'retry'], env).setting).toBe('arguments');
    expect(configError(['dead', 'retry', 'a', '--all'], env).setting).toBe('arguments');
    expect(configError(['dead', 'show'], env).setting).toBe('arguments');
    expect(configError(['dead', 'explode'], env).setting).toBe('command');
  });

  it('parses the inbox subcommands: the consumer required, the inbox table validated, --to a positive integer', () => {
    const env = { OUTBOX_DATABASE_URL: 'postgres://app@h/db' };
    expect(config(['inbox', 'positions', '--consumer', 'basket'], env)).toMatchObject({
      command: 'inbox positions',
      consumer: 'basket',
      limit: 100,
      database: { table: 'inbox' },
    });
    expect(
      config(['inbox', 'skip', '--consumer', 'basket', '--subject', 'p-1', '--to', '7'], { ...env, OUTBOX_INBOX_TABLE: 'basket_inbox' }),
    ).toMatchObject({
      command: 'inbox skip',
      subject: 'p-1',
      to: 7,
      database: { table: 'basket_inbox' },
    });
    expect(configError(['inbox', 'positions'], env).setting).toBe('--consumer');
    expect(configError(['inbox', 'skip', '--consumer', 'basket', '--to', '7'], env).setting).toBe('--subject');
    expect(configError(['inbox', 'skip', '--consumer', 'basket', '--subject', 'p-1'], env).setting).toBe('--to');
    expect(configError(['inbox', 'skip', '--consumer', 'basket', '--subject', 'p-1', '--to', '0'], env).setting).toBe('--to');
    expect(configError(['inbox', 'skip', '--consumer', 'basket', '--subject', 'p\n1', '--to', '3'], env).setting).toBe('--subject');
    expect(configError(['inbox', 'positions', '--consumer', 'basket'], { ...env, OUTBOX_INBOX_TABLE: 'in box;' }).setting).toBe(
      'OUTBOX_INBOX_TABLE',
    );
    expect(configError(['inbox', 'explode', '--consumer', 'basket'], env).setting).toBe('command');
  });

  it('rejects unknown commands, flags and stray arguments', () => {
    expect(configError(['deploy']).setting).toBe('command');
    expect(configError(['run', '--batchsize', '5']).setting).toBe('arguments');
    expect(configError(['migrate', 'now']).setting).toBe('arguments');
  });

  it('prints help for every command, listing every flag with its env var, default and range', () => {
    for (const command of commands) {
      const argv = [...command.name.split(' '), '--help'];
      const parsed = parseCommandLine(argv, {});
      expect(parsed.kind).toBe('help');
      const text = parsed.kind === 'help' ? parsed.text : '';
      for (const setting of command.settings) {
        expect(text).toContain(`--${setting.flag}`);
        if (setting.env) expect(text).toContain(setting.env);
        if (setting.defaultValue !== undefined) expect(text).toContain(`default ${setting.defaultValue}`);
        const range = rangeText(setting);
        if (range) expect(text).toContain(range);
      }
    }
    expect(parseCommandLine(['--help'], {}).kind).toBe('help');
    expect(parseCommandLine(['help', 'dead', 'retry'], {}).kind).toBe('help');
  });
});
