import { OutboxUsageError } from '@outboxkit/outbox-core';
import { nativeError, type SqlExecutor } from '@outboxkit/outbox-core/driver';
import { isPoolLike, type MysqlConnectionLike, runStatement } from './mysql-like.js';

// Status flags of the server's OK packet (MySQL client/server protocol, `SERVER_STATUS_*`).
const SERVER_STATUS_IN_TRANS = 0x0001;
const SERVER_STATUS_AUTOCOMMIT = 0x0002;

/**
 * Rejects a pool, or a connection that is not inside a transaction, before anything is written.
 *
 * mysql2 does not track transactions, so we ask the server. Every OK packet carries the session's
 * status flags, on MySQL and MariaDB alike: `DO 0` costs one tiny round trip and its reply says
 * whether a transaction is open (`SERVER_STATUS_IN_TRANS`) or autocommit is off (then the INSERT
 * itself opens one that the caller must commit). Both are fine; autocommit on and no transaction
 * means the INSERT would commit by itself, which is the usage error.
 *
 * Why not fold the check into the INSERT (`INSERT ... SELECT ... WHERE @@in_transaction = 1`)?
 * MariaDB (10.3+) has `@@in_transaction`, MySQL 8 has no SQL-visible equivalent (only
 * performance_schema, which may be off or not granted). The status flag works on both servers
 * with one code path, the one CI runs; measured on MariaDB 10.11 with 8 writers, probe + INSERT
 * and the guarded INSERT ... SELECT were within the noise of each other (commit's fsync dominates).
 *
 * @throws OutboxUsageError saying what was passed and what to pass instead.
 */
export async function assertInTransaction(connection: MysqlConnectionLike): Promise<void> {
  if (isPoolLike(connection)) {
    throw new OutboxUsageError(
      'enqueue() needs the connection of an open transaction; got a mysql2 Pool. Use transaction(pool, async (connection) => ...) ' +
        'or pool.getConnection() and beginTransaction()',
    );
  }
  if (connection === null || typeof connection !== 'object' || typeof connection.query !== 'function') {
    throw new OutboxUsageError(`enqueue() needs a mysql2 connection inside a transaction; got ${describe(connection)}`);
  }
  const header = await runStatement(connection, 'DO 0');
  const status = header?.serverStatus;
  if (typeof status !== 'number') {
    throw new OutboxUsageError('enqueue() could not read the transaction state from the connection: pass a mysql2/promise connection');
  }
  if ((status & SERVER_STATUS_IN_TRANS) === 0 && (status & SERVER_STATUS_AUTOCOMMIT) !== 0) {
    throw new OutboxUsageError(
      'enqueue() needs the connection of an open transaction; this connection is in autocommit mode with no transaction. ' +
        'Call beginTransaction() first, or use transaction(pool, async (connection) => ...)',
    );
  }
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

/**
 * The same check for an executor: one of MySQL that knows it is in a transaction passes at once; one
 * that says it is not is refused like a pool; one that cannot tell is asked with
 * `SELECT @@in_transaction, @@autocommit` (MariaDB 10.3+; MySQL 8 has no SQL-visible transaction
 * state, so there the executor must answer `inTransaction()` itself).
 * @throws OutboxUsageError for another dialect, or an executor outside a transaction.
 */
export async function assertExecutorInTransaction(executor: SqlExecutor): Promise<void> {
  if (executor.dialect !== 'mysql') {
    throw new OutboxUsageError(`enqueue() got an SqlExecutor of ${String(executor.dialect)}; MysqlOutboxStore writes to MySQL`);
  }
  const known = typeof executor.inTransaction === 'function' ? executor.inTransaction() : undefined;
  if (known === true) return;
  if (known === false) {
    throw new OutboxUsageError(
      "enqueue() needs an executor on an open transaction; this one says it is not in a transaction. Run enqueue inside your library's transaction",
    );
  }
  let row: { in_transaction?: unknown; autocommit?: unknown } | undefined;
  try {
    [row] = (
      await executor.query<{ in_transaction: unknown; autocommit: unknown }>(
        'SELECT @@in_transaction AS in_transaction, @@autocommit AS autocommit',
      )
    ).rows;
  } catch (error) {
    const native = nativeError(error) as { errno?: unknown; code?: unknown };
    if (native.errno !== 1193 && native.code !== 'ER_UNKNOWN_SYSTEM_VARIABLE') throw error;
    throw new OutboxUsageError(
      "enqueue() cannot tell whether this executor is in a transaction: the server has no @@in_transaction (MySQL) and the executor's inTransaction() did not say",
      { cause: error },
    );
  }
  if (Number(row?.in_transaction) !== 1 && Number(row?.autocommit) !== 0) {
    throw new OutboxUsageError(
      "enqueue() needs an executor on an open transaction; the server says it is in autocommit mode with no transaction. Run enqueue inside your library's transaction",
    );
  }
}
