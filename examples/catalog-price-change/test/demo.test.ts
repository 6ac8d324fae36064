import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { partitionOf } from '@outboxkit/bus-nats';
import { freePort, MYSQL_URL, NATS_URL, PG_URL } from '@outboxkit/test-services';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfig } from '../src/config.js';
import { findMissingService } from '../src/demo/preflight.js';
import { seedProducts } from '../src/seed-data.js';

// The demo as a user runs it: a child process with its own three children. Each test file gets
// its own schema, database and streams, dropped at the end.
const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`;
const names = {
  DEMO_PG_SCHEMA: `catalog_test_${suffix}`,
  DEMO_MYSQL_DATABASE: `basket_test_${suffix}`,
  DEMO_STREAM: `CATALOG_TEST_${suffix}`,
  DEMO_SUBJECT_PREFIX: `catalogtest_${suffix}`,
  DEMO_DEAD_LETTER_STREAM: `CATALOG_TEST_DEAD_${suffix}`,
  DEMO_DEAD_LETTER_PREFIX: `catalogtestdlq_${suffix}`,
};
const exampleDir = fileURLToPath(new URL('..', import.meta.url));
const demoProducts = ['dotnet-bot-black-hoodie', 'dotnet-black-white-mug', 'prism-white-tshirt'];
/** Baskets holding each demo product in the seed data. */
const affected: Record<string, string[]> = {
  '.NET Bot Black Hoodie': ['alice', 'bob', 'dave'],
  '.NET Black & White Mug': ['alice', 'carol', 'dave'],
  'Prism White T-Shirt': ['alice', 'carol'],
};
/** A span of the printed trace: `  <process, 8 wide> <two spaces a level><name> ... <duration> ms`. */
const traceLine = /^ {2}(catalog|relay|basket) +\S.*\s\d+\.\d ms$/;

function traceTree(stdout: string): [string, number, string][] {
  return stdout
    .split('\n')
    .filter((line) => traceLine.test(line))
    .map((line) => {
      const body = line.slice(11);
      const name = body.trim().replace(/\s+\d+\.\d ms$/, '');
      return [line.slice(2, 10).trim(), (body.length - body.trimStart().length) / 2, name];
    });
}
const changeLine = /^ {2}(\S.*?)\s+(\d+\.\d\d) ->\s+(\d+\.\d\d)\s+v(\d+)\s+(\d+) \(([^)]*)\)\s+(\d+) ms\s+ok$/;
/** A row of the printed price history: `<sequence>  v<version>  <old> -> <new>`. */
const historyLine = /^ {2} *(\d+) {2}v(\d+) +(\d+\.\d\d) -> +(\d+\.\d\d)$/;
/** The product the demo changes five times at once. */
const burstProduct = { id: 'cup-white-mug', changesPerRun: 5 };

/** The price history rows the demo printed, parsed. */
function historyRows(stdout: string) {
  return stdout
    .split('\n')
    .map((line) => historyLine.exec(line))
    .filter((match) => match !== null)
    .map(([, sequence, version, oldPrice, newPrice]) => ({
      sequence: Number(sequence),
      version: Number(version),
      oldPrice: Number(oldPrice),
      newPrice: Number(newPrice),
    }));
}

interface DemoRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runDemo(env: Record<string, string>): Promise<DemoRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'src/demo.ts'],
      {
        cwd: exampleDir,
        env: { ...process.env, OUTBOX_PG_URL: PG_URL, OUTBOX_MYSQL_URL: MYSQL_URL, OUTBOX_NATS_URL: NATS_URL, ...names, ...env },
        timeout: 50_000,
      },
      (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

/** The change lines the demo printed, parsed. */
function changes(stdout: string) {
  return stdout
    .split('\n')
    .map((line) => changeLine.exec(line))
    .filter((match) => match !== null)
    .map(([, name, oldPrice, newPrice, version, count, baskets]) => ({
      name: name as string,
      oldPrice: Number(oldPrice),
      newPrice: Number(newPrice),
      version: Number(version),
      baskets: (baskets as string).split(', '),
      count: Number(count),
    }));
}

afterAll(async () => {
  const pgClient = new pg.Client({ connectionString: PG_URL });
  await pgClient.connect();
  await pgClient.query(`DROP SCHEMA IF EXISTS "${names.DEMO_PG_SCHEMA}" CASCADE`);
  await pgClient.end();
  const mysql = await createConnection({ uri: MYSQL_URL });
  await mysql.query(`DROP DATABASE IF EXISTS \`${names.DEMO_MYSQL_DATABASE}\``);
  await mysql.end();
  const nats = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nats);
  // The stream, the dead-letter stream and Basket's lease bucket (the KV bucket's stream).
  for (const stream of [names.DEMO_STREAM, names.DEMO_DEAD_LETTER_STREAM, `KV_outbox-leases_${names.DEMO_STREAM}_basket`]) {
    await jsm.streams.delete(stream).catch(() => false);
  }
  await nats.close();
});

