/**
 * Three fake hosts for the bootstrap tests: k8s-node1 on this machine
 * (127.0.0.1), k8s-node2 and k8s-node3 behind a real sshd on 127.0.0.2 and
 * 127.0.0.3. With `workstation`, k8s-node1 is behind the sshd too, on
 * 127.0.0.4, so that no node is this machine (a laptop driving the VMs).
 * Each node is a sandbox with fake commands; they share one fake cluster
 * (CA, tokens, applied objects).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { ROOT } from '../helpers';
import { Sandbox } from './sandbox';
import type { TestSshd } from './sshd';

export const NODES = [
  { name: 'k8s-node1', address: '127.0.0.1', role: 'control-plane' },
  { name: 'k8s-node2', address: '127.0.0.2', role: 'worker' },
  { name: 'k8s-node3', address: '127.0.0.3', role: 'worker' },
] as const;

export interface Cluster {
  dir: string;
  config: string;
  nodes: Record<string, Sandbox>;
  logs: string;
}

/** The address where the control plane runs: this machine, or (workstation) a machine reached over SSH. */
export const WORKSTATION_CONTROL_PLANE = '127.0.0.4';

/** The OS family of each fake node: k8s-node1 el9, k8s-node2 debian, the others ubuntu. */
const familyOf = (name: string) => (name === 'k8s-node1' ? 'el9' : name === 'k8s-node2' ? 'debian' : 'ubuntu');

/** `nodes`: other nodes than NODES (the first one first: it is on this machine unless `workstation`). */
export function makeCluster(sshd: TestSshd, options: { ports?: Record<string, number>; files?: Record<string, Record<string, string>>; workstation?: boolean; config?: Record<string, unknown>; nodes?: readonly { name: string; address: string; role: string }[] } = {}): Cluster {
  const dir = mkdtempSync(path.join(tmpdir(), 'bootstrap-'));
  const sandboxes = path.join(dir, 'nodes');
  const listed = options.nodes ?? NODES;
  const nodes0 = listed.map((n, i) => (options.workstation && i === 0 ? { ...n, address: WORKSTATION_CONTROL_PLANE } : { ...n }));
  const first = new Sandbox(familyOf(listed[0].name), { address: nodes0[0].address, files: options.files?.[listed[0].name] });
  const nodes: Record<string, Sandbox> = { [listed[0].name]: first };
  for (const node of listed.slice(1)) {
    nodes[node.name] = new Sandbox(familyOf(node.name), { address: node.address, cluster: first.cluster, files: options.files?.[node.name] });
  }
  mkdirSync(sandboxes);
  for (const [name, sandbox] of Object.entries(nodes)) symlinkSync(sandbox.base, path.join(sandboxes, name));
  const config = path.join(dir, 'cluster.yaml');
  writeFileSync(config, stringify({
    kubernetes: { version: '1.35.1' },
    nodes: nodes0.map((n) => ({
      ...n,
      ...(n.address === '127.0.0.1' ? {} : { ssh: { user: 'root', port: options.ports?.[n.name] ?? sshd.port, identityFile: sshd.identityFile } }),
    })),
    ...options.config,
  }));
  return { dir, config, nodes, logs: path.join(dir, 'logs') };
}

/** Whether a command line of scripts/bootstrap.mjs runs apply (the default command). */
export const runsApply = (args: string[]) => !['reset', 'kubeconfig', 'status', 'dashboard'].some((c) => args.includes(c));

/** scripts/bootstrap.mjs as a script runs it (no terminal): apply gets --yes, as it needs there, unless `ask` (to see it refuse). */
export function bootstrap(cluster: Cluster, sshd: TestSshd, args: string[] = [], env: Record<string, string> = {}, ask = false) {
  const yes = runsApply(args) && !ask ? ['--yes'] : [];
  const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--config', cluster.config, '--ssh-config', sshd.sshConfig, '--log-dir', cluster.logs, ...yes, ...args], {
    // Run from the cluster's folder: its dist/ is synthesized there, never in the repository.
    cwd: cluster.dir,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, KUBE_HOSTS_SANDBOX: path.join(cluster.dir, 'nodes'), BOOTSTRAP_RETRY_DELAY_MS: '10', INIT_CWD: cluster.dir, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Another command of scripts/bootstrap.mjs (kubeconfig, status), with the cluster's config and ssh_config only. */
export function command(cluster: Cluster, sshd: TestSshd, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), ...args, '--config', cluster.config, '--ssh-config', sshd.sshConfig], {
    cwd: cluster.dir,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, KUBE_HOSTS_SANDBOX: path.join(cluster.dir, 'nodes'), BOOTSTRAP_RETRY_DELAY_MS: '10', INIT_CWD: cluster.dir, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * bootstrap on a terminal: `script` (util-linux) gives it a pseudo-terminal, whose input is `typed`.
 * Returns what the terminal showed (prompts included).
 */
export function onTerminal(cluster: Cluster, sshd: TestSshd, args: string[], typed: string) {
  const command = [process.execPath, path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--config', cluster.config, '--ssh-config', sshd.sshConfig, '--log-dir', cluster.logs, ...args]
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const result = spawnSync('script', ['-qec', command, '/dev/null'], {
    cwd: cluster.dir, encoding: 'utf8', timeout: 240_000, input: typed,
    env: { ...process.env, KUBE_HOSTS_SANDBOX: path.join(cluster.dir, 'nodes'), BOOTSTRAP_RETRY_DELAY_MS: '10', INIT_CWD: cluster.dir },
  });
  return { code: result.status, output: result.stdout };
}

export const trees = (cluster: Cluster) => Object.fromEntries(Object.entries(cluster.nodes).map(([n, s]) => [n, s.tree()]));
export const mutating = (cluster: Cluster) => Object.fromEntries(Object.entries(cluster.nodes).map(([n, s]) => [n, s.mutatingCommands()]));
export const clearAll = (cluster: Cluster) => Object.values(cluster.nodes).forEach((s) => s.clearCommands());
export const clusterFile = (cluster: Cluster, name: string) => readFileSync(path.join(cluster.nodes['k8s-node1'].cluster, name), 'utf8');
