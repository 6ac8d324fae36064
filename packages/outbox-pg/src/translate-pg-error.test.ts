import { OutboxUsageError, SchemaVersionError, StoreError } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { translatePgError } from './translate-pg-error.js';

const native = (code: string, message = 'boom') => Object.assign(new Error(message), { code });

describe('translatePgError', () => {
  it.each([
    ['23505', 'DUPLICATE', false],
    ['40001', 'SERIALIZATION_FAILURE', true],
    ['40P01', 'DEADLOCK', true],
    ['55P03', 'LOCK_TIMEOUT', true],
    ['57P01', 'CONNECTION_LOST', true],
    ['08006', 'CONNECTION_LOST', true],
    ['ECONNRESET', 'CONNECTION_LOST', true],
    ['22012', 'DATABASE', false],
  ])('maps SQLSTATE %s to %s', (code, expected, retryable) => {
    const original = native(code);
    const error = translatePgError(original, { operation: 'claim()' });
    expect(error).toBeInstanceOf(StoreError);
    expect(error.code).toBe(expected);
    expect((error as StoreError).retryable).toBe(retryable);
    expect(error.cause).toBe(original);
    expect(error.message).toContain('claim()');
  });

  it.each([
    ['40001', 'SERIALIZATION_FAILURE', true],
    ['40P01', 'DEADLOCK', true],
    ['55P03', 'LOCK_TIMEOUT', true],
    ['25006', 'READ_ONLY', true],
    ['53300', 'CONNECTION_LOST', true],
    ['57P03', 'CONNECTION_LOST', true],
    ['ECONNREFUSED', 'CONNECTION_LOST', true],
    ['57014', 'LOCK_TIMEOUT', false],
    ['23505', 'DUPLICATE', false],
    ['22012', 'DATABASE', false],
  ])('SQLSTATE %s (%s) is infrastructure: %s', (code, expected, infrastructure) => {
    const error = translatePgError(native(code)) as StoreError;
    expect(error.code).toBe(expected);
    expect(error.infrastructure).toBe(infrastructure);
  });

  it("counts pg-pool's connection timeout as a lost connection (infrastructure)", () => {
    const error = translatePgError(new Error('timeout exceeded when trying to connect')) as StoreError;
    expect(error).toMatchObject({ code: 'CONNECTION_LOST', infrastructure: true });
  });

  it('treats a dropped socket without a code as a lost connection', () => {
    expect(translatePgError(new Error('Connection terminated unexpectedly')).code).toBe('CONNECTION_LOST');
  });

  it('turns a missing table into a SchemaVersionError that says to migrate', () => {
    const original = native('42P01', 'relation "public.outbox" does not exist');
    const error = translatePgError(original, { expectedVersion: 1 });
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect(error.message).toContain('outbox-relay migrate');
    expect(error.cause).toBe(original);
  });

  it('passes outboxkit errors through', () => {
    const usage = new OutboxUsageError('no');
    expect(translatePgError(usage)).toBe(usage);
  });
});
