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

// The properties the example's README leans on, each against its real database.
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

describe("Catalog: each product's sequence is its commit order", () => {
  it('stamps concurrent changes of one product with sequences in commit order', async () => {
    const outbox = new PgOutboxStore({ pool: pgPool, schema, listen: false });
    await outbox.migrate();
    const client = await pgPool.connect();
    await seedCatalog(client, schema);
    client.release();
    const store = new CatalogStore(pgPool, outbox, schema);

    const prices = Array.from({ length: 20 }, (_, i) => 20 + i);
    const results = await Promise.all(prices.map((price) => store.changePrice('prism-white-tshirt', price)));
    expect(results.every((result) => result.status === 'changed')).toBe(true);

    const { rows } = await pgPool.query<{ subject_seq: string; payload: string }>(
      `SELECT subject_seq, payload FROM "${schema}".outbox WHERE subject = 'prism-white-tshirt' ORDER BY subject_seq`,
    );
    const events = rows.map((row) => JSON.parse(row.payload) as { oldPrice: number; newPrice: number; version: number });
    // Sequences 1..20 without a hole; in sequence order the versions (taken under the product's row
    // lock, so in commit order) follow each other, and each event starts where the previous ended.
    expect(rows.map((row) => Number(row.subject_seq))).toEqual(prices.map((_, i) => i + 1));
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

describe('Basket', () => {
  it('keeps the newest price when two changes arrive out of order (the version check), and applies a redelivery once', async () => {
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
    // Catalog went 10 -> 12 (v2), then 12 -> 15 (v3); Basket is handed v3 first, without the
    // consumer's order (as a dead letter replayed by hand would be). Comparing the old price
    // (eShopOnContainers' handler) would skip v3, apply v2 and end on 12.
    const v3 = { productId: 'mug', oldPrice: 12, newPrice: 15, version: 3 };
    const v2 = { productId: 'mug', oldPrice: 10, newPrice: 12, version: 2 };
    const v3Id = '01900000-0000-7000-8000-000000000003';
    const v2Id = '01900000-0000-7000-8000-000000000002';
    const first = await inbox.process('basket', v3Id, (tx) => store.applyPriceChange(tx, v3, { eventId: v3Id, sequence: 2 }));
    const late = await inbox.process('basket', v2Id, (tx) => store.applyPriceChange(tx, v2, { eventId: v2Id, sequence: 1 }));
    expect(first).toEqual({ status: 'applied', value: { basketIds: ['alice', 'bob'], staleBasketIds: [] } });
    expect(late).toEqual({ status: 'applied', value: { basketIds: [], staleBasketIds: ['alice', 'bob'] } });

    let handlerRuns = 0;
    const again = await inbox.process('basket', v3Id, async (tx) => {
      handlerRuns++;
      return store.applyPriceChange(tx, v3, { eventId: v3Id, sequence: 2 });
    });
    expect(again).toEqual({ status: 'duplicate' });
    expect(handlerRuns).toBe(0);

    const basket = await store.getBasket('bob');
    expect(basket?.lines).toEqual([
      { productId: 'mug', productName: 'Mug', quantity: 2, unitPrice: 15, oldUnitPrice: 10, priceVersion: 3 },
    ]);
    expect(basket?.total).toBe(30);
    // The history is what the version check cannot save: out of order, it lists v3 before v2.
    expect((await store.priceHistory('mug')).map((row) => row.version)).toEqual([3, 2]);
  });

  it("lists every change once, in Catalog's order, when the inbox keeps the product's order", async () => {
    const inbox = new MysqlInboxStore({ pool: mysqlPool, database });
    await inbox.migrate();
    expect(inbox.ordering).toBe(true);
    const store = new BasketStore(mysqlPool, database);
    const changes = [
      { productId: 'cup', oldPrice: 10, newPrice: 11, version: 2 },
      { productId: 'cup', oldPrice: 11, newPrice: 9.5, version: 3 },
      { productId: 'cup', oldPrice: 9.5, newPrice: 12, version: 4 },
    ];
    const ids = ['01900000-0000-7000-8000-0000000000c1', '01900000-0000-7000-8000-0000000000c2', '01900000-0000-7000-8000-0000000000c3'];
    const deliver = (index: number) =>
      inbox.process(
        'basket',
        ids[index] as string,
        (tx) => store.applyPriceChange(tx, changes[index] as (typeof changes)[0], { eventId: ids[index] as string, sequence: index + 1 }),
        {
          order: { subject: 'cup', sequence: index + 1 },
        },
      );

    // Delivered 3, 2, 1, then 3 and 2 again (the redeliveries of what had to wait), then 1 once more.
    expect(await deliver(2)).toEqual({ status: 'waiting', position: 0 });
    expect(await deliver(1)).toEqual({ status: 'waiting', position: 0 });
    expect(await store.priceHistory('cup')).toEqual([]);
    expect((await deliver(0)).status).toBe('applied');
    expect((await deliver(2)).status).toBe('waiting');
    expect((await deliver(1)).status).toBe('applied');
    expect((await deliver(2)).status).toBe('applied');
    expect(await deliver(0)).toEqual({ status: 'duplicate' });

    const history = await store.priceHistory('cup');
    expect(history.map((row) => [row.sequence, row.version, row.oldPrice, row.newPrice])).toEqual([
      [1, 2, 10, 11],
      [2, 3, 11, 9.5],
      [3, 4, 9.5, 12],
    ]);
  });
});
