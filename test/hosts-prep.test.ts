/**
 * hosts/prep.mjs for real, in a child process, against fake hosts of each OS
 * family: the resulting files, idempotency, failures and preflight refusals.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { OsFamily } from '../hosts/os/release';
import { Sandbox } from './fakehost/sandbox';
import { ROOT } from './helpers';

const FAMILIES: OsFamily[] = ['el9', 'debian', 'ubuntu'];

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

  test('containerd: installed, SystemdCgroup = true, pause image from kubeadm, running', () => {
    const toml = cp.readFile('/etc/containerd/config.toml')!;
    expect(toml).toContain('SystemdCgroup = true');
    expect(toml).toContain('sandbox_image = "registry.k8s.io/pause:3.10.1"');
    expect(toml).not.toContain('disabled_plugins');
    expect(cp.fakeState<Record<string, { enabled: boolean; active: boolean }>>('services.json').containerd).toMatchObject({ enabled: true, active: true });
  });

  test('kubelet, kubeadm and kubectl pinned to the configured version, held, kubelet enabled', () => {
    const packages = cp.fakeState<Record<string, string>>('packages.json');
    for (const name of ['kubelet', 'kubeadm', 'kubectl']) expect(packages[name]).toMatch(/^1\.35\.1(-1\.1)?$/);
    if (family === 'el9') {
      expect(cp.readFile('/etc/yum.repos.d/kubernetes.repo')).toContain('exclude=kubelet kubeadm kubectl');
      expect(firstCommands).toContainEqual(['dnf', 'install', '-y', '--disableexcludes=kubernetes', 'containerd.io', 'kubelet-1.35.1', 'kubeadm-1.35.1', 'kubectl-1.35.1']);
    } else {
      expect(cp.fakeState<string[]>('holds.json').sort()).toEqual(['kubeadm', 'kubectl', 'kubelet']);
      expect(cp.readFile('/etc/apt/sources.list.d/kubernetes.list')).toContain('https://pkgs.k8s.io/core:/stable:/v1.35/deb/ /');
    }
    expect(cp.fakeState<Record<string, { enabled: boolean }>>('services.json').kubelet.enabled).toBe(true);
  });

  test('SELinux and the firewall, the family way', () => {
    if (family === 'el9') {
      expect(cp.readFile('/sys/fs/selinux/enforce')).toBe('0');
      expect(cp.readFile('/etc/selinux/config')).toMatch(/^SELINUX=permissive$/m);
      const firewalld = cp.fakeState<{ ports: string[]; sources: string[]; running: boolean }>('firewalld.json');
      expect(firewalld.running).toBe(true);
      expect(firewalld.ports).toEqual(expect.arrayContaining(['22/tcp', '6443/tcp', '2379-2380/tcp', '10250/tcp', '8472/udp', '30000-32767/tcp']));
      expect(firewalld.sources).toEqual(['10.244.0.0/16', '10.96.0.0/16']);
    } else {
      expect(cp.readFile('/etc/selinux/config')).toBeUndefined();
    }
    if (family === 'ubuntu') {
      expect(cp.fakeState<{ rules: string[] }>('ufw.json').rules).toEqual(expect.arrayContaining(['allow 6443/tcp', 'allow 8472/udp', 'route allow from 10.244.0.0/16']));
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
  test('opens the worker ports, including 80/443/8443 for the ingress controller on the host network', () => {
    const worker = new Sandbox('el9', { address: '192.168.83.134' });
    expect(worker.run('prep').code).toBe(0);
    expect(worker.readFile('/etc/hostname')).toBe('k8s-node2\n');
    const ports = worker.fakeState<{ ports: string[] }>('firewalld.json').ports;
    expect(ports).toEqual(expect.arrayContaining(['80/tcp', '443/tcp', '8443/tcp', '10250/tcp']));
    expect(ports).not.toContain('6443/tcp');
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
    expect(lines[0]).toMatch(/^k8s-node1: step "packages" failed: `dnf install -y --disableexcludes=kubernetes containerd\.io kubelet-1\.35\.1 kubeadm-1\.35\.1 kubectl-1\.35\.1` exited 1: injected failure for the test/);
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
    expect(rerun.stdout).toMatch(/packages: installed containerd\.io, kubelet 1\.35\.1/);
    expect(node.mutatingCommands().map((c) => c[0])).not.toContain('swapoff');
  });
});

describe('apt: one index refresh per need', () => {
  const node = new Sandbox('debian');
  const updates = () => node.commands().filter((c) => c.includes('apt-get') && c.includes('update')).length;
  const installAt = () => node.commands().findIndex((c) => c.includes('apt-get') && c.includes('install') && c.includes('containerd'));

  test('a fresh node: the index refreshed once after the repository is added, not again right before the install', () => {
    node.failOn('apt-get install -y --allow-change-held-packages');
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

  test('a small control plane, not root, cgroup v1, a port in use: all reported at once', () => {
    const sandbox = new Sandbox('debian', { nproc: 1, files: { '/proc/meminfo': 'MemTotal: 1000000 kB\n', '/.fake/listening': '22\n6443\n' } });
    rmSync(`${sandbox.root}/sys/fs/cgroup/cgroup.controllers`);
    const lines = refused(sandbox, [], { FAKE_UID: '1000' });
    expect(lines).toHaveLength(5);
    expect(lines.join('\n')).toMatch(/uid 1000: run it with sudo[\s\S]*cgroup v1[\s\S]*at least 2 CPUs; it has 1[\s\S]*976 MB[\s\S]*port\(s\) 6443 already in use/);
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
