/**
 * scripts/bootstrap.mjs: its commands (apply, the default; reset; upgrade; backup; restore;
 * certs; kubeconfig; status; dashboard) and their flags, checked before anything is touched;
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
import { controlPlane, isHighlyAvailable, nodeByName } from '../../config/nodes';
import { releaseBefore } from '../../config/versions';
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
import { type BackupTarget, ClusterRun, type Phase } from './manager';
import { BACKUP_DIR, readSnapshotFile } from './backup';
import { certificateReport } from './certs';
import { BACKUP, BOOTSTRAP, RENEW, RESET, RESTORE, UPGRADE } from './phases';
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
  only: { ...RUN_FLAGS.only, description: 'take only these nodes out (workers, or control planes after the first): drained first, reset (a control plane leaves etcd), their Node objects deleted' },
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

const UPGRADE_FLAGS = {
  ...CONFIG_FLAGS,
  'dry-run': { type: 'boolean', description: 'print the plan, node by node (on assumed facts: every node at the release before; with --connect, on the real nodes, read only)' },
  connect: RUN_FLAGS.connect,
  'workers-at-once': { type: 'string', valueName: 'N', description: 'workers drained and upgraded at the same time (default 1)' },
  'log-dir': RUN_FLAGS['log-dir'],
  verbose: RUN_FLAGS.verbose,
  yes: { type: 'boolean', description: 'go on without asking what the upgrade will change (needed where there is no terminal to ask on)' },
} as const satisfies FlagSpec;

const CONTROL_PLANE_FLAGS = {
  ...CONFIG_FLAGS,
  'dry-run': { type: 'boolean', description: 'print the plan (the commands on the control plane); needs no SSH' },
  'log-dir': RUN_FLAGS['log-dir'],
  verbose: RUN_FLAGS.verbose,
} as const satisfies FlagSpec;

const BACKUP_FLAGS = {
  ...CONTROL_PLANE_FLAGS,
  output: { type: 'string', valueName: 'DIR', description: `where the backup goes (default: ./${BACKUP_DIR}/)` },
} as const satisfies FlagSpec;

const RESTORE_FLAGS = {
  ...CONTROL_PLANE_FLAGS,
  yes: { type: 'boolean', description: 'go on without asking (needed where there is no terminal to ask on)' },
} as const satisfies FlagSpec;

type RunFlags = FlagValues<typeof RESET_FLAGS> & FlagValues<typeof UPGRADE_FLAGS> & FlagValues<typeof BACKUP_FLAGS>;

/** The commands that run phases over the nodes (phases.ts), and what each runs. */
type ClusterCommand = 'apply' | 'reset' | 'upgrade' | 'backup' | 'restore' | 'renew';
const COMMAND_PHASES: Record<ClusterCommand, readonly Phase[]> = { apply: BOOTSTRAP, reset: RESET, upgrade: UPGRADE, backup: BACKUP, restore: RESTORE, renew: RENEW };
/** How the command is named in "run ... again". */
const COMMAND_LINE: Record<ClusterCommand, string> = { apply: '', reset: ' reset', upgrade: ' upgrade', backup: ' backup', restore: ' restore FILE', renew: ' certs renew' };
/** What a run of it is called in its last line. */
const COMMAND_NAME: Record<ClusterCommand, string> = { apply: 'bootstrap', reset: 'reset', upgrade: 'upgrade', backup: 'backup', restore: 'restore', renew: 'certificate renewal' };

/** Numbers the environment may set for a run (tests shorten the waits): whole, in range, or one line saying which. */
export function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, max: number, min = 0): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UserError([`${name}=${value}: must be a whole number from ${min} to ${max}, or unset (default ${fallback})`]);
  return n;
}

/**
 * A bootstrap that will change the nodes asks first, like reset: what it will change, then `yes` typed on a
 * terminal, or --yes; with neither, it refuses (exit code 2) before anything is touched.
 */
