import { OutboxConfigError } from '@outboxkit/outbox-core';
import type { RawSettings, SettingSpec } from '../settings.js';

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

const spec = (s: SettingSpec): SettingSpec => s;

/** `run --console`: serve the console next to the relay. */
export const consoleSwitchSetting = spec({
  key: 'console',
  flag: 'console',
  env: 'OUTBOX_CONSOLE',
  type: 'boolean',
  defaultValue: 'false',
  description: 'Also serve the operator console (see --console-host, --console-port); the env var takes true or false.',
});

/** Where the console listens and the token that guards it. */
export const consoleSettings: readonly SettingSpec[] = [
  spec({
    key: 'consoleHost',
    flag: 'console-host',
    env: 'OUTBOX_CONSOLE_HOST',
    type: 'string',
    defaultValue: '127.0.0.1',
    description: 'Address the console listens on. Any non-loopback address needs OUTBOX_CONSOLE_TOKEN (else exit 2).',
  }),
  spec({
    key: 'consolePort',
    flag: 'console-port',
    env: 'OUTBOX_CONSOLE_PORT',
    type: 'string',
    defaultValue: '9465',
    description: 'Port of the console (0: a free port, logged).',
  }),
  spec({
    key: 'consoleToken',
    flag: 'console-token',
    env: 'OUTBOX_CONSOLE_TOKEN',
    type: 'string',
    description:
      'Bearer token (16+ characters) the console asks for: needed by every retry, purge and replay, and for reading when not on loopback. Without it the console is read-only. Prefer the env var.',
    secret: true,
  }),
];

/** True for 127.0.0.0/8, ::1 and `localhost`: addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/**
 * Validates the console settings.
 * @throws OutboxConfigError when the port is out of range, the token too short, or a non-loopback
 * host has no token (a console on the network without a token would show and change dead events
 * to anyone).
 */
export function validateConsole(raw: RawSettings, name: (key: keyof RawSettings) => string): ConsoleConfig {
  const host = (raw.consoleHost ?? '127.0.0.1').trim();
  if (host === '' || /[\s/]/.test(host)) {
    throw new OutboxConfigError(name('consoleHost'), `invalid ${name('consoleHost')}: expected an address; got ${JSON.stringify(host)}`);
  }
  const portText = (raw.consolePort ?? '9465').trim();
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 0 && port <= 65_535)) {
    throw new OutboxConfigError(
      name('consolePort'),
      `invalid ${name('consolePort')}: must be an integer from 0 to 65535; got ${JSON.stringify(portText)}`,
    );
  }
  const token = raw.consoleToken;
  if (token !== undefined && (token.length < 16 || /\s/.test(token))) {
    throw new OutboxConfigError(
      name('consoleToken'),
      `invalid ${name('consoleToken')}: must be at least 16 characters without spaces (e.g. openssl rand -hex 24)`,
    );
  }
  if (token === undefined && !isLoopback(host)) {
    throw new OutboxConfigError(
      name('consoleToken'),
      `refusing to serve the console on ${JSON.stringify(host)} without a token: set OUTBOX_CONSOLE_TOKEN (--console-token), or bind ${name('consoleHost')} to 127.0.0.1`,
    );
  }
  const dlqStream = raw.dlqStream ?? 'DEAD_LETTERS';
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(dlqStream)) {
    throw new OutboxConfigError(
      name('dlqStream'),
      `invalid ${name('dlqStream')}: must be letters, digits, '_' or '-'; got ${JSON.stringify(dlqStream)}`,
    );
  }
  const dlqPrefix = raw.dlqPrefix ?? 'dlq';
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(dlqPrefix)) {
    throw new OutboxConfigError(
      name('dlqPrefix'),
      `invalid ${name('dlqPrefix')}: must be dot-separated tokens of letters, digits, '_' or '-'; got ${JSON.stringify(dlqPrefix)}`,
    );
  }
  return { host, port, ...(token === undefined ? {} : { token }), dlqStream, dlqPrefix };
}
