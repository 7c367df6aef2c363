import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:hostile`: the long forms of the fault suite (issue 17), with kart's real default limits
 * instead of the shortened ones test/faults uses: tens of thousands of entries, decompression bombs of
 * hundreds of MiB, a registry that never answers. Minutes, so not part of `npm test`.
 */
export default defineConfig({
  root: resolve(import.meta.dirname, '../..'),
  test: {
    include: ['test/hostile/**/*.hostile.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 180_000,
    maxWorkers: 1,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
