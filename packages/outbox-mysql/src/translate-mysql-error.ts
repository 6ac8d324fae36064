import { type Logger, OutboxError, SchemaVersionError, StoreError } from '@outboxkit/outbox-core';
import { nativeError, type TranslateContext } from '@outboxkit/outbox-core/driver';

/** The fields of a mysql2 error that say what went wrong. */
interface MysqlNativeError {
  readonly code?: unknown;
  readonly errno?: unknown;
  readonly fatal?: unknown;
  readonly message?: unknown;
}

const connectionCodes = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
  'ER_CON_COUNT_ERROR',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
// 1053 server shutdown, 1317 query interrupted (KILL QUERY), 1927 connection killed (MariaDB),
// 2006 / 2013 server gone away / lost during query (client errors some proxies forward).
const connectionErrnos = new Set([1040, 1053, 1317, 1927, 2006, 2013]);
// 1290 --read-only / --super-read-only, 1792 a read-only transaction: a replica after a failover.
const readOnlyErrnos = new Set([1290, 1792]);

/**
 * Turns a mysql2 error into the outboxkit error a caller can act on, keeping the native error as
 * `cause`. Used by every statement this package runs, so retry decisions live in one place:
 * - `ER_DUP_ENTRY` (1062) -> `StoreError` `DUPLICATE`, not retryable;
 * - `ER_LOCK_DEADLOCK` (1213) -> `DEADLOCK`, `ER_LOCK_WAIT_TIMEOUT` (1205) -> `LOCK_TIMEOUT`, retryable;
 * - a lost or killed connection (`PROTOCOL_CONNECTION_LOST`, `ECONNRESET`, any `fatal` error) or a
 *   pool that timed out -> `CONNECTION_LOST`, retryable;
 * - a read-only server (1290, 1792: a replica after a failover) -> `READ_ONLY`, retryable;
 * all the retryable ones are `infrastructure`: the database failed, not the statement;
 * - `ER_NO_SUCH_TABLE` (1146) -> `SchemaVersionError`, saying to run the migrations;
 * - any other error -> `DATABASE`, not retryable.
 * An `OutboxError` passes through unchanged. Same signature and classification as `translatePgError`.
 *
 * @example
 * ```ts
 * try { await pool.query(sql) } catch (error) { throw translateMysqlError(error, { operation: 'claim()' }) }
 * ```
 */
export function translateMysqlError(error: unknown, context: TranslateContext = {}): OutboxError {
  if (error instanceof OutboxError) return error;
  // An ORM's executor may wrap the mysql2 error: the error number is on the innermost error that has one.
  const native = (typeof error === 'object' && error !== null ? nativeError(error) : {}) as MysqlNativeError;
  const code = typeof native.code === 'string' ? native.code : undefined;
  const errno = typeof native.errno === 'number' ? native.errno : undefined;
  const text = typeof native.message === 'string' ? native.message : String(code ?? errno ?? error);
  const detail = context.operation === undefined ? text : `${context.operation} failed: ${text}`;
  const options = { cause: error };
  if (code === 'ER_DUP_ENTRY' || errno === 1062) {
    return new StoreError('DUPLICATE', `a row with this key already exists: ${detail}`, false, options);
  }
  if (code === 'ER_LOCK_DEADLOCK' || errno === 1213) {
    return new StoreError('DEADLOCK', `deadlock, the transaction was rolled back; retry it: ${detail}`, true, options);
  }
  if (code === 'ER_LOCK_WAIT_TIMEOUT' || errno === 1205) {
    return new StoreError('LOCK_TIMEOUT', `lock wait timeout (innodb_lock_wait_timeout); retry it: ${detail}`, true, options);
  }
  // mysql2 marks errors that end the connection `fatal`, some without a code ("Can't add new command
  // when connection is in closed state" after a KILL).
  if (native.fatal === true || (code !== undefined && connectionCodes.has(code)) || (errno !== undefined && connectionErrnos.has(errno))) {
    return new StoreError('CONNECTION_LOST', `the database connection was lost; retry on a new connection: ${detail}`, true, options);
  }
  if (errno !== undefined && readOnlyErrnos.has(errno)) {
    return new StoreError('READ_ONLY', `the server is read-only (a replica or a failover); retry later: ${detail}`, true, options);
  }
  if (code === 'ER_NO_SUCH_TABLE' || errno === 1146) {
    const translated = new SchemaVersionError(
      null,
      context.expectedVersion ?? 0,
      `${detail}: the outboxkit tables are missing; run store.migrate() (or the relay's 'migrate' command) first`,
    );
    Object.defineProperty(translated, 'cause', { value: error, enumerable: false, configurable: true, writable: true });
    return translated;
  }
  return new StoreError('DATABASE', `database error: ${detail}`, false, options);
}

