import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generatePrismaClient, prismaSchemas } from './prisma/generate.js';

// The Prisma tests run on clients committed under test/prisma/*/generated, so that `npm ci && npm
// test` needs no Prisma CLI step. This test regenerates each one offline and compares: it fails
// when a schema or the Prisma version changed without `npm run prisma:generate -w @outboxkit/adapters`.
describe('the committed Prisma test clients', () => {
  const temporary: string[] = [];
  afterAll(async () => {
    await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  for (const schema of prismaSchemas) {
    it(`match what prisma generate makes of ${relative(process.cwd(), schema)}`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'outboxkit-prisma-'));
      temporary.push(dir);
      await cp(schema, join(dir, 'schema.prisma'));
      await generatePrismaClient(join(dir, 'schema.prisma'));
      expect(await snapshot(join(dir, 'generated'))).toEqual(await snapshot(join(dirname(schema), 'generated')));
    });
  }
});

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
  const entries = await Promise.all(
    files.map(async (file) => {
      const path = join(file.parentPath, file.name);
      return [relative(dir, path), await readFile(path, 'utf8')] as const;
    }),
  );
  return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
}
