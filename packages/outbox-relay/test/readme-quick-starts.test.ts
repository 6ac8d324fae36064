import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MYSQL_URL, OwnNatsServer, PG_URL } from '@outboxkit/test-services';
import mysql from 'mysql2/promise';
import pg from 'pg';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from './random-name.js';

// Each package README, read as a new user would: a fresh project installs what its "Install"
// section names (the @outboxkit packages from their packed tarballs), copies its "Quick start" and
// runs it. Nothing else is installed, and npm must print no warning (EBADENGINE included).

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'outboxkit-readmes-'));
// Only what npm needs: no npm_config_* of a surrounding `npm test` (workspace flags) leaks in.
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? work, npm_config_update_notifier: 'false' };
const tarballs = new Map<string, string>(); // package name -> .tgz path
const nats = new OwnNatsServer();
const pgDatabase = randomName('quickstart');
const mysqlDatabase = randomName('quickstart');

function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no "## ${heading}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

function firstBlock(text: string, languages: readonly string[]): string {
  const match = new RegExp('```(?:' + languages.join('|') + ')\\n([\\s\\S]*?)\\n```').exec(text);
  if (!match?.[1]) throw new Error(`no \`\`\`${languages[0]} block`);
  return match[1];
}

/** The packages of the first `npm install` line of the README's Install section. */
function installArgs(readme: string): string[] {
  const line = firstBlock(section(readme, 'Install'), ['sh'])
    .split('\n')
    .find((candidate) => candidate.startsWith('npm install '));
  if (line === undefined) throw new Error('no npm install line in the Install section');
  return line
    .replace(/#.*/, '')
    .trim()
    .split(/\s+/)
    .slice(2)
    .map((spec) => (spec.startsWith('@outboxkit/') ? (tarballs.get(spec.replace(/(.)@.*$/, '$1')) ?? spec) : spec));
}

async function runQuickStart(pkg: string, quickStartEnv: Record<string, string>): Promise<{ project: string; stdout: string }> {
  const readme = readFileSync(join(repoRoot, 'packages', pkg, 'README.md'), 'utf8');
  const project = join(work, pkg);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: `${pkg}-quickstart`, private: true, type: 'module' }));
  // The third-party packages come from npm's local cache (--prefer-offline), the registry only on a miss.
  const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...installArgs(readme)], {
    cwd: project,
    env,
  });
  expect(install.stderr.split('\n').filter((line) => /npm warn/i.test(line))).toEqual([]);

  // What a user's build does with the TypeScript of the quick start (the type check is npm run readme:check).
  const source = firstBlock(section(readme, 'Quick start'), ['ts', 'typescript']);
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  });
  writeFileSync(join(project, 'quickstart.mjs'), outputText);
  const { stdout } = await run(process.execPath, ['quickstart.mjs'], { cwd: project, env: { ...env, ...quickStartEnv }, timeout: 60_000 });
  return { project, stdout };
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

beforeAll(async () => {
  const packed = await run(
    'npm',
    [
      'pack',
      '--json',
      '--pack-destination',
      work,
      ...['outbox-core', 'outbox-pg', 'outbox-mysql', 'bus-nats', 'outbox-adapters'].flatMap((name) => ['-w', `packages/${name}`]),
    ],
    { cwd: repoRoot, env, maxBuffer: 64 * 1024 * 1024 },
  );
  for (const { name, filename, files } of JSON.parse(packed.stdout) as { name: string; filename: string; files: { path: string }[] }[]) {
    tarballs.set(name, join(work, filename));
    expect(files.map((file) => file.path)).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json']));
  }
  await nats.start();
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${pgDatabase}"`);
  await admin.end();
  const connection = await mysql.createConnection(MYSQL_URL);
  await connection.query(`CREATE DATABASE \`${mysqlDatabase}\``);
  await connection.end();
}, 120_000);

afterAll(async () => {
  await nats.dispose();
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${pgDatabase}" WITH (FORCE)`);
  await admin.end();
  const connection = await mysql.createConnection(MYSQL_URL);
  await connection.query(`DROP DATABASE IF EXISTS \`${mysqlDatabase}\``);
  await connection.end();
  rmSync(work, { recursive: true, force: true });
});

describe('each package README, followed in a fresh project against the packed packages', { timeout: 180_000 }, () => {
  it('outbox-core: the in-memory quick start runs, and ./testing loads without vitest installed', async () => {
    const { project, stdout } = await runQuickStart('outbox-core', {});
    expect(existsSync(join(project, 'node_modules', 'vitest'))).toBe(false);
    expect(stdout).toContain('p1 now costs 12.5');
    expect(stdout).toContain('{ published: 1 }');
  });

  it('outbox-pg: the event commits with the business change, is claimed, and the inbox applies it once', async () => {
    const { stdout } = await runQuickStart('outbox-pg', { OUTBOX_PG_URL: withDatabase(PG_URL, pgDatabase) });
    expect(stdout).toContain('catalog.product.price-changed p-1');
    expect(stdout.trim().split('\n').at(-1)).toBe('applied');
  });

  it('outbox-mysql: the event commits with the business change, is claimed, and the inbox applies it once', async () => {
    const { stdout } = await runQuickStart('outbox-mysql', { OUTBOX_MYSQL_URL: withDatabase(MYSQL_URL, mysqlDatabase) });
    expect(stdout).toContain('catalog.product.price-changed p-1');
    expect(stdout.trim().split('\n').at(-1)).toBe('applied');
  });

  it('adapters: the event commits in a Drizzle transaction, and the handler runs in one with the inbox row', async () => {
    const { project, stdout } = await runQuickStart('outbox-adapters', { OUTBOX_PG_URL: withDatabase(PG_URL, pgDatabase) });
    // Only the library the README names is installed: none of the other optional peers.
    for (const absent of ['@prisma/client', 'kysely', 'typeorm', 'knex'])
      expect(existsSync(join(project, 'node_modules', absent))).toBe(false);
    expect(stdout).toContain('pending events: 1');
    expect(stdout.trim().split('\n').at(-1)).toBe('applied');
  });

  it('bus-nats: both events are published, the good one applied, the poisoned one dead-lettered', async () => {
    const { stdout } = await runQuickStart('bus-nats', { OUTBOX_NATS_URL: nats.url });
    expect(stdout.match(/^applied /gm)).toHaveLength(1);
    expect(stdout.match(/^dead-lettered /gm)).toHaveLength(1);
  });
});
