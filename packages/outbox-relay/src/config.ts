import { accessSync, constants, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { OutboxConfigError } from '@outboxkit/outbox-core';
import { DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_EVENT_BYTES, validateIdentifier } from '@outboxkit/outbox-core/driver';
import { type CommandName, type CommandSpec, commands, findCommand } from './commands.js';
import { type ConsoleConfig, validateConsole } from './console/console-settings.js';
import { type DlqCliConfig, validateDlq } from './dlq-config.js';
import { commandHelp, generalHelp } from './help.js';
import { redactUrl, urlSecrets } from './redact.js';
import type { RawSettings, SettingSpec } from './settings.js';

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

/** The relay's NATS connection and stream. */
export interface NatsConfig {
  readonly servers: readonly string[];
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  readonly credsFile?: string;
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly ensureStream: boolean;
  readonly duplicateWindowMs: number;
  /** `num_replicas` of a stream the relay creates. */
  readonly streamReplicas: number;
  /** `placement` of a stream the relay creates; `undefined` lets the server pick. */
  readonly streamPlacement?: { readonly cluster?: string; readonly tags?: readonly string[] };
  readonly publishTimeoutMs: number;
}

/** A validated invocation of `outbox-relay`. */
export interface RelayCliConfig {
  readonly command: CommandName;
  readonly database: DatabaseConfig;
  /** Present for `run` only. */
  readonly nats?: NatsConfig;
  readonly batchSize: number;
  /** The byte budget of one claim. */
  readonly maxBatchBytes: number;
  /** The stores' `maxEventBytes`. */
  readonly maxEventBytes: number;
  readonly pollIntervalMs: number;
  readonly leaseMs: number;
  readonly maxAttempts: number;
  /** A dead row holds back the later rows of its subject (`--block-subject`). */
  readonly blockSubject: boolean;
  /** `undefined` when `OUTBOX_METRICS_ADDR=off`. */
  readonly http?: { readonly host: string; readonly port: number };
  readonly statsIntervalMs: number;
  readonly shutdownTimeoutMs: number;
  readonly logLevel: LogLevel;
  readonly once: boolean;
  readonly json: boolean;
  readonly all: boolean;
  readonly limit: number;
  readonly after?: string;
  /** Event ids given as arguments (`dead show`, `retry`, `purge`). */
  readonly ids: readonly string[];
  /** Every secret in the configuration, to scrub from logs and errors. */
  readonly secrets: readonly string[];
  /** The operator console: `console`, or `run --console`. */
  readonly console?: ConsoleConfig;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
const logLevels: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** What the command line asks for: help or version text to print, or a command to run. */
export type ParsedCommandLine =
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'version'; readonly text: string }
  | { readonly kind: 'command'; readonly config: RelayCliConfig }
  | { readonly kind: 'dlq'; readonly config: DlqCliConfig };

/**
 * Reads the command line and the environment (flag, then env var, then default) and validates
 * every value before anything is opened.
 *
 * @throws OutboxConfigError with a one-line message naming the setting and the bad value (passwords redacted).
 */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCommandLine {
  if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version') {
    return { kind: 'version', text: `outbox-relay ${packageVersion()}\n` };
  }
  const { spec, rest } = pickCommand(argv);
  if (!spec) return { kind: 'help', text: generalHelp() };

  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const setting of spec.settings) options[setting.flag] = { type: setting.type };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new OutboxConfigError('arguments', `${spec.name}: ${redactUrl((error as Error).message)} (see outbox-relay ${spec.name} --help)`);
  }
  if (parsed.values.help) return { kind: 'help', text: commandHelp(spec) };

  const sources = new Map<keyof RawSettings, string>();
  const raw: RawSettings = {};
  for (const setting of spec.settings) {
    const fromFlag = parsed.values[setting.flag];
    if (fromFlag !== undefined) {
      raw[setting.key] = String(fromFlag);
      sources.set(setting.key, `--${setting.flag}`);
    } else if (setting.env && env[setting.env] !== undefined && env[setting.env] !== '') {
      raw[setting.key] = env[setting.env];
      sources.set(setting.key, setting.env);
    } else if (setting.defaultValue !== undefined) {
      raw[setting.key] = setting.defaultValue;
      sources.set(setting.key, `the default of ${setting.env ?? `--${setting.flag}`}`);
    }
  }
  const name = (key: keyof RawSettings): string => sources.get(key) ?? describe(spec, key);
  // The consumer dead-letter commands read NATS only: no database URL.
  if (spec.name.startsWith('dlq ')) return { kind: 'dlq', config: validateDlq(spec, raw, parsed.positionals, name) };
  return { kind: 'command', config: validate(spec, raw, parsed.positionals, name) };
}

