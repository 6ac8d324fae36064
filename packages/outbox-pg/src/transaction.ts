import { absorbClientErrors, type PgClientLike, type PgPoolLike } from './pg-like.js';

/**
 * Runs `fn` in a transaction on a client from `pool`: `BEGIN`, `fn(client)`, `COMMIT`. When `fn`
 * throws, rolls back and rethrows its error. Always gives the client back to the pool; a client
 * whose connection broke (the rollback failed) is destroyed instead of reused.
 *
 * @example
 * ```ts
 * await transaction(pool, async (client) => {
 *   await client.query('UPDATE products SET price = $1 WHERE id = $2', [price, id]);
 *   await outbox.enqueue(client, PriceChanged.create({ productId: id, newPrice: price, version }, { subject: id }));
 * });
 * ```
 */
export async function transaction<T>(pool: PgPoolLike, fn: (client: PgClientLike) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  const stopAbsorbing = absorbClientErrors(client);
  // Set when the connection may be broken, so the pool destroys it instead of reusing it.
  let broken: Error | undefined;
  try {
    try {
      await client.query('BEGIN');
    } catch (error) {
      broken = asError(error);
      throw error;
    }
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // After a failed COMMIT the transaction is already over and ROLLBACK only warns; a ROLLBACK
      // that fails means the connection is gone.
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = asError(rollbackError);
      }
      throw error;
    }
  } finally {
    stopAbsorbing();
    client.release(broken);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
