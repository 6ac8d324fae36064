import { createServer, type Server } from 'node:http';
import { SpanKind } from '@opentelemetry/api';
import { HttpError, readJson, router } from '../http-util.js';
import { inSpan } from '../tracing.js';
import type { CatalogStore } from './catalog-store.js';

/** Highest price accepted: numeric(10, 2) holds less than 10^8. */
const MAX_PRICE = 1_000_000;

/**
 * Catalog's HTTP API:
 * - `GET /products`: every product with its price and version.
 * - `PATCH /products/:id/price` with `{ "price": 12.5 }`: changes the price and enqueues
 *   `catalog.product.price-changed` in the same transaction. 400 for a bad price, 404 for an
 *   unknown product; either way nothing changes. `committedAt` is when the transaction committed.
 */
export function catalogServer(store: CatalogStore, onError: (error: unknown) => void): Server {
  return createServer(
    router(
      [
        { method: 'GET', path: '/products', handler: async () => store.listProducts() },
        {
          method: 'PATCH',
          path: '/products/:id/price',
          handler: async (request, [id]) => {
            const price = parsePrice(await readJson(request));
            // The request's span: the event enqueued inside it carries its trace to the relay and Basket.
            const result = await inSpan(
              'PATCH /products/:id/price',
              { 'http.request.method': 'PATCH', 'http.route': '/products/:id/price', 'product.id': id as string },
              () => store.changePrice(id as string, price),
              SpanKind.SERVER,
            );
            const committedAt = Date.now();
            if (result.status === 'not-found') throw new HttpError(404, 'product_not_found', `no product with id ${JSON.stringify(id)}`);
            if (result.status === 'unchanged') return { ...result.product, changed: false };
            return { ...result.product, changed: true, oldPrice: result.oldPrice, eventId: result.eventId, committedAt };
          },
        },
      ],
      onError,
    ),
  );
}

/** @throws HttpError 400 unless the body is `{ "price": <number from 0 to 1,000,000 with at most 2 decimals> }`. */
function parsePrice(body: unknown): number {
  const price = (body as { price?: unknown } | null)?.price;
  if (typeof price !== 'number' || !Number.isFinite(price) || price < 0 || price > MAX_PRICE) {
    throw new HttpError(400, 'invalid_price', `price must be a number from 0 to ${MAX_PRICE}; got ${JSON.stringify(price) ?? 'nothing'}`);
  }
  if (Math.abs(price * 100 - Math.round(price * 100)) > 1e-6) {
    throw new HttpError(400, 'invalid_price', `price must have at most 2 decimals; got ${price}`);
  }
  return Math.round(price * 100) / 100;
}
