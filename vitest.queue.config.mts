import { defineConfig } from 'vitest/config';

// The queue's fault tests (test/queue/redis): a redis-server and worker processes of their own,
// one file at a time. Run by `npm run test:queue` (and .ci/run), not by `npm test`.
export default defineConfig({
  test: {
    include: ['test/queue/redis/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 180_000,
  },
});
