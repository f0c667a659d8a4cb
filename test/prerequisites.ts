/**
 * A suite whose prerequisite (sshd, root, VM tools, the built Kubernetes,
 * ../shared) is missing. On a developer's machine it is skipped, visibly: a
 * line on stderr, a skipped test whose title says SKIPPED and why, and the
 * skip reporter's lines at the very end of the run. When CI is set
 * (.ci/run sets it) it fails instead, so CI can never go green on skipped
 * suites; except for data outside the repository (../shared), which .ci/run
 * cannot install and whose absence is allowed: it stays a visible skip.
 */
export const INSTALL_COMMAND = 'sudo ./scripts/install-test-tools.sh';

export function missingPrerequisite(what: string, reason: string, options: { installable: boolean } = { installable: true }): void {
  if (process.env.CI && options.installable) {
    test(`${what}: prerequisite missing (${reason})`, () => {
      throw new Error(`${what}: ${reason}; CI is set, so a missing prerequisite fails the run (${INSTALL_COMMAND} installs them)`);
    });
    return;
  }
  process.stderr.write(`${what}: SKIPPED: ${reason}\n`);
  test.skip(`${what} (SKIPPED: ${reason})`, () => undefined);
}
