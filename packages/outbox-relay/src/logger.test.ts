import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createCliLogger } from './logger.js';

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { stream, lines };
}

describe('createCliLogger', () => {
  it('writes JSON lines with no secret in any field, error or URL', () => {
    const { stream, lines } = capture();
    const logger = createCliLogger('debug', ['hunter22', 'nats-t0ken'], stream);
    const driverError = Object.assign(new Error('connect failed for postgres://app:hunter22@db:5432/x'), {
      input: 'postgres://app:hunter22@db:5432/x',
    });
    logger.warn({ err: driverError, token: 'nats-t0ken', url: 'mysql://root:other-pw@h/db' }, 'could not connect');
    logger.debug({ size: 3 }, 'relay batch');
    expect(lines).toHaveLength(2);
    const text = lines.join('');
    expect(text).not.toContain('hunter22');
    expect(text).not.toContain('nats-t0ken');
    expect(text).not.toContain('other-pw');
    const first = JSON.parse(lines[0] as string);
    expect(first).toMatchObject({ level: 'warn', msg: 'could not connect', url: 'mysql://root:***@h/db' });
    expect(first.err.message).toContain('postgres://app:***@db:5432/x');
  });

  it('drops lines below the level', () => {
    const { stream, lines } = capture();
    createCliLogger('info', [], stream).debug({}, 'relay batch');
    expect(lines).toHaveLength(0);
  });
});
