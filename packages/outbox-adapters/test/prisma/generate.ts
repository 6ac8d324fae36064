import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The schemas of the Prisma tests, one per provider; each generates into `generated/` beside it. */
export const prismaSchemas = ['pg', 'mysql'].map((provider) => join(dirname(fileURLToPath(import.meta.url)), provider, 'schema.prisma'));

/**
 * Runs `prisma generate` for one schema, offline. Prisma 7's CLI fetches a schema-engine binary
 * before generating, although generating does not run it (the client runs on a driver adapter,
 * with no engine): with PRISMA_SCHEMA_ENGINE_BINARY naming any existing file, it skips the download.
 */
export async function generatePrismaClient(schema: string): Promise<void> {
  const cli = createRequire(import.meta.url).resolve('prisma/build/index.js');
  await promisify(execFile)(process.execPath, [cli, 'generate', '--schema', schema], {
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const schema of prismaSchemas) await generatePrismaClient(schema);
}
