import { defineConfig } from 'vitest/config';

// One run for the whole repository: unit tests beside the code, integration tests in each
// package's test/ folder (they import the packages by name, so they test the built dist/).
export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'faults/test/*.smoke.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', '**/test/faults/**'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 3,
    reporters: ['default'],
  },
});
