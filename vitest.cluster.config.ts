import { defineConfig } from 'vitest/config';

// `npm run test:cluster`: the production topology, kept out of `npm test` (vitest.config.ts).
// - compose: docker-compose.yml and the Dockerfile, validated offline with the real Compose v2
//   binary and hadolint; needs no server.
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
    ],
  },
});
