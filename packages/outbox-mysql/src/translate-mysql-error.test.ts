import { OutboxUsageError, SchemaVersionError, StoreError } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { isDuplicateKeyError, translateMysqlError } from './translate-mysql-error.js';

function native(fields: Record<string, unknown>): Error {
  return Object.assign(new Error(String(fields.message ?? 'native')), fields);
}

describe('translateMysqlError', () => {
  it.each([
    [{ code: 'ER_DUP_ENTRY', errno: 1062 }, 'DUPLICATE', false],
    [{ code: 'ER_LOCK_DEADLOCK', errno: 1213 }, 'DEADLOCK', true],
    [{ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }, 'LOCK_TIMEOUT', true],
    [{ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }, 'CONNECTION_LOST', true],
    [{ code: 'ECONNRESET' }, 'CONNECTION_LOST', true],
    [{ fatal: true }, 'CONNECTION_LOST', true],
    [{ code: 'ER_CONNECTION_KILLED', errno: 1927 }, 'CONNECTION_LOST', true],
    [{ code: 'ER_PARSE_ERROR', errno: 1064 }, 'DATABASE', false],
  ])('%o -> %s', (fields, code, retryable) => {
    const cause = native(fields);
    const error = translateMysqlError(cause);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code, retryable, cause });
  });

  it.each([
    [{ code: 'ER_LOCK_DEADLOCK', errno: 1213 }, 'DEADLOCK', true],
    [{ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }, 'LOCK_TIMEOUT', true],
    [{ code: 'ECONNREFUSED' }, 'CONNECTION_LOST', true],
    [{ code: 'ETIMEDOUT' }, 'CONNECTION_LOST', true],
    [{ code: 'ER_OPTION_PREVENTS_STATEMENT', errno: 1290 }, 'READ_ONLY', true],
    [{ code: 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION', errno: 1792 }, 'READ_ONLY', true],
    [{ code: 'ER_DUP_ENTRY', errno: 1062 }, 'DUPLICATE', false],
    [{ code: 'ER_PARSE_ERROR', errno: 1064 }, 'DATABASE', false],
  ])('%o -> %s, infrastructure: %s', (fields, code, infrastructure) => {
    expect(translateMysqlError(native(fields))).toMatchObject({ code, infrastructure });
  });

  // As translatePgError: a missing table is SchemaVersionError (code SCHEMA_VERSION), with the expected version.
  it('turns a missing table into SchemaVersionError, keeping the native error as cause', () => {
    const cause = native({ code: 'ER_NO_SUCH_TABLE', errno: 1146 });
    const error = translateMysqlError(cause, { operation: 'claim()', expectedVersion: 1 });
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect(error).toMatchObject({ code: 'SCHEMA_VERSION', found: null, expected: 1, cause });
    expect(error.message).toMatch(/^claim\(\) failed: .*run store\.migrate\(\)/);
  });

  it('returns outboxkit errors unchanged, and any other error as StoreError DATABASE (as translatePgError does)', () => {
    const usage = new OutboxUsageError('x');
    const plain = new Error('handler');
    expect(translateMysqlError(usage)).toBe(usage);
    expect(translateMysqlError(plain)).toMatchObject({ code: 'DATABASE', retryable: false, cause: plain });
    expect(translateMysqlError('text')).toMatchObject({ code: 'DATABASE', cause: 'text' });
  });

  it('recognises only ER_DUP_ENTRY as a duplicate', () => {
    expect(isDuplicateKeyError(native({ code: 'ER_DUP_ENTRY', errno: 1062 }))).toBe(true);
    expect(isDuplicateKeyError(native({ code: 'ER_DUP_KEYNAME', errno: 1061 }))).toBe(false);
    expect(isDuplicateKeyError(new Error('Duplicate entry'))).toBe(false);
  });
});
