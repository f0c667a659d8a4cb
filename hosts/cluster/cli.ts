/**
 * scripts/bootstrap.mjs: its commands (apply, the default; reset;
 * kubeconfig; status; dashboard) and their flags, checked before anything is touched;
 * then the run itself: logs, connect, the phase list (phases.ts), the
 * summary and the exit code.
 */
import { appendFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { renderManifests } from '../../charts/app';
import { UserError } from '../../config/errors';
import { loadClusterConfig, resolveConfigPath } from '../../config/load';
import { controlPlane, nodeByName, workers } from '../../config/nodes';
import { type ClusterConfig, type ClusterNode, configWarnings } from '../../config/schema';
import { addFlags, type FlagSpec, type FlagValues, parseWith, refuseSwallowedFlags, runCommand, strict } from '../engine/command-line';
import { redact } from '../engine/redact';
import { shellQuote } from '../engine/shell';
import { SshHost } from '../engine/ssh';
import { consoleOutput, type Output } from '../engine/steps';
import { compactTimestamp } from '../engine/time';
import { connect } from './connect';
import { dashboardAccess } from './dashboard';
import { fetchKubeconfig } from './kubeconfig';
import { ClusterRun } from './manager';
import { BOOTSTRAP, RESET } from './phases';
import { clusterStatus } from './status';
import { summary } from './summary';

const PROGRAM = 'scripts/bootstrap.mjs';

const DESCRIPTION = 'Takes the nodes of cluster.yaml from bare machines to a working Ingress, and runs the cluster after that. '
  + 'Every node is reached over SSH (the machine it runs on, if it is a node, directly). Nothing changes anywhere until '
  + 'every node is reachable and fit. Run it again at any time: finished work is skipped.';

const CONFIG_FLAGS = {
  config: { type: 'string', valueName: 'FILE', description: "cluster config (default: $CLUSTER_CONFIG, else ./cluster.yaml, else the repository's)" },
  'ssh-config': { type: 'string', valueName: 'FILE', description: 'ssh_config to use instead of ~/.ssh/config' },
} as const satisfies FlagSpec;

const CONCURRENCY_FLAG = {
  concurrency: { type: 'string', valueName: 'N', description: 'nodes worked on at once (default 10)' },
} as const satisfies FlagSpec;

const RUN_FLAGS = {
  ...CONFIG_FLAGS,
  'dry-run': { type: 'boolean', description: 'print the plan (phases, nodes, commands; file contents with --verbose); needs no root, no network, no SSH' },
  connect: { type: 'boolean', description: 'with --dry-run: plan against the real nodes as they are now, over SSH, read only (what would change on each node of a running cluster, and which objects each stage would change)' },
  only: { type: 'string', valueName: 'NODE[,NODE]', description: 'only these nodes' },
  ...CONCURRENCY_FLAG,
  'log-dir': { type: 'string', valueName: 'DIR', description: 'where the logs go (default: logs/<time>/)' },
  verbose: { type: 'boolean', description: 'print every step of every node, not only the phases' },
} as const satisfies FlagSpec;

const APPLY_FLAGS = {
  ...RUN_FLAGS,
  only: { ...RUN_FLAGS.only, description: 'prep and join only these nodes (e.g. a worker added later)' },
  yes: { type: 'boolean', description: 'go on without asking what the run will change (needed where there is no terminal to ask on)' },
} as const satisfies FlagSpec;

const RESET_FLAGS = {
  ...RUN_FLAGS,
  only: { ...RUN_FLAGS.only, description: 'take only these workers out: drained first, reset, their Node objects deleted' },
  yes: { type: 'boolean', description: 'go on without asking (needed where there is no terminal to ask on)' },
  'undo-prep': { type: 'boolean', description: 'undo the node preparation too' },
} as const satisfies FlagSpec;

const KUBECONFIG_FLAGS = {
  ...CONFIG_FLAGS,
  output: { type: 'string', valueName: 'FILE', description: 'where to write it (default: ./kubeconfig); a different existing file is kept as FILE.bak-<time>' },
  server: { type: 'string', valueName: 'URL', description: "the API server's address as this machine reaches it, e.g. https://127.0.0.1:6443 through an SSH tunnel (default: the control plane's address)" },
} as const satisfies FlagSpec;

const STATUS_FLAGS = { ...CONFIG_FLAGS, ...CONCURRENCY_FLAG } as const satisfies FlagSpec;

const DASHBOARD_FLAGS = {
  ...CONFIG_FLAGS,
  duration: { type: 'string', valueName: 'TIME', description: 'how long the login token is valid, 10m to 24h (default: dashboard.tokenDuration, 1h)' },
} as const satisfies FlagSpec;

type RunFlags = FlagValues<typeof RESET_FLAGS>;

/** Numbers the environment may set for a run (tests shorten the waits): whole, in range, or one line saying which. */
export function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, max: number, min = 0): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UserError([`${name}=${value}: must be a whole number from ${min} to ${max}, or unset (default ${fallback})`]);
  return n;
}

