import { OutboxConfigError } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from './config.js';
import type { DlqConfig } from './dlq-config.js';

const env = { OUTBOX_NATS_URL: 'nats://app:s3cret@nats:4222' };

function dlq(argv: string[], environment: NodeJS.ProcessEnv = env): DlqConfig {
  const parsed = parseCommandLine(argv, environment);
  if (parsed.kind !== 'command' || !parsed.config.command.startsWith('dlq ')) throw new Error(`expected a dlq command; got ${parsed.kind}`);
  return parsed.config as DlqConfig;
}

function dlqError(argv: string[], environment: NodeJS.ProcessEnv = env): OutboxConfigError {
  try {
    parseCommandLine(argv, environment);
  } catch (error) {
    expect(error).toBeInstanceOf(OutboxConfigError);
    return error as OutboxConfigError;
  }
  throw new Error('expected an OutboxConfigError');
}

describe('outbox-relay dlq settings', () => {
  it('needs NATS only, with the dead-letter stream defaults of bus-nats and the NATS password kept secret', () => {
    const c = dlq(['dlq', 'list']);
    expect(c).toMatchObject({ command: 'dlq list', stream: 'DEAD_LETTERS', subjectPrefix: 'dlq', limit: 100, json: false });
    expect(c).not.toHaveProperty('all');
    expect(c.nats.servers).toEqual(['nats://app:s3cret@nats:4222']);
    expect(c.secrets).toContain('s3cret');
  });

  it('reads the filters; replay and purge act on every match unless limited', () => {
    const c = dlq([
      'dlq',
      'replay',
      '--all',
      '--consumer',
      'basket',
      '--type',
      'catalog.price-changed',
      '--subject',
      'p-1',
      '--code',
      'HANDLER_FAILED',
    ]);
    expect(c).toMatchObject({
      consumer: 'basket',
      type: 'catalog.price-changed',
      subject: 'p-1',
      code: 'HANDLER_FAILED',
      limit: 100_000,
      all: true,
    });
    expect(dlq(['dlq', 'purge', '4', '9', '--limit', '1'])).toMatchObject({ sequences: [4, 9], limit: 1, all: false });
    expect(dlq(['dlq', 'show', '12'], { ...env, OUTBOX_DLQ_STREAM: 'DLQ_A', OUTBOX_DLQ_PREFIX: 'dead.a' })).toMatchObject({
      sequences: [12],
      stream: 'DLQ_A',
      subjectPrefix: 'dead.a',
    });
  });

  it('names the setting of a bad value', () => {
    expect(dlqError(['dlq', 'list'], {}).setting).toBe('OUTBOX_NATS_URL (--nats-url)');
    expect(dlqError(['dlq', 'list', '--consumer', 'a b']).setting).toBe('--consumer');
    expect(dlqError(['dlq', 'list', '--subject', '']).setting).toBe('--subject');
    expect(dlqError(['dlq', 'list', '--limit', '100001']).setting).toBe('--limit');
    expect(dlqError(['dlq', 'list'], { ...env, OUTBOX_DLQ_PREFIX: 'dlq.>' }).setting).toBe('OUTBOX_DLQ_PREFIX');
    expect(dlqError(['dlq', 'show']).message).toContain('exactly one dead-letter sequence');
    expect(dlqError(['dlq', 'replay', '0']).message).toContain('not a dead-letter sequence');
    expect(dlqError(['dlq', 'purge']).message).toContain('--all');
    expect(dlqError(['dlq', 'list', '--database-url', 'postgres://x']).setting).toBe('arguments');
    expect(dlqError(['dlq', 'list', '--all']).setting).toBe('arguments');
  });
});
