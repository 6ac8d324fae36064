import { redactUrl } from './redact.js';
import { fail, type SettingValues } from './setting-values.js';
import { type SettingSpec, databaseSettings as setting } from './settings.js';

/** Where the outbox lives. */
export interface DatabaseConfig {
  readonly driver: 'pg' | 'mysql';
  readonly url: string;
  /** The URL with its password replaced by `***`: the only form that is ever printed. */
  readonly redactedUrl: string;
  readonly schema: string;
  readonly table: string;
  /** Set by `--db-tls-mode`; `undefined`: the URL's own TLS parameters (if any) apply. */
  readonly tls?: DatabaseTlsConfig;
}

/** The TLS modes of `--db-tls-mode`, named as libpq names them. */
export type DatabaseTlsMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';
const tlsModes: readonly DatabaseTlsMode[] = ['disable', 'require', 'verify-ca', 'verify-full'];

/** The database connection's TLS settings. */
export interface DatabaseTlsConfig {
  readonly mode: DatabaseTlsMode;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

// Connection-string parameters through which pg or mysql2 would set up TLS themselves.
const urlTlsParameters = ['ssl', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslnegotiation'];

/**
 * Reads the database URL (its scheme picks the driver), schema, table and TLS settings; the table
 * from `tableSetting` (the inbox commands read `--inbox-table`).
 * @throws OutboxConfigError naming the setting; the URL only ever appears redacted.
 */
export function readDatabase(values: SettingValues, tableSetting: SettingSpec = setting.table): DatabaseConfig {
  const url = values.required(setting.url, 'set it to a postgres:// or mysql:// URL');
  const name = values.name(setting.url);
  const redactedUrl = redactUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail(name, `invalid ${name}: not a URL; got ${JSON.stringify(redactedUrl)}`);
  }
  const { protocol } = parsed;
  const driver = protocol === 'postgres:' || protocol === 'postgresql:' ? 'pg' : protocol === 'mysql:' ? 'mysql' : undefined;
  if (!driver) {
    fail(
      name,
      `invalid ${name}: unsupported scheme "${protocol}" (expected postgres://, postgresql:// or mysql://); got ${JSON.stringify(redactedUrl)}`,
    );
  }
  return {
    driver,
    url,
    redactedUrl,
    schema: values.identifier(setting.schema),
    table: values.identifier(tableSetting),
    tls: readDatabaseTls(values, parsed),
  };
}

/** The table as the admin commands print it: `schema.table` on PostgreSQL, the table on MySQL. */
export function tableLabel(database: DatabaseConfig): string {
  return database.driver === 'pg' ? `${database.schema}.${database.table}` : database.table;
}

function readDatabaseTls(values: SettingValues, url: URL): DatabaseTlsConfig | undefined {
  const name = (s: (typeof setting)[keyof typeof setting]): string => values.name(s);
  const caFile = values.readableFile(setting.tlsCa);
  const certFile = values.readableFile(setting.tlsCert);
  const keyFile = values.readableFile(setting.tlsKey);
  const modeText = values.text(setting.tlsMode);
  if (modeText === undefined) {
    const given = caFile ? setting.tlsCa : certFile ? setting.tlsCert : keyFile ? setting.tlsKey : undefined;
    if (given) fail(name(given), `invalid ${name(given)}: set ${name(setting.tlsMode)} too (verify-ca or verify-full use the CA)`);
    return undefined;
  }
  const mode = modeText.toLowerCase() as DatabaseTlsMode;
  if (!tlsModes.includes(mode)) {
    fail(
      name(setting.tlsMode),
      `invalid ${name(setting.tlsMode)}: expected one of ${tlsModes.join(', ')}; got ${JSON.stringify(modeText)}`,
    );
  }
  const inUrl = [...url.searchParams.keys()].find((key) => urlTlsParameters.includes(key.toLowerCase()));
  if (inUrl) {
    fail(
      name(setting.tlsMode),
      `invalid ${name(setting.tlsMode)}: the database URL sets TLS too (its "${inUrl}" parameter); set TLS in one place only`,
    );
  }
  if (caFile && (mode === 'disable' || mode === 'require')) {
    fail(
      name(setting.tlsCa),
      `invalid ${name(setting.tlsCa)}: a CA is only used by ${name(setting.tlsMode)} verify-ca or verify-full; got ${mode}`,
    );
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile === undefined ? setting.tlsCert : setting.tlsKey;
    fail(name(missing), `missing ${name(missing)}: a TLS client certificate and key go together`);
  }
  if (certFile && mode === 'disable') {
    fail(name(setting.tlsCert), `invalid ${name(setting.tlsCert)}: a client certificate needs TLS; ${name(setting.tlsMode)} is disable`);
  }
  return { mode, caFile, certFile, keyFile };
}
