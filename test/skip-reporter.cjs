/**
 * Jest reporter: when suites were skipped for a missing prerequisite (see
 * test/prerequisites.ts), says so in the last lines of the run, with the
 * command that installs what is missing. Jest prints its own summary after
 * every reporter, so these lines are written when the process exits.
 */
class SkipReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.testResults.flatMap((file) => file.testResults)
      .filter((t) => t.status === 'pending' && /\(SKIPPED: /.test(t.title))
      .map((t) => t.title);
    if (!skipped.length) return;
    const lines = [
      '',
      `NOT TESTED: ${skipped.length} suite(s) skipped for a missing prerequisite:`,
      ...skipped.map((title) => `  - ${title}`),
      'Install the test prerequisites with: sudo ./scripts/install-test-tools.sh (what .ci/run runs) and npm run kube:build; ../shared data comes with the workspace.',
      '',
    ];
    process.once('exit', () => process.stderr.write(`${lines.join('\n')}\n`));
  }
}

module.exports = SkipReporter;
