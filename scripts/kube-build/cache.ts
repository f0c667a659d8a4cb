/**
 * Where `npm run kube:build` keeps the Kubernetes it built, one folder per
 * version, outside the repository:
 *
 *   $KUBE_BUILD_CACHE, else $XDG_CACHE_HOME/kube-hosts/kubernetes, else ~/.cache/kube-hosts/kubernetes
 *     v1.35.1/bin/       kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd crictl containerd
 *     v1.35.1/cni/bin/   the CNI plugins
 *     v1.35.1/src/       the build modules (go.mod, go.sum) it was built from
 *     v1.35.1/build.json what was built, from which versions; written last, so a folder without it is unfinished
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';

export const CACHE_ENV = 'KUBE_BUILD_CACHE';

export const KUBERNETES_BINARIES = ['kubeadm', 'kubelet', 'kubectl', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'] as const;
export const OTHER_BINARIES = ['etcd', 'crictl', 'containerd'] as const;
/**
 * What a build holds. `node`: everything a node runs (every binary above and the CNI plugins); the
 * cluster.yaml's version is built so. `control-plane`: kubeadm, kubectl, the control-plane components and
 * etcd only, what the tests run of the other tested releases (kubeadm's checks, a control plane without
 * kubelets).
 */
export type BuildScope = 'node' | 'control-plane';
export const CONTROL_PLANE_BINARIES = ['kubeadm', 'kubectl', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
/** The plugins of the kubernetes-cni package: plugins/{main,ipam,meta}/* of containernetworking/plugins, Linux only. */
export const CNI_PLUGINS = [
  'main/bridge', 'main/dummy', 'main/host-device', 'main/ipvlan', 'main/loopback', 'main/macvlan', 'main/ptp', 'main/tap', 'main/vlan',
  'ipam/dhcp', 'ipam/host-local', 'ipam/static',
  'meta/bandwidth', 'meta/firewall', 'meta/portmap', 'meta/sbr', 'meta/tuning', 'meta/vrf',
] as const;

/** What a finished build recorded. */
export interface BuildRecord {
  /** Changes whenever the way of building changes, so an older build is rebuilt. */
  recipe: string;
  kubernetes: string;
  /** Absent in a build of an earlier recipe: node. */
  scope?: BuildScope;
  etcd: string;
  /** crictl, the CNI plugins and containerd: in a node build only. */
  crictl?: string;
  cni?: string;
  containerd?: string;
  builtAt: string;
  seconds: number;
}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env[CACHE_ENV]) return path.resolve(env[CACHE_ENV]!);
  return path.join(env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'kube-hosts', 'kubernetes');
}

/** The folder of one Kubernetes version, e.g. .../v1.35.1. */
export function versionDir(version: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheRoot(env), `v${version.replace(/^v/, '')}`);
}

/** The finished build of a version, or undefined. */
/** The files a build of that scope holds, relative to its folder. */
export function buildFiles(scope: BuildScope): string[] {
  if (scope === 'control-plane') return [...CONTROL_PLANE_BINARIES, 'etcd'].map((b) => `bin/${b}`);
  return [...KUBERNETES_BINARIES, ...OTHER_BINARIES].map((b) => `bin/${b}`).concat(CNI_PLUGINS.map((p) => `cni/bin/${path.basename(p)}`));
}

/** The finished build of a version that holds at least what `scope` needs (a node build holds a control plane's), or undefined. */
export function readBuild(version: string, env: NodeJS.ProcessEnv = process.env, scope: BuildScope = 'node'): BuildRecord | undefined {
  const dir = versionDir(version, env);
  const file = path.join(dir, 'build.json');
  if (!existsSync(file)) return undefined;
  const record = JSON.parse(readFileSync(file, 'utf8')) as BuildRecord;
  if ((record.scope ?? 'node') === 'control-plane' && scope === 'node') return undefined;
  return buildFiles(scope).every((f) => existsSync(path.join(dir, f))) ? record : undefined;
}

/** Where a test tool built from source is kept: <cache>/tools/<name>-v<version>/<name>. */
export function toolPath(name: string, version: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheRoot(env), 'tools', `${name}-v${version}`, name);
}

/**
 * A test tool, built unless it is there: `build` writes the binary into the
 * staging folder it is given (removed afterwards) and returns its path; the
 * binary is then moved into place. Returns the tool's path.
 */
export function ensureTool(name: string, version: string, log: (line: string) => void, build: (staging: string) => string): string {
  const target = toolPath(name, version);
  if (existsSync(target)) {
    log(`${name} v${version} already built: ${target}`);
    return target;
  }
  const started = Date.now();
  const dir = path.dirname(target);
  const staging = `${dir}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const built = build(staging);
  mkdirSync(dir, { recursive: true });
  renameSync(built, target);
  rmSync(staging, { recursive: true, force: true });
  log(`${name} v${version}: built in ${Math.round((Date.now() - started) / 1000)} s: ${target}`);
  return target;
}
