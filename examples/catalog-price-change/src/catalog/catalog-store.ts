import { type PgOutboxStore, transaction } from '@outboxkit/outbox-pg';
import type pg from 'pg';
import { ProductPriceChanged } from '../events.js';
import { inSpan } from '../tracing.js';

/** A product as Catalog shows it. */
export interface Product {
  readonly id: string;
  readonly name: string;
  readonly price: number;
  readonly version: number;
}

/** What a price change did. */
export type PriceChangeResult =
  | { readonly status: 'changed'; readonly product: Product; readonly oldPrice: number; readonly eventId: string }
  | { readonly status: 'unchanged'; readonly product: Product }
  | { readonly status: 'not-found' };

type ProductRow = { id: string; name: string; price: string; version: number };
type ChangedRow = ProductRow & { old_price: string };

/** Catalog's data access: products, and the price change that enqueues its event atomically. */
export class CatalogStore {
  readonly #pool: pg.Pool;
  readonly #outbox: PgOutboxStore;
  readonly #products: string;

  constructor(pool: pg.Pool, outbox: PgOutboxStore, schema: string) {
    this.#pool = pool;
    this.#outbox = outbox;
    this.#products = `"${schema}".products`;
  }

  /** Every product, by id. */
  async listProducts(): Promise<Product[]> {
    const { rows } = await this.#pool.query<ProductRow>(`SELECT id, name, price, version FROM ${this.#products} ORDER BY id`);
    return rows.map(toProduct);
  }

  /**
   * Sets the price and, in the same transaction, enqueues `ProductPriceChanged`: the event exists
   * if and only if the new price commits.
   *
   * The row is updated first and the event appended after, so the UPDATE's row lock is held
   * when the outbox row is written: two changes of one product commit in the order of their
   * outbox rows, and the relay publishes in that order (per-product order = commit order).
   * Appending first would let a later transaction's event get the smaller outbox position.
   */
  async changePrice(productId: string, price: number): Promise<PriceChangeResult> {
    return transaction(this.#pool, async (client) => {
      // The sub-select locks the row and reads the price before the change; the outer UPDATE
      // bumps the version. Under READ COMMITTED a concurrent change makes this wait, then see its result.
      const { rows } = await inSpan('UPDATE products', { 'db.system.name': 'postgresql' }, () =>
        client.query<ChangedRow>(
          `UPDATE ${this.#products} AS p SET price = $2, version = p.version + 1
         FROM (SELECT id, price FROM ${this.#products} WHERE id = $1 FOR UPDATE) AS old
         WHERE p.id = old.id AND old.price <> $2
         RETURNING p.id, p.name, p.price, p.version, old.price AS old_price`,
          [productId, price],
        ),
      );
      const row = rows[0];
      if (!row) {
        const current = await client.query<ProductRow>(`SELECT id, name, price, version FROM ${this.#products} WHERE id = $1`, [productId]);
        const existing = current.rows[0];
        return existing ? { status: 'unchanged', product: toProduct(existing) } : { status: 'not-found' };
      }
      const product = toProduct(row);
      const oldPrice = Number(row.old_price);
      const event = ProductPriceChanged.create(
        { productId, oldPrice, newPrice: product.price, version: product.version },
        { subject: productId },
      );
      await this.#outbox.enqueue(client, event);
      return { status: 'changed', product, oldPrice, eventId: event.id };
    });
  }
}

function toProduct(row: ProductRow): Product {
  // numeric(10, 2) comes back as text; two decimals fit a double exactly enough for prices.
  return { id: row.id, name: row.name, price: Number(row.price), version: row.version };
}