/**
 * reset deletes the cluster's state on every node it touches: go on only on
 * --yes, or when the user types `yes` on a terminal; with neither, refuse
 * (exit code 2) before anything is touched.
 */
/**
 * A bootstrap that will change the nodes asks first, like reset: what it will change, then `yes` typed on a
 * terminal, or --yes; with neither, it refuses (exit code 2) before anything is touched.
 */
async function confirmApply(changes: string[], yes: boolean, progress: (line: string) => void): Promise<void> {
  progress('    this run will change:');
  for (const change of changes) progress(`      ${change}`);
  if (yes) return;
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UserError(['the run would change the nodes above; there is no terminal to ask on, so pass --yes to go on (or --dry-run to see the whole plan); nothing was touched'], 2);
  }
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await prompt.question('Type yes to go on: ');
    if (answer.trim() !== 'yes') throw new UserError([`bootstrap not confirmed (answer: ${JSON.stringify(answer.trim())}); nothing was touched`], 2);
  } finally {
    prompt.close();
  }
}

async function confirmReset(names: string[], undoPrep: boolean, yes: boolean): Promise<void> {
  if (yes) return;
  const what = `reset runs kubeadm reset --force on ${names.join(', ')}${undoPrep ? ' and undoes their preparation' : ''}: what Kubernetes kept there is deleted`;
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UserError([`${what}; there is no terminal to ask on, so pass --yes to go on`], 2);
  }
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await prompt.question(`${what}.\nType yes to go on: `);
    if (answer.trim() !== 'yes') throw new UserError([`reset not confirmed (answer: ${JSON.stringify(answer.trim())}); nothing was touched`], 2);
  } finally {
    prompt.close();
  }
}

function parseOnly(config: ClusterConfig, only: string | undefined): string[] | undefined {
  if (only === undefined) return undefined;
  const names = only.split(',').map((n) => n.trim()).filter(Boolean);
  const unknown = names.filter((n) => !nodeByName(config, n));
  if (!names.length || unknown.length) {
    throw new UserError([`--only ${only}: ${unknown.length ? `no node named ${unknown.join(', ')}` : 'no node named'} in the cluster config (nodes: ${config.nodes.map((n) => n.name).join(', ')})`]);
  }
  return names;
}

function parseConcurrency(value: string | undefined): number {
  if (value === undefined) return 10;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new UserError([`--concurrency ${value}: must be a whole number from 1 to 100`]);
  return n;
}

function existingFile(flag: string, file: string | undefined, cwd: string): string | undefined {
  if (file === undefined) return undefined;
  const full = path.resolve(cwd, file);
  try {
    if (statSync(full).isFile()) return full;
  } catch {
    // reported below
  }
  throw new UserError([`${flag} ${file}: no such file`]);
}

/** What every command reads first: the folder it was started from, the config, how to reach the nodes. */
function commonInputs(flags: FlagValues<typeof CONFIG_FLAGS>, env: NodeJS.ProcessEnv) {
  const cwd = env.INIT_CWD ?? process.cwd();
  const configFile = resolveConfigPath(flags.config, env);
  const config = loadClusterConfig(configFile);
  for (const warning of configWarnings(config)) console.error(warning);
  const sshConfig = existingFile('--ssh-config', flags['ssh-config'], cwd);
  return { cwd, configFile, config, sshConfig };
}

/**
 * The flags the next commands need to reach the same cluster the same way
 * (` --config FILE` when the config was named by flag or CLUSTER_CONFIG,
 * ` --ssh-config FILE` when given), for the commands the summary suggests.
 */
