import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Queue fault tests start redis-server and worker processes: `npm run test:queue`.
    exclude: [...configDefaults.exclude, 'test/queue/redis/**'],
    // Native addons (lotus.node, onnxruntime, sharp) are safest in child processes, not worker threads.
    pool: 'forks',
    // test/host-memory.test.ts measures RSS after explicit collections.
    execArgv: ['--expose-gc'],
    // CPU inference of the fixture models and TensorRT engine builds take seconds to minutes.
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
