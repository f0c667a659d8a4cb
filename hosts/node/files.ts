/**
 * Every file the node scripts write or edit, as pure functions of the
 * config (and, for edits, of the file's current text). Unit tested; the
 * steps only decide whether and where to write. (The package repository
 * files are the OS adapters'.)
 */
import type { RegistryMirror } from '../../config/images';
import type { ClusterNode } from '../../config/schema';
import { MANAGED_BY } from '../os/adapter';

// ---- /etc/hosts -------------------------------------------------------------

const HOSTS_BEGIN = `# BEGIN cluster nodes (${MANAGED_BY})`;
const HOSTS_END = '# END cluster nodes';

/**
 * /etc/hosts with one line per node in a managed block, replaced (never
 * duplicated) on every run. A node the file already maps the same way
 * outside the block is left to that line.
 */
export function hostsFile(current: string, nodes: ClusterNode[]): string {
  const lines = current.replace(/\n$/, '').split('\n');
  const begin = lines.indexOf(HOSTS_BEGIN);
  const end = lines.indexOf(HOSTS_END, begin);
  const outside = begin >= 0 && end > begin ? [...lines.slice(0, begin), ...lines.slice(end + 1)] : lines;
  const mapped = new Set(outside.flatMap((line) => {
    const [address, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    return names.map((name) => `${address} ${name}`);
  }));
  const entries = nodes.filter((n) => !mapped.has(`${n.address} ${n.name}`)).map((n) => `${n.address}\t${n.name}`);
  const block = entries.length ? [HOSTS_BEGIN, ...entries, HOSTS_END] : [];
  const kept = outside.length === 1 && outside[0] === '' ? [] : outside;
  return `${[...kept, ...block].join('\n')}\n`;
}

/** /etc/hosts without the managed block (reset --undo-prep). */
export function hostsFileWithoutBlock(current: string): string {
  const lines = current.split('\n');
  const begin = lines.indexOf(HOSTS_BEGIN);
  const end = lines.indexOf(HOSTS_END, begin);
  return begin >= 0 && end > begin ? [...lines.slice(0, begin), ...lines.slice(end + 1)].join('\n') : current;
}

// ---- /etc/fstab -------------------------------------------------------------

const SWAP_OFF = `#swap-off (${MANAGED_BY}): `;

/** /etc/fstab with every active swap entry commented out, marked so it can be restored. */
export function fstabWithoutSwap(current: string): string {
  return current.split('\n').map((line) => {
    const fields = line.trim().split(/\s+/);
    return !line.trim().startsWith('#') && fields.length >= 3 && fields[2] === 'swap' ? `${SWAP_OFF}${line}` : line;
  }).join('\n');
}

/** /etc/fstab with the swap entries this project commented out restored. */
export function fstabWithSwapRestored(current: string): string {
  return current.split('\n').map((line) => (line.startsWith(SWAP_OFF) ? line.slice(SWAP_OFF.length) : line)).join('\n');
}

// ---- /etc/selinux/config ----------------------------------------------------

const SELINUX_WAS = `# SELINUX was enforcing before hosts/prep.mjs set permissive; hosts/reset.mjs --undo-prep restores it`;

/** SELINUX=permissive, as kubeadm asks (not `disabled`, and not the tutorial's typo `diabled`). */
export function selinuxPermissive(current: string): string {
  if (!/^SELINUX=enforcing\s*$/m.test(current)) return current;
  return current.replace(/^SELINUX=enforcing\s*$/m, `${SELINUX_WAS}\nSELINUX=permissive`);
}

export function selinuxRestored(current: string): string {
  return current.includes(SELINUX_WAS) ? current.replace(`${SELINUX_WAS}\nSELINUX=permissive`, 'SELINUX=enforcing') : current;
}

// ---- kernel -----------------------------------------------------------------

export const KERNEL_MODULES = ['overlay', 'br_netfilter'] as const;
export type KernelModule = (typeof KERNEL_MODULES)[number];
export const MODULES_FILE = '/etc/modules-load.d/kubernetes.conf';

export function modulesConf(): string {
  return `# Kernel modules for containerd and bridged pod traffic (${MANAGED_BY})\n${KERNEL_MODULES.join('\n')}\n`;
}

export const SYSCTLS = {
  'net.ipv4.ip_forward': '1',
  'net.bridge.bridge-nf-call-iptables': '1',
  'net.bridge.bridge-nf-call-ip6tables': '1',
} as const;
export const SYSCTL_FILE = '/etc/sysctl.d/99-kubernetes.conf';

export function sysctlConf(): string {
  const lines = Object.entries(SYSCTLS).map(([key, value]) => `${key} = ${value}`);
  return `# Forwarding and bridge netfilter for Kubernetes networking (${MANAGED_BY})\n${lines.join('\n')}\n`;
}

/** Where a sysctl's live value is, e.g. net.ipv4.ip_forward -> /proc/sys/net/ipv4/ip_forward. */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}

