/**
 * The Node.js the entry points need (package.json's `engines`), checked
 * before anything else is loaded: an older Node would fail later with an
 * error that names neither the cause nor the fix.
 */
const { engines } = require('../../package.json');

/** Why `version` (process.versions.node) cannot run this, or undefined. */
function nodeVersionProblem(version, wanted = engines.node) {
  const [minMajor, minMinor = 0] = wanted.replace(/^>=\s*/, '').split('.').map(Number);
  const [major, minor] = version.split('.').map(Number);
  if (major > minMajor || (major === minMajor && minor >= minMinor)) return undefined;
  return `this needs Node.js ${minMajor}.${minMinor} or newer (package.json: "node": "${wanted}"), and this is Node.js ${version}; install Node.js ${minMajor}.${minMinor} or newer (https://nodejs.org, or your distribution's nodejs package where it is that new)`;
}

/** Exits with the problem (code 1) when this Node.js is too old. */
function requireSupportedNode() {
  const problem = nodeVersionProblem(process.versions.node);
  if (problem) {
    console.error(problem);
    process.exit(1);
  }
}

module.exports = { nodeVersionProblem, requireSupportedNode };