/** The version in this package's package.json (`../package.json` from both `src/` and `dist/`). */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

function pickCommand(argv: readonly string[]): { spec: CommandSpec | undefined; rest: readonly string[] } {
  const [first, second, ...others] = argv;
  if (first === undefined || first.startsWith('-')) {
    if (first === '--help' || first === '-h') return { spec: undefined, rest: [] };
    return { spec: findCommand('run'), rest: argv };
  }
  if (first === 'help') {
    const group = second === 'dead' || second === 'dlq';
    const target = group ? findCommand(`${second} ${others[0] ?? 'list'}`) : second ? findCommand(second) : undefined;
    return target ? { spec: target, rest: ['--help'] } : { spec: undefined, rest: [] };
  }
  if (first === 'dead' || first === 'dlq') {
    if (second === undefined || second === '--help' || second === '-h') return { spec: undefined, rest: [] };
    const spec = findCommand(`${first} ${second}`);
    if (!spec) {
      const names = commands.filter((command) => command.name.startsWith(`${first} `)).map((command) => command.name);
      throw new OutboxConfigError('command', `unknown command "${first} ${second}"; expected ${names.join(', ')}`);
    }
    return { spec, rest: others };
  }
  const spec = findCommand(first);
  if (!spec) {
    const names = commands.map((command) => command.name.split(' ')[0]).filter((n, i, all) => all.indexOf(n) === i);
    throw new OutboxConfigError('command', `unknown command "${first}"; expected one of ${names.join(', ')} (see outbox-relay --help)`);
  }
  return { spec, rest: [second, ...others].filter((arg): arg is string => arg !== undefined) };
}

function describe(spec: CommandSpec, key: keyof RawSettings): string {
  const setting = spec.settings.find((s) => s.key === key) as SettingSpec;
  return setting.env ? `${setting.env} (--${setting.flag})` : `--${setting.flag}`;
}

/** Names a setting as the user gave it (`--flag`, `ENV_VAR` or the default), for error messages. */
export type Namer = (key: keyof RawSettings) => string;

function fail(setting: string, message: string): never {
  throw new OutboxConfigError(setting, message);
}

function integer(raw: RawSettings, key: keyof RawSettings, name: Namer, min: number, max: number): number {
  const text = raw[key] as string;
  const value = /^-?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    fail(name(key), `invalid ${name(key)}: must be an integer from ${min} to ${max}; got ${JSON.stringify(text)}`);
  }
  return value;
}

/** A cluster name or server tag as JetStream matches it: no whitespace, comma or control character. */
const placementToken = /^[^\s,\p{Cc}]{1,255}$/u;

function placement(raw: RawSettings, name: Namer): Pick<NatsConfig, 'streamPlacement'> {
  const cluster = raw.streamPlacementCluster?.trim() || undefined;
  if (cluster !== undefined && !placementToken.test(cluster)) {
    fail(
      name('streamPlacementCluster'),
      `invalid ${name('streamPlacementCluster')}: a cluster name without spaces, commas or control characters; got ${JSON.stringify(cluster)}`,
    );
  }
  const tags = (raw.streamPlacementTags ?? '')
    .split(',')
    .map((tag) => tag.trim())
    .filter((tag) => tag.length > 0);
  for (const tag of tags) {
    if (!placementToken.test(tag)) {
      fail(
        name('streamPlacementTags'),
        `invalid ${name('streamPlacementTags')}: comma-separated server tags without spaces or control characters; got ${JSON.stringify(tag)}`,
      );
    }
  }
  if (cluster === undefined && tags.length === 0) return {};
  return { streamPlacement: { ...(cluster === undefined ? {} : { cluster }), ...(tags.length === 0 ? {} : { tags }) } };
}

function boolean(raw: RawSettings, key: keyof RawSettings, name: Namer): boolean {
  const text = (raw[key] ?? 'false').toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(text)) return true;
  if (['false', '0', 'no', 'off'].includes(text)) return false;
  return fail(name(key), `invalid ${name(key)}: must be true or false; got ${JSON.stringify(raw[key])}`);
}

function identifier(raw: RawSettings, key: keyof RawSettings, name: Namer): string {
  try {
    return validateIdentifier(raw[key], name(key));
  } catch (error) {
    return fail(name(key), `invalid ${(error as Error).message}`);
  }
}

