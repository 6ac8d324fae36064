import type { ServiceProcess } from './service-process.js';

/** What Basket reports once a price change has committed and been acked (see `price-consumer.ts`). */
export interface AppliedReport {
  readonly event: 'price-applied' | 'price-stale';
  readonly productId: string;
  readonly version: number;
  readonly oldPrice: number;
  readonly newPrice: number;
  readonly basketIds?: readonly string[];
  readonly staleBasketIds?: readonly string[];
  /** Epoch ms, on Basket's clock (the same machine as Catalog's in the demo). */
  readonly appliedAt: number;
}

/**
 * Collects Basket's `price-applied` / `price-stale` reports by product and version, from the
 * moment it is created, so a report that arrives before Catalog's HTTP answer is not missed.
 */
export class AppliedEvents {
  readonly #basket: ServiceProcess;
  readonly #seen = new Map<string, AppliedReport>();
  readonly #waiting = new Map<string, (report: AppliedReport) => void>();

  constructor(basket: ServiceProcess) {
    this.#basket = basket;
    basket.onLine(({ json }) => {
      if (json?.event !== 'price-applied' && json?.event !== 'price-stale') return;
      const report = json as unknown as AppliedReport;
      const key = keyOf(report.productId, report.version);
      this.#seen.set(key, report);
      this.#waiting.get(key)?.(report);
    });
  }

  /** Resolves when Basket has applied `productId` at `version`. @throws after `timeoutMs` or when Basket exits. */
  wait(productId: string, version: number, timeoutMs: number): Promise<AppliedReport> {
    const key = keyOf(productId, version);
    const seen = this.#seen.get(key);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(
          new Error(
            `basket did not apply ${productId} v${version} within ${timeoutMs} ms; its last output:\n    ${this.#basket.tail().join('\n    ')}`,
          ),
        );
      }, timeoutMs);
      this.#waiting.set(key, (report) => {
        clearTimeout(timer);
        this.#waiting.delete(key);
        resolve(report);
      });
      void this.#basket.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`basket exited before applying ${productId} v${version}`));
      });
    });
  }
}

function keyOf(productId: string, version: number): string {
  return `${productId}@${version}`;
}
