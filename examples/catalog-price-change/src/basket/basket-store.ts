import type { EventData } from '@outboxkit/outbox-core';
import type { MysqlConnectionLike } from '@outboxkit/outbox-mysql';
import type { Pool } from 'mysql2/promise';
import type { ProductPriceChanged } from '../events.js';
import { inSpan } from '../tracing.js';

/** A line of a basket: Basket's own copy of the product's name and price. */
export interface BasketLine {
  readonly productId: string;
  readonly productName: string;
  readonly quantity: number;
  readonly unitPrice: number;
  /** The price before the last change, so the UI can say "the price changed". */
  readonly oldUnitPrice: number | null;
  /** Catalog's product version `unitPrice` comes from. */
  readonly priceVersion: number;
}

/** A basket with its lines and total, as `GET /baskets/:id` shows it. */
export interface Basket {
  readonly id: string;
  readonly buyer: string;
  readonly lines: readonly BasketLine[];
  readonly total: number;
}

/** One row of a product's price history: a price change as Basket applied it. */
export interface PriceHistoryRow {
  /** The change's place among the product's changes in Catalog's commit order (the event's `sequence`). */
  readonly sequence: number;
  readonly version: number;
  readonly oldPrice: number;
  readonly newPrice: number;
  readonly eventId: string;
  /** Increases with each row Basket appends: the order Basket applied the changes in. */
  readonly appliedOrder: number;
}

/** Where a price change stands among its product's changes, from the event's envelope. */
export interface AppliedChange {
  readonly eventId: string;
  /** The event's `sequence`: 1 for the product's first change, then 2, 3... in Catalog's commit order. */
  readonly sequence: number;
}

/** What applying a price change did. */
export interface PriceApplyResult {
  /** Baskets whose line now has the new price. */
  readonly basketIds: readonly string[];
  /** Baskets whose line already had this version or a newer one: the event was stale for them. */
  readonly staleBasketIds: readonly string[];
}

type HistoryRow = {
  sequence: number | string;
  version: number;
  old_price: number;
  new_price: number;
  event_id: string;
  applied_order: number | string;
};

type LineRow = {
  basket_id: string;
  product_id: string;
  product_name: string;
  quantity: number;
  unit_price: number;
  old_unit_price: number | null;
  price_version: number;
};

/** Basket's data access. The pool must be created with `decimalNumbers: true`. */
export class BasketStore {
  readonly #pool: Pool;
  readonly #baskets: string;
  readonly #lines: string;
  readonly #history: string;

  constructor(pool: Pool, database: string) {
    this.#pool = pool;
    this.#baskets = `\`${database}\`.baskets`;
    this.#lines = `\`${database}\`.basket_lines`;
    this.#history = `\`${database}\`.price_history`;
  }

  /** A product's price history, in the order Basket applied the changes. */
  async priceHistory(productId: string): Promise<PriceHistoryRow[]> {
    const [rows] = await this.#pool.query(
      `SELECT sequence, version, old_price, new_price, event_id, applied_order FROM ${this.#history}
       WHERE product_id = ? ORDER BY applied_order`,
      [productId],
    );
    return (rows as HistoryRow[]).map((row) => ({
      sequence: Number(row.sequence),
      version: row.version,
      oldPrice: row.old_price,
      newPrice: row.new_price,
      eventId: row.event_id,
      appliedOrder: Number(row.applied_order),
    }));
  }

  /** Every basket with its lines, by id. */
  async listBaskets(): Promise<Basket[]> {
    const [baskets] = await this.#pool.query(`SELECT id, buyer FROM ${this.#baskets} ORDER BY id`);
    const [lines] = await this.#pool.query(`SELECT * FROM ${this.#lines} ORDER BY basket_id, product_id`);
    return (baskets as { id: string; buyer: string }[]).map((basket) =>
      toBasket(
        basket,
        (lines as LineRow[]).filter((line) => line.basket_id === basket.id),
      ),
    );
  }

  /** One basket, or `undefined` when there is none with this id. */
  async getBasket(id: string): Promise<Basket | undefined> {
    const [baskets] = await this.#pool.query(`SELECT id, buyer FROM ${this.#baskets} WHERE id = ?`, [id]);
    const basket = (baskets as { id: string; buyer: string }[])[0];
    if (!basket) return undefined;
    const [lines] = await this.#pool.query(`SELECT * FROM ${this.#lines} WHERE basket_id = ? ORDER BY product_id`, [id]);
    return toBasket(basket, lines as LineRow[]);
  }

  /**
   * Applies a price change on the inbox's transaction `tx`: appends it to the product's price
   * history, and sets the new price on every line of the product whose version is older than the
   * event's.
   *
   * The history is order-sensitive: it is right only if the changes arrive one by one in Catalog's
   * commit order, which outboxkit's consumer guarantees (each product's `sequence` applied strictly
   * in order, exactly once). The lines keep their version check anyway, as defence in depth: an
   * older change arriving after a newer one (a dead letter replayed by an operator, which runs
   * outside the order) finds every line at a higher version and changes nothing.
   *
   * eShopOnContainers' handler instead updates the lines whose unit price equals the event's old
   * price: when two changes arrive out of order, the newer finds no line at its old price and the
   * older then applies, so the basket ends on the older price.
   */
  async applyPriceChange(
    tx: MysqlConnectionLike,
    change: EventData<typeof ProductPriceChanged>,
    applied: AppliedChange,
  ): Promise<PriceApplyResult> {
    await tx.query(
      `INSERT INTO ${this.#history} (product_id, sequence, version, old_price, new_price, event_id) VALUES (?, ?, ?, ?, ?, ?)`,
      [change.productId, applied.sequence, change.version, change.oldPrice, change.newPrice, applied.eventId],
    );
    // FOR UPDATE: a concurrent add-to-basket of this product waits, so no line is missed or half-updated.
    const [rows] = await tx.query(`SELECT basket_id, price_version FROM ${this.#lines} WHERE product_id = ? FOR UPDATE`, [
      change.productId,
    ]);
    const lines = rows as { basket_id: string; price_version: number }[];
    await inSpan('UPDATE basket_lines', { 'db.system.name': 'mariadb' }, () =>
      tx.query(
        `UPDATE ${this.#lines} SET old_unit_price = unit_price, unit_price = ?, price_version = ?
       WHERE product_id = ? AND price_version < ?`,
        [change.newPrice, change.version, change.productId, change.version],
      ),
    );
    return {
      basketIds: lines.filter((line) => line.price_version < change.version).map((line) => line.basket_id),
      staleBasketIds: lines.filter((line) => line.price_version >= change.version).map((line) => line.basket_id),
    };
  }
}

function toBasket(basket: { id: string; buyer: string }, rows: readonly LineRow[]): Basket {
  const lines = rows.map((row) => ({
    productId: row.product_id,
    productName: row.product_name,
    quantity: row.quantity,
    unitPrice: row.unit_price,
    oldUnitPrice: row.old_unit_price,
    priceVersion: row.price_version,
  }));
  const total = Math.round(lines.reduce((sum, line) => sum + line.unitPrice * line.quantity * 100, 0)) / 100;
  return { id: basket.id, buyer: basket.buyer, lines, total };
}
