import type { PgClientLike, PgPoolLike } from '@outboxkit/outbox-pg';
import { seedProducts } from '../seed-data.js';

/** Creates Catalog's schema and `products` table when missing: safe to run any number of times. */
export async function migrateCatalog(pool: PgPoolLike, schema: string): Promise<void> {
  // Two processes may create the schema at once; the advisory lock keeps CREATE ... IF NOT EXISTS from racing.
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`catalog-migrate:${schema}`]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await client.query(`CREATE TABLE IF NOT EXISTS "${schema}".products (
        id text PRIMARY KEY,
        name text NOT NULL,
        price numeric(10, 2) NOT NULL CHECK (price >= 0),
        version integer NOT NULL DEFAULT 1
      )`);
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`catalog-migrate:${schema}`]);
    }
  } finally {
    client.release();
  }
}

/** @throws when the products table is missing, saying to run the setup step. */
export async function assertCatalogSchema(pool: PgPoolLike, schema: string): Promise<void> {
  const { rows } = await pool.query<{ found: string | null }>('SELECT to_regclass($1) AS found', [`"${schema}".products`]);
  if (!rows[0]?.found) throw new Error(`table "${schema}".products does not exist: run npm run setup first`);
}

/** Inserts the demo's products that are missing; existing ones keep their price and version. */
export async function seedCatalog(client: PgClientLike, schema: string): Promise<number> {
  let inserted = 0;
  for (const product of seedProducts) {
    const result = await client.query(
      `INSERT INTO "${schema}".products (id, name, price) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
      [product.id, product.name, product.price],
    );
    inserted += result.rowCount ?? 0;
  }
  return inserted;
}
