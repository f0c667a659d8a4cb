/** npm run test:vm: the real-OS test in test/vm/ (minutes, not seconds; see README "Tests"). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/vm'],
  testMatch: ['**/*.vmtest.ts'],
  // hosts/prep.ts, not its entry point hosts/prep.mjs
  moduleFileExtensions: ['ts', 'js', 'cjs', 'json'],
  transform: { '^.+\\.ts$': ['@swc/jest', {}] },
  testTimeout: 900_000,
};
