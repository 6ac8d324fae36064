import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, expect, it } from 'vitest';

// The repository's Markdown check compiles every ts block against the built packages, but a
// Prisma snippet imports the client `prisma generate` writes into the user's project, which only
// exists here as the test client. So the blocks that import it are marked no-check there and
// type-checked here, with that import pointed at the test client of the block's database.
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const pages = ['docs/adapters/prisma.md', 'README.md'];
const generatedImport = "'./generated/prisma/client.js'";
const workDir = join(root, 'node_modules', '.cache', `prisma-docs-${process.pid}`);

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

it("the docs' Prisma snippets compile against a generated client", () => {
  mkdirSync(workDir, { recursive: true });
  writeFileSync(join(workDir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  const files: string[] = [];
  for (const page of pages) {
    const blocks = readFileSync(join(root, page), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g);
    for (const [, code = ''] of blocks) {
      if (!code.includes(generatedImport)) continue;
      const client = join(here, 'prisma', code.includes('@prisma/adapter-mariadb') ? 'mysql' : 'pg', 'generated', 'client.js');
      const file = join(workDir, `${page.replaceAll('/', '_')}-${files.length}.ts`);
      writeFileSync(file, `${code.replace(generatedImport, JSON.stringify(client))}\nexport {};\n`);
      files.push(file);
    }
  }
  expect(files.length).toBeGreaterThanOrEqual(1);
  const { config } = ts.readConfigFile(join(root, 'tsconfig.base.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root, { noEmit: true });
  const program = ts.createProgram(files, { ...options, noEmit: true });
  const errors = ts
    .getPreEmitDiagnostics(program)
    .filter((diagnostic) => diagnostic.file === undefined || files.includes(diagnostic.file.fileName))
    .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
  expect(errors).toEqual([]);
});
