import { describe, expect, it } from 'vitest';
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
});
