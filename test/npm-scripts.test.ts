/**
 * The project's npm scripts run through the real npm, as a user types them: a flag given without the `--`
 * is npm's (it sets npm_config_<flag> and hands the script nothing), so the script refuses to go on
 * without it rather than do something else (a real bootstrap instead of a dry run, say).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ROOT } from './helpers';

/** `npm run <args>` in the repository, from a folder of its own (where a run would write its logs). */
function npmRun(args: string[]) {
  const cwd = mkdtempSync(path.join(tmpdir(), 'npm-run-'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  const result = spawnSync('npm', ['run', '--prefix', ROOT, ...args], { cwd, encoding: 'utf8', env, timeout: 120_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, cwd };
}

const fix = (script: string, flag: string) => `npm took ${flag} as its own option, so the script did not get it: put -- before the script's flags (npm run ${script} -- ${flag} ...); nothing was done`;

describe('a flag npm swallowed (no -- before it) is refused with the fix, before anything is done', () => {
  test.each([
    ['bootstrap', ['--dry-run'], '--dry-run'],
    ['bootstrap', ['--config', 'other.yaml'], '--config'],
    ['reset', ['--yes'], '--yes'],
    ['status', ['--ssh-config', 'ssh_config'], '--ssh-config'],
    ['kubeconfig', ['--output', 'admin.conf'], '--output'],
    ['synth', ['--config', 'other.yaml'], '--config'],
    ['kube:build', ['--tested'], '--tested'],
  ])('npm run %s %j', (script, flags, flag) => {
    const result = npmRun([script, ...flags]);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toContain(fix(script, flag));
    // Nothing ran: no phase, no connection, no log folder, no manifests.
    expect(result.stdout).not.toMatch(/==>|wrote |ssh /);
    expect(readdirSync(result.cwd)).toEqual([]);
  });

  test('every flag npm kept is named at once', () => {
    const result = npmRun(['bootstrap', '--dry-run', '--verbose', '--concurrency', '2']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("npm took --dry-run, --concurrency as its own options, so the script did not get them: put -- before the script's flags (npm run bootstrap -- --dry-run ...); nothing was done");
  });

  test('with the --, the flags reach the script: the dry run plans and changes nothing', () => {
    const result = npmRun(['bootstrap', '--', '--dry-run']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('dry run');
    expect(existsSync(path.join(result.cwd, 'logs'))).toBe(false);
  });
});
