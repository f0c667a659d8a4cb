/**
 * hosts/prep.mjs for real, in a child process, against fake hosts of each OS
 * family: the resulting files, idempotency, failures and preflight refusals.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PAUSE_VERSION_BY_MINOR } from '../hosts/node/plan-model';
import type { OsFamily } from '../hosts/os/release';
import { testedRelease } from '../config/versions';
import { Sandbox } from './fakehost/sandbox';
import { defaultConfig, ROOT } from './helpers';

const FAMILIES: OsFamily[] = ['el9', 'debian', 'ubuntu'];
const VERSION = defaultConfig().kubernetes.version;
const VERSION_RE = VERSION.replace(/\./g, '\\.');
const MINOR = VERSION.split('.').slice(0, 2).join('.');
/** The pause image kubeadm of the configured minor names (test/kubernetes.test.ts checks the table against the real kubeadm). */
const PAUSE = `registry.k8s.io/pause:${PAUSE_VERSION_BY_MINOR[Number(VERSION.split('.')[1])]}`;

describe.each(FAMILIES)('prep on %s', (family) => {
  const cp = new Sandbox(family);
  const first = cp.run('prep');
  const firstCommands = cp.commands();
  cp.clearCommands();
  const treeAfterFirst = cp.tree();
  const second = cp.run('prep');

  test('exits 0 and says what it changed', () => {
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/\[k8s-node1\] facts: .*2 CPU\(s\).*cgroup v2/);
    expect(first.stdout).toMatch(/\[k8s-node1\] prep: done, \d+ step\(s\) changed something/);
  });

  test('hostname and /etc/hosts: set once', () => {
    expect(cp.readFile('/etc/hostname')).toBe('k8s-node1\n');
    const hosts = cp.readFile('/etc/hosts')!;
    for (const line of ['192.168.83.133\tk8s-node1', '192.168.83.134\tk8s-node2', '192.168.83.135\tk8s-node3']) {
      expect(hosts.split('\n').filter((l) => l === line)).toHaveLength(1);
    }
    expect(hosts).toContain('127.0.0.1   localhost');
  });

  test('swap is off now and commented out in /etc/fstab, with a backup of the original', () => {
    expect(cp.readFile('/proc/swaps')!.trim().split('\n')).toHaveLength(1);
    const fstab = cp.readFile('/etc/fstab')!;
    expect(fstab.split('\n').filter((l) => !l.startsWith('#') && / swap /.test(l))).toEqual([]);
    const backups = Object.keys(cp.tree()).filter((f) => f.startsWith('/etc/fstab.bak-'));
    expect(backups).toHaveLength(1);
    expect(cp.readFile(backups[0])).toContain('UUID=0b7c-swap    none  swap  defaults  0 0');
  });

  test('kernel modules and sysctls are live and persisted', () => {
    expect(cp.readFile('/etc/modules-load.d/kubernetes.conf')).toMatch(/^overlay\nbr_netfilter\n$/m);
    expect(cp.readFile('/proc/modules')).toMatch(/^overlay /m);
    expect(cp.readFile('/proc/modules')).toMatch(/^br_netfilter /m);
    expect(cp.readFile('/etc/sysctl.d/99-kubernetes.conf')).toContain('net.bridge.bridge-nf-call-iptables = 1');
    for (const key of ['net/ipv4/ip_forward', 'net/bridge/bridge-nf-call-iptables', 'net/bridge/bridge-nf-call-ip6tables']) {
      expect(cp.readFile(`/proc/sys/${key}`)).toBe('1\n');
    }
  });

  test('containerd: Docker\'s containerd.io 2.x, its native config format, SystemdCgroup = true, pause image from kubeadm, running', () => {
    expect(cp.fakeState<Record<string, string>>('packages.json')['containerd.io']).toMatch(/^2\.2\.1/);
    const toml = cp.readFile('/etc/containerd/config.toml')!;
    expect(toml).toMatch(/^version = 3$/m);
    expect(toml).toContain("[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true");
    expect(toml).toContain(`[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = "${PAUSE}"`);
    expect(toml).not.toContain('disabled_plugins');
    expect(cp.fakeState<Record<string, { enabled: boolean; active: boolean }>>('services.json').containerd).toMatchObject({ enabled: true, active: true });
    if (family !== 'el9') {
      // Docker's repository as Docker documents it: the machine's architecture, the release's suite, Docker's key.
      expect(cp.readFile('/etc/apt/sources.list.d/docker.list')).toBe(`deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/${family} ${family === 'debian' ? 'bookworm' : 'noble'} stable\n`);
      expect(firstCommands).toContainEqual(['curl', '-fsSL', '-o', '/etc/apt/keyrings/docker.asc', `https://download.docker.com/linux/${family}/gpg`]);
    } else {
      expect(cp.readFile('/etc/yum.repos.d/docker-ce.repo')).toContain('baseurl=https://download.docker.com/linux/centos/$releasever/$basearch/stable\n');
    }
  });

  test('kubelet, kubeadm and kubectl pinned to the configured version, cri-tools beside them, all held, kubelet enabled', () => {
    const packages = cp.fakeState<Record<string, string>>('packages.json');
    for (const name of ['kubelet', 'kubeadm', 'kubectl']) expect(packages[name]).toMatch(new RegExp(`^${VERSION_RE}(-1\\.1)?$`));
    // Since 1.32 the kubeadm package depends on nothing: crictl comes only if prep installs it.
    expect(packages['cri-tools']).toBeDefined();
    if (family === 'el9') {
      expect(cp.readFile('/etc/yum.repos.d/kubernetes.repo')).toContain('exclude=kubelet kubeadm kubectl cri-tools');
      // The runtime is held the same way: the Docker repository excludes containerd.io from upgrades.
      expect(cp.readFile('/etc/yum.repos.d/docker-ce.repo')).toContain('exclude=containerd.io\n');
      expect(firstCommands).toContainEqual(['dnf', 'install', '-y', '--disableexcludes=kubernetes,docker-ce-stable', 'containerd.io', `kubelet-${VERSION}`, `kubeadm-${VERSION}`, `kubectl-${VERSION}`, 'cri-tools']);
    } else {
      expect(cp.fakeState<string[]>('holds.json').sort()).toEqual(['containerd.io', 'cri-tools', 'kubeadm', 'kubectl', 'kubelet']);
      expect(cp.readFile('/etc/apt/sources.list.d/kubernetes.list')).toContain(`https://pkgs.k8s.io/core:/stable:/v${MINOR}/deb/ /`);
    }
    expect(cp.fakeState<Record<string, { enabled: boolean }>>('services.json').kubelet.enabled).toBe(true);
  });

  test('every apt-get waits for the dpkg lock; on SELinux systems every file written gets its label back', () => {
    const aptGets = firstCommands.filter((c) => c.includes('apt-get'));
    if (family === 'el9') {
      expect(aptGets).toEqual([]);
      // Exactly the files prep wrote (/etc/hostname is hostnamectl's, /etc/kubernetes/manifests the package's).
      expect([...new Set(cp.fakeState<string[]>('restorecon.json'))].sort()).toEqual([
        '/etc/containerd/config.toml', '/etc/crictl.yaml', '/etc/fstab', '/etc/hosts', '/etc/modules-load.d/kubernetes.conf',
        '/etc/selinux/config', '/etc/sysctl.d/99-kubernetes.conf', '/etc/yum.repos.d/docker-ce.repo', '/etc/yum.repos.d/kubernetes.repo',
      ]);
    } else {
      expect(aptGets.length).toBeGreaterThan(0);
      for (const call of aptGets) expect(call.slice(call.indexOf('apt-get') + 1, call.indexOf('apt-get') + 3)).toEqual(['-o', 'DPkg::Lock::Timeout=600']);
      expect(cp.fakeState<string[]>('restorecon.json')).toBeNull();
    }
  });

  test('SELinux and the firewall, the family way', () => {
    if (family === 'el9') {
      expect(cp.readFile('/sys/fs/selinux/enforce')).toBe('0');
      expect(cp.readFile('/etc/selinux/config')).toMatch(/^SELINUX=permissive$/m);
      const firewalld = cp.fakeState<{ ports: string[]; sources: string[]; running: boolean; runtime: { ports: string[]; sources: string[] } }>('firewalld.json');
      expect(firewalld.running).toBe(true);
      expect(firewalld.ports).toEqual(expect.arrayContaining(['22/tcp', '6443/tcp', '2379-2380/tcp', '10250/tcp', '8472/udp', '30000-32767/tcp']));
      // The pod network only: no packet carries a service (ClusterIP) address as its source.
      expect(firewalld.sources).toEqual(['10.244.0.0/16']);
      // In force now, not only after the next boot: the permanent rules were loaded (firewall-cmd --reload).
      expect(firewalld.runtime).toEqual({ ports: firewalld.ports, sources: firewalld.sources });
    } else {
      expect(cp.readFile('/etc/selinux/config')).toBeUndefined();
    }
    if (family === 'ubuntu') {
      const rules = cp.fakeState<{ rules: string[] }>('ufw.json').rules;
      expect(rules).toEqual(expect.arrayContaining(['allow 6443/tcp', 'allow 8472/udp', 'route allow from 10.244.0.0/16']));
      expect(rules.filter((r) => r.includes('10.96.0.0/16'))).toEqual([]);
    }
  });

  test('a second run changes nothing: no mutating command, no file written, and it says so', () => {
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('[k8s-node1] prep: nothing changed, the node already was as configured');
    expect(cp.mutatingCommands()).toEqual([]);
    expect(cp.tree()).toEqual(treeAfterFirst);
  });
});