function readableFile(raw: RawSettings, key: keyof RawSettings, name: Namer): string | undefined {
  const path = raw[key];
  if (path === undefined) return undefined;
  try {
    accessSync(path, constants.R_OK);
  } catch {
    fail(name(key), `invalid ${name(key)}: cannot read the file ${JSON.stringify(path)}`);
  }
  return path;
}

function database(raw: RawSettings, name: Namer): DatabaseConfig {
  const url = raw.databaseUrl;
  if (url === undefined) fail(name('databaseUrl'), `missing ${name('databaseUrl')}: set it to a postgres:// or mysql:// URL`);
  const redactedUrl = redactUrl(url);
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return fail(name('databaseUrl'), `invalid ${name('databaseUrl')}: not a URL; got ${JSON.stringify(redactedUrl)}`);
  }
  const driver = protocol === 'postgres:' || protocol === 'postgresql:' ? 'pg' : protocol === 'mysql:' ? 'mysql' : undefined;
  if (!driver) {
    fail(
      name('databaseUrl'),
      `invalid ${name('databaseUrl')}: unsupported scheme "${protocol}" (expected postgres://, postgresql:// or mysql://); got ${JSON.stringify(redactedUrl)}`,
    );
  }
  return {
    driver,
    url,
    redactedUrl,
    schema: identifier(raw, 'schema', name),
    table: identifier(raw, 'table', name),
    tls: databaseTls(raw, name, new URL(url)),
  };
}

function databaseTls(raw: RawSettings, name: Namer, url: URL): DatabaseTlsConfig | undefined {
  const caFile = readableFile(raw, 'dbTlsCa', name);
  const certFile = readableFile(raw, 'dbTlsCert', name);
  const keyFile = readableFile(raw, 'dbTlsKey', name);
  if (raw.dbTlsMode === undefined) {
    const given = caFile ? 'dbTlsCa' : certFile ? 'dbTlsCert' : keyFile ? 'dbTlsKey' : undefined;
    if (given) fail(name(given), `invalid ${name(given)}: set ${name('dbTlsMode')} too (verify-ca or verify-full use the CA)`);
    return undefined;
  }
  const mode = raw.dbTlsMode.toLowerCase() as DatabaseTlsMode;
  if (!tlsModes.includes(mode)) {
    fail(name('dbTlsMode'), `invalid ${name('dbTlsMode')}: expected one of ${tlsModes.join(', ')}; got ${JSON.stringify(raw.dbTlsMode)}`);
  }
  const inUrl = [...url.searchParams.keys()].find((key) => urlTlsParameters.includes(key.toLowerCase()));
  if (inUrl) {
    fail(
      name('dbTlsMode'),
      `invalid ${name('dbTlsMode')}: the database URL sets TLS too (its "${inUrl}" parameter); set TLS in one place only`,
    );
  }
  if (caFile && (mode === 'disable' || mode === 'require')) {
    fail(name('dbTlsCa'), `invalid ${name('dbTlsCa')}: a CA is only used by ${name('dbTlsMode')} verify-ca or verify-full; got ${mode}`);
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile === undefined ? 'dbTlsCert' : 'dbTlsKey';
    fail(name(missing), `missing ${name(missing)}: a TLS client certificate and key go together`);
  }
  if (certFile && mode === 'disable') {
    fail(name('dbTlsCert'), `invalid ${name('dbTlsCert')}: a client certificate needs TLS; ${name('dbTlsMode')} is disable`);
  }
  return { mode, caFile, certFile, keyFile };
}

/** The connection part of the NATS settings: servers, credentials, TLS. */
export type NatsConnectionConfig = Pick<NatsConfig, 'servers' | 'user' | 'password' | 'token' | 'credsFile' | 'tls'>;

function nats(raw: RawSettings, name: Namer): NatsConfig {
  const connection = natsConnection(raw, name);
  const subjectPrefix = raw.subjectPrefix as string;
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(subjectPrefix)) {
    fail(
      name('subjectPrefix'),
      `invalid ${name('subjectPrefix')}: must be dot-separated tokens of letters, digits, '_' or '-'; got ${JSON.stringify(subjectPrefix)}`,
    );
  }
  const stream = raw.stream as string;
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(stream)) {
    fail(name('stream'), `invalid ${name('stream')}: must be letters, digits, '_' or '-'; got ${JSON.stringify(stream)}`);
  }
  return {
    ...connection,
    stream,
    subjectPrefix,
    ensureStream: boolean(raw, 'ensureStream', name),
    duplicateWindowMs: integer(raw, 'duplicateWindowMs', name, 1_000, 7 * 24 * 3_600_000),
    streamReplicas: integer(raw, 'streamReplicas', name, 1, 5),
    ...placement(raw, name),
    publishTimeoutMs: integer(raw, 'publishTimeoutMs', name, 100, 600_000),
  };
}

