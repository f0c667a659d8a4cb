/**
 * The machine a --dry-run plans against: a freshly installed node of the
 * configured OS family (Rocky Linux 9 unless nodes[].os says otherwise),
 * held in memory. Read-only checks get this model's answers; nothing on the
 * machine running the dry-run is read or changed.
 *
 * The model: swap on and in /etc/fstab, SELinux enforcing (EL), the
 * family's firewall running (firewalld) or installed and inactive (ufw, on
 * Ubuntu; none on Debian), no Kubernetes packages, 2 CPUs, 4 GiB, cgroup v2,
 * amd64; once prep installs containerd, the version packages.containerd
 * names (Docker's 2.2.1, Debian's 1.6.20, Ubuntu's 2.2.1).
 * init and join plan against that node once prepared (kubeadm installed);
 * reset against one that has joined a cluster.
 */
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import type { CommandResult, Host } from '../engine/host';
import type { OsFamily } from '../os/release';
import { ETCD_MANIFEST, MANIFESTS_DIR } from './control-plane';
import { API_SERVER_MANIFEST, KUBELET_CONF, ROOT_KUBECONFIG } from './kubeadm';

export const PLAN_DEFAULT_FAMILY: OsFamily = 'el9';

export type PlanState = 'fresh' | 'prepared' | 'in-cluster';

const OS_RELEASE: Record<OsFamily, string> = {
  el9: 'NAME="Rocky Linux"\nVERSION="9.5 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.5"\nPRETTY_NAME="Rocky Linux 9.5 (Blue Onyx)"\n',
  debian: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
  ubuntu: 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nVERSION="24.04.1 LTS (Noble Numbat)"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=noble\n',
};

/** `containerd --version` once prep has installed containerd: Docker's containerd.io, or the family's own package. */
const CONTAINERD_VERSION_OUTPUT: Record<OsFamily | 'docker', string> = {
  docker: 'containerd containerd.io 2.2.1 05044ec0a9a75232cad458027ca83437aae3f4da',
  debian: 'containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1',
  ubuntu: 'containerd github.com/containerd/containerd/v2 2.2.1 2.2.1-0ubuntu1~24.04.1',
  el9: 'containerd: command not found',
};

/** kubeadm's pause image per minor, as `kubeadm config images list` prints it (the model's answer only). */
export const PAUSE_VERSION_BY_MINOR: Record<number, string> = { 35: '3.10.1', 36: '3.10.2', 37: '3.10.2' };

/** A fresh node's files; its machine id and MAC derive from its address, so each node's differ. */
export function freshNodeFiles(family: OsFamily, address = '192.168.0.1'): Record<string, string> {
  const hex = address.split('.').map((o) => Number(o).toString(16).padStart(2, '0'));
  const files: Record<string, string> = {
    '/etc/os-release': OS_RELEASE[family],
    '/etc/hostname': 'localhost.localdomain\n',
    '/proc/sys/kernel/hostname': 'localhost.localdomain\n',
    '/etc/hosts': '127.0.0.1   localhost localhost.localdomain\n::1         localhost localhost.localdomain\n',
    '/etc/fstab': '/dev/mapper/root  /     xfs   defaults  0 0\nUUID=0b7c-swap    none  swap  defaults  0 0\n',
    '/proc/swaps': 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/dm-1                               partition\t2097148\t\t0\t\t-2\n',
    '/proc/modules': '',
    '/proc/meminfo': 'MemTotal:        4001636 kB\nMemFree:         3000000 kB\n',
    '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
    '/sys/class/dmi/id/product_uuid': `00000000-0000-4000-8000-0000${hex.join('')}\n`,
    '/sys/class/net/eth0/address': `52:54:00:${hex.slice(1).join(':')}\n`,
    '/sys/class/net/eth0/device/vendor': '0x1af4\n',
    '/proc/sys/net/ipv4/ip_forward': '0\n',
  };
  if (family === 'el9') {
    files['/etc/selinux/config'] = 'SELINUX=enforcing\nSELINUXTYPE=targeted\n';
    files['/sys/fs/selinux/enforce'] = '1';
  }
  return files;
}

/** The control plane's static pods as kubeadm writes them, the parts the commands read (images, etcd's flags). */
function staticPods(node: ClusterNode, version: string): Record<string, string> {
  const pod = (name: string, image: string, flags: string[] = []) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - ${name}\n${flags.map((f) => `    - --${f}\n`).join('')}    image: ${image}\n    name: ${name}\n`;
  const peer = `https://${node.address}:2380`;
  return {
    [ETCD_MANIFEST]: pod('etcd', 'registry.k8s.io/etcd:3.6.5-0', ['data-dir=/var/lib/etcd', `initial-advertise-peer-urls=${peer}`, `initial-cluster=${node.name}=${peer}`, `name=${node.name}`]),
    [API_SERVER_MANIFEST]: pod('kube-apiserver', `registry.k8s.io/kube-apiserver:v${version}`),
    [`${MANIFESTS_DIR}/kube-controller-manager.yaml`]: pod('kube-controller-manager', `registry.k8s.io/kube-controller-manager:v${version}`),
    [`${MANIFESTS_DIR}/kube-scheduler.yaml`]: pod('kube-scheduler', `registry.k8s.io/kube-scheduler:v${version}`),
  };
}
const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });
const fail = (code: number, stderr = ''): CommandResult => ({ code, stdout: '', stderr });

