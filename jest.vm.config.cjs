/** npm run test:vm: the real-OS test in test/vm/ (minutes, not seconds; see README "Tests"). */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/vm'],
  // npm run test:vm: the bootstrap on three VMs (cluster.vmtest.ts); npm run test:vm:real-cluster (VM_TEST=real-cluster):
  // the real cluster built from source (real-cluster.vmtest.ts), not yet in CI (see CONTRIBUTING.md).
  testMatch: [process.env.VM_TEST === 'real-cluster' ? '**/real-cluster.vmtest.ts' : '**/cluster.vmtest.ts'],
  testTimeout: 900_000,
  // The VM test keeps its logs and consoles in its own directory and removes the rest itself.
  globalSetup: undefined,
  globalTeardown: undefined,
};
