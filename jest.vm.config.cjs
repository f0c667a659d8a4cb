/** npm run test:vm: node preparation on a real Debian VM (test/vm/prep.vmtest.ts; minutes, not seconds; see README "Tests"). */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/vm'],
  testMatch: ['**/*.vmtest.ts'],
  testTimeout: 900_000,
  // The VM test keeps its console in its own folder and removes the rest itself.
  globalSetup: undefined,
  globalTeardown: undefined,
};