/** `console` only reads the stream's state: its connection and the stream name; the rest are the defaults, unused. */
function consoleNats(raw: RawSettings, name: Namer): NatsConfig {
  const stream = raw.stream ?? 'EVENTS';
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(stream)) {
    fail(name('stream'), `invalid ${name('stream')}: must be letters, digits, '_' or '-'; got ${JSON.stringify(stream)}`);
  }
  return {
    ...natsConnection(raw, name),
    stream,
    subjectPrefix: 'events',
    ensureStream: false,
    duplicateWindowMs: 120_000,
    streamReplicas: 1,
    publishTimeoutMs: 5_000,
  };
}

/**
 * Validates the NATS servers, credentials and TLS files.
 * @throws OutboxConfigError naming the setting (passwords redacted).
 */
export function natsConnection(raw: RawSettings, name: Namer): NatsConnectionConfig {
  if (raw.natsUrl === undefined)
    fail(name('natsUrl'), `missing ${name('natsUrl')}: set it to the NATS server URL, e.g. nats://127.0.0.1:4222`);
  const servers = raw.natsUrl
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const server of servers) {
    const withScheme = server.includes('://') ? server : `nats://${server}`;
    let ok = false;
    try {
      const parsed = new URL(withScheme);
      ok = ['nats:', 'tls:', 'ws:', 'wss:'].includes(parsed.protocol) && parsed.hostname !== '';
    } catch {
      ok = false;
    }
    if (!ok) fail(name('natsUrl'), `invalid ${name('natsUrl')}: expected nats://host:port; got ${JSON.stringify(redactUrl(server))}`);
  }
  if (servers.length === 0) fail(name('natsUrl'), `invalid ${name('natsUrl')}: no server given`);
  if ((raw.natsUser === undefined) !== (raw.natsPassword === undefined)) {
    const missing = raw.natsUser === undefined ? 'natsUser' : 'natsPassword';
    fail(name(missing), `missing ${name(missing)}: NATS user and password go together`);
  }
  if (raw.natsToken !== undefined && raw.natsUser !== undefined) {
    fail(name('natsToken'), `invalid ${name('natsToken')}: use a token or a user and password, not both`);
  }
  const caFile = readableFile(raw, 'natsTlsCa', name);
  const certFile = readableFile(raw, 'natsTlsCert', name);
  const keyFile = readableFile(raw, 'natsTlsKey', name);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile === undefined ? 'natsTlsCert' : 'natsTlsKey';
    fail(name(missing), `missing ${name(missing)}: a TLS client certificate and key go together`);
  }
  return {
    servers,
    user: raw.natsUser,
    password: raw.natsPassword,
    token: raw.natsToken,
    credsFile: readableFile(raw, 'natsCreds', name),
    tls: caFile || certFile ? { caFile, certFile, keyFile } : undefined,
  };
}

function httpAddress(raw: RawSettings, name: Namer): { host: string; port: number } | undefined {
  const text = (raw.metricsAddr as string).trim();
  if (text.toLowerCase() === 'off') return undefined;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65_535) {
    fail(name('metricsAddr'), `invalid ${name('metricsAddr')}: expected host:port, :port or off; got ${JSON.stringify(text)}`);
  }
  return { host: match[1] || match[2] || '0.0.0.0', port };
}

/**
 * Publishes the relay keeps in flight at once (the `maxInFlight` it gives `NatsPublisher`): a batch
 * is sent in ceil(batchSize / PUBLISH_WINDOW) waves, each of which can wait `publishTimeoutMs`.
 */
export const PUBLISH_WINDOW = 256;
/** Time the lease must leave after the last wave's timeout for the claim and settle statements. */
export const LEASE_SETTLE_MARGIN_MS = 1_000;

/**
 * The lease a batch needs: every wave of publishes may wait out `publishTimeoutMs`, and settling
 * takes a little more. A shorter lease can expire while its batch is still being published; another
 * relay then publishes the same events again (the stream drops the copies only within its window).
 */
export function requiredLeaseMs(publishTimeoutMs: number, batchSize: number): number {
  return publishTimeoutMs * Math.ceil(batchSize / PUBLISH_WINDOW) + LEASE_SETTLE_MARGIN_MS;
}

