/** scripts/bootstrap.mjs: flags, targets (local or SSH), the phases in order, the summary and the exit code. */
import { appendFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_OUTDIR } from '../charts/app';
import { parseCommandLine, runCommand, UserError } from '../config/errors';
import { loadClusterConfig, resolveConfigPath } from '../config/load';
import type { ClusterConfig, ClusterNode } from '../config/schema';
import type { Check } from './addons';
import { Bootstrap, ensureDist, mapLimit, type NodeReport, type Target } from './bootstrap';
import { SANDBOX_ENV } from './cli';
import { parseAddresses } from './facts';
import { type Host, LocalHost, spawnCommand } from './host';
import { PLAN_DEFAULT_FAMILY, PlanHost } from './plan-host';
import { redact } from './redact';
import { SshHost } from './ssh';
import { consoleOutput, type Output } from './steps';

export const HELP = `Usage: scripts/bootstrap.mjs [reset] [options]

Takes the nodes of cluster.yaml from bare machines to a working Ingress:
connect (this machine locally, the others over SSH), read and check every
node's facts, prepare all nodes, kubeadm init the control plane, join the
workers, apply dist/ stage by stage, and check that tomcat6 answers. Nothing
changes anywhere until every node is reachable and fit. Run it again at any
time: finished work is skipped. Exit code 0 only when the final check passed.

  reset              take the cluster down instead, workers first
    --undo-prep      ... and undo the node preparation too
  --config FILE      cluster config (default: $CLUSTER_CONFIG, else ./cluster.yaml)
  --dry-run          print the plan for every node; needs no root, no network, no SSH
  --only NODE[,NODE] prep and join only these nodes (e.g. a worker added later)
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
  help: { type: 'boolean' },
} as const;

interface Sandbox {
  root: string;
  env: Record<string, string>;
}

/** Tests only: KUBE_HOSTS_SANDBOX holds a folder per node name with `root/` (its `/`) and `env` (its commands' environment). */
function sandboxFor(env: NodeJS.ProcessEnv, node: ClusterNode): Sandbox | undefined {
  const dir = env[SANDBOX_ENV];
  if (!dir) return undefined;
  const nodeDir = path.join(dir, node.name);
  const vars = Object.fromEntries(readFileSync(path.join(nodeDir, 'env'), 'utf8').split('\n').filter(Boolean).map((l) => {
    const at = l.indexOf('=');
    return [l.slice(0, at), l.slice(at + 1)];
  }));
  return { root: path.join(nodeDir, 'root'), env: vars };
}

function parseOnly(config: ClusterConfig, only: string | undefined): string[] | undefined {
  if (only === undefined) return undefined;
  const names = only.split(',').map((n) => n.trim()).filter(Boolean);
  const unknown = names.filter((n) => !config.nodes.some((node) => node.name === n));
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

function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** The phases' table, the URLs, the hosts-file line, and whether everything passed. */
function summary(config: ClusterConfig, reports: NodeReport[], checks: Check[], logDir: string | undefined, planning: boolean): string[] {
  if (planning) return ['==> summary', '    dry run: nothing was run, nothing was written; the checks run at the end of a real run'];
  const phases = ['facts', 'prep', 'init', 'join', 'apply', 'verify'];
  const lines = ['==> summary', `    ${'node'.padEnd(14)} ${'role'.padEnd(14)} ${'state'.padEnd(14)} ${phases.map((p) => p.padStart(7)).join('')}`];
  for (const r of reports) {
    const times = phases.map((p) => (r.seconds[p] === undefined ? '-' : `${r.seconds[p].toFixed(1)}s`).padStart(7)).join('');
    lines.push(`    ${r.node.name.padEnd(14)} ${r.node.role.padEnd(14)} ${(r.failed ? 'FAILED' : r.state).padEnd(14)} ${times}`);
    if (r.failed) lines.push(`      ${r.failed}`);
  }
  if (checks.length) {
    lines.push('    checks (from the control-plane node):');
    for (const c of checks) lines.push(`      ${c.ok ? 'ok  ' : 'FAIL'} ${c.what.padEnd(22)} ${c.url}${c.host ? ` (Host: ${c.host})` : ''} -> ${c.status ?? 'not run'}`);
  }
  const nodePort = checks.find((c) => c.what.endsWith('NodePort') && c.ok)?.url;
  // A node whose Ingress check passed (else the first worker), and the controller's port.
  const ingress = checks.find((c) => c.what.endsWith('Ingress') && c.ok) ?? checks.find((c) => c.what.endsWith('Ingress'));
  const ingressUrl = ingress ? new URL(ingress.url) : undefined;
  const address = ingressUrl?.hostname ?? (config.nodes.find((n) => n.role === 'worker') ?? config.nodes[0]).address;
  lines.push('    open it:');
  if (nodePort) lines.push(`      ${nodePort}   (tomcat6 NodePort, on any node)`);
  lines.push(`      http://${config.tomcat6.host}${ingressUrl?.port ? `:${ingressUrl.port}` : ''}/   (Ingress; add this line to your laptop's hosts file:)`);
  lines.push(`      ${address}  ${config.tomcat6.host}`);
  if (logDir) lines.push(`    logs: ${logDir}/`);
  return lines;
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
    const concurrency = parseConcurrency(flags.concurrency);
    const sshConfig = existingFile('--ssh-config', flags['ssh-config'], cwd);
    const planning = Boolean(flags['dry-run']);
    const now = new Date();

    const logDir = planning ? undefined : path.resolve(cwd, flags['log-dir'] ?? path.join('logs', stamp(now)));
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

    // dist/ of the directory the user runs in, as for npm run synth (the repository's root, normally).
    const distDir = path.resolve(cwd, DEFAULT_OUTDIR);
    if (!resetting) ensureDist(config, distDir, configFile, progress, planning ? 'plan' : 'apply');

    const targets = await connect(config, { planning, env, sshConfig, progress, resetting, concurrency });
    const bootstrap = new Bootstrap(config, targets, {
      mode: planning ? 'plan' : 'apply', only, concurrency: planning ? 1 : concurrency, distDir, configFile, nodeOutput, progress,
      retryDelayMs: Number(env.BOOTSTRAP_RETRY_DELAY_MS ?? 5000),
    });
    let checks: Check[] = [];
    let reached = false;
    try {
      await bootstrap.gatherFacts(resetting);
      reached = true;
      if (resetting) {
        await bootstrap.reset(Boolean(flags['undo-prep']));
      } else {
        await bootstrap.prep();
        await bootstrap.init();
        await bootstrap.join();
        await bootstrap.apply();
        checks = await bootstrap.verify();
      }
    } finally {
      await SshHost.closeAll();
      // Once past the checks, every run ends with the summary, also when a phase stopped it.
      if (reached) for (const line of summary(config, [...bootstrap.reports.values()], checks, logDir, planning)) progress(line);
    }
    const reports = [...bootstrap.reports.values()];
    const failed = reports.filter((r) => r.failed);
    if (planning) return;
    if (failed.length || (!resetting && !checks.every((c) => c.ok))) {
      throw new UserError([`bootstrap did not finish: ${failed.length ? `${failed.map((r) => r.node.name).join(', ')} failed` : 'the final check failed'}; fix it and run scripts/bootstrap.mjs again (finished work is skipped)`]);
    }
  });
}

