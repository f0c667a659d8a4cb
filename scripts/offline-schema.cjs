// Preload for `cdk8s import k8s@X.Y.Z` without internet (npm run import:offline):
// the importer reads the API definitions of that version from a local
// _definitions.json instead of downloading them from GitHub. The file is
// K8S_SCHEMA_DIR/_definitions.json when K8S_SCHEMA_DIR is set, else the one
// `npm run kube:build -- --version X.Y.Z --definitions` makes from the
// OpenAPI spec in k8s.io/kubernetes (in that version's build folder).
const { existsSync } = require('node:fs');
const path = require('node:path');

// The package's exports map hides lib/*, so load util.js by absolute path.
const cliRoot = path.dirname(require.resolve('cdk8s-cli/package.json'));
const util = require(path.join(cliRoot, 'lib', 'util.js'));
const download = util.download;
util.download = async (url) => {
  const version = /\/kubernetes-schemas\/v([^/]+)\/_definitions\.json$/.exec(url)?.[1];
  if (!version) return download(url);
  const dir = process.env.K8S_SCHEMA_DIR || require('./kube-build/openapi.ts').definitionsDir(version);
  const file = path.resolve(dir, '_definitions.json');
  if (!existsSync(file)) {
    throw new Error(`${file} does not exist: run npm run kube:build -- --version ${version} --definitions (or set K8S_SCHEMA_DIR)`);
  }
  return download(file);
};
