// Type-checks the ```ts block of every `@example` in the packages' TSDoc against the built
// packages, so that an example shows a call that compiles.
//
//   npm run examples:check
//
// An example is a fragment: it uses names it does not declare (`pool`, `nc`, `PriceChanged`).
// Each package has one context below that imports and declares those names; every example of
// the package is compiled as its own module after it (without the context's lines that declare a
// name the example declares itself). `...` inside an example stands for code
// the reader writes and is not allowed: write a comment instead.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { repoRoot } from './workspace.ts';

// The event the examples publish and consume, as core's defineEvent example defines it.
const priceChanged = `
import { defineEvent } from '@outboxkit/outbox-core';
import { z } from 'zod';
const PriceChanged = defineEvent('catalog.product.price-changed', { schema: z.object({ productId: z.string(), newPrice: z.number(), version: z.number().int() }), source: 'catalog' });
declare const id: string;
declare const price: number;
declare const version: number;
`;

/** Per package: the names its examples may use without declaring them. */
const contexts: Record<string, string> = {
  'outbox-core': `
import { Consumer, InfrastructureError, OutboxError, Relay, type InboxStore, type Logger, type OutboxStore, type Publisher, type Subscriber } from '@outboxkit/outbox-core';
import { describeOutboxStore, type OutboxStoreHarness } from '@outboxkit/outbox-core/conformance';
import { createBackoff, type SqlExecutor, type TransactionRunner } from '@outboxkit/outbox-core/driver';
import { ManualClock } from '@outboxkit/outbox-core/testing';
import { type PgClientLike, PgInboxStore, pgExecutor, transaction } from '@outboxkit/outbox-pg';
import type pg from 'pg';
${priceChanged}
declare const pool: pg.Pool;
declare const client: pg.PoolClient;
declare const outbox: OutboxStore<SqlExecutor>;
declare const store: OutboxStore;
declare const publisher: Publisher;
declare const logger: Logger;
declare const subscriber: Subscriber;
declare const inbox: InboxStore<pg.PoolClient>;
declare const relay: Relay;
declare const consumer: Consumer<pg.PoolClient>;
declare const pricingUrl: string;
declare function pgHarness(): OutboxStoreHarness<pg.PoolClient>;
`,
  'outbox-pg': `
import { PgInboxStore, PgOutboxStore, pgExecutor, transaction, translatePgError } from '@outboxkit/outbox-pg';
import pg from 'pg';
${priceChanged}
declare const pool: pg.Pool;
declare const outbox: PgOutboxStore;
declare const sql: string;
declare const productId: string;
declare const event: { readonly id: string };
`,
  'outbox-mysql': `
import { MysqlInboxStore, MysqlOutboxStore, mysqlExecutor, transaction, translateMysqlError } from '@outboxkit/outbox-mysql';
import type mysql from 'mysql2/promise';
${priceChanged}
declare const pool: mysql.Pool;
declare const outbox: MysqlOutboxStore;
declare const sql: string;
declare const productId: string;
declare const event: { readonly id: string };
`,
  'bus-nats': `
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { ensureConsumer, ensurePartitionedConsumer, ensureStream, listDeadLetters, NatsPublisher, NatsSubscriber, PartitionedSubscriber, readPartitionOwners } from '@outboxkit/bus-nats';
import { Consumer, type ClaimedBatch, type InboxStore } from '@outboxkit/outbox-core';
declare const nc: NatsConnection;
declare const batch: ClaimedBatch;
declare const inbox: InboxStore<unknown>;
`,
  // The CLI has no library entry: its examples use its source files.
  'outbox-relay': `
import { main } from '../../../packages/outbox-relay/src/cli.js';
import { redactUrl } from '../../../packages/outbox-relay/src/redact.js';
import { terminalSafe } from '../../../packages/outbox-relay/src/terminal-text.js';
`,
};

// Not checked, with the reason.
const skipped: Record<string, string> = {
  'outbox-adapters':
    "each example needs its ORM's schema or generated client (Prisma's is generated per schema); the package's tests make the same calls on the real libraries",
};

