import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../config.js';
import { isLoopback, validateConsole } from './console-settings.js';

const name = (key: string): string => key;

describe('console settings', () => {
  it('knows the loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST']) expect(isLoopback(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1', 'localhost.example.com'])
      expect(isLoopback(host), host).toBe(false);
  });

  it('defaults to 127.0.0.1:9465, read-only', () => {
    expect(validateConsole({}, name)).toEqual({ host: '127.0.0.1', port: 9465, dlqStream: 'DEAD_LETTERS', dlqPrefix: 'dlq' });
  });

  it('refuses a non-loopback address without a token, a short token and a bad port', () => {
    expect(() => validateConsole({ consoleHost: '0.0.0.0' }, name)).toThrow(/refusing to serve the console on "0.0.0.0" without a token/);
    expect(() => validateConsole({ consoleToken: 'short' }, name)).toThrow(/at least 16 characters/);
    expect(() => validateConsole({ consolePort: '70000' }, name)).toThrow(/from 0 to 65535/);
    expect(validateConsole({ consoleHost: '0.0.0.0', consoleToken: 'a'.repeat(16) }, name)).toMatchObject({
      host: '0.0.0.0',
      token: 'a'.repeat(16),
    });
  });

  it('run reads the console settings only with --console, never with --once, and scrubs the token', () => {
    const env = { OUTBOX_DATABASE_URL: 'postgres://app:pw@db/app', OUTBOX_NATS_URL: 'nats://127.0.0.1:4222' };
    const plain = parseCommandLine(['run'], env);
    expect(plain.kind === 'command' && plain.config.console).toBeUndefined();
    const token = 'a-console-token-of-32-characters';
    const withConsole = parseCommandLine(['run', '--console'], { ...env, OUTBOX_CONSOLE_TOKEN: token });
    expect(withConsole.kind === 'command' && withConsole.config.console).toMatchObject({ host: '127.0.0.1', port: 9465, token });
    expect(withConsole.kind === 'command' && withConsole.config.secrets).toContain(token);
    expect(() => parseCommandLine(['run', '--once', '--console'], env)).toThrow(/the console needs a long-running relay; drop --once/);
    expect(() => parseCommandLine(['console', '--console-host', '10.0.0.5'], env)).toThrow(/refusing to serve the console on "10.0.0.5"/);
  });
});