function sameInputs(flags: FlagValues<typeof CONFIG_FLAGS>, env: NodeJS.ProcessEnv, configFile: string, cwd: string): string {
  const shown = (file: string) => shellQuote(path.relative(cwd, file).startsWith('..') ? file : path.relative(cwd, file));
  return (flags.config !== undefined || env.CLUSTER_CONFIG ? ` --config ${shown(configFile)}` : '')
    + (flags['ssh-config'] !== undefined ? ` --ssh-config ${shown(path.resolve(cwd, flags['ssh-config']))}` : '');
}

/** apply or reset: every input checked, then the phases over the nodes, with logs and a summary. */
async function runCluster(command: 'apply' | 'reset', flags: RunFlags, env: NodeJS.ProcessEnv): Promise<void> {
  const resetting = command === 'reset';
  const { cwd, configFile, config, sshConfig } = commonInputs(flags, env);
  const only = parseOnly(config, flags.only);
  const cp = controlPlane(config);
  if (resetting && only && only.includes(cp.name) && only.length < config.nodes.length) {
    throw new UserError([`reset --only ${flags.only}: the control-plane node ${cp.name} goes only with the whole cluster; reset the workers alone (--only ${workers(config).map((n) => n.name).join(',')}) or everything (no --only)`]);
  }
  const concurrency = parseConcurrency(flags.concurrency);
  const retryDelayMs = envNumber(env, 'BOOTSTRAP_RETRY_DELAY_MS', 5000, 600_000);
  const heartbeatMs = envNumber(env, 'BOOTSTRAP_HEARTBEAT_SECONDS', 30, 3600) * 1000;
  const waitSeconds = envNumber(env, 'BOOTSTRAP_WAIT_SECONDS', 300, 86_400, 1);
  const planning = Boolean(flags['dry-run']);
  if (flags.connect && !planning) throw new UserError(['--connect goes with --dry-run: it plans against the real nodes without changing them (a run without --dry-run connects anyway)']);
  if (resetting && !planning) await confirmReset(only ?? config.nodes.map((n) => n.name), Boolean(flags['undo-prep']), Boolean(flags.yes));

  const logDir = planning ? undefined : path.resolve(cwd, flags['log-dir'] ?? path.join('logs', compactTimestamp(new Date())));
  const progress = (line: string) => {
    const safe = redact(line);
    console.log(safe);
    if (logDir) appendFileSync(path.join(logDir, 'bootstrap.log'), `${safe}\n`);
  };
  if (logDir) {
    mkdirSync(logDir, { recursive: true });
    progress(`logs: ${logDir}/`);
  }
  try {
    await runPhases(config, configFile, { resetting, planning, only, concurrency, sshConfig, retryDelayMs, heartbeatMs, waitSeconds, logDir, progress, flags, env, cwd });
  } catch (error) {
    // What stopped the run (an unreachable node, a refusal) is in the log too, not only on the terminal.
    if (error instanceof UserError && logDir) appendFileSync(path.join(logDir, 'bootstrap.log'), error.problems.map((p) => `${redact(p)}\n`).join(''));
    throw error;
  }
}

