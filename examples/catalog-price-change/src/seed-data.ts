/**
 * The demo's data, after eShopOnContainers' catalog. `pricePoints` are the prices the demo moves
 * a product through, one step per run, so running it again always changes the price.
 */
export interface SeedProduct {
  readonly id: string;
  readonly name: string;
  readonly price: number;
  readonly pricePoints: readonly number[];
}

/** A basket line as seeded: Basket copies the product's name and price when a line is added. */
export interface SeedLine {
  readonly productId: string;
  readonly quantity: number;
}

/** A basket as seeded. */
export interface SeedBasket {
  readonly id: string;
  readonly buyer: string;
  readonly lines: readonly SeedLine[];
}

/** Five products of eShopOnContainers' catalog. */
export const seedProducts: readonly SeedProduct[] = [
  { id: 'dotnet-bot-black-hoodie', name: '.NET Bot Black Hoodie', price: 19.5, pricePoints: [19.5, 17.55, 21] },
  { id: 'dotnet-black-white-mug', name: '.NET Black & White Mug', price: 8.5, pricePoints: [8.5, 7.99, 9.25] },
  { id: 'prism-white-tshirt', name: 'Prism White T-Shirt', price: 12, pricePoints: [12, 10.8, 13.5] },
  { id: 'roslyn-red-sheet', name: 'Roslyn Red Sheet', price: 8.5, pricePoints: [8.5] },
  { id: 'cup-white-mug', name: 'Cup<T> White Mug', price: 12, pricePoints: [12, 11.5, 12.5, 13, 13.5, 14] },
];

/** Four baskets: each demo product is in two or three of them. */
export const seedBaskets: readonly SeedBasket[] = [
  {
    id: 'alice',
    buyer: 'alice@example.com',
    lines: [
      { productId: 'dotnet-bot-black-hoodie', quantity: 1 },
      { productId: 'dotnet-black-white-mug', quantity: 2 },
      { productId: 'prism-white-tshirt', quantity: 1 },
    ],
  },
  {
    id: 'bob',
    buyer: 'bob@example.com',
    lines: [
      { productId: 'dotnet-bot-black-hoodie', quantity: 1 },
      { productId: 'roslyn-red-sheet', quantity: 3 },
    ],
  },
  {
    id: 'carol',
    buyer: 'carol@example.com',
    lines: [
      { productId: 'dotnet-black-white-mug', quantity: 1 },
      { productId: 'prism-white-tshirt', quantity: 2 },
      { productId: 'cup-white-mug', quantity: 1 },
    ],
  },
  {
    id: 'dave',
    buyer: 'dave@example.com',
    lines: [
      { productId: 'dotnet-bot-black-hoodie', quantity: 2 },
      { productId: 'dotnet-black-white-mug', quantity: 1 },
    ],
  },
];

/** The three products whose price the demo changes. */
export const demoProductIds = ['dotnet-bot-black-hoodie', 'dotnet-black-white-mug', 'prism-white-tshirt'] as const;

/** The product whose price the demo changes several times at once, from concurrent requests. */
export const burstProductId = 'cup-white-mug';

/** How many concurrent changes the demo makes to `burstProductId`. */
export const burstSize = 5;

/**
 * `burstSize` different prices for a burst of changes, none equal to `current`, so that each
 * request changes the price whatever order they commit in (the product has `burstSize + 1` price points).
 */
export function burstPrices(product: SeedProduct, current: number): number[] {
  return product.pricePoints.filter((point) => Math.abs(point - current) >= 0.005).slice(0, burstSize);
}

/** The price after `current` in the product's cycle; never equal to `current`. */
export function nextPrice(product: SeedProduct, current: number): number {
  const points = product.pricePoints;
  const at = points.findIndex((point) => Math.abs(point - current) < 0.005);
  const next = points[(at + 1) % points.length] ?? product.price;
  return Math.abs(next - current) < 0.005 ? Math.round(current * 90) / 100 : next;
}