function checkLease(leaseMs: number, batchSize: number, natsConfig: NatsConfig, name: Namer): void {
  const needed = requiredLeaseMs(natsConfig.publishTimeoutMs, batchSize);
  if (leaseMs >= needed) return;
  const waves = Math.ceil(batchSize / PUBLISH_WINDOW);
  fail(
    name('leaseMs'),
    `invalid ${name('leaseMs')}: ${leaseMs} ms does not cover a batch: ${name('publishTimeoutMs')} (${natsConfig.publishTimeoutMs} ms) x ` +
      `${waves} wave${waves === 1 ? '' : 's'} of ${PUBLISH_WINDOW} publishes (${name('batchSize')} ${batchSize}) + ${LEASE_SETTLE_MARGIN_MS} ms = ${needed} ms; ` +
      `raise ${name('leaseMs')} to at least ${needed}, or lower ${name('publishTimeoutMs')} or ${name('batchSize')}`,
  );
}

function validate(spec: CommandSpec, raw: RawSettings, positionals: readonly string[], name: Namer): RelayCliConfig {
  if (spec.positionals === 'none' && positionals.length > 0) {
    fail('arguments', `${spec.name}: unexpected argument ${JSON.stringify(positionals[0])} (see outbox-relay ${spec.name} --help)`);
  }
  if (spec.positionals === 'one' && positionals.length !== 1) fail('arguments', `${spec.name}: expects exactly one event id`);
  const all = boolean(raw, 'all', name);
  if (spec.positionals === 'many' && positionals.length > 0 === all) {
    fail('arguments', `${spec.name}: give event ids or --all (not both)`);
  }
  const logLevel = (raw.logLevel ?? 'info').toLowerCase() as LogLevel;
  if (!logLevels.includes(logLevel))
    fail(name('logLevel'), `invalid ${name('logLevel')}: expected one of ${logLevels.join(', ')}; got ${JSON.stringify(raw.logLevel)}`);
  const db = database(raw, name);
  const isRun = spec.name === 'run';
  const natsConfig = isRun ? nats(raw, name) : spec.name === 'console' ? consoleNats(raw, name) : undefined;
  const consoleConfig = spec.name === 'console' || (isRun && boolean(raw, 'console', name)) ? validateConsole(raw, name) : undefined;
  if (consoleConfig && isRun && boolean(raw, 'once', name)) {
    fail(name('console'), `invalid ${name('console')}: the console needs a long-running relay; drop --once`);
  }
  const secrets = [
    consoleConfig?.token,
    ...urlSecrets(db.url),
    natsConfig?.password,
    natsConfig?.token,
    ...(natsConfig?.servers ?? []).flatMap(urlSecrets),
  ].filter((s): s is string => s !== undefined && s !== '');
  const batchSize = isRun ? integer(raw, 'batchSize', name, 1, 10_000) : 500;
  const leaseMs = isRun ? integer(raw, 'leaseMs', name, 100, 3_600_000) : 30_000;
  if (natsConfig) checkLease(leaseMs, batchSize, natsConfig, name);
  return {
    command: spec.name,
    database: db,
    nats: natsConfig,
    batchSize,
    maxBatchBytes: isRun ? integer(raw, 'maxBatchBytes', name, 1_024, Number.MAX_SAFE_INTEGER) : DEFAULT_MAX_BATCH_BYTES,
    maxEventBytes: isRun ? integer(raw, 'maxEventBytes', name, 1_024, Number.MAX_SAFE_INTEGER) : DEFAULT_MAX_EVENT_BYTES,
    pollIntervalMs: isRun ? integer(raw, 'pollIntervalMs', name, 1, 3_600_000) : 1_000,
    leaseMs,
    maxAttempts: isRun ? integer(raw, 'maxAttempts', name, 1, 1_000_000) : 10,
    blockSubject: isRun ? boolean(raw, 'blockSubject', name) : false,
    http: isRun ? httpAddress(raw, name) : undefined,
    statsIntervalMs: isRun ? integer(raw, 'statsIntervalMs', name, 100, 3_600_000) : 5_000,
    shutdownTimeoutMs: isRun ? integer(raw, 'shutdownTimeoutMs', name, 0, 3_600_000) : 10_000,
    logLevel,
    once: boolean(raw, 'once', name),
    json: boolean(raw, 'json', name),
    all,
    limit: raw.limit === undefined ? 100 : integer(raw, 'limit', name, 1, 100_000),
    after: raw.after,
    ids: positionals,
    secrets,
    ...(consoleConfig ? { console: consoleConfig } : {}),
  };
}
