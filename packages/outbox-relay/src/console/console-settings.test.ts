import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../config.js';
import { type ConsoleConfig, isLoopback } from './console-settings.js';

const env = { OUTBOX_DATABASE_URL: 'postgres://app:pw@db/app', OUTBOX_NATS_URL: 'nats://127.0.0.1:4222' };

/** The console settings of `outbox-relay console` (or `run --console`) with these arguments. */
function consoleOf(argv: string[], environment: NodeJS.ProcessEnv = env): ConsoleConfig | undefined {
  const parsed = parseCommandLine(argv, environment);
  if (parsed.kind !== 'command' || (parsed.config.command !== 'console' && parsed.config.command !== 'run')) {
    throw new Error('expected console or run');
  }
  return parsed.config.console;
}

describe('console settings', () => {
  it('knows the loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST']) expect(isLoopback(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1', 'localhost.example.com'])
      expect(isLoopback(host), host).toBe(false);
  });

  it('defaults to 127.0.0.1:9465, read-only', () => {
    expect(consoleOf(['console'])).toEqual({ host: '127.0.0.1', port: 9465, dlqStream: 'DEAD_LETTERS', dlqPrefix: 'dlq' });
  });

  it('refuses a non-loopback address without a token, a short token and a bad port', () => {
    expect(() => consoleOf(['console', '--console-host', '0.0.0.0'])).toThrow(/refusing to serve the console on "0.0.0.0" without a token/);
    expect(() => consoleOf(['console', '--console-token', 'short'])).toThrow(/at least 16 characters/);
    expect(() => consoleOf(['console', '--console-port', '70000'])).toThrow(/from 0 to 65535/);
    expect(consoleOf(['console', '--console-host', '0.0.0.0', '--console-token', 'a'.repeat(16)])).toMatchObject({
      host: '0.0.0.0',
      token: 'a'.repeat(16),
    });
  });

  it('run reads the console settings only with --console, never with --once, and scrubs the token', () => {
    expect(consoleOf(['run'])).toBeUndefined();
    const token = 'a-console-token-of-32-characters';
    const withConsole = parseCommandLine(['run', '--console'], { ...env, OUTBOX_CONSOLE_TOKEN: token });
    expect(withConsole.kind === 'command' && withConsole.config.command === 'run' && withConsole.config.console).toMatchObject({
      host: '127.0.0.1',
      port: 9465,
      token,
    });
    expect(withConsole.kind === 'command' && withConsole.config.secrets).toContain(token);
    expect(() => parseCommandLine(['run', '--once', '--console'], env)).toThrow(/the console needs a long-running relay; drop --once/);
    expect(() => parseCommandLine(['console', '--console-host', '10.0.0.5'], env)).toThrow(/refusing to serve the console on "10.0.0.5"/);
  });

  it("console reads --block-subject / OUTBOX_BLOCK_SUBJECT, so its retry keeps a dead event's sequence like the relays", () => {
    const blockSubject = (argv: string[], environment: NodeJS.ProcessEnv = env) => {
      const parsed = parseCommandLine(argv, environment);
      return parsed.kind === 'command' && parsed.config.command === 'console' ? parsed.config.blockSubject : 'not console';
    };
    expect(blockSubject(['console'])).toBe(false);
    expect(blockSubject(['console', '--block-subject', 'true'])).toBe(true);
    expect(blockSubject(['console'], { ...env, OUTBOX_BLOCK_SUBJECT: 'true' })).toBe(true);
    expect(() => parseCommandLine(['console', '--block-subject', 'maybe'], env)).toThrow(/block-subject/);
  });
});