describe('npm run demo', () => {
  // The check the demo runs first (it prints this sentence and exits 1), in-process: starting the demo costs seconds.
  it('says in one sentence which server is missing', async () => {
    const port = await freePort();
    const config = readConfig({
      ...names,
      OUTBOX_PG_URL: PG_URL,
      OUTBOX_MYSQL_URL: MYSQL_URL,
      OUTBOX_NATS_URL: `nats://127.0.0.1:${port}`,
    });
    const sentence = await findMissingService(config);
    expect(sentence).toMatch(
      new RegExp(
        `^NATS is not reachable at nats://127\\.0\\.0\\.1:${port}/? \\(.+\\): start it, or set OUTBOX_NATS_URL to where it runs\\.$`,
      ),
    );
    expect(sentence).not.toContain('\n');
    expect(
      await findMissingService(readConfig({ ...names, OUTBOX_PG_URL: PG_URL, OUTBOX_MYSQL_URL: MYSQL_URL, OUTBOX_NATS_URL: NATS_URL })),
    ).toBeUndefined();
  });

  for (const round of [1, 2]) {
    it(`run ${round}: propagates three price changes to every affected basket`, async () => {
      const run = await runDemo({});
      expect(run.stderr).toBe('');
      expect(run.code, run.stdout).toBe(0);
      const lines = changes(run.stdout);
      expect(lines.map((line) => line.name).sort()).toEqual(Object.keys(affected).sort());
      for (const line of lines) {
        expect(line.baskets.sort()).toEqual(affected[line.name]);
        expect(line.count).toBe(affected[line.name]?.length);
        // Seeded at version 1; each run bumps the version once, so the second run proves the seed is idempotent.
        expect(line.version).toBe(round + 1);
        expect(line.newPrice).not.toBe(line.oldPrice);
      }
      // Five concurrent changes of one product: the history Basket printed lists this run's five, in order.
      const history = historyRows(run.stdout);
      const first = (round - 1) * burstProduct.changesPerRun + 1;
      expect(history.map((row) => row.sequence)).toEqual([0, 1, 2, 3, 4].map((i) => first + i));
      expect(history.map((row) => row.version)).toEqual([0, 1, 2, 3, 4].map((i) => first + i + 1));
      for (let i = 1; i < history.length; i++) expect(history[i]?.oldPrice).toBe(history[i - 1]?.newPrice);
      expect(run.stdout).toContain(
        `the history lists sequences 1-${round * burstProduct.changesPerRun}, each change once, in Catalog's commit order, each from the previous price`,
      );
      expect(run.stdout).toContain("every basket line has Catalog's price and version (10 lines in 4 baskets)");
      expect(run.stdout).toMatch(/-> 400 invalid_price, unknown product -> 404 product_not_found; nothing changed/);
      expect(run.stdout).toMatch(/stopped +relay \(exit code 0\), catalog \(exit code 0\), basket \(exit code 0\)/);
      // The first change's trace, from the spans the three processes sent to the demo's OTLP receiver.
      const tree = traceTree(run.stdout);
      // The relay publishes the first product's change in its partition (8 partitions by default).
      const destination = `${names.DEMO_SUBJECT_PREFIX}.p${partitionOf(demoProducts[0] as string, 8)}.catalog.product.price-changed`;
      expect(tree).toEqual([
        ['catalog', 0, 'PATCH /products/:id/price'],
        ['catalog', 1, 'UPDATE products'],
        ['catalog', 1, 'create'],
        ['relay', 2, `send ${destination}`],
        ['basket', 2, `process ${destination}`],
        ['basket', 3, 'apply price change'],
        ['basket', 4, 'UPDATE basket_lines'],
      ]);
      expect(run.stdout).toMatch(/traced +one trace id [0-9a-f]{32} across catalog, relay, basket/);
    });
  }

  it('leaves every basket line at the price and version Catalog has, each event applied once and in order', async () => {
    const pgClient = new pg.Client({ connectionString: PG_URL });
    await pgClient.connect();
    const { rows: products } = await pgClient.query<{ id: string; price: string; version: number }>(
      `SELECT id, price, version FROM "${names.DEMO_PG_SCHEMA}".products`,
    );
    await pgClient.end();
    const mysql = await createConnection({ uri: MYSQL_URL, decimalNumbers: true });
    const [lineRows] = await mysql.query(
      `SELECT basket_id, product_id, unit_price, price_version FROM \`${names.DEMO_MYSQL_DATABASE}\`.basket_lines`,
    );
    const [inboxRows] = await mysql.query(`SELECT consumer, COUNT(*) AS n FROM \`${names.DEMO_MYSQL_DATABASE}\`.inbox GROUP BY consumer`);
    const [historyRows] = await mysql.query(
      `SELECT product_id, sequence, version, old_price, new_price FROM \`${names.DEMO_MYSQL_DATABASE}\`.price_history ORDER BY applied_order`,
    );
    await mysql.end();

    const lines = lineRows as { basket_id: string; product_id: string; unit_price: number; price_version: number }[];
    expect(lines).toHaveLength(10);
    for (const line of lines) {
      const product = products.find((candidate) => candidate.id === line.product_id);
      expect(line.unit_price, `${line.basket_id}/${line.product_id}`).toBe(Number(product?.price));
      expect(line.price_version).toBe(product?.version);
    }
    expect(products).toHaveLength(5);
    for (const product of products) {
      const changes = product.id === burstProduct.id ? 2 * burstProduct.changesPerRun : demoProducts.includes(product.id) ? 2 : 0;
      expect(product.version).toBe(1 + changes);
    }
    // Sixteen events (eight per run), each recorded once in the inbox: applied exactly once.
    expect(inboxRows).toEqual([{ consumer: 'basket', n: 16 }]);

    // Each product's history, in the order Basket applied the changes, is Catalog's: sequences 1..n
    // without a hole or a repeat (n = the changes Catalog committed), version = sequence + 1 (the
    // version is taken under the product's row lock, so it is Catalog's commit order too), and each
    // change starts at the price the previous one set, from the seeded price to Catalog's price now.
    const history = historyRows as { product_id: string; sequence: number; version: number; old_price: number; new_price: number }[];
    for (const product of products) {
      const rows = history.filter((row) => row.product_id === product.id);
      expect(
        rows.map((row) => row.sequence),
        product.id,
      ).toEqual(Array.from({ length: product.version - 1 }, (_, i) => i + 1));
      expect(rows.map((row) => row.version)).toEqual(rows.map((row) => row.sequence + 1));
      for (let i = 1; i < rows.length; i++) expect(rows[i]?.old_price, `${product.id} #${i + 1}`).toBe(rows[i - 1]?.new_price);
      if (rows.length > 0) {
        expect(rows.at(-1)?.new_price).toBe(Number(product.price));
        expect(rows[0]?.old_price).toBe(seedProducts.find((seed) => seed.id === product.id)?.price);
      }
    }
  });
});
