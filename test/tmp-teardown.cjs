/** Jest globalTeardown: removes the run's temporary directory (see tmp-setup.cjs). */
const { rmSync } = require('node:fs');

module.exports = async function removeRunTmp() {
  if (process.env.KH_TEST_TMP) rmSync(process.env.KH_TEST_TMP, { recursive: true, force: true });
};
