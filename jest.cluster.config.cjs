/** npm run test:cluster: the real cluster on three system containers (test/cluster/; minutes, not seconds; see README "Tests"). */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/cluster'],
  testMatch: ['**/*.clustertest.ts'],
  testTimeout: 900_000,
  // The test keeps its logs and consoles in its own folder and removes the rest itself.
  globalSetup: undefined,
  globalTeardown: undefined,
};