describe('prep on a worker', () => {
  test('opens the worker ports, including 80/443 for the ingress controller on the host network (not its ping and metrics ports)', () => {
    const worker = new Sandbox('el9', { address: '192.168.83.134' });
    expect(worker.run('prep').code).toBe(0);
    expect(worker.readFile('/etc/hostname')).toBe('k8s-node2\n');
    const ports = worker.fakeState<{ ports: string[] }>('firewalld.json').ports;
    expect(ports).toEqual(expect.arrayContaining(['80/tcp', '443/tcp', '10250/tcp']));
    expect(ports).not.toContain('8080/tcp');
    expect(ports).not.toContain('8082/tcp');
    expect(ports).not.toContain('6443/tcp');
  });
});

describe('nodes prepared by an earlier version, which trusted the service network too', () => {
  test('firewalld: prep stops trusting it; the undo removes it as well as the pod network', () => {
    const node = new Sandbox('el9', { files: { '/.fake/firewalld.json': JSON.stringify({ running: true, ports: ['22/tcp'], sources: ['10.244.0.0/16', '10.96.0.0/16'] }) } });
    const prep = node.run('prep');
    expect(prep.code).toBe(0);
    expect(prep.stdout).toMatch(/firewall: firewalld: opened .*; no longer trusted 10\.96\.0\.0\/16/);
    expect(node.fakeState<{ sources: string[] }>('firewalld.json').sources).toEqual(['10.244.0.0/16']);
    node.writeFile('/.fake/firewalld.json', JSON.stringify({ ...node.fakeState<object>('firewalld.json'), sources: ['10.244.0.0/16', '10.96.0.0/16'] }));
    expect(node.run('reset', ['--undo-prep']).code).toBe(0);
    expect(node.fakeState<{ sources: string[] }>('firewalld.json').sources).toEqual([]);
  });

  test('ufw: prep deletes its rules for the service network', () => {
    const node = new Sandbox('ubuntu', { files: { '/.fake/ufw.json': JSON.stringify({ active: true, rules: ['allow 22/tcp', 'allow from 10.96.0.0/16', 'route allow from 10.96.0.0/16'] }) } });
    expect(node.run('prep').code).toBe(0);
    const rules = node.fakeState<{ rules: string[] }>('ufw.json').rules;
    expect(rules).toContain('route allow from 10.244.0.0/16');
    expect(rules.filter((r) => r.includes('10.96.0.0/16'))).toEqual([]);
  });
});

