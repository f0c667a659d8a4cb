/**
 * The real Kubernetes for the tests (npm run kube:build): where its
 * binaries are, a private network namespace, and a real control plane in it.
 *
 * Everything that talks over the network runs in a network namespace of the
 * test's own (`unshare -n`), whose loopback also carries the cluster
 * config's node addresses: the control plane listens where kubeadm puts it
 * (the node's address, port 6443), and no packet, not even a DNS lookup of
 * a node name by kubeadm's preflight, can leave this machine.
 *
 * The control plane is etcd, kube-apiserver, kube-controller-manager and
 * kube-scheduler, started with the exact command lines of the static pod
 * manifests the built kubeadm writes for the project's init configuration,
 * with certificates and kubeconfigs the built kubeadm makes
 * (`kubeadm init phase certs/kubeconfig/control-plane/etcd`) in a temporary
 * folder. Two things of the configuration are the test's: the folders
 * (certificatesDir and etcd's dataDir, so nothing is written under /etc or
 * /var/lib) and, in the manifests, the path of /etc/kubernetes/*.conf.
 * There is no kubelet: pods stay Pending.
 */
import { type ChildProcess, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { type BuildScope, readBuild, versionDir } from '../../scripts/kube-build/cache';

export interface BuiltKubernetes {
  version: string;
  bin(name: string): string;
  binDir: string;
}

/** The binaries npm run kube:build made for this version, or undefined. */
export function builtKubernetes(version: string, scope: BuildScope = 'node'): BuiltKubernetes | undefined {
  if (!readBuild(version, process.env, scope)) return undefined;
  const binDir = path.join(versionDir(version), 'bin');
  return { version, binDir, bin: (name) => path.join(binDir, name) };
}

export const isRoot = () => process.getuid?.() === 0;

export type Run = SpawnSyncReturns<string>;

/** A network namespace with only a loopback interface, held open by a process that dies with the test. */
export class Netns {
  private constructor(private readonly holder: ChildProcess, readonly pid: number) {}

  static async start(addresses: string[]): Promise<Netns> {
    const holder = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--net', '--', 'sleep', 'infinity'], { stdio: 'ignore' });
    // unshare switches namespace before it runs sleep: wait until the process is sleep, in its own namespace.
    for (let waited = 0; ; waited += 20) {
      const exe = spawnSync('readlink', [`/proc/${holder.pid}/exe`], { encoding: 'utf8' }).stdout.trim();
      if (exe.endsWith('/sleep')) break;
      if (waited > 5000) throw new Error(`the network namespace holder did not start (${exe})`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const netns = new Netns(holder, holder.pid!);
    netns.mustRun(['ip', 'link', 'set', 'lo', 'up']);
    for (const address of addresses) netns.mustRun(['ip', 'addr', 'add', `${address}/32`, 'dev', 'lo']);
    return netns;
  }

  /** argv, run inside the namespace. */
  argv(command: string[]): string[] {
    return ['nsenter', '-t', String(this.pid), '-n', '--', ...command];
  }

  run(command: string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Run {
    const [bin, ...args] = this.argv(command);
    return spawnSync(bin, args, { encoding: 'utf8', input: options.input, env: options.env ?? process.env, timeout: options.timeout ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
  }

  mustRun(command: string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): string {
    const result = this.run(command, options);
    if (result.status !== 0) throw new Error(`\`${command.join(' ')}\` exited ${result.status}: ${result.stderr}${result.stdout}`.slice(0, 4000));
    return result.stdout;
  }

  /** A long-running process inside the namespace, killed when the test process dies. */
  spawn(command: string[], log: string): ChildProcess {
    const [bin, ...args] = this.argv(['setpriv', '--pdeathsig', 'KILL', '--', ...command]);
    const out = openSync(log, 'a');
    return spawn(bin, args, { stdio: ['ignore', out, out] });
  }

  stop(): void {
    this.holder.kill('SIGKILL');
  }
}

/** The ClusterConfiguration of a kubeadm config text, changed by `edit`. */
export function editClusterConfiguration(kubeadmConfig: string, edit: (cluster: Record<string, any>) => void): string {
  return parseAllDocuments(kubeadmConfig).map((doc) => {
    const object = doc.toJS() as Record<string, any>;
    if (object.kind === 'ClusterConfiguration') edit(object);
    return stringify(object);
  }).join('---\n');
}

const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

export interface ControlPlane {
  dir: string;
  netns: Netns;
  kube: BuiltKubernetes;
  /** The kubeadm configuration the control plane was made from. */
  kubeadmConfig: string;
  /** Cluster admin (the group kubeadm binds to cluster-admin). */
  adminConf: string;
  /** The command lines each component runs with, from kubeadm's manifests. */
  commands: Record<(typeof COMPONENTS)[number], string[]>;
  kubectl(args: string[], options?: { input?: string; timeout?: number }): Run;
  mustKubectl(args: string[], options?: { input?: string; timeout?: number }): string;
  kubeadm(args: string[], options?: { env?: NodeJS.ProcessEnv }): Run;
  /** A folder with `kubectl` and `kubeadm` that run the real ones against this cluster (for the project's own code). */
  shimBin: string;
  /** Seconds from the first process started to the API server ready, and to the whole control plane ready. */
  timings: { apiServerReady: number; ready: number };
  logTail(component: string): string;
  stop(): void;
}

async function until(what: string, check: () => boolean, timeoutMs: number, explain: () => string): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} not within ${timeoutMs / 1000} s:\n${explain()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Starts a control plane from a kubeadm init configuration (InitConfiguration
 * + ClusterConfiguration + KubeletConfiguration, as the project renders it)
 * whose node addresses are given.
 */
export async function startControlPlane(kube: BuiltKubernetes, initConfig: string, addresses: string[]): Promise<ControlPlane> {
  const dir = mkdtempSync(path.join(tmpdir(), 'control-plane-'));
  const kubeconfigDir = path.join(dir, 'kubeconfig');
  const kubeadmConfig = editClusterConfiguration(initConfig, (cluster) => {
    cluster.certificatesDir = path.join(dir, 'pki');
    cluster.etcd = { local: { dataDir: path.join(dir, 'etcd') } };
  });
  const configFile = path.join(dir, 'kubeadm.yaml');
  writeFileSync(configFile, kubeadmConfig);
  const offline = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const result = spawnSync(kube.bin('kubeadm'), args, { encoding: 'utf8', env: { ...process.env, ...env } });
    if (result.status !== 0) throw new Error(`kubeadm ${args.join(' ')}: ${result.stderr}`);
  };
  offline(['init', 'phase', 'certs', 'all', `--config=${configFile}`]);
  offline(['init', 'phase', 'kubeconfig', 'all', `--config=${configFile}`, `--kubeconfig-dir=${kubeconfigDir}`]);
  const manifests = path.join(dir, 'manifests');
  for (const phase of [['control-plane', 'all'], ['etcd', 'local']]) {
    offline(['init', 'phase', ...phase, `--config=${configFile}`, '--dry-run'], { KUBEADM_INIT_DRYRUN_DIR: manifests });
  }
  const commands = Object.fromEntries(COMPONENTS.map((component) => {
    const pod = parse(readFileSync(path.join(manifests, `${component}.yaml`), 'utf8')) as { spec: { containers: { command: string[] }[] } };
    return [component, pod.spec.containers[0].command.map((arg) => arg.split('/etc/kubernetes/').join(`${kubeconfigDir}/`))];
  })) as ControlPlane['commands'];

  const netns = await Netns.start(addresses);
  const children: ChildProcess[] = [];
  const started = Date.now();
  const startComponent = (component: (typeof COMPONENTS)[number]) => {
    const [name, ...args] = commands[component];
    children.push(netns.spawn([kube.bin(name), ...args], path.join(dir, `${component}.log`)));
  };
  const superAdmin = path.join(kubeconfigDir, 'super-admin.conf');
  const adminConf = path.join(kubeconfigDir, 'admin.conf');
  const kubectlAs = (kubeconfig: string) => (args: string[], options: { input?: string; timeout?: number } = {}) =>
    netns.run([kube.bin('kubectl'), `--kubeconfig=${kubeconfig}`, ...args], options);
  const kubectl = kubectlAs(adminConf);
  const logTail = (component: string) => {
    try {
      return readFileSync(path.join(dir, `${component}.log`), 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const stop = () => {
    for (const child of children) child.kill('SIGKILL');
    netns.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    startComponent('etcd');
    startComponent('kube-apiserver');
    await until('the API server ready', () => kubectlAs(superAdmin)(['get', '--raw=/readyz']).status === 0, 180_000, () => logTail('kube-apiserver'));
    const apiServerReady = (Date.now() - started) / 1000;
    // What kubeadm init does once the API server answers: the cluster-admin binding behind admin.conf.
    const bound = kubectlAs(superAdmin)(['create', 'clusterrolebinding', 'kubeadm:cluster-admins', '--clusterrole=cluster-admin', '--group=kubeadm:cluster-admins']);
    if (bound.status !== 0) throw new Error(bound.stderr);
    startComponent('kube-controller-manager');
    startComponent('kube-scheduler');
    // kubeadm's own phases that talk to the cluster: its config, the join RBAC and cluster-info, CoreDNS and kube-proxy.
    for (const phase of [['upload-config', 'all'], ['bootstrap-token'], ['addon', 'all']]) {
      const result = netns.run([kube.bin('kubeadm'), 'init', 'phase', ...phase, `--config=${configFile}`, `--kubeconfig=${adminConf}`]);
      if (result.status !== 0) throw new Error(`kubeadm init phase ${phase.join(' ')}: ${result.stderr}`);
    }
    await until('the default ServiceAccount (kube-controller-manager working)', () => kubectl(['get', 'serviceaccount', 'default', '-o', 'name']).status === 0, 120_000, () => logTail('kube-controller-manager'));
    const ready = (Date.now() - started) / 1000;

    const shimBin = path.join(dir, 'shim-bin');
    mkdirSync(shimBin);
    // Test shims, labelled as such: the real kubectl and kubeadm, run in the test's network namespace,
    // with this cluster's admin kubeconfig where the project's code names /etc/kubernetes/admin.conf.
    const shim = (name: string, extra: string) => {
      const file = path.join(shimBin, name);
      writeFileSync(file, `#!/bin/sh
# Test shim: the real ${name} of npm run kube:build, in the test's network namespace, against the test's control plane.
for a; do shift; case "$a" in --kubeconfig=/etc/kubernetes/admin.conf) set -- "$@" "--kubeconfig=${adminConf}";; *) set -- "$@" "$a";; esac; done
${extra}exec nsenter -t ${netns.pid} -n -- ${kube.bin(name)} "$@"
`);
      chmodSync(file, 0o755);
    };
    shim('kubectl', '');
    // kubeadm token create reads /etc/kubernetes/admin.conf unless told otherwise.
    shim('kubeadm', `[ "$1" = token ] && set -- "$@" "--kubeconfig=${adminConf}"\n`);

    return {
      dir, netns, kube, kubeadmConfig, adminConf, commands, shimBin, logTail, stop,
      kubectl,
      mustKubectl(args, options) {
        const result = kubectl(args, options);
        if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
        return result.stdout;
      },
      kubeadm: (args, options = {}) => netns.run([kube.bin('kubeadm'), ...args], { env: { ...process.env, ...options.env } }),
      timings: { apiServerReady, ready },
    };
  } catch (error) {
    stop();
    throw error;
  }
}
