import { type CommonConfig, noArguments, readCommon } from '../cli-config.js';
import { type DatabaseConfig, readDatabase } from '../database-config.js';
import { type NatsConnectionConfig, readNatsConnection, readStreamName } from '../nats-config.js';
import { fail, type SettingValues, streamName, subjectTokens } from '../setting-values.js';
import { consoleSettings, dlqSettings, relaySettings } from '../settings.js';

/** Where and how the operator console is served. */
export interface ConsoleConfig {
  readonly host: string;
  /** 0 picks a free port (the log line `console listening` names it). */
  readonly port: number;
  /** Needed for every mutation, and for reading when `host` is not a loopback address. */
  readonly token?: string;
  /** The consumers' dead-letter stream and its subject prefix (as `dlq` reads them). */
  readonly dlqStream: string;
  readonly dlqPrefix: string;
}

/** `outbox-relay console`: the console alone, reading the database and the stream's state. */
export interface ConsoleCommandConfig extends CommonConfig {
  readonly command: 'console';
  readonly database: DatabaseConfig;
  /** The connection, and the stream whose state the console shows. */
  readonly nats: NatsConnectionConfig & { readonly stream: string };
  readonly console: ConsoleConfig;
  /**
   * The relays run with `--block-subject true`: a dead event the console retries keeps its
   * sequence (as `dead retry --block-subject true` does) instead of taking a new one at the end of
   * its subject.
   */
  readonly blockSubject: boolean;
}

/** True for 127.0.0.0/8, ::1 and `localhost`: addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/** Reads `console`'s settings: the database, the NATS connection, the stream's name and the console's own. */
export function readConsoleCommandConfig(values: SettingValues, positionals: readonly string[]): ConsoleCommandConfig {
  noArguments('console', positionals);
  const common = readCommon(values);
  const database = readDatabase(values);
  const nats = { ...readNatsConnection(values), stream: readStreamName(values) };
  const blockSubject = values.boolean(relaySettings.blockSubject);
  return { command: 'console', ...common, database, nats, console: readConsole(values), blockSubject };
}

/**
 * Validates the console settings (`console`, `run --console`).
 * @throws OutboxConfigError when the port is out of range, the token too short, or a non-loopback
 * host has no token (a console on the network without a token would show and change dead events
 * to anyone).
 */
export function readConsole(values: SettingValues): ConsoleConfig {
  const { host: hostSetting, port: portSetting, token: tokenSetting } = consoleSettings;
  const host = values.required(hostSetting, 'set it to an address such as 127.0.0.1').trim();
  if (host === '' || /[\s/]/.test(host)) {
    fail(values.name(hostSetting), `invalid ${values.name(hostSetting)}: expected an address; got ${JSON.stringify(host)}`);
  }
  const port = values.integer(portSetting);
  const token = values.text(tokenSetting);
  if (token !== undefined && (token.length < 16 || /\s/.test(token))) {
    const name = values.name(tokenSetting);
    fail(name, `invalid ${name}: must be at least 16 characters without spaces (e.g. openssl rand -hex 24)`);
  }
  if (token === undefined && !isLoopback(host)) {
    fail(
      values.name(tokenSetting),
      `refusing to serve the console on ${JSON.stringify(host)} without a token: set OUTBOX_CONSOLE_TOKEN (--console-token), or bind ${values.name(hostSetting)} to 127.0.0.1`,
    );
  }
  const dlqStream = values.matching(dlqSettings.stream, streamName, "must be letters, digits, '_' or '-'") as string;
  const dlqPrefix = values.matching(
    dlqSettings.prefix,
    subjectTokens,
    "must be dot-separated tokens of letters, digits, '_' or '-'",
  ) as string;
  return { host, port, ...(token === undefined ? {} : { token }), dlqStream, dlqPrefix };
}
