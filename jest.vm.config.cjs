/** npm run test:vm: the real-OS test in test/vm/ (minutes, not seconds; see README "Tests"). */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/vm'],
  testMatch: ['**/*.vmtest.ts'],
  testTimeout: 900_000,
  // The VM test keeps its logs and consoles in its own directory and removes the rest itself.
  globalSetup: undefined,
  globalTeardown: undefined,
};
