import { drizzleExecutor } from '@outboxkit/adapters/drizzle';
import type { PgOutboxStore } from '@outboxkit/outbox-pg';
import { asc, eq, sql } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { integer, numeric, pgSchema, text } from 'drizzle-orm/pg-core';
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

/** The `products` table of `catalog-schema.ts`, in Drizzle's terms. */
function productsTable(schema: string) {
  return pgSchema(schema).table('products', {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    // numeric(10, 2): two decimals fit a double exactly enough for prices.
    price: numeric('price', { precision: 10, scale: 2, mode: 'number' }).notNull(),
    version: integer('version').notNull(),
  });
}

/**
 * Catalog's data access, on Drizzle: products, and the price change that enqueues its event in
 * the same Drizzle transaction through `@outboxkit/adapters/drizzle`.
 */
export class CatalogStore {
  readonly #db: NodePgDatabase;
  readonly #outbox: PgOutboxStore;
  readonly #products: ReturnType<typeof productsTable>;

  constructor(pool: pg.Pool, outbox: PgOutboxStore, schema: string) {
    this.#db = drizzle(pool);
    this.#outbox = outbox;
    this.#products = productsTable(schema);
  }

  /** Every product, by id. */
  listProducts(): Promise<Product[]> {
    return this.#db.select().from(this.#products).orderBy(asc(this.#products.id));
  }

  /**
   * Sets the price and, in the same transaction, enqueues `ProductPriceChanged`: the event exists
   * if and only if the new price commits.
   *
   * The row is locked and updated first and the event appended after, so the row lock is held
   * when the outbox row is written: two changes of one product commit in the order of their
   * outbox rows, and the relay publishes in that order (per-product order = commit order).
   * Appending first would let a later transaction's event get the smaller outbox position.
   */
  changePrice(productId: string, price: number): Promise<PriceChangeResult> {
    const products = this.#products;
    return this.#db.transaction(async (tx) => {
      const changed = await inSpan('UPDATE products', { 'db.system.name': 'postgresql' }, async () => {
        // FOR UPDATE: under READ COMMITTED a concurrent change makes this wait, then read its result.
        const [old] = await tx.select().from(products).where(eq(products.id, productId)).for('update');
        if (!old || old.price === price) return { old };
        const [product] = await tx
          .update(products)
          .set({ price, version: sql`${products.version} + 1` })
          .where(eq(products.id, productId))
          .returning();
        return { old, product };
      });
      if (!changed.old) return { status: 'not-found' };
      if (!changed.product) return { status: 'unchanged', product: changed.old };
      const { product, old } = changed;
      const event = ProductPriceChanged.create(
        { productId, oldPrice: old.price, newPrice: product.price, version: product.version },
        { subject: productId },
      );
      await this.#outbox.enqueue(drizzleExecutor(tx), event);
      return { status: 'changed', product, oldPrice: old.price, eventId: event.id };
    });
  }
}
