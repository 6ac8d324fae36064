import { defineEvent } from '@outboxkit/outbox-core';
import { z } from 'zod';

/**
 * The one module both services share: the integration event Catalog publishes when a price
 * changes. `version` is the product's version after the change; Basket applies an event only when
 * it is newer than what a basket line already has, so two changes arriving out of order still end
 * on the latest price.
 */
export const ProductPriceChanged = defineEvent('catalog.product.price-changed', {
  source: 'catalog',
  schema: z.object({
    productId: z.string().min(1),
    oldPrice: z.number().nonnegative(),
    newPrice: z.number().nonnegative(),
    version: z.number().int().positive(),
  }),
});