describe('where containerd comes from', () => {
  const withPackages = (packages: string, version = defaultConfig().kubernetes.version) => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cfg-')), 'cluster.yaml');
    writeFileSync(file, readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8').replace('containerd: docker', `containerd: ${packages}`).replace(/^  version: ".*"$/m, `  version: "${version}"`));
    return file;
  };

  /** A Debian node where Debian's containerd package of that version is installed and running. */
  const withDebianContainerd = (version: string) => new Sandbox('debian', {
    files: { '/.fake/packages.json': JSON.stringify({ containerd: version }), '/.fake/services.json': JSON.stringify({ containerd: { enabled: true, active: true } }) },
  });

  test('packages.containerd: distro on Debian 12: refused before any change, its own containerd 1.6.20 is too old', () => {
    const node = new Sandbox('debian');
    const result = node.run('prep', ['--config', withPackages('distro')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`k8s-node1: Debian GNU/Linux 12 (bookworm)'s own containerd package is 1.6.20, too old: Kubernetes ${defaultConfig().kubernetes.version} needs containerd 2.2.0 or later; set packages.containerd: docker (Docker's containerd.io)\n`);
    expect(node.mutatingCommands()).toEqual([]);
  });

  test('a node that already has Debian\'s containerd 1.6.20 is refused before any change: prep would keep it', () => {
    const node = withDebianContainerd('1.6.20~ds1-1+b1');
    const result = node.run('prep');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`k8s-node1: the installed containerd 1.6.20 (package containerd) is too old: Kubernetes ${defaultConfig().kubernetes.version} needs containerd 2.2.0 or later; prep keeps an installed runtime, so upgrade it, or remove it (apt-get remove containerd) and set packages.containerd: docker for Docker's containerd.io\n`);
    expect(node.mutatingCommands()).toEqual([]);
  });

  test('Kubernetes 1.35 still takes containerd 1.7.28 or later on 1.7: an installed one is kept, says so, and gets the version 2 format', () => {
    const node = withDebianContainerd('1.7.28~ds1-1');
    const config = withPackages('docker', testedRelease(35)!);
    const result = node.run('prep', ['--config', config]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('note: containerd comes from the installed containerd, not containerd.io (packages.containerd: docker); remove containerd first to switch');
    expect(node.fakeState<Record<string, string>>('packages.json')['containerd.io']).toBeUndefined();
    expect(node.fakeState<string[]>('holds.json')).toContain('containerd');
    expect(node.readFile('/etc/containerd/config.toml')).toMatch(/^version = 2$/m);
    // One patch release older is refused, by the whole version (1.7.3 is not 1.7.28 and up).
    for (const old of ['1.7.27~ds1-1', '1.7.3~ds1-1']) {
      const older = withDebianContainerd(old);
      const refused = older.run('prep', ['--config', config]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`the installed containerd ${old.split('~')[0]} (package containerd) is too old: Kubernetes ${testedRelease(35)} needs containerd 1.7.28 or later on 1.7, or 2.1.5 or later;`);
    }
  });

  test('an OS package whose version is not known in advance is checked once installed, before it is configured', () => {
    const node = new Sandbox('ubuntu', { files: { '/.fake/repo-versions.json': JSON.stringify({ containerd: '1.7.12-0ubuntu4' }) } });
    const result = node.run('prep', ['--config', withPackages('distro')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`k8s-node1: containerd 1.7.12 is installed, too old: Kubernetes ${defaultConfig().kubernetes.version} needs containerd 2.2.0 or later; set packages.containerd: docker (Docker's containerd.io), or upgrade containerd on the node`);
    expect(node.readFile('/etc/containerd/config.toml')).toBeUndefined();
    // A new enough one goes on.
    const current = new Sandbox('ubuntu', { files: { '/.fake/repo-versions.json': JSON.stringify({ containerd: '2.2.1-0ubuntu1~24.04.1' }) } });
    const ok = current.run('prep', ['--config', withPackages('distro')]);
    expect(ok.stderr).toBe('');
    expect(current.readFile('/etc/containerd/config.toml')).toMatch(/^version = 3$/m);
  });

  test('packages.containerd: distro on EL9: refused before any change, it has no containerd of its own', () => {
    const node = new Sandbox('el9');
    const result = node.run('prep', ['--config', withPackages('distro')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('k8s-node1: Rocky Linux 9.5 (Blue Onyx) has no containerd package of its own; set packages.containerd: docker (Docker\'s containerd.io)\n');
    expect(node.mutatingCommands()).toEqual([]);
  });
});

describe('a registry mirror with a private CA', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mirror-'));
  const configFile = path.join(dir, 'cluster.yaml');
  const node = new Sandbox('debian');
  let first: ReturnType<Sandbox['run']>;
  beforeAll(() => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'mirror-ca.crt'), '-days', '1', '-subj', '/CN=mirror'], { stdio: 'ignore' });
    writeFileSync(configFile, `${readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8')}\nimages:\n  mirror: registry.example.com:5000/k8s\n  mirrorCa: mirror-ca.crt\n`);
    first = node.run('prep', ['--config', configFile]);
  });

  test('containerd pulls every registry the cluster uses through the mirror, trusting its CA; images keep their names', () => {
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    for (const upstream of ['docker.io', 'ghcr.io', 'registry.k8s.io']) {
      expect(node.readFile(`/etc/containerd/certs.d/${upstream}/hosts.toml`)).toContain(`[host."https://registry.example.com:5000/v2/k8s"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n  ca = "/etc/containerd/certs.d/${upstream}/mirror-ca.crt"\n`);
      expect(node.readFile(`/etc/containerd/certs.d/${upstream}/mirror-ca.crt`)).toBe(readFileSync(path.join(dir, 'mirror-ca.crt'), 'utf8'));
    }
    expect(node.readFile('/etc/containerd/config.toml')).toContain(`sandbox = "${PAUSE}"`);
  });

  test('without the mirror, a re-run takes its hosts.toml files back and leaves a user\'s own alone', () => {
    node.writeFile('/etc/containerd/certs.d/quay.io/hosts.toml', 'server = "https://quay.io"\n');
    writeFileSync(configFile, readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8'));
    const again = node.run('prep', ['--config', configFile]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('registry.k8s.io: no mirror any more, /etc/containerd/certs.d/registry.k8s.io/hosts.toml removed');
    for (const upstream of ['docker.io', 'ghcr.io', 'registry.k8s.io']) expect(node.readFile(`/etc/containerd/certs.d/${upstream}/hosts.toml`)).toBeUndefined();
    expect(node.readFile('/etc/containerd/certs.d/quay.io/hosts.toml')).toBe('server = "https://quay.io"\n');
  });
});

describe('apt while unattended-upgrades holds the dpkg lock (a freshly booted Ubuntu)', () => {
  test('prep waits for the lock instead of failing', () => {
    const node = new Sandbox('ubuntu', { files: { '/.fake/dpkg-lock': '1234' } });
    const result = node.run('prep');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});

describe('a command fails midway', () => {
  const node = new Sandbox('el9');
  node.failOn('dnf install');
  const failed = node.run('prep');

  test('one line names the node, the step, the command, its exit code and stderr; secrets masked', () => {
    expect(failed.code).toBe(1);
    const lines = failed.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^k8s-node1: step "packages" failed: \`dnf install -y --disableexcludes=kubernetes,docker-ce-stable containerd\\.io kubelet-${VERSION_RE} kubeadm-${VERSION_RE} kubectl-${VERSION_RE} cri-tools\` exited 1: injected failure for the test`));
    expect(lines[0]).toContain('abcdef.****************');
    expect(lines[0]).not.toContain('0123456789abcdef');
    expect(failed.stderr).not.toMatch(/\n\s+at /);
  });

  test('files edited before the failure keep their backups', () => {
    const files = Object.keys(node.tree());
    for (const edited of ['/etc/hosts', '/etc/fstab', '/etc/selinux/config']) {
      expect(files.filter((f) => f.startsWith(`${edited}.bak-`))).toHaveLength(1);
    }
  });

  test('a re-run continues from where it failed and finishes', () => {
    node.failOn();
    node.clearCommands();
    const rerun = node.run('prep');
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toMatch(/swap: ok, nothing to change/);
    expect(rerun.stdout).toMatch(new RegExp(`packages: installed containerd\\.io, kubelet ${VERSION_RE}`));
    expect(node.mutatingCommands().map((c) => c[0])).not.toContain('swapoff');
  });
});

describe('containerd runs with the config prep wrote', () => {
  type Services = { containerd: { runningConfig?: string; restartCount?: number } };
  test.each([['debian'], ['el9']] as const)('%s: a fresh node, and a node whose config prep rewrites (restarted, not only written)', (family) => {
    const node = new Sandbox(family);
    expect(node.run('prep').code).toBe(0);
    expect(node.fakeState<Services>('services.json').containerd.runningConfig).toBe(node.readFile('/etc/containerd/config.toml'));
    // Someone edits the file; the next prep puts its own back and restarts containerd, so that is what runs.
    node.writeFile('/etc/containerd/config.toml', 'version = 3\n');
    expect(node.run('prep').code).toBe(0);
    expect(node.readFile('/etc/containerd/config.toml')).toMatch(/SystemdCgroup = true/);
    expect(node.fakeState<Services>('services.json').containerd.runningConfig).toBe(node.readFile('/etc/containerd/config.toml'));
  });
});

describe('the Kubernetes packages are pinned by their whole version', () => {
  test('kubeadm 1.37.20 installed is not the configured 1.37.2: the pinned version is installed', () => {
    const version = defaultConfig().kubernetes.version;
    const longer = `${version}0-1.1`;
    const node = new Sandbox('debian', { files: { '/.fake/packages.json': JSON.stringify({ kubelet: longer, kubeadm: longer, kubectl: longer }) } });
    const result = node.run('prep');
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`installed containerd.io, kubelet ${version}, kubeadm ${version}, kubectl ${version}, cri-tools`);
    const installed = node.fakeState<Record<string, string>>('packages.json');
    expect([installed.kubelet, installed.kubeadm, installed.kubectl]).toEqual([`${version}-1.1`, `${version}-1.1`, `${version}-1.1`]);
  });
});

