import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { DatabaseTlsConfig } from './database-config.js';

function files(config: DatabaseTlsConfig): { ca?: string; cert?: string; key?: string } {
  return {
    ...(config.caFile ? { ca: readFileSync(config.caFile, 'utf8') } : {}),
    ...(config.certFile ? { cert: readFileSync(config.certFile, 'utf8') } : {}),
    ...(config.keyFile ? { key: readFileSync(config.keyFile, 'utf8') } : {}),
  };
}

/**
 * The `ssl` option of `pg` for a TLS mode, with libpq's meanings: `require` encrypts without
 * checking the certificate; `verify-ca` checks the chain up to the CA but not the host name;
 * `verify-full` checks both (Node's default for a TLS socket). `disable` is `false`: plaintext.
 */
export function pgSslOption(config: DatabaseTlsConfig): false | ConnectionOptions {
  switch (config.mode) {
    case 'disable':
      return false;
    case 'require':
      return { ...files(config), rejectUnauthorized: false };
    case 'verify-ca':
      return { ...files(config), rejectUnauthorized: true, checkServerIdentity: () => undefined };
    default:
      return { ...files(config), rejectUnauthorized: true };
  }
}

/**
 * How the database connection is protected, for the start-up log: the `--db-tls-mode`, `url` when
 * the URL's own parameters decide, `off` for plaintext.
 */
export function describeDatabaseTls(url: string, config: DatabaseTlsConfig | undefined): DatabaseTlsConfig['mode'] | 'url' | 'off' {
  if (config) return config.mode === 'disable' ? 'off' : config.mode;
  const parsed = new URL(url);
  const params = [...parsed.searchParams.keys()].map((key) => key.toLowerCase());
  const off = ['disable', 'false', '0'].includes(
    (parsed.searchParams.get('sslmode') ?? parsed.searchParams.get('ssl') ?? '').toLowerCase(),
  );
  return params.some((key) => key === 'ssl' || key.startsWith('ssl')) && !off ? 'url' : 'off';
}

/** True for a host on this machine (loopback or a socket), where plaintext crosses no network. */
export function isLocalHost(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === '' || host === 'localhost' || host === '::1' || host.startsWith('127.') || host.startsWith('/');
}

/** What mysql2 takes as `ssl`: Node's TLS options plus its own `verifyIdentity` switch. */
export interface MysqlSslOption {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized: boolean;
  readonly verifyIdentity: boolean;
}

/**
 * The `ssl` option of mysql2 for a TLS mode (`undefined`: plaintext). mysql2 checks the chain with
 * `rejectUnauthorized` and the host name with `verifyIdentity`: `require` sets neither,
 * `verify-ca` the first, `verify-full` both.
 */
export function mysqlSslOption(config: DatabaseTlsConfig): MysqlSslOption | undefined {
  if (config.mode === 'disable') return undefined;
  return {
    ...files(config),
    rejectUnauthorized: config.mode !== 'require',
    verifyIdentity: config.mode === 'verify-full',
  };
}
