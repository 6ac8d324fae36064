import { giveBack, type MysqlConnectionLike, type MysqlPoolLike } from './mysql-like.js';
import { translateMysqlError } from './translate-mysql-error.js';

/**
 * Runs `fn` in a transaction on a connection of `pool`: `START TRANSACTION`, `fn(connection)`,
 * `COMMIT`. If `fn` throws, rolls back and rethrows its error unchanged; the connection always
 * goes back to the pool (or is closed when a failed rollback leaves its state unknown).
 * Errors of the helper's own statements are translated with `translateMysqlError`.
 *
 * @example
 * ```ts
 * await transaction(pool, async (connection) => {
 *   await connection.query('UPDATE products SET price = ? WHERE id = ?', [price, id]);
 *   await outbox.enqueue(connection, PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * });
 * ```
 */
export async function transaction<T>(pool: MysqlPoolLike, fn: (connection: MysqlConnectionLike) => Promise<T>): Promise<T> {
  const connection = await pool.getConnection().catch((error: unknown) => {
    throw translateMysqlError(error);
  });
  let clean = false;
  try {
    await connection.query('START TRANSACTION').catch((error: unknown) => {
      throw translateMysqlError(error);
    });
    let value: T;
    try {
      value = await fn(connection);
    } catch (error) {
      clean = await rollbackQuietly(connection);
      throw error;
    }
    try {
      await connection.query('COMMIT');
    } catch (error) {
      clean = await rollbackQuietly(connection);
      throw translateMysqlError(error);
    }
    clean = true;
    return value;
  } finally {
    giveBack(connection, clean);
  }
}

/** Rolls back, reporting whether the connection is known to be clean afterwards. */
export async function rollbackQuietly(connection: MysqlConnectionLike): Promise<boolean> {
  try {
    await connection.query('ROLLBACK');
    return true;
  } catch {
    return false;
  }
}
