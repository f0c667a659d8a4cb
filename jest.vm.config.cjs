/** npm run test:vm: the real-OS test in test/vm/ (minutes, not seconds; see README "Tests"). */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/vm'],
  testMatch: ['**/*.vmtest.ts'],
  testTimeout: 900_000,
};