describe('apt: one index refresh per need', () => {
  const node = new Sandbox('debian');
  const updates = () => node.commands().filter((c) => c.includes('apt-get') && c.includes('update')).length;
  const installAt = () => node.commands().findIndex((c) => c.includes('apt-get') && c.includes('install') && c.includes('containerd.io'));

  test('a fresh node: the index refreshed once after the repository is added, not again right before the install', () => {
    node.failOn('apt-get -o DPkg::Lock::Timeout=600 install -y --allow-change-held-packages');
    expect(node.run('prep').code).toBe(1);
    const commands = node.commands();
    const sourceWritten = commands.findIndex((c) => c.includes('curl') && c.some((a) => a.endsWith('Release.key')));
    expect(sourceWritten).toBeGreaterThanOrEqual(0);
    expect(commands.slice(sourceWritten, installAt()).filter((c) => c.includes('update'))).toHaveLength(1);
  });

  test('a re-run with the repository already there refreshes the index before it installs', () => {
    node.failOn();
    node.clearCommands();
    expect(node.run('prep').code).toBe(0);
    expect(updates()).toBe(1);
    expect(node.commands().findIndex((c) => c.includes('update'))).toBeLessThan(installAt());
  });
});

describe('prep in a system container (LXC) on Debian', () => {
  /** What an LXC container on a host that did its part sees: its kind, the host's modules (no /sys/module), the kubelet's settings in place. */
  const containerFiles = (settings: Record<string, string> = {}) => ({
    '/run/systemd/container': 'lxc',
    '/.fake/container': 'lxc',
    '/etc/machine-id': '5e0c2b6f1f6a4f3c9d2e8b7a6c5d4e3f\n',
    '/proc/filesystems': 'nodev\tsysfs\nnodev\ttmpfs\nnodev\toverlay\n',
    '/proc/sys/net/bridge/bridge-nf-call-iptables': '0\n',
    '/proc/sys/net/bridge/bridge-nf-call-ip6tables': '0\n',
    '/proc/sys/vm/overcommit_memory': '1\n', '/proc/sys/vm/panic_on_oom': '0\n', '/proc/sys/kernel/panic': '10\n', '/proc/sys/kernel/panic_on_oops': '1\n',
    '/proc/sys/kernel/keys/root_maxkeys': '1000000\n', '/proc/sys/kernel/keys/root_maxbytes': '25000000\n',
    ...settings,
  });

  test('loads no module and writes no modules-load.d file (the host\'s kernel has them), says why; containerd may not lower OOM scores', () => {
    const node = new Sandbox('debian', { files: containerFiles() });
    const result = node.run('prep');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\[k8s-node1\] facts: Debian GNU\/Linux 12 \(bookworm\) \(debian\), system container \(lxc\), .*machine-id 5e0c2b6f1f6a4f3c9d2e8b7a6c5d4e3f,/);
    expect(result.stdout).toContain('[k8s-node1] note: a system container (lxc) uses the host\'s kernel: overlay and br_netfilter are there; nothing to load, and no /etc/modules-load.d/kubernetes.conf');
    expect(node.commands().filter((c) => c[0] === 'modprobe')).toEqual([]);
    expect(node.readFile('/etc/modules-load.d/kubernetes.conf')).toBeUndefined();
    // The network namespace's own settings are the node's to write.
    expect(node.readFile('/proc/sys/net/bridge/bridge-nf-call-iptables')).toBe('1\n');
    expect(node.readFile('/etc/containerd/config.toml')).toContain("[plugins.'io.containerd.cri.v1.runtime']\n  restrict_oom_score_adj = true\n");
    expect(result.stdout).toContain('restrict_oom_score_adj = true (a system container may not lower OOM scores)');
    node.clearCommands();
    expect(node.run('prep').stdout).toContain('[k8s-node1] prep: nothing changed, the node already was as configured');
    expect(node.mutatingCommands()).toEqual([]);
  });

  test('a host without br_netfilter and with its own kernel.panic: refused before any change, each with the host-side fix', () => {
    const files: Record<string, string> = containerFiles({ '/proc/sys/kernel/panic': '0\n' });
    delete files['/proc/sys/net/bridge/bridge-nf-call-iptables'];
    delete files['/proc/sys/net/bridge/bridge-nf-call-ip6tables'];
    const node = new Sandbox('debian', { files });
    const before = node.tree();
    const result = node.run('prep');
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      'k8s-node1: runs in a system container (lxc), which cannot load kernel modules, and the kernel has no br_netfilter: load it on the host (modprobe br_netfilter, and add it to /etc/modules-load.d/ there)',
      expect.stringMatching(/^k8s-node1: runs in a system container \(lxc\), where the kubelet's global kernel settings are the host's .*kernel\.panic is 0, the kubelet needs 10; set them on the host \(sysctl -w kernel\.panic=10, persisted in \/etc\/sysctl\.d\/ there\)/),
    ]);
    expect(node.mutatingCommands()).toEqual([]);
    expect(node.tree()).toEqual(before);
  });
});

