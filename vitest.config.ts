import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real parts (the Debian kernels) are fetched once for the whole run, before any worker starts.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Two cores: more workers only fight over the CPU and the registry.
    maxWorkers: 2,
    // vitest's own report, then one plain closing line (`tests: N passed, N failed, N skipped`).
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
