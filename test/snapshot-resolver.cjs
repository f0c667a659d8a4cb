// Snapshots live in the top-level __snapshots__/ folder, one file per test file.
const path = require('node:path');

const root = path.resolve(__dirname, '..');

module.exports = {
  resolveSnapshotPath: (testPath, extension) => path.join(root, '__snapshots__', path.basename(testPath) + extension),
  resolveTestPath: (snapshotPath, extension) => path.join(root, 'test', path.basename(snapshotPath, extension)),
  testPathForConsistencyCheck: path.join(root, 'test', 'charts.test.ts'),
};
