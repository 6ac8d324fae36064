import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, MARIADBD_BIN, PG_URL, waitUntil } from '@outboxkit/test-services';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The package is a CLI without a library entry: the TLS options it builds are checked here below the CLI.
import type { DatabaseTlsConfig } from '../src/database-config.js';
import { mysqlSslOption, pgSslOption } from '../src/database-tls.js';
import { pgFixtureWithNatsPerFile, pgRelaySetup } from './pg-fixture.js';
import { runRelay, startRelay } from './relay-process.js';

const setupScript = fileURLToPath(new URL('../../../.ci/tls-setup.sh', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'outbox-relay-tls-'));
const secret = 'hunter22';

/** A throwaway CA and a server certificate it signs for `names` (subjectAltName entries). */
function makeCa(name: string, names: string): { ca: string; cert: string; key: string } {
  const dir = join(work, name);
  execFileSync('mkdir', ['-p', dir]);
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name} CA`,
    '-keyout',
    `${dir}/ca.key`,
    '-out',
    `${dir}/ca.pem`,
  );
  run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=server', '-keyout', `${dir}/server.key`, '-out', `${dir}/server.csr`);
  writeFileSync(`${dir}/ext.cnf`, `subjectAltName=${names}\nbasicConstraints=CA:FALSE\n`);
  run('x509', '-req', '-in', `${dir}/server.csr`, '-CA', `${dir}/ca.pem`, '-CAkey', `${dir}/ca.key`, '-CAcreateserial', '-days', '2');
  run(
    'x509',
    '-req',
    '-in',
    `${dir}/server.csr`,
    '-CA',
    `${dir}/ca.pem`,
    '-CAkey',
    `${dir}/ca.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    `${dir}/ext.cnf`,
    '-out',
    `${dir}/server.pem`,
  );
  return { ca: `${dir}/ca.pem`, cert: `${dir}/server.pem`, key: `${dir}/server.key` };
}

/**
 * A mariadbd of the test's own with TLS and require_secure_transport: the shared server's ssl_*
 * variables are read-only in 10.11 (a restart), and a plaintext connection is refused here, so a
 * connection that works is an encrypted one. Its certificate names only `other.example`: the chain
 * checks out against its CA, the host name 127.0.0.1 does not.
 */
class TlsMariadb {
  readonly dir = join(work, 'mariadb');
  port = 0;
  #child: ChildProcess | undefined;

  async start(tls: { ca: string; cert: string; key: string }): Promise<void> {
    this.port = await freePort();
    execFileSync(
      'mariadb-install-db',
      ['--no-defaults', `--datadir=${this.dir}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'],
      {
        stdio: 'ignore',
      },
    );
    this.#child = spawn(
      MARIADBD_BIN,
      [
        '--no-defaults',
        `--datadir=${this.dir}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        `--socket=${this.dir}/mysqld.sock`,
        `--pid-file=${this.dir}/mysqld.pid`,
        '--user=root',
        '--innodb-buffer-pool-size=16M',
        `--ssl-ca=${tls.ca}`,
        `--ssl-cert=${tls.cert}`,
        `--ssl-key=${tls.key}`,
        '--require-secure-transport=ON',
      ],
      { stdio: 'ignore' },
    );
    await waitUntil('the TLS mariadbd to accept connections', async () => {
      try {
        const connection = await createConnection({ host: '127.0.0.1', port: this.port, user: 'root', ssl: { rejectUnauthorized: false } });
        await connection.end();
        return true;
      } catch {
        return false;
      }
    });
  }

  url(database = 'mysql'): string {
    return `mysql://root@127.0.0.1:${this.port}/${database}`;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

let local: { ca: string };
let other: { ca: string; cert: string; key: string };
const mariadb = new TlsMariadb();

const { fixture, streams } = pgFixtureWithNatsPerFile(() => undefined);

beforeAll(async () => {
  const dir = execFileSync('bash', [setupScript], { encoding: 'utf8' }).trim().split('\n').pop() as string;
  local = { ca: join(dir, 'ca.pem') };
  other = makeCa('other', 'DNS:other.example');
  await mariadb.start(other);
}, 60_000);

afterAll(async () => {
  await mariadb.stop();
  rmSync(work, { recursive: true, force: true });
});

const tls = (mode: DatabaseTlsConfig['mode'], caFile?: string): DatabaseTlsConfig => ({ mode, ...(caFile ? { caFile } : {}) });

async function pgSsl(config: DatabaseTlsConfig): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, ssl: pgSslOption(config) });
  await client.connect();
  try {
    return (await client.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0].ssl;
  } finally {
    await client.end();
  }
}

