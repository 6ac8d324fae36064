import type { Pool, PoolConnection } from 'mysql2/promise';
import type { Product } from '../catalog/catalog-store.js';
import { seedBaskets } from '../seed-data.js';

/**
 * Creates Basket's database and tables when missing: safe to run any number of times.
 * `basket_lines` keeps a copy of each product's price (the denormalised data a price change must
 * reach) with `price_version`, the Catalog version that price comes from. `price_history` is the
 * order-sensitive projection: one row per applied price change, appended in the order Basket
 * applied them (`applied_order`), which must be Catalog's commit order (`sequence` 1, 2, 3...).
 */
export async function migrateBasket(connection: PoolConnection | Pool, database: string): Promise<void> {
  await connection.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  await connection.query(`CREATE TABLE IF NOT EXISTS \`${database}\`.baskets (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    buyer VARCHAR(255) NOT NULL
  ) ENGINE = InnoDB`);
  await connection.query(`CREATE TABLE IF NOT EXISTS \`${database}\`.basket_lines (
    basket_id VARCHAR(64) NOT NULL,
    product_id VARCHAR(255) NOT NULL,
    product_name VARCHAR(255) NOT NULL,
    quantity INT NOT NULL,
    unit_price DECIMAL(10, 2) NOT NULL,
    old_unit_price DECIMAL(10, 2) NULL,
    price_version INT NOT NULL,
    PRIMARY KEY (basket_id, product_id),
    KEY basket_lines_product (product_id),
    CONSTRAINT basket_lines_basket FOREIGN KEY (basket_id) REFERENCES baskets (id)
  ) ENGINE = InnoDB`);
  // No unique key on (product_id, sequence), on purpose: the history is the proof that each change
  // is applied once and in order, so a second application must show up as a second row, not be
  // refused by the table (which would hide it behind a failing handler).
  await connection.query(`CREATE TABLE IF NOT EXISTS \`${database}\`.price_history (
    applied_order BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id VARCHAR(255) NOT NULL,
    sequence BIGINT NOT NULL,
    version INT NOT NULL,
    old_price DECIMAL(10, 2) NOT NULL,
    new_price DECIMAL(10, 2) NOT NULL,
    event_id CHAR(36) NOT NULL,
    applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    KEY price_history_product (product_id, applied_order)
  ) ENGINE = InnoDB`);
}

/**
 * Inserts the demo's baskets and lines that are missing, copying each product's current price and
 * version from Catalog (as Basket does when a buyer adds an item). Returns the lines inserted.
 *
 * A line whose version is ahead of Catalog's means Catalog's data was reset while Basket's was
 * kept; such lines are reset to Catalog's price, or later events would look stale to them.
 */
export async function seedBasket(connection: PoolConnection, database: string, products: readonly Product[]): Promise<number> {
  const byId = new Map(products.map((product) => [product.id, product]));
  const [existing] = await connection.query(`SELECT basket_id, product_id FROM \`${database}\`.basket_lines`);
  const present = new Set((existing as { basket_id: string; product_id: string }[]).map((row) => `${row.basket_id}/${row.product_id}`));
  let inserted = 0;
  for (const basket of seedBaskets) {
    await connection.query(`INSERT INTO \`${database}\`.baskets (id, buyer) VALUES (?, ?) ON DUPLICATE KEY UPDATE id = id`, [
      basket.id,
      basket.buyer,
    ]);
    for (const line of basket.lines) {
      if (present.has(`${basket.id}/${line.productId}`)) continue;
      const product = byId.get(line.productId);
      if (!product) throw new Error(`seed basket ${basket.id} has product ${line.productId}, which Catalog does not have`);
      await connection.query(
        `INSERT INTO \`${database}\`.basket_lines (basket_id, product_id, product_name, quantity, unit_price, price_version)
         VALUES (?, ?, ?, ?, ?, ?)`,
        [basket.id, product.id, product.name, line.quantity, product.price, product.version],
      );
      inserted++;
    }
  }
  for (const product of products) {
    await connection.query(
      `UPDATE \`${database}\`.basket_lines SET unit_price = ?, old_unit_price = NULL, price_version = ?
       WHERE product_id = ? AND price_version > ?`,
      [product.price, product.version, product.id, product.version],
    );
  }
  // The price history cannot be reset that way: Basket's consumer keeps each product's position
  // (the last sequence applied), and a reset Catalog numbers its events from 1 again, which Basket
  // would take for changes it has already applied.
  const [history] = await connection.query(
    `SELECT product_id, MAX(version) AS version FROM \`${database}\`.price_history GROUP BY product_id`,
  );
  for (const row of history as { product_id: string; version: number }[]) {
    const product = byId.get(row.product_id);
    if (product && row.version > product.version) {
      throw new Error(
        `Basket's price history of ${product.id} is at Catalog version ${row.version} but Catalog's product is at version ${product.version}: ` +
          `Catalog's data was reset while Basket's was kept. Drop Basket's database ${database} (or set DEMO_MYSQL_DATABASE to another one) and run the setup again.`,
      );
    }
  }
  return inserted;
}
