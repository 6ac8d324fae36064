import { OutboxError, SchemaVersionError, StoreError } from '@outboxkit/outbox-core';
import { nativeError, type TranslateContext } from '@outboxkit/outbox-core/driver';

export type { TranslateContext } from '@outboxkit/outbox-core/driver';

// Node socket errors pg passes through when the server or network goes away.
const connectionCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTCONN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Turns a node-postgres error into an outboxkit error in one place, keeping the original as `cause`:
 * `23505` duplicate, `40001` serialization failure, `40P01` deadlock, `55P03`/`57014` lock or statement
 * timeout, `57P0x`/`08xxx`/`53300`/socket errors/pool timeouts connection lost, `25006` read-only (a
 * standby after a failover); all but duplicate are `retryable`, and all of those but the statement
 * timeout (which may be the statement's own fault) are `infrastructure`. `42P01` a missing table
 * means the migrations have not run (`SchemaVersionError`). An `OutboxError` passes through unchanged.
 *
 * @example
 * ```ts
 * try { await pool.query(sql) } catch (error) { throw translatePgError(error, { operation: 'claim()' }) }
 * ```
 */
export function translatePgError(error: unknown, context: TranslateContext = {}): OutboxError {
  if (error instanceof OutboxError) return error;
  // An ORM's executor may wrap the pg error: the SQLSTATE is on the innermost error that has a code.
  const native = nativeError(error) as { code?: unknown; message?: unknown } | null;
  const code = typeof native?.code === 'string' ? native.code : '';
  const text = typeof native?.message === 'string' ? native.message : String(error);
  const what = context.operation ?? 'a PostgreSQL statement';
  const detail = code ? `${text} (SQLSTATE ${code})` : text;
  const cause = { cause: error };

  if (code === '42P01') {
    const expected = context.expectedVersion ?? 0;
    const translated = new SchemaVersionError(
      null,
      expected,
      `${what} failed because a table is missing: ${text}. Run \`outbox-relay migrate\` or \`store.migrate()\` first`,
    );
    Object.defineProperty(translated, 'cause', { value: error, enumerable: false, configurable: true, writable: true });
    return translated;
  }
  if (code === '23505') return new StoreError('DUPLICATE', `${what} failed: ${detail}`, false, cause);
  if (code === '40001') return new StoreError('SERIALIZATION_FAILURE', `${what} failed: ${detail}; retry the transaction`, true, cause);
  if (code === '40P01') return new StoreError('DEADLOCK', `${what} failed: ${detail}; retry the transaction`, true, cause);
  if (code === '55P03') return new StoreError('LOCK_TIMEOUT', `${what} failed: ${detail}`, true, cause);
  if (code === '57014') return new StoreError('LOCK_TIMEOUT', `${what} failed: ${detail}`, true, { ...cause, infrastructure: false });
  if (code === '25006') {
    return new StoreError('READ_ONLY', `${what} failed, the server is read-only (a standby or a failover): ${detail}`, true, cause);
  }
  if (
    code.startsWith('08') ||
    code === '53300' ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    connectionCodes.has(code) ||
    isLostConnection(text)
  ) {
    return new StoreError('CONNECTION_LOST', `${what} failed, the database connection was lost: ${detail}`, true, cause);
  }
  return new StoreError('DATABASE', `${what} failed: ${detail}`, false, cause);
}

// pg reports a dropped socket with plain Errors that carry no code.
function isLostConnection(message: string): boolean {
  return (
    message.includes('Connection terminated') ||
    message.includes('Client has encountered a connection error') ||
    message.includes('Client was closed and is not queryable') ||
    message.includes('terminating connection') ||
    message.includes('timeout exceeded when trying to connect') ||
    message.includes('Connection terminated due to connection timeout') ||
    message.includes('Connection terminated unexpectedly')
  );
}

/**
 * What the consumer should see of an error a handler threw inside an inbox transaction: when the
 * database failed under the handler (the connection was lost, so the rollback failed too, or its
 * statement lost a deadlock or serialization conflict) the infrastructure `StoreError`, with the
 * handler's error as `cause`; anything else, the handler's own error unchanged.
 */
export function classifyHandlerError(error: unknown, connectionBroken: boolean): unknown {
  if (error instanceof OutboxError) return error;
  if (connectionBroken) {
    return new StoreError(
      'CONNECTION_LOST',
      `the handler failed and its transaction could not be rolled back: ${String((error as Error)?.message ?? error)}`,
      true,
      {
        cause: error,
      },
    );
  }
  const native = nativeError(error) as { code?: unknown; severity?: unknown; message?: unknown } | null;
  // A server error carries a severity and a SQLSTATE; a dropped socket a code or one of pg's messages.
  const fromPg =
    (typeof native?.severity === 'string' && typeof native.code === 'string') ||
    (typeof native?.message === 'string' && isLostConnection(native.message));
  if (!fromPg) return error;
  const translated = translatePgError(error, { operation: 'a handler statement' });
  return translated instanceof StoreError && translated.infrastructure ? translated : error;
}