/**
 * What the consumer should see of an error a handler threw inside an inbox transaction: when the
 * database failed under the handler (the connection was lost, so the rollback failed too, or its
 * statement lost a deadlock or lock wait) the infrastructure `StoreError`, with the handler's error
 * as `cause`; anything else, the handler's own error unchanged.
 */
export function classifyHandlerError(error: unknown, connectionBroken: boolean): unknown {
  if (error instanceof OutboxError) return error;
  if (connectionBroken) {
    const text = error instanceof Error ? error.message : String(error);
    return new StoreError('CONNECTION_LOST', `the handler failed and its transaction could not be rolled back: ${text}`, true, {
      cause: error,
    });
  }
  if (typeof error !== 'object' || error === null) return error;
  const native = nativeError(error) as MysqlNativeError & { sqlState?: unknown };
  // A server error carries a SQLSTATE; a client error of mysql2 an ER_ / PROTOCOL_ code or `fatal`.
  const fromMysql =
    typeof native.sqlState === 'string' ||
    native.fatal === true ||
    (typeof native.code === 'string' && /^(ER_|PROTOCOL_)/.test(native.code));
  if (!fromMysql) return error;
  const translated = translateMysqlError(error);
  return translated instanceof StoreError && translated.infrastructure ? translated : error;
}

/** True for a native duplicate-key error (`ER_DUP_ENTRY`, 1062), and only for that. */
export function isDuplicateKeyError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const native = nativeError(error) as MysqlNativeError;
  return native.code === 'ER_DUP_ENTRY' || native.errno === 1062;
}

/**
 * The server's refusals of a statement for a privilege the user lacks: `ER_DBACCESS_DENIED_ERROR`
 * (1044), `ER_TABLEACCESS_DENIED_ERROR` (1142, "TRIGGER command denied"),
 * `ER_SPECIFIC_ACCESS_DENIED_ERROR` (1227), `ER_BINLOG_CREATE_ROUTINE_NEED_SUPER` (1419: a binary
 * log is written and neither SUPER nor `log_bin_trust_function_creators` allows a trigger).
 */
const privilegeErrnos = new Set([1044, 1142, 1227, 1419]);

/** True when the server refused a statement for a privilege the user lacks (see `privilegeErrnos`). */
export function isPrivilegeRefusal(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const native = nativeError(error) as MysqlNativeError;
  return typeof native.errno === 'number' && privilegeErrnos.has(native.errno);
}

/** True for `ER_NO_SUCH_TABLE` (1146). */
export function isMissingTable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const native = nativeError(error) as MysqlNativeError;
  return native.code === 'ER_NO_SUCH_TABLE' || native.errno === 1146;
}

/**
 * Runs `fn`, translating its errors, and runs it again (up to 3 times in all, with a short jittered
 * pause) when the error is a deadlock or a lock wait timeout: InnoDB picks a victim and expects it to retry.
 */
export async function withRetry<T>(fn: () => Promise<T>, logger: Logger, operation: string, expectedVersion?: number): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (raw) {
      const error = translateMysqlError(raw, expectedVersion === undefined ? {} : { expectedVersion });
      const lockConflict = error instanceof StoreError && (error.code === 'DEADLOCK' || error.code === 'LOCK_TIMEOUT');
      if (!lockConflict || attempt >= 3) throw error;
      logger.debug({ operation, attempt, error: error.message }, 'lock conflict, retrying');
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}
