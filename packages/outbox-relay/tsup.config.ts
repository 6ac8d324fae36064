import { cpSync } from 'node:fs';
import { defineConfig } from 'tsup';

export default defineConfig({
  // index: the library exports; bin: the CLI (`outbox-relay`). Shared code lands in a chunk.
  entry: ['src/index.ts', 'src/bin.ts'],
  format: ['esm'],
  target: 'node20',
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  // The shebang makes dist/bin.js executable as `outbox-relay`; on index.js it is a harmless comment line.
  banner: { js: '#!/usr/bin/env node' },
  // The console's page is static: served from dist/console/ next to the code that reads it.
  onSuccess: async () => {
    cpSync('src/console/static', 'dist/console', { recursive: true });
  },
});
