import { defineConfig } from 'vitest/config';

// `npm run test:faults`: the full fault suite (test/*.faults.test.ts), one scenario at a time:
// they kill processes and measure recovery, so they must not compete for the 2 CPU cores.
// The shortened form (test/*.smoke.test.ts) runs in the root `npm test`, or alone with
// `npm run test:smoke -w @outboxkit/faults`.
export default defineConfig({
  test: {
    include: [process.env.FAULTS_SMOKE === '1' ? 'test/**/*.smoke.test.ts' : 'test/**/*.faults.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: ['default'],
  },
});
