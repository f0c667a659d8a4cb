/**
 * The limits of the numbers and durations a user gives on the command line or in the environment: each
 * boundary itself is allowed, one past it is refused with the one line naming the setting and the range.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { envNumber } from '../hosts/cluster/cli';
import { tokenDurationProblem } from '../config/schema';
import { UserError } from '../config/errors';
import { ROOT } from './helpers';

const problem = (name: string, value: string, fallback: number, max: number, min?: number) => {
  try {
    return envNumber({ [name]: value }, name, fallback, max, min);
  } catch (error) {
    if (error instanceof UserError) return error.problems.join('\n');
    throw error;
  }
};

describe('numbers from the environment', () => {
  test('BOOTSTRAP_HEARTBEAT_SECONDS: 0 (no heartbeat) and 3600 allowed; 3601 and -1 refused; unset or empty is the default', () => {
    expect(problem('BOOTSTRAP_HEARTBEAT_SECONDS', '0', 30, 3600)).toBe(0);
    expect(problem('BOOTSTRAP_HEARTBEAT_SECONDS', '3600', 30, 3600)).toBe(3600);
    expect(problem('BOOTSTRAP_HEARTBEAT_SECONDS', '3601', 30, 3600)).toBe('BOOTSTRAP_HEARTBEAT_SECONDS=3601: must be a whole number from 0 to 3600, or unset (default 30)');
    expect(problem('BOOTSTRAP_HEARTBEAT_SECONDS', '-1', 30, 3600)).toBe('BOOTSTRAP_HEARTBEAT_SECONDS=-1: must be a whole number from 0 to 3600, or unset (default 30)');
    expect(problem('BOOTSTRAP_HEARTBEAT_SECONDS', '', 30, 3600)).toBe(30);
    expect(envNumber({}, 'BOOTSTRAP_HEARTBEAT_SECONDS', 30, 3600)).toBe(30);
  });

  test('BOOTSTRAP_WAIT_SECONDS: 1 is the least (0 would make every wait fail at once)', () => {
    expect(problem('BOOTSTRAP_WAIT_SECONDS', '1', 300, 86_400, 1)).toBe(1);
    expect(problem('BOOTSTRAP_WAIT_SECONDS', '0', 300, 86_400, 1)).toBe('BOOTSTRAP_WAIT_SECONDS=0: must be a whole number from 1 to 86400, or unset (default 300)');
  });
});

describe('dashboard token durations', () => {
  test.each([['10m'], ['24h'], ['1440m'], ['1h']])('%s is allowed', (duration) => {
    expect(tokenDurationProblem(duration)).toBeUndefined();
  });
  test.each([['9m', 'must be from 10m to 24h'], ['25h', 'must be from 10m to 24h'], ['1441m', 'must be from 10m to 24h'], ['0h', 'must be minutes or hours, e.g. 30m or 1h'], ['1d', 'must be minutes or hours, e.g. 30m or 1h']])('%s is refused', (duration, message) => {
    expect(tokenDurationProblem(duration)).toBe(message);
  });
});

describe('scripts/bootstrap.mjs on its command line', () => {
  const run = (args: string[]) => {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), ...args], { encoding: 'utf8', cwd: ROOT });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  test('--help shows the commands and apply\'s main options (the default command)', () => {
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('With no command, apply. Its main options (all of them: scripts/bootstrap.mjs apply --help):');
    for (const flag of ['--dry-run', '--config FILE', '--ssh-config FILE', '--only NODE[,NODE]', '--verbose']) expect(help.stdout).toMatch(new RegExp(`^  ${flag.replace(/[[\]]/g, '\\$&')} +\\S`, 'm'));
  });

  test.each([[['frobnicate', '--help']], [['frobnicate']], [['--config', 'x.yaml', 'statsu']]])('an unknown command is said to be unknown, with --help too: %j', (args) => {
    const result = run(args);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`unknown command '${args.find((a) => !a.startsWith('-') && a !== 'x.yaml')}'; the commands: apply, reset, upgrade, backup, restore, certs, kubeconfig, status, dashboard (see scripts/bootstrap.mjs --help)\n`);
  });

  test('a known command\'s --help is its own', () => {
    const reset = run(['reset', '--help']);
    expect(reset.code).toBe(0);
    expect(reset.stdout).toMatch(/^Usage: scripts\/bootstrap\.mjs reset \[options\]/);
    expect(reset.stdout).toContain('--yes');
  });
});
