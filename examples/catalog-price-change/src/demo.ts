/**
 * `npm run demo`: Catalog (PostgreSQL) changes three prices; the relay sidecar publishes the
 * outbox to NATS JetStream; Basket (MariaDB) applies each change to every basket holding the
 * product. Each one a separate process, as in production. Prints each change as it reaches the
 * baskets, with its commit -> applied latency, then changes a fourth product five times at once
 * and prints its price history as Basket applied it (in Catalog's commit order), checks every
 * basket against the catalog, stops everything with SIGTERM and exits 0 (1 on any failure, or
 * when a server is not reachable).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Basket } from './basket/basket-store.js';
import type { Product } from './catalog/catalog-store.js';
import { configEnv, readConfig } from './config.js';
import { AppliedEvents } from './demo/applied-events.js';
import { findMissingService } from './demo/preflight.js';
import { showPriceBurst } from './demo/price-history.js';
import { bold, type ChangeTable, changeHeader, changeRow, dim, red, seconds, step } from './demo/report.js';
import { describe, type OutputLine, ServiceProcess } from './demo/service-process.js';
import { type ReceivedSpan, TraceReceiver, traceTree } from './demo/trace-receiver.js';
import { relayBinPath } from './relay-bin.js';
import { burstProductId, demoProductIds, nextPrice, seedProducts } from './seed-data.js';
import { setUp } from './setup.js';

const START_TIMEOUT_MS = 30_000;
const APPLY_TIMEOUT_MS = 15_000;
const TRACE_TIMEOUT_MS = 10_000;

const startedAt = performance.now();
const children: ServiceProcess[] = [];
let traces: TraceReceiver | undefined;

async function main(): Promise<number> {
  // Port 0: each service takes a free port and prints it, so the demo never collides with anything.
  const config = readConfig({ CATALOG_PORT: '0', BASKET_PORT: '0', ...process.env });
  console.log(bold('outboxkit demo: a price change in Catalog reaches every Basket'));
  console.log(dim(`  catalog   PostgreSQL schema ${config.pgSchema}: products + outbox, one transaction per change`));
  console.log(dim(`  relay     outbox-relay sidecar -> NATS JetStream stream ${config.stream}`));
  console.log(
    dim(
      `  basket    MariaDB database ${config.mysqlDatabase}: baskets + inbox, consumer ${config.consumer} on ${config.partitions} partitions`,
    ),
  );
  console.log();

  if (!existsSync(relayBinPath())) {
    console.error(
      `The outbox-relay CLI is not built (${relayBinPath()}): run npm run demo at the repository root, which builds the packages first.`,
    );
    process.exit(1);
  }
  const missing = await findMissingService(config);
  if (missing) {
    // Nothing was started or changed: the one sentence is the whole answer.
    console.error(missing);
    process.exit(1);
  }

  const setup = await setUp(config);
  step('setup', `${setup.outbox}; seeded ${setup.productsInserted} products, ${setup.linesInserted} basket lines`);

  // Every service sends its spans over OTLP/HTTP to a receiver of the demo's own, which prints the first change's trace.
  traces = await TraceReceiver.start();
  const env = { ...process.env, ...configEnv(config), OTEL_EXPORTER_OTLP_ENDPOINT: traces.endpoint };
  const tsx = ['--import', import.meta.resolve('tsx')];
  const relay = start('relay', [relayBinPath(), 'run'], {
    ...env,
    OUTBOX_DATABASE_URL: config.pgUrl,
    OUTBOX_SCHEMA: config.pgSchema,
    OUTBOX_STREAM: config.stream,
    OUTBOX_SUBJECT_PREFIX: config.subjectPrefix,
    OUTBOX_PARTITIONS: String(config.partitions),
    OUTBOX_METRICS_ADDR: 'off',
    OUTBOX_LOG_LEVEL: 'info',
    OUTBOX_SHUTDOWN_TIMEOUT_MS: '5000',
    OTEL_SERVICE_NAME: 'relay',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_BSP_SCHEDULE_DELAY: '100',
  });
  const catalog = start('catalog', [...tsx, fileURLToPath(new URL('./catalog/main.ts', import.meta.url))], {
    ...env,
    OTEL_SERVICE_NAME: 'catalog',
  });
  const basket = start('basket', [...tsx, fileURLToPath(new URL('./basket/main.ts', import.meta.url))], {
    ...env,
    OTEL_SERVICE_NAME: 'basket',
  });
  const applied = new AppliedEvents(basket);
  const isListening = ({ json }: OutputLine) => json?.event === 'listening';
  const [catalogUp, basketUp] = await Promise.all([
    catalog.waitFor(isListening, 'listening line', START_TIMEOUT_MS),
    basket.waitFor(isListening, 'listening line', START_TIMEOUT_MS),
    relay.waitFor(({ json }) => json?.msg === 'outbox-relay started', '"outbox-relay started" line', START_TIMEOUT_MS),
  ]);
  const catalogUrl = String(catalogUp.json?.url);
  const basketUrl = String(basketUp.json?.url);
  step('started', `catalog ${catalogUrl}, basket ${basketUrl}, relay (pid ${relay.pid}) ${dim(`at ${seconds(startedAt)}`)}`);

  const before = await call<Product[]>('GET', `${catalogUrl}/products`);
  const basketsBefore = await call<Basket[]>('GET', `${basketUrl}/baskets`);
  const table: ChangeTable = { nameWidth: Math.max(...before.map((product) => product.name.length)) };
  console.log();
  console.log(bold('Changing 3 prices with PATCH /products/:id/price; each line appears when the baskets have it:'));
  changeHeader(table);

  let failures = 0;
  const propagated: Promise<void>[] = [];
  for (const id of demoProductIds) {
    const product = before.find((candidate) => candidate.id === id);
    const seed = seedProducts.find((candidate) => candidate.id === id);
    if (!product || !seed) throw new Error(`catalog has no product ${id}`);
    const changed = await call<Product & { oldPrice: number; committedAt: number }>('PATCH', `${catalogUrl}/products/${id}/price`, {
      price: nextPrice(seed, product.price),
    });
    const expected = basketsBefore.filter((b) => b.lines.some((line) => line.productId === id)).map((b) => b.id);
    propagated.push(
      applied.wait(id, changed.version, APPLY_TIMEOUT_MS).then((report) => {
        const baskets = report.basketIds ?? [];
        const missed = expected.filter((basketId) => !baskets.includes(basketId));
        if (missed.length > 0) failures++;
        changeRow(table, {
          name: product.name,
          oldPrice: changed.oldPrice,
          newPrice: changed.price,
          version: changed.version,
          baskets,
          missing: missed,
          latencyMs: Math.max(0, report.appliedAt - changed.committedAt),
        });
      }),
    );
    // The first change travels alone, so its trace is one event's whole path; the relay's batch of
    // several events would start a trace of its own, linked to each.
    if (propagated.length === 1) await propagated[0];
  }
  await Promise.all(propagated);
  console.log();
  failures += await showTrace(traces, demoProductIds[0] as string);

  // Several changes of one product at once: Basket's price history must list them in Catalog's commit order.
  const burstProduct = before.find((candidate) => candidate.id === burstProductId);
  const burstSeed = seedProducts.find((candidate) => candidate.id === burstProductId);
  if (!burstProduct || !burstSeed) throw new Error(`catalog has no product ${burstProductId}`);
  failures += await showPriceBurst({ catalogUrl, basketUrl, applied, call, timeoutMs: APPLY_TIMEOUT_MS }, burstProduct, burstSeed);

  const products = await call<Product[]>('GET', `${catalogUrl}/products`);
  const baskets = await call<Basket[]>('GET', `${basketUrl}/baskets`);
  const lines = baskets.flatMap((b) => b.lines.map((line) => ({ basketId: b.id, ...line })));
  const wrong = lines.filter((line) => {
    const product = products.find((candidate) => candidate.id === line.productId);
    return !product || product.price !== line.unitPrice || product.version !== line.priceVersion;
  });
  if (wrong.length === 0)
    step('checked', `every basket line has Catalog's price and version (${lines.length} lines in ${baskets.length} baskets)`);
  else {
    failures++;
    step(
      'checked',
      red(`${wrong.length} basket lines differ from Catalog: ${wrong.map((l) => `${l.basketId}/${l.productId}`).join(', ')}`),
    );
  }

  failures += await showRejections(catalogUrl, products);
  return failures === 0 ? 0 : 1;
}

/**
 * Prints the trace of one price change as a tree, with each span's process and duration: Catalog's
 * request -> UPDATE + enqueue (`create`) -> the relay's `send` -> Basket's `process` -> its handler
 * -> the MariaDB UPDATE. Waits for the last span to arrive. Returns 1 if the tree is incomplete.
 */
