import { createServer, type Server } from 'node:http';
import { HttpError, router } from '../http-util.js';
import type { BasketStore } from './basket-store.js';

/**
 * Basket's HTTP API: `GET /baskets` (every basket), `GET /baskets/:id` (its lines with the unit
 * price Basket holds, the price before the last change and the Catalog version it comes from) and
 * `GET /products/:id/price-history` (every price change of the product Basket applied, in the
 * order it applied them).
 */
export function basketServer(store: BasketStore, onError: (error: unknown) => void): Server {
  return createServer(
    router(
      [
        { method: 'GET', path: '/baskets', handler: async () => store.listBaskets() },
        {
          method: 'GET',
          path: '/baskets/:id',
          handler: async (_request, [id]) => {
            const basket = await store.getBasket(id as string);
            if (!basket) throw new HttpError(404, 'basket_not_found', `no basket with id ${JSON.stringify(id)}`);
            return basket;
          },
        },
        { method: 'GET', path: '/products/:id/price-history', handler: async (_request, [id]) => store.priceHistory(id as string) },
      ],
      onError,
    ),
  );
}