async function confirmApply(changes: string[], yes: boolean, progress: (line: string) => void, what: 'run' | 'upgrade' = 'run'): Promise<void> {
  progress(`    this ${what} will change:`);
  for (const change of changes) progress(`      ${change}`);
  if (yes) return;
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UserError([`the ${what} would change the nodes above; there is no terminal to ask on, so pass --yes to go on (or --dry-run to see the whole plan); nothing was touched`], 2);
  }
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await prompt.question('Type yes to go on: ');
    if (answer.trim() !== 'yes') throw new UserError([`${what === 'run' ? 'bootstrap' : 'upgrade'} not confirmed (answer: ${JSON.stringify(answer.trim())}); nothing was touched`], 2);
  } finally {
    prompt.close();
  }
}

/** reset deletes the cluster's state on every node it touches: it asks first. */
async function confirmReset(names: string[], undoPrep: boolean, yes: boolean): Promise<void> {
  await confirmDestructive(`reset runs kubeadm reset --force on ${names.join(', ')}${undoPrep ? ' and undoes their preparation' : ''}: what Kubernetes kept there is deleted`, 'reset', yes);
}

/** A command that deletes what cannot be had back asks first: `yes` typed on a terminal, or --yes; else exit 2, nothing touched. */
async function confirmDestructive(what: string, command: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UserError([`${what}; there is no terminal to ask on, so pass --yes to go on`], 2);
  }
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await prompt.question(`${what}.\nType yes to go on: `);
    if (answer.trim() !== 'yes') throw new UserError([`${command} not confirmed (answer: ${JSON.stringify(answer.trim())}); nothing was touched`], 2);
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

function parseConcurrency(value: string | undefined, flag = '--concurrency', fallback = 10): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new UserError([`${flag} ${value}: must be a whole number from 1 to 100`]);
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

/** A command over the nodes: every input checked, then its phases, with logs and a summary. */
async function runCluster(command: ClusterCommand, flags: RunFlags, env: NodeJS.ProcessEnv, restoreFile?: string): Promise<void> {
  const resetting = command === 'reset';
  const { cwd, configFile, config, sshConfig } = commonInputs(flags, env);
  const workersAtOnce = parseConcurrency(flags['workers-at-once'], '--workers-at-once', 1);
  // The snapshot is checked here, before any node is reached.
  const snapshot = restoreFile === undefined ? undefined : readSnapshotFile(path.resolve(cwd, restoreFile));
  const backup = command === 'backup' ? { dir: path.resolve(cwd, flags.output ?? BACKUP_DIR), name: `${path.basename(configFile).replace(/\.ya?ml$/, '')}-${compactTimestamp(new Date())}` } : undefined;
  const only = parseOnly(config, flags.only);
  const cp = controlPlane(config);
  if (resetting && only && only.includes(cp.name) && only.length < config.nodes.length) {
    const others = config.nodes.filter((n) => n.name !== cp.name).map((n) => n.name).join(',');
    throw new UserError([`reset --only ${flags.only}: ${cp.name}, the first control plane (kubeadm init ran there, and the cluster-wide commands run there), goes only with the whole cluster; reset the other nodes alone (--only ${others}) or everything (no --only)${isHighlyAvailable(config) ? '; to take it out of a cluster that stays, first list another control plane above it in nodes' : ''}`]);
  }
  const concurrency = parseConcurrency(flags.concurrency);
  const retryDelayMs = envNumber(env, 'BOOTSTRAP_RETRY_DELAY_MS', 5000, 600_000);
  const heartbeatMs = envNumber(env, 'BOOTSTRAP_HEARTBEAT_SECONDS', 30, 3600) * 1000;
  const waitSeconds = envNumber(env, 'BOOTSTRAP_WAIT_SECONDS', 300, 86_400, 1);
  const planning = Boolean(flags['dry-run']);
  if (flags.connect && !planning) throw new UserError(['--connect goes with --dry-run: it plans against the real nodes without changing them (a run without --dry-run connects anyway)']);
  if (resetting && !planning) await confirmReset(only ?? config.nodes.map((n) => n.name), Boolean(flags['undo-prep']), Boolean(flags.yes));
  if (snapshot && !planning) {
    const taken = snapshot.record ? `, taken ${snapshot.record.takenAt} at etcd revision ${snapshot.record.etcd.revision}` : '';
    await confirmDestructive(`restore replaces the whole state of the cluster (every object) with the snapshot ${restoreFile}${taken}: what was made or changed since is lost; the control plane stops for a minute or two`, 'restore', Boolean(flags.yes));
  }
  if (backup && !planning) mkdirSync(backup.dir, { recursive: true, mode: 0o700 });

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
    await runPhases(config, configFile, { command, planning, only, concurrency, workersAtOnce, sshConfig, retryDelayMs, heartbeatMs, waitSeconds, logDir, progress, flags, env, cwd, backup, snapshot: snapshot?.data });
  } catch (error) {
    // What stopped the run (an unreachable node, a refusal) is in the log too, not only on the terminal.
    if (error instanceof UserError && logDir) appendFileSync(path.join(logDir, 'bootstrap.log'), error.problems.map((p) => `${redact(p)}\n`).join(''));
    throw error;
  }
}

