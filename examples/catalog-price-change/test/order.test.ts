import { randomBytes } from 'node:crypto';
import { MysqlInboxStore, transaction as mysqlTransaction } from '@outboxkit/outbox-mysql';
import { PgOutboxStore } from '@outboxkit/outbox-pg';
import { MYSQL_URL, PG_URL } from '@outboxkit/test-services';
import { createPool } from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateBasket } from '../src/basket/basket-schema.js';
import { BasketStore } from '../src/basket/basket-store.js';
import { migrateCatalog, seedCatalog } from '../src/catalog/catalog-schema.js';
import { CatalogStore } from '../src/catalog/catalog-store.js';

// The two properties the example's README leans on, each against its real database.
const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`;
const schema = `catalog_order_${suffix}`;
const database = `basket_order_${suffix}`;
const pgPool = new pg.Pool({ connectionString: PG_URL, max: 8 });
const mysqlPool = createPool({
  uri: MYSQL_URL,
  connectionLimit: 4,
  decimalNumbers: true,
});

beforeAll(async () => {
  await migrateCatalog(pgPool, schema);
  await migrateBasket(mysqlPool, database);
});

afterAll(async () => {
  await pgPool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await mysqlPool.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await Promise.all([pgPool.end(), mysqlPool.end()]);
});

describe('Catalog: update the product, then append the event', () => {
  it('writes concurrent changes of one product to the outbox in commit order', async () => {
    const outbox = new PgOutboxStore({ pool: pgPool, schema, listen: false });
    await outbox.migrate();
    const client = await pgPool.connect();
    await seedCatalog(client, schema);
    client.release();
    const store = new CatalogStore(pgPool, outbox, schema);

    const prices = Array.from({ length: 20 }, (_, i) => 20 + i);
    const results = await Promise.all(prices.map((price) => store.changePrice('prism-white-tshirt', price)));
    expect(results.every((result) => result.status === 'changed')).toBe(true);

    const { rows } = await pgPool.query<{ payload: string }>(
      `SELECT payload FROM "${schema}".outbox WHERE subject = 'prism-white-tshirt' ORDER BY seq`,
    );
    const events = rows.map((row) => JSON.parse(row.payload) as { oldPrice: number; newPrice: number; version: number });
    // Outbox order (what the relay publishes in) is version order, and each event starts where the previous ended.
    expect(events.map((event) => event.version)).toEqual(prices.map((_, i) => i + 2));
    expect(events[0]?.oldPrice).toBe(12);
    for (let i = 1; i < events.length; i++) expect(events[i]?.oldPrice).toBe(events[i - 1]?.newPrice);
    const { rows: product } = await pgPool.query(`SELECT price, version FROM "${schema}".products WHERE id = 'prism-white-tshirt'`);
    expect(product[0]).toEqual({ price: String(events.at(-1)?.newPrice.toFixed(2)), version: 21 });
    await outbox.close();
  });

  it('rejects an unknown product and an unchanged price without writing an event', async () => {
    const outbox = new PgOutboxStore({ pool: pgPool, schema, listen: false });
    const store = new CatalogStore(pgPool, outbox, schema);
    const before = await pgPool.query(`SELECT count(*)::int AS n FROM "${schema}".outbox`);
    expect(await store.changePrice('no-such-product', 10)).toEqual({ status: 'not-found' });
    expect((await store.changePrice('cup-white-mug', 12)).status).toBe('unchanged');
    const after = await pgPool.query(`SELECT count(*)::int AS n FROM "${schema}".outbox`);
    expect(after.rows[0]).toEqual(before.rows[0]);
    await outbox.close();
  });
});

describe('Basket: apply a price change only when its version is newer', () => {
  it('ends on the newest price when two changes arrive out of order, and applies a redelivery once', async () => {
    const inbox = new MysqlInboxStore({ pool: mysqlPool, database });
    await inbox.migrate();
    const store = new BasketStore(mysqlPool, database);
    await mysqlTransaction(mysqlPool, async (tx) => {
      await tx.query(`INSERT INTO \`${database}\`.baskets (id, buyer) VALUES ('alice', 'alice@example.com'), ('bob', 'bob@example.com')`);
      await tx.query(
        `INSERT INTO \`${database}\`.basket_lines (basket_id, product_id, product_name, quantity, unit_price, price_version)
         VALUES ('alice', 'mug', 'Mug', 1, 10, 1), ('bob', 'mug', 'Mug', 2, 10, 1)`,
      );
    });
    // Catalog went 10 -> 12 (v2), then 12 -> 15 (v3); Basket receives v3 first. Comparing the old
    // price (eShopOnContainers' handler) would skip v3, apply v2 and end on 12.
    const v3 = { productId: 'mug', oldPrice: 12, newPrice: 15, version: 3 };
    const v2 = { productId: 'mug', oldPrice: 10, newPrice: 12, version: 2 };
    const first = await inbox.process('basket', '01900000-0000-7000-8000-000000000003', (tx) => store.applyPriceChange(tx, v3));
    const late = await inbox.process('basket', '01900000-0000-7000-8000-000000000002', (tx) => store.applyPriceChange(tx, v2));
    expect(first).toEqual({ status: 'applied', value: { basketIds: ['alice', 'bob'], staleBasketIds: [] } });
    expect(late).toEqual({ status: 'applied', value: { basketIds: [], staleBasketIds: ['alice', 'bob'] } });

    let handlerRuns = 0;
    const again = await inbox.process('basket', '01900000-0000-7000-8000-000000000003', async (tx) => {
      handlerRuns++;
      return store.applyPriceChange(tx, v3);
    });
    expect(again).toEqual({ status: 'duplicate' });
    expect(handlerRuns).toBe(0);

    const basket = await store.getBasket('bob');
    expect(basket?.lines).toEqual([
      { productId: 'mug', productName: 'Mug', quantity: 2, unitPrice: 15, oldUnitPrice: 10, priceVersion: 3 },
    ]);
    expect(basket?.total).toBe(30);
  });
});
