/**
 * Facts about a node, read before anything changes, and the preflight checks
 * that refuse to go on. Uniqueness of product_uuid and MACs across nodes is
 * the bootstrap's check; here they are only reported.
 */
import * as ipaddr from 'ipaddr.js';
import { UserError } from '../../config/errors';
import { apiServerHost, isHighlyAvailable } from '../../config/nodes';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import type { NodeRun } from '../engine/steps';
import { OS_ADAPTERS } from '../os/adapters';
import { type OsFamily, osFamily, type OsRelease, parseOsRelease } from '../os/release';
import { containerdNeeds, containerdRelease, containerdSupported, DISTRO_CONTAINERD } from '../../config/containerd-support';
import { KERNEL_MODULES, type KernelModule, sysctlPath } from './files';
import { API_SERVER_MANIFEST, API_SERVER_PORT, apiServerVersion, KUBELET_CONF } from './kubeadm';
import { portsToBeUsed } from './ports';

export interface NodeFacts {
  os: string;
  family: OsFamily;
  release: OsRelease;
  uid: number;
  cpus: number;
  memoryMb: number;
  cgroupV2: boolean;
  hostname: string;
  productUuid?: string;
  macs: string[];
  addresses: string[];
  /** The interface that holds the node's own address, and that address's prefix length (undefined: not on this machine). */
  nodeInterface?: { name: string; prefix: number };
  /** Whether the node has an IPv4 default route (`ip -4 route show default`). */
  defaultRoute: boolean;
  listeningPorts: number[];
  /**
   * The system container the node runs in (systemd's name for it: lxc, systemd-nspawn, docker, ...), from
   * /run/systemd/container or `systemd-detect-virt --container`; undefined on a VM or bare metal.
   */
  container?: string;
  /** /etc/machine-id: what tells nodes apart where DMI's product_uuid is absent or shared (system containers). */
  machineId?: string;
  /** The kernel modules the cluster needs, and whether the kernel has each (loaded or built in). */
  modules: Record<KernelModule, boolean>;
  /** The global kernel settings the kubelet insists on, as the node sees them (undefined: not readable). */
  kubeletKernelSettings: Record<string, string | undefined>;
  /** The containerd package already installed (the first of the family's containerd packages found), and its release. */
  containerd?: { package: string; release: string };
  /** The Kubernetes versions already on the node: installed packages, and the control plane it runs. */
  kubernetes: { kubeadm?: string; kubelet?: string; controlPlane?: string; server?: string };
}

export const MIN_CONTROL_PLANE = { cpus: 2, memoryMb: 1700 };

/**
 * What the kubelet sets at start (its setupKernelTunables) unless the value is already so. They are global:
 * in a system container /proc/sys/vm and /proc/sys/kernel are the host's, read-only, and the kubelet exits
 * when it cannot write them ("Failed to start ContainerManager").
 */
export const KUBELET_KERNEL_SETTINGS: Record<string, string> = {
  'vm.overcommit_memory': '1',
  'vm.panic_on_oom': '0',
  'kernel.panic': '10',
  'kernel.panic_on_oops': '1',
  'kernel.keys.root_maxkeys': '1000000',
  'kernel.keys.root_maxbytes': '25000000',
};

/**
 * Whether the kernel has a module: /sys/module/<name> (loaded, or built in with parameters), else what the
 * module provides (a system container has no /sys/module of its own, and a built-in module without
 * parameters has no entry there).
 */
async function hasModule(run: NodeRun, module: KernelModule): Promise<boolean> {
  if ((await run.host.list(`/sys/module/${module}`)).length) return true;
  if (module === 'overlay') return /\toverlay$/m.test((await run.read('/proc/filesystems')) ?? '');
  return (await run.host.list('/proc/sys/net/bridge')).length > 0;
}

/** The container systemd detects, or undefined on a VM or bare metal. */
async function detectContainer(run: NodeRun): Promise<string | undefined> {
  const written = (await run.read('/run/systemd/container'))?.trim();
  if (written) return written;
  const detected = await run.query(['systemd-detect-virt', '--container']);
  const name = detected.stdout.trim();
  return detected.code === 0 && name && name !== 'none' ? name : undefined;
}

/** IPv4 addresses from `ip -o -4 addr show`. */
export function parseAddresses(output: string): string[] {
  return [...output.matchAll(/\binet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]);
}