// ---- container runtime -------------------------------------------------------

export const CONTAINERD_CONFIG = '/etc/containerd/config.toml';
/**
 * Where the CNI plugins are (kubernetes-cni's and flannel's: /opt/cni/bin) and their configs. Written out
 * because distributions move the default: Debian's containerd 1.x looks in /usr/lib/cni, where neither is,
 * and pods then stay in ContainerCreating (`failed to find plugin "flannel" in path [/usr/lib/cni]`).
 */
export const CNI_BIN_DIR = '/opt/cni/bin';
export const CNI_CONF_DIR = '/etc/cni/net.d';
/** Where containerd finds each registry's hosts.toml (mirrors, CAs). */
export const CONTAINERD_CERTS_DIR = '/etc/containerd/certs.d';

/**
 * containerd's version from `containerd --version`, whose third word it is:
 * "containerd containerd.io 2.2.1 <commit>" (Docker's package),
 * "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1" (Debian's).
 */
export function parseContainerdVersion(output: string): { major: number; text: string } {
  const word = output.trim().split(/\s+/)[2] ?? '';
  const match = /^v?(\d+)\.\d+\.\d+/.exec(word);
  if (!match) throw new Error(`cannot read containerd's version from: ${output.trim()}`);
  return { major: Number(match[1]), text: match[0].replace(/^v/, '') };
}

/**
 * containerd's config: only what differs from containerd's defaults, in
 * the format the installed major version reads natively (version 2 for
 * containerd 1.6/1.7, version 3, with the 2.x plugin ids, for 2.x). The
 * whole file is replaced, which also drops the `disabled_plugins = ["cri"]`
 * that Docker's containerd.io package ships.
 */
export function containerdConfig(sandboxImage: string, major: number, options: { inContainer?: boolean } = {}): string {
  const head = `# containerd ${major}.x for kubelet (${MANAGED_BY})`;
  // In a system container nothing may lower an OOM score (no CAP_SYS_RESOURCE): pod sandboxes then keep the
  // container's own score instead of failing to start (containerd's option for nodes in containers).
  const restrict = options.inContainer ? '\n  restrict_oom_score_adj = true' : '';
  if (major >= 2) {
    return `${head}
version = 3
${restrict ? `\n[plugins.'io.containerd.cri.v1.runtime']${restrict}\n` : ''}
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "${sandboxImage}"

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = "${CONTAINERD_CERTS_DIR}"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["${CNI_BIN_DIR}"]
  conf_dir = "${CNI_CONF_DIR}"
`;
  }
  return `${head}
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"${restrict}

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "${CONTAINERD_CERTS_DIR}"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "${CNI_BIN_DIR}"
  conf_dir = "${CNI_CONF_DIR}"
`;
}

/** Where containerd takes the servers of one upstream registry from. */
export function hostsTomlPath(upstream: string): string {
  return `${CONTAINERD_CERTS_DIR}/${upstream}/hosts.toml`;
}

/** The mirror's CA certificate beside a registry's hosts.toml. */
export function mirrorCaPath(upstream: string): string {
  return `${CONTAINERD_CERTS_DIR}/${upstream}/mirror-ca.crt`;
}

/** What containerd calls the upstream server of a registry host name. */
function upstreamServer(upstream: string): string {
  return upstream === 'docker.io' ? 'https://registry-1.docker.io' : `https://${upstream}`;
}

/**
 * hosts.toml for one upstream registry: pull (and resolve tags) through the
 * mirror; with `fallback`, the upstream registry after it, else the mirror
 * only. A pull by digest is verified against the digest whoever serves it.
 */
export function hostsToml(mirror: RegistryMirror, fallback: boolean, withCa: boolean): string {
  const settings = [
    'capabilities = ["pull", "resolve"]',
    ...(mirror.overridePath ? ['override_path = true'] : []),
    ...(withCa ? [`ca = "${mirrorCaPath(mirror.upstream)}"`] : []),
  ];
  const head = `# Images of ${mirror.upstream} come through the mirror ${mirror.url}${fallback ? ', else from the registry itself' : ' only'} (${MANAGED_BY})`;
  if (!fallback) return `${head}\nserver = "${mirror.url}"\n${settings.join('\n')}\n`;
  return `${head}\nserver = "${upstreamServer(mirror.upstream)}"\n\n[host."${mirror.url}"]\n${settings.map((s) => `  ${s}`).join('\n')}\n`;
}

export const CRICTL_CONFIG = '/etc/crictl.yaml';

export function crictlConfig(): string {
  return `# crictl talks to containerd (${MANAGED_BY})
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
timeout: 10
`;
}