describe('refused before any change', () => {
  const refused = (sandbox: Sandbox, args: string[] = [], env: Record<string, string> = {}) => {
    const before = sandbox.tree();
    const result = sandbox.run('prep', args, env);
    expect(result.code).toBe(1);
    expect(sandbox.mutatingCommands()).toEqual([]);
    expect(sandbox.tree()).toEqual(before);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    return result.stderr.trimEnd().split('\n');
  };

  test('CentOS 7: the reason and the way out', () => {
    const lines = refused(new Sandbox('el9', { files: { '/etc/os-release': 'NAME="CentOS Linux"\nID="centos"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n' } }));
    expect(lines).toEqual([expect.stringMatching(/^k8s-node1: CentOS Linux 7 \(Core\) is not supported: EL7 reached end of life on 2024-06-30 and runs cgroup v1.*reinstall the node with Rocky Linux 9/)]);
  });

  test('a small control plane, not root, cgroup v1, no default route, a port in use: all reported at once', () => {
    const sandbox = new Sandbox('debian', { nproc: 1, files: { '/proc/meminfo': 'MemTotal: 1000000 kB\n', '/.fake/listening': '22\n6443\n', '/.fake/default-route': '' } });
    rmSync(`${sandbox.root}/sys/fs/cgroup/cgroup.controllers`);
    const lines = refused(sandbox, [], { FAKE_UID: '1000' });
    expect(lines).toHaveLength(6);
    expect(lines.join('\n')).toMatch(/uid 1000: run it with sudo[\s\S]*cgroup v1[\s\S]*at least 2 CPUs; it has 1[\s\S]*976 MB[\s\S]*no IPv4 default route[\s\S]*port\(s\) 6443 already in use/);
  });

  test('cluster.yaml names another OS family than the node runs', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cfg-')), 'cluster.yaml');
    writeFileSync(file, readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8').replace('role: control-plane', 'role: control-plane\n    os: ubuntu'));
    const lines = refused(new Sandbox('el9'), ['--config', file]);
    expect(lines).toEqual([expect.stringMatching(/^k8s-node1: cluster\.yaml says os: ubuntu but the node runs Rocky Linux 9\.5 \(Blue Onyx\) \(el9\); fix nodes\[\]\.os or remove it$/)]);
  });

  test('which node: none or an unknown one', () => {
    expect(refused(new Sandbox('el9', { address: '10.9.9.9' }))).toEqual([
      'none of the nodes in the cluster config (k8s-node1 192.168.83.133, k8s-node2 192.168.83.134, k8s-node3 192.168.83.135) has an address on this machine (127.0.0.1, 10.9.9.9); pass --node NAME',
    ]);
    expect(refused(new Sandbox('el9'), ['--node', 'k8s-node9'])).toEqual(['--node k8s-node9: no such node in the cluster config (nodes: k8s-node1, k8s-node2, k8s-node3)']);
  });

  test('a bad cluster config: its lines, before the node is looked at', () => {
    const sandbox = new Sandbox('el9');
    const lines = refused(sandbox, [], { CLUSTER_CONFIG: `${__dirname}/../package.json` });
    expect(lines).toContainEqual(expect.stringMatching(/^package\.json:\d+:\d+: name: unknown field; check its spelling/));
    expect(lines).toContainEqual('package.json:1:1: kubernetes: is required');
    expect(sandbox.commands()).toEqual([]);
  });
});
