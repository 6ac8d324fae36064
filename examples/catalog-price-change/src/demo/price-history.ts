import type { PriceHistoryRow } from '../basket/basket-store.js';
import type { Product } from '../catalog/catalog-store.js';
import { burstPrices, burstSize, type SeedProduct } from '../seed-data.js';
import type { AppliedEvents } from './applied-events.js';
import { bold, dim, money, red, step } from './report.js';

/** A PATCH answer from Catalog. */
type Changed = Product & { readonly oldPrice: number; readonly changed?: boolean };

/** What the burst needs from the demo: its HTTP helper and where the services listen. */
export interface BurstContext {
  readonly catalogUrl: string;
  readonly basketUrl: string;
  readonly applied: AppliedEvents;
  readonly call: <T>(method: string, url: string, body?: unknown) => Promise<T>;
  readonly timeoutMs: number;
}

/**
 * Changes one product's price `burstSize` times at once (concurrent PATCH requests: Catalog's row
 * lock makes them commit one after the other, in an order nobody chose), waits until Basket has
 * applied every change, then prints the product's price history as Basket recorded it and checks
 * it: each change once, in Catalog's commit order, each starting at the price the previous one set.
 * Returns the number of failures (0 or 1).
 */
export async function showPriceBurst(context: BurstContext, product: Product, seed: SeedProduct): Promise<number> {
  const { catalogUrl, basketUrl, applied, call, timeoutMs } = context;
  const prices = burstPrices(seed, product.price);
  console.log(bold(`Changing the price of ${product.name} ${burstSize} times at once (${burstSize} concurrent PATCH requests):`));
  const answers = await Promise.all(prices.map((price) => call<Changed>('PATCH', `${catalogUrl}/products/${product.id}/price`, { price })));
  if (answers.some((answer) => answer.changed === false)) {
    step('sent', red('a request changed nothing: the prices of the burst must all differ from the current one'));
    return 1;
  }
  const committed = [...answers].sort((a, b) => a.version - b.version);
  const versions = committed.map((answer) => answer.version);
  step(
    'sent',
    `${prices.map(money).join(', ')} at once; Catalog committed them as v${versions[0]}-v${versions.at(-1)}, ` +
      `in the order ${committed.map((answer) => money(answer.price)).join(', ')}`,
  );
  await Promise.all(versions.map((version) => applied.wait(product.id, version, timeoutMs)));

  const history = await call<PriceHistoryRow[]>('GET', `${basketUrl}/products/${product.id}/price-history`);
  const shown = history.filter((row) => versions.includes(row.version));
  const earlier = history.length - shown.length;
  console.log(
    bold(
      `Its price history in Basket (one row per change, in the order Basket applied them${earlier > 0 ? `; ${earlier} earlier rows not shown` : ''}):`,
    ),
  );
  console.log(dim(`  ${'sequence'.padStart(8)}  version  ${'old'.padStart(6)}    ${'new'.padStart(6)}`));
  for (const row of shown) {
    console.log(
      `  ${String(row.sequence).padStart(8)}  ${`v${row.version}`.padEnd(7)}  ${money(row.oldPrice).padStart(6)} -> ${money(row.newPrice).padStart(6)}`,
    );
  }

  const problem = historyProblem(history, committed);
  if (problem) {
    step('checked', red(problem));
    return 1;
  }
  const first = history[0]?.sequence;
  const last = history.at(-1)?.sequence;
  step(
    'checked',
    `the history lists sequences ${first}-${last}, each change once, in Catalog's commit order, each from the previous price`,
  );
  console.log();
  return 0;
}

/**
 * What is wrong with a product's history, or `undefined`: rows in applied order must have
 * consecutive sequences and versions (no hole, no change twice), each old price the previous new
 * one, and hold this burst's changes as Catalog committed them.
 */
function historyProblem(history: readonly PriceHistoryRow[], committed: readonly Changed[]): string | undefined {
  for (let i = 1; i < history.length; i++) {
    const previous = history[i - 1] as PriceHistoryRow;
    const row = history[i] as PriceHistoryRow;
    if (row.sequence !== previous.sequence + 1) return `sequence ${row.sequence} follows ${previous.sequence} in the history`;
    if (row.version !== previous.version + 1) return `version ${row.version} follows ${previous.version} in the history`;
    if (row.oldPrice !== previous.newPrice) {
      return `sequence ${row.sequence} starts at ${money(row.oldPrice)} but sequence ${previous.sequence} ended at ${money(previous.newPrice)}`;
    }
  }
  for (const answer of committed) {
    const rows = history.filter((row) => row.version === answer.version);
    if (rows.length !== 1) return `v${answer.version} is in the history ${rows.length} times`;
    if (rows[0]?.newPrice !== answer.price || rows[0]?.oldPrice !== answer.oldPrice) {
      return `v${answer.version} is ${money(rows[0]?.oldPrice ?? 0)} -> ${money(rows[0]?.newPrice ?? 0)} in the history, ${money(answer.oldPrice)} -> ${money(answer.price)} in Catalog`;
    }
  }
  return undefined;
}