async function showTrace(receiver: TraceReceiver, productId: string): Promise<number> {
  const deadline = Date.now() + TRACE_TIMEOUT_MS;
  let root: ReceivedSpan | undefined;
  let complete = false;
  while (Date.now() < deadline) {
    root = receiver.spans.find((span) => span.name.startsWith('PATCH') && span.attributes['product.id'] === productId);
    const lines = root ? traceTree(receiver.spans, root) : [];
    complete =
      ['relay', 'basket'].every((service) => lines.some((line) => line.span.service === service)) &&
      lines.some((line) => line.span.name === 'UPDATE basket_lines');
    if (complete) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  console.log(bold('The first change as one trace (OpenTelemetry spans the three processes sent over OTLP):'));
  const lines = root ? traceTree(receiver.spans, root) : [];
  for (const { span, depth, linked } of lines) {
    const ms = Number(span.endNs - span.startNs) / 1e6;
    const name = `${'  '.repeat(depth)}${span.name}${linked ? dim(' (a batch of several events: its own trace, linked)') : ''}`;
    console.log(`  ${span.service.padEnd(8)} ${name.padEnd(60)} ${ms.toFixed(1).padStart(7)} ms`);
  }
  const traceIds = new Set(lines.filter((line) => !line.linked).map((line) => line.span.traceId));
  const services = [...new Set(lines.filter((line) => !line.linked).map((line) => line.span.service))];
  if (!complete || !root) {
    step('traced', red(`the trace is incomplete after ${TRACE_TIMEOUT_MS / 1000} s (${lines.length} spans)`));
    return 1;
  }
  step('traced', `${traceIds.size === 1 ? 'one trace id' : `${traceIds.size} trace ids`} ${root.traceId} across ${services.join(', ')}`);
  console.log();
  return traceIds.size === 1 ? 0 : 1;
}

/** Bad input changes nothing: a negative price gets 400, an unknown product 404. */
async function showRejections(catalogUrl: string, products: readonly Product[]): Promise<number> {
  const target = products[0] as Product;
  const negative = await fetch(`${catalogUrl}/products/${target.id}/price`, { method: 'PATCH', body: JSON.stringify({ price: -5 }) });
  const unknown = await fetch(`${catalogUrl}/products/no-such-product/price`, { method: 'PATCH', body: JSON.stringify({ price: 10 }) });
  const [negativeBody, unknownBody] = (await Promise.all([negative.json(), unknown.json()])) as { error: string }[];
  const after = await call<Product[]>('GET', `${catalogUrl}/products`);
  const unchanged = JSON.stringify(after) === JSON.stringify(products);
  const ok = negative.status === 400 && unknown.status === 404 && unchanged;
  step(
    'rejected',
    `{"price": -5} -> ${negative.status} ${negativeBody?.error}, unknown product -> ${unknown.status} ${unknownBody?.error}; ` +
      (unchanged ? 'nothing changed' : red('the catalog changed!')),
  );
  return ok ? 0 : 1;
}

function start(name: string, args: readonly string[], env: NodeJS.ProcessEnv): ServiceProcess {
  const child = new ServiceProcess(name, process.execPath, args, env, fileURLToPath(new URL('..', import.meta.url)));
  children.push(child);
  // Warnings and errors of any child are shown as they happen: they are part of the story.
  child.onLine(({ json, text }) => {
    const level = json?.level;
    if (level === 'warn' || level === 'error' || level === 40 || level === 50 || level === 60) {
      console.log(dim(`  ${name}: ${String(json?.msg ?? text)}`));
    }
  });
  return child;
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const response = await fetch(url, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const json = (await response.json()) as T & { message?: string };
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status}: ${json.message ?? JSON.stringify(json)}`);
  return json;
}

/** SIGTERM to every child, all at once; waits for each to exit. Returns 1 if one had to be killed or failed. */
async function stopChildren(): Promise<number> {
  if (children.length === 0) return 0;
  const results = await Promise.all(children.map(async (child) => ({ name: child.name, status: await child.stop(10_000) })));
  const clean = results.every(({ status }) => !status.killed && (status.code === 0 || status.signal === 'SIGTERM'));
  step('stopped', results.map(({ name, status }) => `${name} (${status.killed ? red('killed after 10 s') : describe(status)})`).join(', '));
  children.length = 0;
  return clean ? 0 : 1;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.log(dim(`\n  ${signal}: stopping the services`));
    void stopChildren().finally(() => process.exit(130));
  });
}

let code: number;
try {
  code = await main();
} catch (error) {
  console.error(red(`demo failed: ${(error as Error).message}`));
  code = 1;
}
code = Math.max(code, await stopChildren());
await traces?.close();
console.log(code === 0 ? bold(`Done in ${seconds(startedAt)}.`) : red(`Failed after ${seconds(startedAt)}.`));
process.exit(code);
