/**
 * outboxkit's benchmark suite: `npm run bench -- [--suites ...] [--runs 3] [--quick]`.
 * Every figure is measured side by side with its baseline in the same run, interleaved, and
 * reported as the median of the runs with min-max. See bench/README.md.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SuiteContext } from './context.js';
import { ServerCpu } from './cpu.js';
import { describeEnvironment, MYSQL_URL, NATS_URL, PG_URL } from './env.js';
import { FigureBook } from './figures.js';
import { natsConnect } from './fixtures/nats.js';
import { BacklogTemplates } from './fixtures/templates.js';
import { prepareGoCeiling } from './go-ceiling.js';
import { parseOptions, type SuiteName } from './options.js';
import { progress, progressDone } from './progress.js';
import { renderJson, renderMarkdown } from './report.js';
import { clusterSuite } from './suites/cluster.js';
import { consumerSuite } from './suites/consumer.js';
import { latencySuite } from './suites/latency.js';
import { memorySuite } from './suites/memory.js';
import { otelSuite } from './suites/otel.js';
import { producerSuite } from './suites/producer.js';
import { relaySuite } from './suites/relay.js';

const suites: Record<SuiteName, (ctx: SuiteContext) => Promise<void>> = {
  producer: producerSuite,
  relay: relaySuite,
  latency: latencySuite,
  consumer: consumerSuite,
  memory: memorySuite,
  otel: otelSuite,
  cluster: clusterSuite,
};

async function main(): Promise<void> {
  const resultsDir = fileURLToPath(new URL('../results', import.meta.url));
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(process.argv.slice(2), resultsDir);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const started = Date.now();
  progress('reading the machine and server versions');
  const environment = await describeEnvironment();
  const book = new FigureBook();
  const notes: Record<string, string[]> = {};
  const extras: Record<string, unknown> = {};
  const timings: Record<string, number> = {};
  const failures: string[] = [];
  const nc = await natsConnect();
  const backlogs = new BacklogTemplates();
  const needsGo = options.suites.includes('relay') || options.suites.includes('cluster');
  if (needsGo) progress(`finding${options.quick ? '' : ' (or installing)'} Go and nats.go for the Go ceiling`);
  const goCeiling = needsGo ? prepareGoCeiling(!options.quick) : { skipped: 'neither the relay nor the cluster suite runs' };
  if ('skipped' in goCeiling) process.stderr.write(`bench: the Go ceiling is skipped: ${goCeiling.skipped}\n`);
  const ctx: SuiteContext = {
    options,
    book,
    nc,
    backlogs,
    extras,
    cpu: new ServerCpu({ pg: PG_URL, mysql: MYSQL_URL, nats: NATS_URL }),
    goCeiling,
    note: (suite, text) => {
      notes[suite] ??= [];
      notes[suite].push(text);
    },
  };
  try {
    for (const name of options.suites) {
      const suiteStarted = Date.now();
      progress(`${name}: starting`);
      try {
        await suites[name](ctx);
      } catch (error) {
        // The other suites' figures are still written; the report names the failure and the run exits 1.
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        process.stderr.write(`bench: the ${name} suite failed: ${message}\n`);
        failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      }
      timings[name] = Math.round((Date.now() - suiteStarted) / 100) / 10;
    }
  } finally {
    progress('dropping the backlog templates');
    await backlogs.dropAll();
    await nc.close();
  }
  environment.loadAtEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
  progressDone();

  if (failures.length > 0) notes.failures = failures;
  const report = { environment, options, figures: book.summaries(), notes, extras, timings, totalSeconds: (Date.now() - started) / 1000 };
  const outDir = options.outDir ?? (await mkdtemp(path.join(os.tmpdir(), 'outboxkit-bench-')));
  await mkdir(outDir, { recursive: true });
  const day = environment.date.slice(0, 10);
  const md = path.join(outDir, `${day}.md`);
  await writeFile(md, renderMarkdown(report));
  await writeFile(path.join(outDir, `${day}.json`), renderJson(report));
  process.stderr.write(`bench: wrote ${md} and ${day}.json in ${report.totalSeconds.toFixed(0)} s\n`);
  if (failures.length > 0) {
    process.stderr.write(`bench: ${failures.length} suite(s) failed: ${failures.join('; ')}\n`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  progressDone();
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
