import { configDefaults, defineConfig } from 'vitest/config';

// Two projects, so the fast tests never wait for a Temporal server:
// - unit: pure logic, real files and processes, replay of recorded histories, no server
//   (`npm run test:unit`).
// - server: integration, end-to-end and Web UI tests on one dev server that tests/global-setup.ts
//   starts, only when a file of this project runs.
// tests/cluster needs its own setup (a native Temporal cluster): `npm run test:cluster`.
export default defineConfig({
  test: {
    pool: 'forks',
    exclude: [...configDefaults.exclude, 'tests/cluster/**'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: integration files share one dev server; keep parallelism modest.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          // Bundles the workflows only (no server): recorded histories are replayed on them.
          globalSetup: ['tests/bundle-setup.ts'],
          // Files share their workers' loaded modules: half the CPU of loading them per file. A unit
          // test file must therefore leave no state behind (environment variables, module caches).
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'server',
          include: ['tests/{integration,e2e,ui}/**/*.test.ts'],
          globalSetup: ['tests/global-setup.ts'],
        },
      },
    ],
  },
});