/** The interface holding `address` and the address's prefix length, from `ip -o -4 addr show` (a real interface before lo). */
export function parseInterfaceOf(output: string, address: string): { name: string; prefix: number } | undefined {
  const holders = [...output.matchAll(/^\d+:\s+(\S+?)(?:@\S+)?\s+inet (\d+\.\d+\.\d+\.\d+)\/(\d+)/gm)]
    .filter((match) => match[2] === address).map((match) => ({ name: match[1], prefix: Number(match[3]) }));
  return holders.find((h) => h.name !== 'lo') ?? holders[0];
}

/** Local TCP ports in LISTEN state from `ss -Hltn`. */
export function parseListeningPorts(output: string): number[] {
  const ports = output.split('\n').flatMap((line) => {
    const local = line.trim().split(/\s+/)[3];
    const match = local ? /:(\d+)$/.exec(local) : null;
    return match ? [Number(match[1])] : [];
  });
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** The machine's IPv4 addresses, and the interface that holds the node's. */
async function addressFacts(run: NodeRun, node: ClusterNode): Promise<Pick<NodeFacts, 'addresses' | 'nodeInterface'>> {
  const output = (await run.query(['ip', '-o', '-4', 'addr', 'show'])).stdout;
  return { addresses: parseAddresses(output), nodeInterface: parseInterfaceOf(output, node.address) };
}

export async function gatherFacts(run: NodeRun, config: ClusterConfig, node: ClusterNode): Promise<NodeFacts> {
  if (run.planning) run.out.line(`[${node.name}] facts`);
  const osRelease = parseOsRelease((await run.read('/etc/os-release')) ?? '');
  const family = osFamily(osRelease, config, node.name);
  if (node.os && node.os !== family) {
    throw new UserError([`${node.name}: cluster.yaml says os: ${node.os} but the node runs ${osRelease.prettyName} (${family}); fix nodes[].os or remove it`]);
  }
  // From here on, what this run writes gets the family's fix-ups (SELinux labels on EL9).
  const os = OS_ADAPTERS[family];
  if (os.afterWrite) run.afterWrite = (file) => os.afterWrite!(run, file);
  const memInfo = (await run.read('/proc/meminfo')) ?? '';
  const memKb = Number(/^MemTotal:\s+(\d+) kB/m.exec(memInfo)?.[1] ?? 0);
  // Physical NICs only (they have a device): bridges, bonds and tunnels repeat or lack MACs.
  const macs = new Set<string>();
  for (const name of await run.host.list('/sys/class/net')) {
    if (!(await run.host.list(`/sys/class/net/${name}`)).includes('device')) continue;
    const mac = (await run.read(`/sys/class/net/${name}/address`))?.trim();
    if (mac && !/^(00:)+00$/.test(mac)) macs.add(mac);
  }
  const id = await run.query(['id', '-u'], { mustSucceed: true });
  let containerd: NodeFacts['containerd'];
  for (const name of os.containerdPackages) {
    const release = containerdRelease((await os.installedVersion(run, name)) ?? '');
    if (release) {
      containerd = { package: name, release };
      break;
    }
  }
  return {
    os: osRelease.prettyName,
    family,
    release: osRelease,
    uid: Number(id.stdout.trim() || Number.NaN),
    cpus: Number((await run.query(['nproc'])).stdout.trim()),
    memoryMb: Math.floor(memKb / 1024),
    cgroupV2: (await run.read('/sys/fs/cgroup/cgroup.controllers')) !== undefined,
    hostname: ((await run.read('/proc/sys/kernel/hostname')) ?? '').trim(),
    productUuid: (await run.read('/sys/class/dmi/id/product_uuid'))?.trim(),
    macs: [...macs],
    ...(await addressFacts(run, node)),
    defaultRoute: /^default /m.test((await run.query(['ip', '-4', 'route', 'show', 'default'])).stdout),
    listeningPorts: parseListeningPorts((await run.query(['ss', '-Hltn'])).stdout),
    container: await detectContainer(run),
    machineId: (await run.read('/etc/machine-id'))?.trim() || undefined,
    modules: Object.fromEntries(await Promise.all(KERNEL_MODULES.map(async (m) => [m, await hasModule(run, m)] as const))) as Record<KernelModule, boolean>,
    kubeletKernelSettings: Object.fromEntries(await Promise.all(Object.keys(KUBELET_KERNEL_SETTINGS).map(async (key) => [key, (await run.read(sysctlPath(key)))?.trim()] as const))),
    containerd,
    kubernetes: {
      // pkgs.k8s.io's deb versions carry a packaging suffix (1.35.1-1.1).
      kubeadm: (await os.installedVersion(run, 'kubeadm'))?.replace(/-.*$/, ''),
      kubelet: (await os.installedVersion(run, 'kubelet'))?.replace(/-.*$/, ''),
      controlPlane: apiServerVersion(await run.read(API_SERVER_MANIFEST)),
      server: kubeconfigServer(await run.read(KUBELET_CONF)),
    },
  };
}

export function describeFacts(facts: NodeFacts): string {
  return `${facts.os} (${facts.family}), ${facts.container ? `system container (${facts.container})` : 'VM or bare metal'}, ${facts.cpus} CPU(s), ${facts.memoryMb} MB, cgroup ${facts.cgroupV2 ? 'v2' : 'v1'}, `
    + `${identityLabel(facts)} ${nodeIdentity(facts) ?? 'unknown'}, MAC(s) ${facts.macs.join(' ') || 'none'}`;
}

/**
 * What tells this machine apart from the other nodes: DMI's product_uuid (what kubeadm asks to be unique),
 * except in a system container, where DMI is the host's (shared by every container) or absent: /etc/machine-id.
 */
export function nodeIdentity(facts: NodeFacts): string | undefined {
  return facts.container || !facts.productUuid ? facts.machineId : facts.productUuid;
}

export function identityLabel(facts: NodeFacts): string {
  return facts.container || !facts.productUuid ? 'machine-id' : 'product_uuid';
}

/** The facts line a node script prints: observed on the node, or (dry run) the plan model's, said to be assumed. */
export function factsLine(run: NodeRun, node: ClusterNode, facts: NodeFacts): string {
  return run.planning
    ? `[${node.name}] facts assumed for the plan (a fresh ${facts.family} node, not observed): ${describeFacts(facts)}`
    : `[${node.name}] facts: ${describeFacts(facts)}`;
}

/** Every node script runs as root ... */
export function rootProblem(node: ClusterNode, facts: NodeFacts): string[] {
  return facts.uid === 0 ? [] : [`${node.name}: must run as root (uid 0), not uid ${facts.uid}: run it with sudo`];
}

/** ... on the machine that has the node's address. */
export function addressProblem(node: ClusterNode, facts: NodeFacts): string[] {
  if (facts.addresses.includes(node.address)) return [];
  return [`${node.name}: address ${node.address} from cluster.yaml is not on any interface of this machine (it has ${facts.addresses.join(', ') || 'none'}); fix nodes[].address or pass the right --node`];
}

/**
 * kubernetes.controlPlaneEndpoint, on a control plane: kube-vip announces it by ARP on the interface that
 * holds the node's address, so it must lie in that interface's network.
 */
export function endpointProblem(config: ClusterConfig, node: ClusterNode, facts: NodeFacts): string[] {
  const endpoint = config.kubernetes.controlPlaneEndpoint;
  if (endpoint === undefined || node.role !== 'control-plane' || !facts.nodeInterface) return [];
  const { name, prefix } = facts.nodeInterface;
  const network = ipaddr.IPv4.networkAddressFromCIDR(`${node.address}/${prefix}`).toString();
  if (ipaddr.IPv4.parse(endpoint).match(ipaddr.IPv4.parse(network), prefix)) return [];
  return [`${node.name}: kubernetes.controlPlaneEndpoint ${endpoint} is outside this control plane's network ${network}/${prefix} (on ${name}); the virtual IP is announced by ARP there, so pick a free address of ${network}/${prefix}`];
}

/** host:port of a kubeconfig's server (`server: https://192.168.83.133:6443`). */
export function kubeconfigServer(kubeconfig: string | undefined): string | undefined {
  return /^\s*server:\s*https:\/\/(\S+?)\/?\s*$/m.exec(kubeconfig ?? '')?.[1];
}

/**
 * A node of a cluster made with another API server address than the config's: kubeadm cannot move a cluster
 * to a new endpoint (its certificates, kubeconfigs and cluster-info name the old one), so a cluster made with
 * one control plane and no kubernetes.controlPlaneEndpoint cannot become highly available in place.
 */
export function movedEndpointProblem(config: ClusterConfig, node: ClusterNode, facts: NodeFacts): string[] {
  const server = facts.kubernetes.server;
  const endpoint = config.kubernetes.controlPlaneEndpoint;
  const wanted = `${apiServerHost(config)}:${API_SERVER_PORT}`;
  if (server === undefined || server === wanted) return [];
  const keep = endpoint
    ? `remove kubernetes.controlPlaneEndpoint${isHighlyAvailable(config) ? ' and the added control planes' : ''} to keep this cluster as it is`
    : `set kubernetes.controlPlaneEndpoint: ${server.replace(/:\d+$/, '')} to keep this cluster as it is`;
  return [`${node.name}: is in a cluster whose API server address is ${server}, but cluster.yaml makes it ${wanted} (${endpoint ? 'kubernetes.controlPlaneEndpoint' : 'the first control plane, with no kubernetes.controlPlaneEndpoint'}); kubeadm cannot move a running cluster to another address (its certificates and kubeconfigs name the old one), so a cluster made with one control plane and no endpoint cannot become highly available in place: ${keep}, or back it up (scripts/bootstrap.mjs backup), reset it and bootstrap it again`];
}

/**
 * Every reason this node cannot be set up, all at once, before any change.
 * `inCluster`: the node has already been initialised or joined, so its
 * Kubernetes ports are expected to be in use.
 */
export function preflightProblems(config: ClusterConfig, node: ClusterNode, facts: NodeFacts, inCluster: boolean, upgrading = false): string[] {
  const problems = rootProblem(node, facts);
  const minor = Number(config.kubernetes.version.split('.')[1]);
  if (!facts.cgroupV2 && minor >= 35 && !config.kubernetes.allowCgroupV1) {
    problems.push(`${node.name}: the node runs cgroup v1; the kubelet of Kubernetes 1.${minor} refuses it: boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) or use an OS that defaults to it${facts.container ? ' (for a system container: give it cgroup v2 on the host)' : ''}, or set kubernetes.allowCgroupV1: true to run on it anyway (unsupported upstream)`);
  }
  problems.push(...containerProblems(node, facts));
  if (facts.family === 'el9' && config.packages.containerd === 'distro') {
    problems.push(`${node.name}: ${facts.os} has no containerd package of its own; set packages.containerd: docker (Docker's containerd.io)`);
  }
  problems.push(...containerdProblem(config, node, facts));
  if (node.role === 'control-plane') {
    if (facts.cpus < MIN_CONTROL_PLANE.cpus) problems.push(`${node.name}: a control-plane node needs at least ${MIN_CONTROL_PLANE.cpus} CPUs; it has ${facts.cpus}`);
    if (facts.memoryMb < MIN_CONTROL_PLANE.memoryMb) problems.push(`${node.name}: a control-plane node needs at least ${MIN_CONTROL_PLANE.memoryMb} MB of memory; it has ${facts.memoryMb} MB`);
  }
  problems.push(...addressProblem(node, facts), ...endpointProblem(config, node, facts));
  // Service addresses (the API server's 10.96.0.1, say) are DNAT'd by kube-proxy only after the kernel has
  // found a route for them: without any, pods and flannel fail with "network is unreachable".
  if (!facts.defaultRoute) {
    problems.push(`${node.name}: has no IPv4 default route; without one, Service addresses (the API server's first service address, say) cannot be reached from the node and flannel fails with "network is unreachable": add one (ip route add default via <gateway>, persisted in the network configuration), even to a gateway that leads nowhere`);
  }
  problems.push(...movedEndpointProblem(config, node, facts));
  // An upgrade changes the version on purpose: its own checks (upgradeProblems) say what it cannot do.
  if (inCluster && !upgrading) problems.push(...versionProblem(config, node, facts));
  if (!inCluster) {
    const busy = portsToBeUsed(config, node).filter((port) => facts.listeningPorts.includes(port));
    if (busy.length) problems.push(`${node.name}: port(s) ${busy.join(', ')} already in use; stop what listens there (ss -ltnp) before setting up Kubernetes`);
  }
  return problems;
}

/**
 * A containerd the configured Kubernetes does not support, found before anything is touched: the one already
 * installed (prep keeps it), or else the OS's own package where it is known to be too old.
 */
export function containerdProblem(config: ClusterConfig, node: ClusterNode, facts: NodeFacts): string[] {
  const { version } = config.kubernetes;
  const needs = `Kubernetes ${version} needs containerd ${containerdNeeds(version)}`;
  if (facts.containerd) {
    if (containerdSupported(facts.containerd.release, version)) return [];
    return [`${node.name}: the installed containerd ${facts.containerd.release} (package ${facts.containerd.package}) is too old: ${needs}; prep keeps an installed runtime, so upgrade it, or remove it (${facts.family === 'el9' ? 'dnf' : 'apt-get'} remove ${facts.containerd.package}) and set packages.containerd: docker for Docker's containerd.io`];
  }
  const distro = DISTRO_CONTAINERD[`${facts.release.id} ${facts.release.versionId}`];
  if (config.packages.containerd === 'distro' && distro && !containerdSupported(distro, version)) {
    return [`${node.name}: ${facts.os}'s own containerd package is ${distro}, too old: ${needs}; set packages.containerd: docker (Docker's containerd.io)`];
  }
  return [];
}

/**
 * What a system container cannot do for itself and the host must have done: the kernel modules (a container
 * cannot load any), and the kubelet's global kernel settings (the host's; the kubelet would try to write them).
 */
export function containerProblems(node: ClusterNode, facts: NodeFacts): string[] {
  if (!facts.container) return [];
  const problems = KERNEL_MODULES.filter((m) => !facts.modules[m]).map((m) => `${node.name}: runs in a system container (${facts.container}), which cannot load kernel modules, and the kernel has no ${m}: load it on the host (modprobe ${m}, and add it to /etc/modules-load.d/ there)`);
  const wrong = Object.entries(KUBELET_KERNEL_SETTINGS).filter(([key, value]) => facts.kubeletKernelSettings[key] !== undefined && facts.kubeletKernelSettings[key] !== value);
  if (wrong.length) {
    const list = wrong.map(([key, value]) => `${key} is ${facts.kubeletKernelSettings[key]}, the kubelet needs ${value}`).join('; ');
    problems.push(`${node.name}: runs in a system container (${facts.container}), where the kubelet's global kernel settings are the host's and it cannot set them (it exits): ${list}; set them on the host (${wrong.map(([key, value]) => `sysctl -w ${key}=${value}`).join(', ')}, persisted in /etc/sysctl.d/ there), or give the container files with these values over their /proc/sys entries`);
  }
  return problems;
}

/** What a valid node should make its user think twice about, one line each (printed, not refused). */
export function preflightWarnings(config: ClusterConfig, node: ClusterNode, facts: NodeFacts): string[] {
  const minor = Number(config.kubernetes.version.split('.')[1]);
  return !facts.cgroupV2 && minor >= 35 && config.kubernetes.allowCgroupV1
    ? [`warning: ${node.name} runs cgroup v1, which Kubernetes 1.${minor} no longer supports (kubernetes.allowCgroupV1: true): the kubelet runs with failCgroupV1: false, and upstream plans to remove that opt-out; move the node to cgroup v2 when you can`]
    : [];
}

/**
 * A node of a cluster that has another Kubernetes version than the config's:
 * prep would install the new packages beside the old control plane, a
 * silent skew. Changing versions is the upgrade command's work (kubeadm
 * upgrade): refused, naming it. (A node in no cluster just gets the
 * configured packages.)
 */
export function versionProblem(config: ClusterConfig, node: ClusterNode, facts: NodeFacts): string[] {
  const wanted = config.kubernetes.version;
  const found = Object.entries({ 'the control plane': facts.kubernetes.controlPlane, kubeadm: facts.kubernetes.kubeadm, kubelet: facts.kubernetes.kubelet })
    .filter(([, version]) => version !== undefined && version !== wanted)
    .map(([what, version]) => `${what} ${version}`);
  if (!found.length) return [];
  const had = facts.kubernetes.controlPlane ?? facts.kubernetes.kubelet ?? facts.kubernetes.kubeadm;
  return [`${node.name}: has ${found.join(', ')}, but kubernetes.version is ${wanted}; changing the version of a cluster is an upgrade: run scripts/bootstrap.mjs upgrade (npm run upgrade), or set kubernetes.version back to ${had}`];
}

/** Whether kubeadm has already made this node part of a cluster. */
export async function isInCluster(run: NodeRun): Promise<boolean> {
  return (await run.read(KUBELET_CONF)) !== undefined;
}

/** Facts, and the checks init and join need: root, the right role, this machine's address, a prepared node. */
export async function factsForKubeadm(run: NodeRun, config: ClusterConfig, node: ClusterNode, role: ClusterNode['role'], script: string): Promise<NodeFacts> {
  const facts = await gatherFacts(run, config, node);
  run.out.line(factsLine(run, node, facts));
  const problems: string[] = [];
  if (node.role !== role) problems.push(`${node.name}: ${script} is for ${role} nodes; this node's role in the cluster config is ${node.role}`);
  problems.push(...rootProblem(node, facts), ...addressProblem(node, facts));
  if ((await run.query(['kubeadm', 'version', '-o', 'short'])).code !== 0) problems.push(`${node.name}: kubeadm is not installed: run hosts/prep.mjs first`);
  if (problems.length) throw new UserError(problems);
  return facts;
}