interface ConnectOptions {
  planning: boolean;
  env: NodeJS.ProcessEnv;
  sshConfig?: string;
  progress(line: string): void;
  resetting: boolean;
  concurrency: number;
}

/** This machine's node locally, every other node over SSH; every problem at once, before any change. */
async function connect(config: ClusterConfig, options: ConnectOptions): Promise<Target[]> {
  options.progress('==> connect');
  // A dry run touches nothing, not even this machine's interfaces: every node is planned alike.
  const localAddresses = options.planning ? [] : parseAddresses((await spawnCommand(['ip', '-o', '-4', 'addr', 'show'])).stdout);
  const targets: Target[] = [];
  const problems: string[] = [];
  await mapLimit(config.nodes, options.concurrency, async (node) => {
    const started = Date.now();
    const local = localAddresses.includes(node.address);
    const sandbox = sandboxFor(options.env, node);
    let host: Host;
    let via: string;
    if (options.planning) {
      host = new PlanHost(node.os ?? PLAN_DEFAULT_FAMILY, config, node, options.resetting ? 'in-cluster' : 'fresh');
      via = `local, or ssh ${node.ssh.user}@${node.ssh.host ?? node.address}:${node.ssh.port}`;
    } else if (local) {
      host = new LocalHost(sandbox?.root ?? '/', { ...options.env, ...sandbox?.env });
      via = 'local';
    } else {
      const ssh = new SshHost(node, { sshConfig: options.sshConfig, root: sandbox?.root, env: sandbox?.env });
      const problem = await ssh.problem();
      if (problem) problems.push(problem);
      host = ssh;
      via = `ssh ${ssh.target}`;
    }
    targets.push({ node, host, via });
    options.progress(`    ${node.name.padEnd(14)} ${via}${options.planning ? ' (planned, not connected)' : ''} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  });
  if (problems.length) {
    await SshHost.closeAll();
    throw new UserError(problems);
  }
  return config.nodes.map((n) => targets.find((t) => t.node.name === n.name)!);
}