interface RunSettings {
  command: ClusterCommand;
  workersAtOnce: number;
  backup?: BackupTarget;
  snapshot?: Buffer;
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
  const { command, planning, logDir, progress, flags, cwd } = settings;
  const applies = command === 'apply' || command === 'upgrade';
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
  const manifests = applies ? renderManifests(config) : [];
  if (logDir && manifests.length) {
    mkdirSync(path.join(logDir, 'manifests'), { recursive: true });
    for (const manifest of manifests) writeFileSync(path.join(logDir, 'manifests', manifest.file), manifest.yaml);
    progress(`    manifests rendered from ${path.relative(cwd, configFile) || configFile}; applied as ${path.join(logDir, 'manifests')}/`);
  }

  // Ctrl-C (or a TERM): close the SSH connections, say where the logs are, and leave with a failing code;
  // every step checks before it changes anything, so a re-run continues where this one stopped.
  const interrupted = (signal: NodeJS.Signals) => {
    progress(`interrupted (${signal}): what ran on the nodes at that moment may have stopped halfway; run ${PROGRAM}${COMMAND_LINE[command]} again to continue${logDir ? `; logs: ${logDir}/` : ''}`);
    void SshHost.closeAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const phases = COMMAND_PHASES[command];
  let cluster: ClusterRun | undefined;
  try {
    const live = planning && Boolean(flags.connect);
    // A plan of a command for a running cluster models nodes in it; an upgrade's, at the release before the configured one.
    const planState = command === 'apply' ? 'fresh' : 'in-cluster';
    const planVersion = command === 'upgrade' ? releaseBefore(config.kubernetes.version) : undefined;
    const targets = await connect(config, { planning, live, env: settings.env, sshConfig: settings.sshConfig, progress, planState, planVersion, concurrency: settings.concurrency });
    if (live) {
      progress(`    dry run against the real nodes: facts, files and checks are read from them; nothing is written there and no command that changes anything runs${flags.verbose ? '' : '; --verbose shows the files that would be written'}`);
    } else if (planning) {
      const model = planState === 'fresh' ? 'a fresh machine' : `a node of a running cluster${planVersion ? ` at Kubernetes ${planVersion}` : ''}`;
      progress(`    dry run: each node is planned as ${model} of its nodes[].os (default el9); facts and file contents it reads there are assumed, not observed${flags.verbose ? '' : '; --verbose shows the files written'}; --connect plans against the real nodes instead`);
    }
    cluster = new ClusterRun(config, targets, {
      mode: planning ? 'plan' : 'apply', live, only: settings.only, concurrency: planning ? 1 : settings.concurrency, manifests, nodeOutput, progress,
      undoPrep: Boolean(flags['undo-prep']), retryDelayMs: settings.retryDelayMs, heartbeatMs: settings.heartbeatMs, waitSeconds: settings.waitSeconds,
      workersAtOnce: settings.workersAtOnce, backup: settings.backup, snapshot: settings.snapshot,
      confirm: applies ? (changes) => confirmApply(changes, Boolean(flags.yes), progress, command === 'upgrade' ? 'upgrade' : 'run') : undefined,
    });
    await cluster.runPhases(phases);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await SshHost.closeAll();
    // Once past the facts, every run ends with the summary, also when a phase stopped it.
    if (cluster?.finished.includes('facts')) {
      const lines = summary(config, phases, [...cluster.reports.values()], cluster.checks, logDir, planning, sameInputs(flags, settings.env, configFile, cwd), cluster.facts);
      const upgraded = cluster.upgraded.map((u) => `${u.node} ${u.from} -> ${u.to} in ${(cluster!.report(nodeByName(config, u.node)!).seconds[u.node === controlPlane(config).name ? 'upgrade control plane' : nodeByName(config, u.node)!.role === 'control-plane' ? 'upgrade control planes' : 'upgrade workers'] ?? 0).toFixed(1)}s`);
      const notes = planning ? [] : [...(upgraded.length ? [`upgraded: ${upgraded.join(', ')}`] : []), ...cluster.notes];
      // What the command made (a backup's file, the new expiry, what was upgraded), before the logs' line.
      const at = lines.length && lines[lines.length - 1].startsWith('    logs: ') ? lines.length - 1 : lines.length;
      lines.splice(at, 0, ...notes.map((n) => `    ${n}`));
      for (const line of lines) progress(line);
    }
  }
  const failed = [...cluster.reports.values()].filter((r) => r.failed);
  if (planning) return;
  if (failed.length || (applies && !cluster.checks.every((c) => c.ok))) {
    throw new UserError([`${COMMAND_NAME[command]} did not finish: ${failed.length ? `${failed.map((r) => r.node.name).join(', ')} failed` : 'the final check failed'}; fix it and run ${PROGRAM}${COMMAND_LINE[command]} again (finished work is skipped)`]);
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

  const upgrade = root.command('upgrade').description('move the running cluster to kubernetes.version of cluster.yaml (one minor at a time): the control plane with kubeadm upgrade apply, then each worker drained, upgraded and uncordoned; then the add-ons from the new config and the checks (asks first)');
  const upgradeFlags = addFlags(upgrade, UPGRADE_FLAGS);
  upgrade.action(() => chosen(() => runCluster('upgrade', upgradeFlags() as RunFlags, env)));

  const backup = root.command('backup').description(`an etcd snapshot of the cluster, checked, copied to ./${BACKUP_DIR}/<config>-<time>.db (0600) with the PKI a control plane is rebuilt from, and removed from the node`);
  const backupFlags = addFlags(backup, BACKUP_FLAGS);
  backup.action(() => chosen(() => runCluster('backup', backupFlags() as RunFlags, env)));

  const restore = root.command('restore').argument('<file>', `a snapshot scripts/bootstrap.mjs backup wrote (${BACKUP_DIR}/<config>-<time>.db)`)
    .description('replace the cluster\'s whole state with a backup: the control plane stopped, etcd\'s data restored from the snapshot (the old data kept), the control plane started, every node Ready again (asks first)');
  const restoreFlags = addFlags(restore, RESTORE_FLAGS);
  restore.action((file: string) => chosen(() => runCluster('restore', restoreFlags() as RunFlags, env, file)));

  const certs = root.command('certs').argument('[action]', 'renew: renew them; none: show when each expires')
    .description('the control plane\'s certificates: when each expires (changing nothing), or `certs renew`: kubeadm certs renew all, the control plane restarted to load them, root\'s kubeconfig on the node refreshed');
  const certsFlags = addFlags(certs, CONTROL_PLANE_FLAGS);
  certs.action((action: string | undefined) => chosen(async () => {
    if (action !== undefined && action !== 'renew') throw new UserError([`certs ${action}: unknown action; ${PROGRAM} certs shows when the certificates expire, ${PROGRAM} certs renew renews them`]);
    if (action === 'renew') return runCluster('renew', certsFlags() as RunFlags, env);
    const flags = certsFlags();
    if (flags['dry-run']) throw new UserError([`certs --dry-run: certs without an action only reads; the plan is for ${PROGRAM} certs renew --dry-run`]);
    const { config, sshConfig } = commonInputs(flags, env);
    await certificateReport(config, { env, sshConfig, print: (line) => console.log(line) });
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
const COMMANDS = ['apply', 'reset', 'upgrade', 'backup', 'restore', 'certs', 'kubeconfig', 'status', 'dashboard', 'help'];
const VALUE_FLAGS = new Set(Object.entries({ ...RESET_FLAGS, ...UPGRADE_FLAGS, ...BACKUP_FLAGS, ...KUBECONFIG_FLAGS, ...STATUS_FLAGS, ...DASHBOARD_FLAGS }).filter(([, spec]) => spec.type === 'string').map(([name]) => `--${name}`));

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