interface RunSettings {
  resetting: boolean;
  planning: boolean;
  only?: string[];
  concurrency: number;
  sshConfig?: string;
  retryDelayMs: number;
  heartbeatMs: number;
  /** How long each wait of the apply (and each drain of a reset) may take. */
  waitSeconds: number;
  logDir?: string;
  progress(line: string): void;
  flags: RunFlags;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

async function runPhases(config: ClusterConfig, configFile: string, settings: RunSettings): Promise<void> {
  const { resetting, planning, logDir, progress, flags, cwd } = settings;
  const nodeOutput = (node: ClusterNode): Output => {
    if (planning) return { ...consoleOutput(), brief: !flags.verbose };
    const file = path.join(logDir!, `${node.name}.log`);
    const log = (safe: string) => appendFileSync(file, `${new Date().toISOString()} ${safe}\n`, { mode: 0o600 });
    return {
      line(text) {
        const safe = redact(text);
        log(safe);
        if (flags.verbose) console.log(`      ${safe}`);
      },
      detail(text) {
        log(redact(text));
      },
    };
  };

  // The manifests of this very config (not a dist/ another config may have written), with a copy beside the logs.
  const manifests = resetting ? [] : renderManifests(config);
  if (logDir && manifests.length) {
    mkdirSync(path.join(logDir, 'manifests'), { recursive: true });
    for (const manifest of manifests) writeFileSync(path.join(logDir, 'manifests', manifest.file), manifest.yaml);
    progress(`    manifests rendered from ${path.relative(cwd, configFile) || configFile}; applied as ${path.join(logDir, 'manifests')}/`);
  }

  // Ctrl-C (or a TERM): close the SSH connections, say where the logs are, and leave with a failing code;
  // every step checks before it changes anything, so a re-run continues where this one stopped.
  const interrupted = (signal: NodeJS.Signals) => {
    progress(`interrupted (${signal}): what ran on the nodes at that moment may have stopped halfway; run ${PROGRAM} again to continue${logDir ? `; logs: ${logDir}/` : ''}`);
    void SshHost.closeAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const phases = resetting ? RESET : BOOTSTRAP;
  let cluster: ClusterRun | undefined;
  try {
    const live = planning && Boolean(flags.connect);
    const targets = await connect(config, { planning, live, env: settings.env, sshConfig: settings.sshConfig, progress, resetting, concurrency: settings.concurrency });
    if (live) {
      progress(`    dry run against the real nodes: facts, files and checks are read from them; nothing is written there and no command that changes anything runs${flags.verbose ? '' : '; --verbose shows the files that would be written'}`);
    } else if (planning) {
      progress(`    dry run: each node is planned as a fresh machine of its nodes[].os (default el9); facts and file contents it reads there are assumed, not observed${flags.verbose ? '' : '; --verbose shows the files written'}; --connect plans against the real nodes instead`);
    }
    cluster = new ClusterRun(config, targets, {
      mode: planning ? 'plan' : 'apply', live, only: settings.only, concurrency: planning ? 1 : settings.concurrency, manifests, nodeOutput, progress,
      undoPrep: Boolean(flags['undo-prep']), retryDelayMs: settings.retryDelayMs, heartbeatMs: settings.heartbeatMs, waitSeconds: settings.waitSeconds,
      confirm: resetting ? undefined : (changes) => confirmApply(changes, Boolean(flags.yes), progress),
    });
    await cluster.runPhases(phases);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await SshHost.closeAll();
    // Once past the facts, every run ends with the summary, also when a phase stopped it.
    if (cluster?.finished.includes('facts')) for (const line of summary(config, phases, [...cluster.reports.values()], cluster.checks, logDir, planning, sameInputs(flags, settings.env, configFile, cwd), cluster.facts)) progress(line);
  }
  const failed = [...cluster.reports.values()].filter((r) => r.failed);
  if (planning) return;
  if (failed.length || (!resetting && !cluster.checks.every((c) => c.ok))) {
    throw new UserError([`${resetting ? 'reset' : 'bootstrap'} did not finish: ${failed.length ? `${failed.map((r) => r.node.name).join(', ')} failed` : 'the final check failed'}; fix it and run ${PROGRAM}${resetting ? ' reset' : ''} again (finished work is skipped)`]);
  }
}

/** The commands and their flags; `chosen` gets the command the line names, to run once parsing is over. */
function program(env: NodeJS.ProcessEnv, chosen: (run: () => Promise<void>) => void): Command {
  const root = strict(new Command(PROGRAM))
    .usage('[command] [options]')
    .description(DESCRIPTION)
    .addHelpText('after', `\nWith no command, apply. Its main options (all of them: ${PROGRAM} apply --help):
${(['dry-run', 'config', 'ssh-config', 'only', 'verbose'] as const).map((name) => {
    const spec = APPLY_FLAGS[name];
    const flag = `--${name}${spec.type === 'string' ? ` ${spec.valueName}` : ''}`;
    return `  ${flag.padEnd(22)}${spec.description}`;
  }).join('\n')}
Each command's options: ${PROGRAM} <command> --help.
Exit code: 0 when the command did all it set out to (apply: the final HTTP checks passed;
status: every node Ready and every check passed), 1 otherwise, 2 when reset was not confirmed.`);

  const apply = root.command('apply').description('bare machines to a working Ingress: connect, read and check every node\'s facts, prepare all nodes, kubeadm init the control plane, join the workers, apply the manifests of this config stage by stage, check that tomcat6 answers');
  const applyFlags = addFlags(apply, APPLY_FLAGS);
  apply.action(() => chosen(() => runCluster('apply', applyFlags(), env)));

  const reset = root.command('reset').description('take the cluster down, workers first (asks first)');
  const resetFlags = addFlags(reset, RESET_FLAGS);
  reset.action(() => chosen(() => runCluster('reset', resetFlags(), env)));

  const kubeconfig = root.command('kubeconfig').description('fetch the cluster\'s admin kubeconfig from the control plane (written 0600, never printed)');
  const kubeconfigFlags = addFlags(kubeconfig, KUBECONFIG_FLAGS);
  kubeconfig.action(() => chosen(async () => {
    const flags = kubeconfigFlags();
    const { cwd, config, sshConfig } = commonInputs(flags, env);
    await fetchKubeconfig(config, { cwd, env, sshConfig, output: flags.output, server: flags.server, print: (line) => console.log(line) });
  }));

  const status = root.command('status').description('what the cluster is like now, changing nothing: each node reachable, prepared, joined, Ready, its versions; the add-ons\' rollouts; the HTTP checks');
  const statusFlags = addFlags(status, STATUS_FLAGS);
  status.action(() => chosen(async () => {
    const flags = statusFlags();
    const { config, sshConfig } = commonInputs(flags, env);
    await clusterStatus(config, { env, sshConfig, concurrency: parseConcurrency(flags.concurrency), print: (line) => console.log(redact(line)) });
  }));

  const dashboard = root.command('dashboard').description('the dashboard\'s address and a short-lived token to sign in with (printed once, stored nowhere); with dashboard.enabled');
  const dashboardFlags = addFlags(dashboard, DASHBOARD_FLAGS);
  dashboard.action(() => chosen(async () => {
    const flags = dashboardFlags();
    const { config, sshConfig } = commonInputs(flags, env);
    await dashboardAccess(config, { env, sshConfig, duration: flags.duration, print: (line) => console.log(line) });
  }));
  return root;
}

const HELP_FLAGS = ['--help', '-h'];
const COMMANDS = ['apply', 'reset', 'kubeconfig', 'status', 'dashboard', 'help'];
const VALUE_FLAGS = new Set(Object.entries({ ...RESET_FLAGS, ...KUBECONFIG_FLAGS, ...STATUS_FLAGS, ...DASHBOARD_FLAGS }).filter(([, spec]) => spec.type === 'string').map(([name]) => `--${name}`));

/**
 * The command first, wherever the user put it (`--config c.yaml reset --yes`
 * as well as `reset --config c.yaml --yes`); none given: apply, the default
 * (a lone --help shows every command).
 */
export function commandFirst(argv: string[]): string[] {
  for (let i = 0; i < argv.length && argv[i] !== '--'; i++) {
    if (VALUE_FLAGS.has(argv[i])) i++;
    else if (!argv[i].startsWith('-')) return [argv[i], ...argv.slice(0, i), ...argv.slice(i + 1)];
  }
  return argv.length && argv.every((a) => HELP_FLAGS.includes(a)) ? argv : ['apply', ...argv];
}

export async function runBootstrap(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await runCommand(async () => {
    let run: (() => Promise<void>) | undefined;
    const commands = program(env, (chosen) => { run = chosen; });
    // First: a flag npm kept leaves its value behind as an argument, which would look like an unknown command.
    refuseSwallowedFlags(commands, env);
    const args = commandFirst(argv);
    // An unknown command is said to be unknown, --help or not (commander would show the general help instead).
    if (!args[0].startsWith('-') && !COMMANDS.includes(args[0])) {
      throw new UserError([`unknown command '${args[0]}'; the commands: ${COMMANDS.filter((c) => c !== 'help').join(', ')} (see ${PROGRAM} --help)`]);
    }
    const resetOnly = args[0] === 'apply' ? args.find((a) => a === '--undo-prep') : undefined;
    if (resetOnly) throw new UserError([`${resetOnly} goes with reset: ${PROGRAM} reset ${resetOnly}`]);
    if (!parseWith(commands, args, env)) return;
    await run?.();
  });
}