async function mariadbCipher(config: DatabaseTlsConfig): Promise<string> {
  const ssl = mysqlSslOption(config);
  const connection = await createConnection({ host: '127.0.0.1', port: mariadb.port, user: 'root', ...(ssl ? { ssl } : {}) });
  try {
    const [rows] = await connection.query("SHOW STATUS LIKE 'Ssl_cipher'");
    return String((rows as Array<{ Value: string }>)[0]?.Value ?? '');
  } finally {
    await connection.end();
  }
}

describe('database TLS', { timeout: 120_000 }, () => {
  it('PostgreSQL: verify-full, verify-ca and require encrypt; disable does not; a wrong CA is refused', async () => {
    expect(await pgSsl(tls('verify-full', local.ca))).toBe(true);
    expect(await pgSsl(tls('verify-ca', local.ca))).toBe(true);
    expect(await pgSsl(tls('require'))).toBe(true);
    expect(await pgSsl(tls('disable'))).toBe(false);
    await expect(pgSsl(tls('verify-full', other.ca))).rejects.toThrow(/certificate/);
    await expect(pgSsl(tls('verify-ca', other.ca))).rejects.toThrow(/certificate/);
  });

  it('MariaDB: verify-ca checks the chain only, verify-full the host name too, require checks nothing', async () => {
    expect(await mariadbCipher(tls('verify-ca', other.ca))).not.toBe('');
    expect(await mariadbCipher(tls('require'))).not.toBe('');
    // The certificate names other.example, not 127.0.0.1.
    await expect(mariadbCipher(tls('verify-full', other.ca))).rejects.toThrow(/127\.0\.0\.1|altnames|host/i);
    await expect(mariadbCipher(tls('verify-ca', local.ca))).rejects.toThrow(/certificate/);
    // The server requires TLS (require_secure_transport): plaintext is refused. MariaDB 10.11
    // answers "Access denied" to it, which a connection over TLS without a password is not.
    await expect(mariadbCipher(tls('disable'))).rejects.toThrow(/Access denied/);
  });

  it('the CLI on PostgreSQL: --db-tls-mode verify-full connects encrypted; a wrong CA fails with a clear line and no password', async () => {
    const application = `outbox_tls_${Date.now()}`;
    const url = new URL(PG_URL);
    url.password = secret;
    url.searchParams.set('application_name', application);
    const { table, env } = pgRelaySetup(fixture, streams, { OUTBOX_DATABASE_URL: url.toString() });
    const withCa = { ...env, OUTBOX_DB_TLS_MODE: 'verify-full', OUTBOX_DB_TLS_CA: local.ca };
    const migrate = await runRelay(['migrate'], withCa);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(await fixture.tableExists(table)).toBe(true);

    const relay = startRelay(['run'], withCa);
    const starting = await relay.waitForLog('outbox-relay starting');
    expect(starting.databaseTls).toBe('verify-full');
    await relay.waitForLog('outbox-relay started');
    const sessions = await fixture.pool.query(
      'SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1',
      [application],
    );
    expect(sessions.rows.length).toBeGreaterThan(0);
    expect(sessions.rows.every((row) => row.ssl === true)).toBe(true);
    relay.child.kill('SIGTERM');
    expect((await relay.exited).code).toBe(0);

    const wrong = await runRelay(['status'], { ...env, OUTBOX_DB_TLS_MODE: 'verify-full', OUTBOX_DB_TLS_CA: other.ca });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toMatch(/certificate/);
    expect(wrong.stderr).toContain('check OUTBOX_DB_TLS_CA');
    expect(`${wrong.stdout}${wrong.stderr}`).not.toContain(secret);
  });

  it('the CLI on MariaDB: migrate and status over verify-ca; verify-full and plaintext are refused', async () => {
    const admin = await createConnection({ host: '127.0.0.1', port: mariadb.port, user: 'root', ssl: { rejectUnauthorized: false } });
    await admin.query('CREATE DATABASE IF NOT EXISTS relay_tls');
    await admin.end();
    const env = { OUTBOX_DATABASE_URL: mariadb.url('relay_tls'), OUTBOX_DB_TLS_MODE: 'verify-ca', OUTBOX_DB_TLS_CA: other.ca };
    expect((await runRelay(['migrate'], env)).code).toBe(0);
    const status = await runRelay(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 0, dead: 0 });

    const full = await runRelay(['status'], { ...env, OUTBOX_DB_TLS_MODE: 'verify-full' });
    expect(full.code).toBe(1);
    expect(full.stderr.trim().split('\n')).toHaveLength(1);
    expect(full.stderr).toContain('check OUTBOX_DB_TLS_CA');
    const plain = await runRelay(['status'], { OUTBOX_DATABASE_URL: env.OUTBOX_DATABASE_URL });
    expect(plain.code).toBe(1);
  });
});
