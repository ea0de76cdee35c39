import { defineConfig } from 'vitest/config';

/**
 * Tests that prove a time bound a user is promised ("a config change routes within 5 s") run first and
 * alone: next to a CPU-heavy file on two cores they would measure the other file, not regcache.
 */
const TIMED = ['test/integration/router/hot-reload.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    // Integration tests start real nginx, registries and containers; two cores take two files at a time.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default', 'json'],
    outputFile: { json: 'test/artifacts/vitest.json' },
    projects: [
      { extends: true, test: { name: 'timed', include: TIMED, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: TIMED, sequence: { groupOrder: 1 } } },
    ],
  },
});
