import { cpSync } from 'node:fs';
import { defineConfig } from 'tsup';

export default defineConfig({
  // The package is a CLI (`outbox-relay`) with no library entry: bin.ts is the only entry, and the
  // commands it loads lazily land in chunks of their own.
  entry: ['src/bin.ts'],
  format: ['esm'],
  target: 'node20',
  sourcemap: true,
  clean: true,
  // The shebang makes dist/bin.js executable as `outbox-relay`.
  banner: { js: '#!/usr/bin/env node' },
  // The console's page is static: served from dist/console/ next to the code that reads it.
  onSuccess: async () => {
    cpSync('src/console/static', 'dist/console', { recursive: true });
  },
});