interface Example {
  readonly pkg: string;
  readonly file: string; // relative to the repository root
  readonly line: number; // the first code line, 1-based
  readonly code: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function examplesOf(pkg: string, path: string): Example[] {
  const file = relative(repoRoot, path);
  const lines = readFileSync(path, 'utf8').split('\n');
  const found: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\*\s*@example\b/.test(lines[i] ?? '')) continue;
    const open = i + 1;
    if (!/^\s*\*\s*```(ts|typescript)\s*$/.test(lines[open] ?? '')) {
      throw new Error(`${file}:${open + 1}: an @example starts with a \`\`\`ts block`);
    }
    const body: string[] = [];
    let j = open + 1;
    for (; j < lines.length && !/^\s*\*\s*```\s*$/.test(lines[j] ?? ''); j++) body.push((lines[j] ?? '').replace(/^\s*\* ?/, ''));
    found.push({ pkg, file, line: open + 2, code: body.join('\n') });
    i = j;
  }
  return found;
}

const packagesDir = join(repoRoot, 'packages');
const examples: Example[] = [];
const problems: string[] = [];
for (const pkg of readdirSync(packagesDir).sort()) {
  const src = join(packagesDir, pkg, 'src');
  if (!existsSync(src) || skipped[pkg] !== undefined) continue;
  for (const path of sourceFiles(src)) {
    try {
      examples.push(...examplesOf(pkg, path));
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
}
for (const example of examples) {
  if (contexts[example.pkg] === undefined)
    problems.push(`${example.file}:${example.line}: no context for package ${example.pkg} in this script`);
  const dots = example.code.split('\n').findIndex((line) => /\.\.\.\s*[)}\]]|\{\s*\.\.\.\s*\}/.test(line));
  if (dots !== -1) problems.push(`${example.file}:${example.line + dots}: '...' in an example does not compile: write a comment`);
}

const workDir = join(repoRoot, 'node_modules', '.cache', 'tsdoc-examples');
rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
writeFileSync(join(workDir, 'package.json'), JSON.stringify({ type: 'module', private: true }));

/** The package's context without the declarations of names the example declares itself. */
function contextFor(example: Example): string {
  const declared = new Set([...example.code.matchAll(/\b(?:const|let|var|function|class)\s+(\w+)/g)].map((match) => match[1]));
  return (contexts[example.pkg] ?? '')
    .split('\n')
    .filter((line) => {
      const name = /^(?:declare\s+)?(?:const|function)\s+(\w+)/.exec(line)?.[1];
      return name === undefined || !declared.has(name);
    })
    .join('\n');
}

const units = examples.map((example, index) => {
  const context = contextFor(example);
  const path = join(workDir, `${index}-${example.pkg}.ts`);
  writeFileSync(path, `${context}\n${example.code}\nexport {};\n`);
  return { example, path, offset: context.split('\n').length };
});

const configPath = join(repoRoot, 'tsconfig.base.json');
const { config } = ts.readConfigFile(configPath, ts.sys.readFile);
const options = ts.parseJsonConfigFileContent(
  config,
  ts.sys,
  repoRoot,
  { noEmit: true, declaration: false, sourceMap: false },
  configPath,
).options;
const program = ts.createProgram(
  units.map((unit) => unit.path),
  { ...options, noEmit: true },
);
const byPath = new Map(units.map((unit) => [unit.path, unit]));
for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
  const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ');
  const unit = diagnostic.file && byPath.get(diagnostic.file.fileName);
  if (!diagnostic.file || diagnostic.start === undefined || unit === undefined) {
    problems.push(`error TS${diagnostic.code}: ${text}`);
    continue;
  }
  const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
  const inExample = line - unit.offset;
  const where =
    inExample >= 0
      ? `${unit.example.file}:${unit.example.line + inExample}`
      : `the ${unit.example.pkg} context in scripts/check-tsdoc-examples.ts`;
  problems.push(`${where}:${character + 1} - error TS${diagnostic.code}: ${text}`);
}
rmSync(workDir, { recursive: true, force: true });

if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`\n${problems.length} problem(s) in the @example blocks of the packages' TSDoc.`);
  process.exit(1);
}
const skippedNote = Object.entries(skipped).map(([pkg, reason]) => `${pkg} (${reason})`);
console.log(`examples:check: ${examples.length} @example blocks type-check; not checked: ${skippedNote.join('; ')}`);
