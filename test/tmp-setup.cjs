/**
 * Jest globalSetup: the run's temporary files (os.tmpdir() in the tests and the
 * TMPDIR of everything they start) go under one directory made for this run,
 * which test/tmp-teardown.cjs removes, so a run leaves nothing behind in /tmp.
 */
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');

module.exports = async function makeRunTmp() {
  const dir = mkdtempSync(path.join(tmpdir(), 'kh-test-'));
  process.env.KH_TEST_TMP = dir;
  process.env.TMPDIR = dir;
};
