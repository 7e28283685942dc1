import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Guest boots and network tests use real cores and namespaces; run files one at a time
    // so two suites never fight over the machine's two cores.
    fileParallelism: false,
    reporters: ['default'],
  },
});
