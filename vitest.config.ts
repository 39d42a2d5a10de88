import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

// Where vitest keeps each file's last duration, so the next run starts the longest files first.
// Outside node_modules (npm ci removes it) and outside the repository: the test set-up's home.
const testHome = process.env.GRIFFIN_TEST_HOME || path.join(os.homedir(), '.cache', 'griffin-test');

export default defineConfig({
  cacheDir: path.join(testHome, 'vite'),
  test: {
    include: ['tests/**/*.test.ts'],
    // Tests start real processes and databases; two cores run them best a few files at a time.
    // (Four at a time, with the Python tiers alongside, timed out hooks and missed kill windows.)
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
