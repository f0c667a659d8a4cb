/** scripts/bootstrap.mjs: flags, logs, connect, the phase list (phases.ts), the summary and the exit code. */
import { appendFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { renderManifests } from '../../charts/app';
import { UserError } from '../../config/errors';
import { loadClusterConfig, resolveConfigPath } from '../../config/load';
import { controlPlane, nodeByName, workers } from '../../config/nodes';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import { parseCommandLine, runCommand } from '../engine/command-line';
import { redact } from '../engine/redact';
import { SshHost } from '../engine/ssh';
import { consoleOutput, type Output } from '../engine/steps';
import { compactTimestamp } from '../engine/time';
import { connect } from './connect';
import { ClusterRun } from './manager';
import { BOOTSTRAP, RESET } from './phases';
import { summary } from './summary';

export const HELP = `Usage: scripts/bootstrap.mjs [reset] [options]

Takes the nodes of cluster.yaml from bare machines to a working Ingress:
connect (this machine locally, the others over SSH), read and check every
node's facts, prepare all nodes, kubeadm init the control plane, join the
workers, apply the manifests of this config stage by stage, and check that
tomcat6 answers. Nothing changes anywhere until every node is reachable and
fit. Run it again at any time: finished work is skipped. Exit code 0 only
when the final check passed.

  reset              take the cluster down instead, workers first; asks first
    --yes            ... without asking (needed where there is no terminal to ask on)
    --undo-prep      ... and undo the node preparation too
  --config FILE      cluster config (default: $CLUSTER_CONFIG, else ./cluster.yaml, else the repository's)
  --dry-run          print the plan for every node; needs no root, no network, no SSH
  --only NODE[,NODE] prep and join only these nodes (e.g. a worker added later); with reset,
                     take only these workers out (drained first, their Node objects deleted)
  --concurrency N    nodes worked on at once (default 10)
  --ssh-config FILE  ssh_config to use instead of ~/.ssh/config
  --log-dir DIR      where the per-node logs go (default: logs/<time>/)
  --verbose          print every step of every node, not only the phases
  --help             show this help`;

const FLAGS = {
  config: { type: 'string' },
  'dry-run': { type: 'boolean' },
  only: { type: 'string' },
  concurrency: { type: 'string' },
  'ssh-config': { type: 'string' },
  'log-dir': { type: 'string' },
  verbose: { type: 'boolean' },
  'undo-prep': { type: 'boolean' },
  yes: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

/**
 * reset deletes the cluster's state on every node it touches: go on only on
 * --yes, or when the user types `yes` on a terminal; with neither, refuse
 * (exit code 2) before anything is touched.
 */
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

export async function runBootstrap(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await runCommand(async () => {
    const { values: flags, positionals } = parseCommandLine(argv, FLAGS, true);
    if (flags.help) return console.log(HELP);
    const resetting = positionals[0] === 'reset';
    if (positionals.length > (resetting ? 1 : 0)) throw new UserError([`unknown command ${positionals.join(' ')}; the only command is reset (see --help)`]);
    if (flags['undo-prep'] && !resetting) throw new UserError(['--undo-prep goes with reset: scripts/bootstrap.mjs reset --undo-prep']);
    const cwd = env.INIT_CWD ?? process.cwd();
    const configFile = resolveConfigPath(flags.config, env);
    const config = loadClusterConfig(configFile);
    const only = parseOnly(config, flags.only);
    const cp = controlPlane(config);
    if (resetting && only && only.includes(cp.name) && only.length < config.nodes.length) {
      throw new UserError([`reset --only ${flags.only}: the control-plane node ${cp.name} goes only with the whole cluster; reset the workers alone (--only ${workers(config).map((n) => n.name).join(',')}) or everything (no --only)`]);
    }
    const concurrency = parseConcurrency(flags.concurrency);
    const sshConfig = existingFile('--ssh-config', flags['ssh-config'], cwd);
    const planning = Boolean(flags['dry-run']);
    if (resetting && !planning) await confirmReset(only ?? config.nodes.map((n) => n.name), Boolean(flags['undo-prep']), Boolean(flags.yes));
    if (flags.yes && !resetting) throw new UserError(['--yes goes with reset: scripts/bootstrap.mjs reset --yes']);
    const now = new Date();

    const logDir = planning ? undefined : path.resolve(cwd, flags['log-dir'] ?? path.join('logs', compactTimestamp(now)));
    const progress = (line: string) => {
      const safe = redact(line);
      console.log(safe);
      if (logDir) appendFileSync(path.join(logDir, 'bootstrap.log'), `${safe}\n`);
    };
    if (logDir) mkdirSync(logDir, { recursive: true });
    const nodeOutput = (node: ClusterNode): Output => {
      if (planning) return consoleOutput();
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
      progress(`interrupted (${signal}): what ran on the nodes at that moment may have stopped halfway; run scripts/bootstrap.mjs again to continue${logDir ? `; logs: ${logDir}/` : ''}`);
      void SshHost.closeAll().finally(() => process.exit(130));
    };
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
    const targets = await connect(config, { planning, env, sshConfig, progress, resetting, concurrency });
    const phases = resetting ? RESET : BOOTSTRAP;
    const cluster = new ClusterRun(config, targets, {
      mode: planning ? 'plan' : 'apply', only, concurrency: planning ? 1 : concurrency, manifests, nodeOutput, progress,
      undoPrep: Boolean(flags['undo-prep']), retryDelayMs: Number(env.BOOTSTRAP_RETRY_DELAY_MS ?? 5000),
    });
    const reports = () => [...cluster.reports.values()];
    try {
      await cluster.runPhases(phases);
    } finally {
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
      await SshHost.closeAll();
      // Once past the facts, every run ends with the summary, also when a phase stopped it.
      if (cluster.finished.includes('facts')) for (const line of summary(config, phases, reports(), cluster.checks, logDir, planning)) progress(line);
    }
    const failed = reports().filter((r) => r.failed);
    if (planning) return;
    if (failed.length || (!resetting && !cluster.checks.every((c) => c.ok))) {
      throw new UserError([`bootstrap did not finish: ${failed.length ? `${failed.map((r) => r.node.name).join(', ')} failed` : 'the final check failed'}; fix it and run scripts/bootstrap.mjs again (finished work is skipped)`]);
    }
  });
}
