import { OutboxConfigError } from '@outboxkit/outbox-core';
import type { CommandName, CommandSpec } from './commands.js';
import { type LogLevel, type Namer, type NatsConnectionConfig, natsConnection } from './config.js';
import { urlSecrets } from './redact.js';
import type { RawSettings } from './settings.js';

/** A validated `outbox-relay dlq ...` invocation: NATS only, no database. */
export interface DlqCliConfig {
  readonly command: Extract<CommandName, `dlq ${string}`>;
  readonly nats: NatsConnectionConfig;
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly consumer?: string;
  readonly type?: string;
  readonly subject?: string;
  readonly code?: string;
  readonly limit: number;
  readonly all: boolean;
  readonly json: boolean;
  /** Dead-letter stream sequences given as arguments (`show`, `replay`, `purge`). */
  readonly sequences: readonly number[];
  readonly logLevel: LogLevel;
  /** Every secret in the configuration, to scrub from logs and errors. */
  readonly secrets: readonly string[];
}

const logLevels: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function fail(setting: string, message: string): never {
  throw new OutboxConfigError(setting, message);
}

/** A stream name or subject token: what a consumer name or the prefix may hold. */
function token(raw: RawSettings, key: keyof RawSettings, name: Namer, pattern: RegExp, what: string): string | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (!pattern.test(value)) fail(name(key), `invalid ${name(key)}: ${what}; got ${JSON.stringify(value)}`);
  return value;
}

/** A filter compared with a header value: one line of printable text. */
function filter(raw: RawSettings, key: keyof RawSettings, name: Namer): string | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (value === '' || value.length > 1_000 || /[\u0000-\u001f\u007f]/.test(value)) {
    fail(name(key), `invalid ${name(key)}: must be 1 to 1000 characters without control characters; got ${JSON.stringify(value)}`);
  }
  return value;
}

function flag(raw: RawSettings, key: keyof RawSettings, name: Namer): boolean {
  const text = (raw[key] ?? 'false').toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  return fail(name(key), `invalid ${name(key)}: must be true or false; got ${JSON.stringify(raw[key])}`);
}

/**
 * Validates a `dlq` command: its NATS connection, the dead-letter stream and prefix, the filters and
 * the sequences given.
 * @throws OutboxConfigError naming the setting and the bad value (passwords redacted).
 */
export function validateDlq(spec: CommandSpec, raw: RawSettings, positionals: readonly string[], name: Namer): DlqCliConfig {
  const command = spec.name as DlqCliConfig['command'];
  const all = flag(raw, 'all', name);
  if (spec.positionals === 'none' && positionals.length > 0) {
    fail('arguments', `${command}: unexpected argument ${JSON.stringify(positionals[0])} (see outbox-relay ${command} --help)`);
  }
  if (spec.positionals === 'one' && positionals.length !== 1) fail('arguments', `${command}: expects exactly one dead-letter sequence`);
  if (spec.positionals === 'many' && positionals.length > 0 === all) {
    fail('arguments', `${command}: give dead-letter sequences or --all (not both); --all acts on every letter the filters match`);
  }
  const sequences = positionals.map((text) => {
    const value = /^\d{1,15}$/.test(text) ? Number(text) : 0;
    if (value < 1)
      fail('arguments', `${command}: ${JSON.stringify(text)} is not a dead-letter sequence (a positive integer, see dlq list)`);
    return value;
  });
  const logLevel = (raw.logLevel ?? 'info').toLowerCase() as LogLevel;
  if (!logLevels.includes(logLevel)) {
    fail(name('logLevel'), `invalid ${name('logLevel')}: expected one of ${logLevels.join(', ')}; got ${JSON.stringify(raw.logLevel)}`);
  }
  let limit = command === 'dlq list' ? 100 : 100_000;
  if (raw.limit !== undefined) {
    limit = /^\d{1,6}$/.test(raw.limit.trim()) ? Number(raw.limit) : 0;
    if (limit < 1 || limit > 100_000)
      fail(name('limit'), `invalid ${name('limit')}: must be an integer from 1 to 100000; got ${JSON.stringify(raw.limit)}`);
  }
  const nats = natsConnection(raw, name);
  const secrets = [nats.password, nats.token, ...nats.servers.flatMap(urlSecrets)].filter((s): s is string => s !== undefined && s !== '');
  const consumer = token(raw, 'consumer', name, /^[A-Za-z0-9_-]{1,255}$/, "must be a consumer name: letters, digits, '_' or '-'");
  const type = filter(raw, 'eventType', name);
  const subject = filter(raw, 'eventSubject', name);
  const code = filter(raw, 'code', name);
  return {
    command,
    nats,
    stream: token(raw, 'dlqStream', name, /^[A-Za-z0-9_-]{1,255}$/, "must be letters, digits, '_' or '-'") as string,
    subjectPrefix: token(
      raw,
      'dlqPrefix',
      name,
      /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
      "must be dot-separated tokens of letters, digits, '_' or '-'",
    ) as string,
    ...(consumer === undefined ? {} : { consumer }),
    ...(type === undefined ? {} : { type }),
    ...(subject === undefined ? {} : { subject }),
    ...(code === undefined ? {} : { code }),
    limit,
    all,
    json: flag(raw, 'json', name),
    sequences,
    logLevel,
    secrets,
  };
}
