import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/prisma.ts', 'src/drizzle.ts', 'src/kysely.ts', 'src/typeorm.ts', 'src/knex.ts'],
  format: ['esm'],
  target: 'node20',
  dts: true,
  sourcemap: true,
  clean: true,
});
