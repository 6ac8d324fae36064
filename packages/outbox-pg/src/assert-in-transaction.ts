import { OutboxUsageError } from '@outboxkit/outbox-core';
import { nativeError, type SqlExecutor } from '@outboxkit/outbox-core/driver';
import { isPoolLike, type PgClientLike, type PgQueryConfigLike } from './pg-like.js';
import { translatePgError } from './translate-pg-error.js';

/**
 * Rejects a pool, or anything that is not a pg client, before anything is written.
 * @throws OutboxUsageError saying what was passed and what to pass instead.
 */
export function assertClient(tx: PgClientLike): void {
  if (isPoolLike(tx)) {
    throw new OutboxUsageError(
      'enqueue() needs the client of an open transaction; got a pg.Pool. Use transaction(pool, (client) => outbox.enqueue(client, event))',
    );
  }
  if (!tx || typeof tx.query !== 'function') {
    throw new OutboxUsageError('enqueue() needs the client of an open transaction (a pg client inside BEGIN)');
  }
}

/**
 * Rejects a client that is not inside a transaction, or whose transaction has failed.
 *
 * Cheap and exact: recent pg clients report the status of the last ReadyForQuery ('T' inside a
 * transaction), so the usual call costs no round trip. 'I' may also mean a BEGIN still queued
 * on the client, and other clients may not report a status at all, so then the server decides:
 * `lock` (LOCK TABLE) fails with 25P01 outside a transaction block and, inside one, takes only the
 * lock the INSERT takes anyway. A transaction with no writes yet passes both checks (unlike
 * txid_current_if_assigned()), and `now() <> statement_timestamp()` cannot be used: with the
 * extended protocol, Parse starts the implicit transaction before Execute sets the statement time.
 *
 * @throws OutboxUsageError for a client outside a transaction or in a failed one.
 */
export async function assertInTransaction(
  tx: PgClientLike,
  lock: (values: unknown[]) => PgQueryConfigLike,
  expectedVersion: number,
): Promise<void> {
  const status = typeof tx.getTransactionStatus === 'function' ? tx.getTransactionStatus() : undefined;
  if (status === 'T') return;
  if (status === 'E') {
    throw new OutboxUsageError('enqueue() got a client whose transaction has failed; roll it back and start a new one');
  }
  try {
    await tx.query(lock([]));
  } catch (error) {
    if ((error as { code?: unknown }).code === '25P01') {
      throw new OutboxUsageError(
        'enqueue() needs the client of an open transaction; this client is not inside BEGIN. Use transaction(pool, (client) => ...)',
        { cause: error },
      );
    }
    throw failedTransaction(error) ?? translatePgError(error, { operation: 'enqueue()', expectedVersion });
  }
}

/**
 * The checks of `assertClient` and `assertInTransaction` for an executor: one of PostgreSQL that
 * knows it is in a transaction passes at once; one that says it is not is refused like a pool; one
 * that cannot tell runs `lock`, which fails with 25P01 outside a transaction block.
 * @throws OutboxUsageError for another dialect, or an executor outside a transaction or in a failed one.
 */
export function assertExecutor(executor: SqlExecutor): boolean | undefined {
  if (executor.dialect !== 'postgres') {
    throw new OutboxUsageError(`enqueue() got an SqlExecutor of ${String(executor.dialect)}; PgOutboxStore writes to PostgreSQL`);
  }
  const known = typeof executor.inTransaction === 'function' ? executor.inTransaction() : undefined;
  if (known === false) {
    throw new OutboxUsageError(
      "enqueue() needs an executor on an open transaction; this one says it is not in a transaction. Run enqueue inside your library's transaction",
    );
  }
  return known;
}

/** Asks the server whether `executor` is inside a transaction block (see `assertInTransaction`). */
export async function assertExecutorInTransaction(executor: SqlExecutor, lock: string, expectedVersion: number): Promise<void> {
  try {
    await executor.query(lock);
  } catch (error) {
    if ((nativeError(error) as { code?: unknown }).code === '25P01') {
      throw new OutboxUsageError(
        "enqueue() needs an executor on an open transaction; the server says it is not inside a transaction block. Run enqueue inside your library's transaction",
        { cause: error },
      );
    }
    throw failedTransaction(error) ?? translatePgError(error, { operation: 'enqueue()', expectedVersion });
  }
}

/**
 * 25P02 (in_failed_sql_transaction) as the usage error it is. The transaction status check above
 * cannot always see it: pg rejects a failed query on the error message, before the ReadyForQuery
 * that carries the 'E' status, so a caller that catches the error and calls enqueue at once may
 * still find 'T' (outbox-store.test.ts failed so in 2 of 12 runs; 0 of 8 with this).
 */
export function failedTransaction(error: unknown): OutboxUsageError | undefined {
  if ((nativeError(error) as { code?: unknown } | null)?.code !== '25P02') return undefined;
  return new OutboxUsageError('enqueue() got a client whose transaction has failed; roll it back and start a new one', {
    cause: error,
  });
}