export class PlanHost implements Host {
  private readonly files: Map<string, { content: string; mode: number }>;

  /**
   * `running`: with state in-cluster, the node runs this Kubernetes (its packages installed at it, a control
   * plane's API server too): what an upgrade's plan starts from. Unset: the node has no packages the model knows of.
   */
  constructor(readonly family: OsFamily, private readonly config: ClusterConfig, private readonly node: ClusterNode, readonly state: PlanState = 'fresh', private readonly running?: string) {
    const files = freshNodeFiles(family, node.address);
    if (state === 'in-cluster' && node.role === 'control-plane') Object.assign(files, staticPods(node, running ?? config.kubernetes.version));
    if (state === 'in-cluster') {
      files[KUBELET_CONF] = 'apiVersion: v1\nkind: Config\n';
      files['/etc/kubernetes/manifests/.keep'] = '';
      files['/etc/cni/net.d/10-flannel.conflist'] = '{}\n';
      files['/sys/class/net/cni0/address'] = '52:54:00:00:00:02\n';
      files['/sys/class/net/flannel.1/address'] = '52:54:00:00:00:03\n';
      files[ROOT_KUBECONFIG] = 'apiVersion: v1\nkind: Config\n';
    }
    this.files = new Map(Object.entries(files).map(([file, content]) => [file, { content, mode: 0o644 }]));
  }

  async exec(argv: string[]): Promise<CommandResult> {
    const command = argv.join(' ');
    const minor = Number(this.config.kubernetes.version.split('.')[1]);
    if (command === 'id -u') return ok('0\n');
    if (command === 'nproc') return ok('2\n');
    if (command === 'ip -4 route show default') return ok('default via 192.168.83.2 dev eth0\n');
    if (command === 'ip -o -4 addr show') return ok(`1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet ${this.node.address}/24 scope global eth0\n`);
    const pkg = argv[argv.length - 1];
    if (this.running && (argv[0] === 'rpm' || argv[0] === 'dpkg-query') && ['kubelet', 'kubeadm', 'kubectl'].includes(pkg)) {
      return ok(argv[0] === 'rpm' ? this.running : `hold ok installed ${this.running}-1.1`);
    }
    if (argv[0] === 'rpm' || argv[0] === 'dpkg-query') return fail(1, `package ${pkg} is not installed`);
    if (argv[0] === 'systemctl' && argv[1] === 'is-enabled') return { code: 1, stdout: 'disabled\n', stderr: '' };
    if (argv[0] === 'systemctl' && argv[1] === 'is-active') return { code: 3, stdout: 'inactive\n', stderr: '' };
    if (command === 'firewall-cmd --state') return this.family === 'el9' ? ok('running\n') : fail(127, 'firewall-cmd: command not found');
    if (argv[0] === 'ufw') return this.family === 'ubuntu' ? ok(argv[1] === 'status' ? 'Status: inactive\n' : '') : fail(127, 'ufw: command not found');
    if (argv[0] === 'kubeadm' && argv.slice(1, 4).join(' ') === 'config images list') {
      const repo = argv.find((a) => a.startsWith('--image-repository='))!.split('=')[1];
      return ok(`${repo}/pause:${PAUSE_VERSION_BY_MINOR[minor]}\n`);
    }
    // The model node is a VM: systemd-detect-virt says so as the real one does (`none`, exit 1).
    if (command === 'systemd-detect-virt --container') return { code: 1, stdout: 'none\n', stderr: '' };
    if (command === 'dpkg --print-architecture') return ok('amd64\n');
    if (command === 'containerd --version') return ok(`${CONTAINERD_VERSION_OUTPUT[this.config.packages.containerd === 'docker' ? 'docker' : this.family]}\n`);
    if (argv[0] === 'kubeadm' && argv[1] === 'version') return this.state === 'fresh' ? fail(127, 'kubeadm: command not found') : ok(`v${this.config.kubernetes.version}\n`);
    if (command === 'iptables-save') return ok(this.state === 'in-cluster' ? '*nat\n:KUBE-SERVICES - [0:0]\n:FLANNEL-POSTRTG - [0:0]\nCOMMIT\n' : '');
    if (argv[0] === 'ipvsadm') return fail(127, 'ipvsadm: command not found');
    return ok();
  }

  async read(file: string): Promise<string | undefined> {
    return this.files.get(file)?.content;
  }

  async write(file: string, content: string, mode: number): Promise<void> {
    this.files.set(file, { content, mode });
  }

  async mode(file: string): Promise<number | undefined> {
    return this.files.get(file)?.mode;
  }

  async remove(file: string): Promise<void> {
    for (const key of [...this.files.keys()]) if (key === file || key.startsWith(`${file}/`)) this.files.delete(key);
  }

  async list(dir: string): Promise<string[]> {
    const prefix = `${dir}/`;
    return [...new Set([...this.files.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length).split('/')[0]))].sort();
  }
}
