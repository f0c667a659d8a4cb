/** Tests live in test/; their snapshots in the top-level __snapshots__/. */
module.exports = {
  testEnvironment: 'node',
  // Two workers on 2 cores (jest's default there is one): the suites wait on SSH, fake commands and real
  // control planes as much as they compute; measured 399 s for tsc and all suites against 673 s with one.
  maxWorkers: 2,
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // hosts/prep.ts, not its entry point hosts/prep.mjs
  moduleFileExtensions: ['ts', 'js', 'cjs', 'json'],
  transform: { '^.+\\.ts$': ['@swc/jest', {}] },
  // The default reporter, then a last word on suites skipped for a missing prerequisite.
  reporters: ['default', '<rootDir>/test/skip-reporter.cjs'],
  snapshotResolver: '<rootDir>/test/snapshot-resolver.cjs',
  // Temporary files under one directory per run, removed at the end.
  globalSetup: '<rootDir>/test/tmp-setup.cjs',
  globalTeardown: '<rootDir>/test/tmp-teardown.cjs',
};
