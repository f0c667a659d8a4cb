/**
 * The node steps on a real Debian 12 VM (qemu, tcg): prep and init, driven
 * over SSH exactly as hosts/prep.mjs and hosts/init.mjs drive them, against
 * real apt, systemd, containerd, modprobe, sysctl, swap, ufw and /etc files.
 * Only the Kubernetes packages are stand-ins, from a signed repository this
 * test serves (pkgs.k8s.io cannot be reached here).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { clusterConfigSchema } from '../../config/schema';
import { initSteps } from '../../hosts/kubeadm';
import { prepareNode } from '../../hosts/prep';
import { SshHost } from '../../hosts/ssh';
import { NodeRun } from '../../hosts/steps';
import { baseImage, bootVm, type Image, vmToolsMissing, type Vm } from './machine';
import { type StandinRepo, startStandinRepo } from './standin-repo';

const VERSION = '1.35.1';
const missing = vmToolsMissing();

if (missing.length) {
  process.stderr.write(`VM test: SKIPPED: needs ${missing.join(', ')} (apt-get install debootstrap qemu-system-x86 apt-utils gpg; run as root)\n`);
  test.skip('VM test (SKIPPED: tools missing)', () => undefined);
} else {
  const timings: Record<string, number> = {};
  const time = async <T>(label: string, body: () => Promise<T> | T): Promise<T> => {
    const started = Date.now();
    try {
      return await body();
    } finally {
      timings[label] = (Date.now() - started) / 1000;
    }
  };
  const work = mkdtempSync(path.join(tmpdir(), 'vmtest-'));
  let image: Image;
  let vm: Vm;
  let repo: StandinRepo;
  let lines: string[] = [];
  let config: ReturnType<typeof clusterConfigSchema.parse>;
  let changesOfFirstRun: string[] = [];

  const runOnVm = async (body: (run: NodeRun) => Promise<unknown>) => {
    const node = config.nodes[0];
    const sshConfig = path.join(work, 'ssh_config');
    writeFileSync(sshConfig, `Host *\n  UserKnownHostsFile ${path.join(work, 'known_hosts')}\n`);
    const run = new NodeRun(node.name, new SshHost(node, { sshConfig }), 'apply', { line: (l) => lines.push(l) });
    await body(run);
    return run;
  };

  beforeAll(async () => {
    image = await time('image (build or cache)', () => baseImage());
    repo = await startStandinRepo(VERSION);
    vm = await time('boot', () => bootVm(image, work));
    config = clusterConfigSchema.parse({
      kubernetes: { version: VERSION },
      nodes: [{ name: 'k8s-node1', address: '10.0.2.15', role: 'control-plane', ssh: { host: '127.0.0.1', port: vm.sshPort, identityFile: image.key } }],
      images: { mirror: 'registry.example.com/k8s' },
      packages: { kubernetes: repo.baseForVm },
    });
  }, 1_800_000);

  afterAll(async () => {
    await SshHost.closeAll();
    vm?.stop();
    await repo?.stop();
    const summary = Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(1)}s`).join(', ');
    process.stderr.write(`VM test timings: ${summary}${image?.buildSeconds ? ` (image built in ${image.buildSeconds.toFixed(0)}s)` : ' (image from the cache)'}\n`);
  });

  test('prep on a fresh Debian 12 VM with swap on', async () => {
    vm.sh('[ -s /swapfile ] || { dd if=/dev/zero of=/swapfile bs=1M count=256 status=none && chmod 600 /swapfile && mkswap /swapfile >/dev/null; }; swapon -a');
    expect(vm.sh('swapon --show --noheadings')).toContain('/swapfile');
    const run = await time('prep, first run', () => runOnVm((r) => prepareNode(r, config, config.nodes[0])));
    changesOfFirstRun = run.changes;
    expect(lines.join('\n')).toMatch(/prep: done, \d+ step\(s\) changed something/);
  });

  test('swap off now and commented out in /etc/fstab, with a backup', () => {
    expect(vm.sh('swapon --show --noheadings')).toBe('');
    expect(vm.sh('cat /etc/fstab')).toMatch(/^#swap-off \(managed by hosts\/prep\.mjs\): \/swapfile none swap sw 0 0$/m);
    expect(vm.sh('cat /etc/fstab.bak-*')).toContain('\n/swapfile none swap sw 0 0');
  });

  test('br_netfilter and overlay loaded and persisted; sysctls live and persisted', () => {
    expect(vm.sh('lsmod')).toMatch(/^br_netfilter /m);
    expect(vm.sh('lsmod')).toMatch(/^overlay /m);
    expect(vm.sh('cat /etc/modules-load.d/kubernetes.conf')).toMatch(/^br_netfilter$/m);
    expect(vm.sh('sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables')).toBe('1\n1\n1\n');
  });

  test('containerd from Debian active, with SystemdCgroup and the mirror\'s pause image as containerd itself reads them', () => {
    expect(vm.sh('systemctl is-active containerd').trim()).toBe('active');
    const dump = vm.sh('containerd config dump');
    expect(dump).toMatch(/SystemdCgroup = true/);
    expect(dump).toContain('sandbox_image = "registry.example.com/k8s/pause:3.10.1"');
  });

  test('kube packages at the pinned version from the signed repository, held; kubelet enabled', () => {
    expect(vm.sh("dpkg-query -W -f='${Package} ${Version}\\n' kubelet kubeadm kubectl")).toBe(`kubeadm ${VERSION}-1.1\nkubectl ${VERSION}-1.1\nkubelet ${VERSION}-1.1\n`);
    expect(vm.sh('apt-mark showhold').split('\n').sort().filter(Boolean)).toEqual(['kubeadm', 'kubectl', 'kubelet']);
    expect(vm.sh('cat /etc/apt/sources.list.d/kubernetes.list')).toContain(`[signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] ${repo.baseForVm}/v1.35/deb/ /`);
    expect(vm.sh('systemctl is-enabled kubelet').trim()).toBe('enabled');
  });

  test('hostname, /etc/hosts entry exactly once, ufw rules for the role', () => {
    expect(vm.sh('hostname').trim()).toBe('k8s-node1');
    expect(vm.sh('grep -c k8s-node1 /etc/hosts').trim()).toBe('1');
    const rules = vm.sh('ufw show added');
    for (const rule of ['ufw allow 6443/tcp', 'ufw allow 2379:2380/tcp', 'ufw allow 10250/tcp', 'ufw allow 8472/udp', 'ufw route allow from 10.244.0.0/16']) expect(rules).toContain(rule);
  });

  test('a second run changes nothing: no command that changes the node, same files and packages, faster', async () => {
    const files = '/etc/fstab /etc/hosts /etc/containerd/config.toml /etc/sysctl.d/99-kubernetes.conf /etc/modules-load.d/kubernetes.conf /etc/apt/sources.list.d/kubernetes.list';
    const before = vm.sh(`md5sum ${files}; dpkg-query -W -f='\${Package} \${Version} \${Status}\\n' | md5sum; ls /etc | md5sum`);
    lines = [];
    const run = await time('prep, second run', () => runOnVm((r) => prepareNode(r, config, config.nodes[0])));
    expect(run.changes).toEqual([]);
    expect(lines.join('\n')).toContain('prep: nothing changed, the node already was as configured');
    expect(vm.sh(`md5sum ${files}; dpkg-query -W -f='\${Package} \${Version} \${Status}\\n' | md5sum; ls /etc | md5sum`)).toBe(before);
    expect(changesOfFirstRun.length).toBeGreaterThan(10);
    expect(timings['prep, second run']).toBeLessThan(timings['prep, first run']);
  });

  test('init with the stand-in kubeadm: the rendered config, root\'s kubeconfig', async () => {
    await time('init', () => runOnVm((r) => r.runSteps('init', initSteps(config, config.nodes[0]))));
    const init = vm.sh('cat /var/lib/standin-kubeadm/init.yaml');
    expect(init).toContain('podSubnet: 10.244.0.0/16');
    expect(init).toContain('imageRepository: registry.example.com/k8s');
    expect(init).toContain('advertiseAddress: 10.0.2.15');
    expect(vm.sh('stat -c %a /root/.kube/config').trim()).toBe('600');
  });

  test('after a reboot: swap still off, modules and sysctls back, containerd and kubelet up', async () => {
    timings.reboot = await vm.reboot();
    expect(vm.sh('swapon --show --noheadings')).toBe('');
    expect(vm.sh('lsmod')).toMatch(/^br_netfilter /m);
    expect(vm.sh('sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables')).toBe('1\n1\n');
    expect(vm.sh('systemctl is-active containerd kubelet')).toBe('active\nactive\n');
  });
}
