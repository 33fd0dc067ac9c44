import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    globalSetup: ['tests/global-setup.ts'],
    include: ['tests/**/*.test.ts'],
    // tests/cluster needs its own setup (a native Temporal cluster): `npm run test:cluster`.
    exclude: [...configDefaults.exclude, 'tests/cluster/**'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: integration files share one dev server; keep parallelism modest.
    maxWorkers: 2,
  },
});
