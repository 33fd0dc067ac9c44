import { defineConfig } from 'vitest/config';

// `npm run test:cluster`: the production topology, kept out of `npm test` (vitest.config.ts).
// - compose: docker-compose.yml and the Dockerfile, validated offline with the real Compose v2
//   binary and hadolint; needs no server.
// - cluster: a native Temporal cluster (PostgreSQL, the production server, the UI server) built from
//   pinned sources by scripts/cluster/install-tools.sh and started by scripts/cluster/native-cluster.ts.
export default defineConfig({
  test: {
    pool: 'forks',
    projects: [
      {
        test: {
          name: 'compose',
          include: ['tests/cluster/compose.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['tests/cluster/**/*.test.ts'],
          exclude: ['tests/cluster/compose.test.ts'],
          // Each file starts its own cluster (tests/cluster/*.test.ts) and kills its server: one
          // file at a time on a 2-core machine.
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 1_800_000,
        },
      },
    ],
  },
});
