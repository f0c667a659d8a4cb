// Preload for `cdk8s import k8s@X.Y.Z` without internet: when K8S_SCHEMA_DIR is
// set, the importer reads <dir>/_definitions.json instead of downloading the
// schema from GitHub. Usage: npm run import:offline (see README).
const path = require('node:path');

const schemaDir = process.env.K8S_SCHEMA_DIR;
if (schemaDir) {
  // The package's exports map hides lib/*, so load util.js by absolute path.
  const cliRoot = path.dirname(require.resolve('cdk8s-cli/package.json'));
  const util = require(path.join(cliRoot, 'lib', 'util.js'));
  const download = util.download;
  util.download = async (url) => {
    if (url.endsWith('/_definitions.json')) {
      return download(path.resolve(schemaDir, '_definitions.json'));
    }
    return download(url);
  };
}
