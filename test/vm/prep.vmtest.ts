/**
 * npm run test:vm: node preparation on a real Debian 12 VM (qemu, tcg): what
 * only a real kernel and a real boot show, which the system-container nodes
 * of the real-cluster test (test/cluster/) cannot: swap and /etc/fstab,
 * loading kernel modules and persisting them, global sysctls, ufw filtering,
 * and a reboot that brings it all back.
 *
 * hosts/prep.mjs runs on the VM as a user runs it there (the checkout and
 * node on a disk of their own), with the real packages: kubelet, kubeadm,
 * kubectl, cri-tools and kubernetes-cni from a repository laid out like
 * pkgs.k8s.io and containerd.io from one laid out like Docker's, built from
 * the binaries `npm run kube:build` made (packages.ts). The VM reaches only
 * those and Debian's archive, through an apt proxy that refuses anything
 * else (egress.ts); restricted user-mode networking allows nothing more.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { readBuild, versionDir } from '../../scripts/kube-build/cache';
import { type ClusterParts, ensureClusterParts } from '../../scripts/kube-build/cluster-parts';
import { missingPrerequisite } from '../prerequisites';
import { type Egress, startEgress } from './egress';
import { baseImage, bootVm, type Image, projectDisk, removeEarlierRunFiles, removeRunFiles, stopAll, timer, vmToolsMissing, type Vm } from './machine';
import { type PackageRepos, startPackageRepos } from './packages';

const ROOT = path.resolve(__dirname, '../..');
const VERSION = String(parseDocument(readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8')).getIn(['kubernetes', 'version']));
const NODE = { name: 'k8s-node1', address: '10.0.2.15' };
const REPO_ON_VM = '/root/cluster';
// The only addresses the VM reaches outside itself (guestfwd to this machine's loopback).
const REPO_HOST = '10.0.2.100';
const PROXY_FOR_VM = '10.0.2.101:3142';
/** Where runs keep their folders: not /tmp, which is often a small tmpfs. */
const WORK_PARENT = process.env.VM_WORK ?? '/var/tmp';

const buildMissing = () => (readBuild(VERSION) ? [] : [`the Kubernetes ${VERSION} build (npm run kube:build -- --tested)`]);
const missing = [...vmToolsMissing(), ...buildMissing()];

if (missing.length) {
  missingPrerequisite('VM test (prep)', `needs ${missing.join(', ')}`);
} else {
  const { timings, time, summary } = timer();
  mkdirSync(WORK_PARENT, { recursive: true });
  const work = mkdtempSync(path.join(WORK_PARENT, 'vmtest-prep-'));
  let vm: Vm;
  let image: Image;
  let parts: ClusterParts;
  let repos: PackageRepos;
  let egress: Egress;

  /** The repository's cluster.yaml, comments kept, as one node at the VM's address, with the test's repositories. */
  const clusterYaml = () => {
    const doc = parseDocument(readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8'));
    doc.setIn(['nodes'], [{ name: NODE.name, address: NODE.address, role: 'control-plane' }]);
    doc.setIn(['packages', 'kubernetes'], `http://${REPO_HOST}/k8s/core:/stable:`);
    doc.setIn(['packages', 'docker'], `http://${REPO_HOST}/docker`);
    return doc.toString();
  };
  /** hosts/prep.mjs on the VM, in the repository there. */
  const prep = (label: string, args = '') => time(label, () => vm.run(`cd ${REPO_ON_VM} && ./hosts/prep.mjs ${args}`));

  /** What a run could change: files, packages, holds, firewall rules, /etc's entries, services' starts. */
  const state = () => vm.sh([
    'md5sum /etc/fstab /etc/hosts /etc/hostname /etc/containerd/config.toml /etc/sysctl.d/99-kubernetes.conf /etc/modules-load.d/kubernetes.conf /etc/apt/sources.list.d/kubernetes.list /etc/apt/sources.list.d/docker.list',
    "dpkg-query -W -f='${Package} ${Version} ${Status}\\n' | md5sum",
    'apt-mark showhold | md5sum',
    'ufw show added | md5sum',
    'ls -a /etc /etc/kubernetes /root | md5sum',
    'systemctl show -p ActiveEnterTimestampMonotonic -p NRestarts containerd',
  ].join('; '));
  const MARK = '/run/vmtest-mark';
  /** Files a run wrote since the mark (the checkout, with its logs, is a disk of its own: -xdev). */
  const writtenSinceMark = () => vm.sh(`find / -xdev \\( -path /proc -o -path /sys -o -path /run -o -path /dev -o -path /tmp -o -path /var/log -o -path /var/cache -o -path /var/tmp -o -path /var/lib/containerd -o -path /var/lib/systemd -o -path /var/lib/dhcp \\) -prune -o -newer ${MARK} -print`);

  beforeAll(async () => {
    removeEarlierRunFiles(work);
    const log = (line: string) => process.stderr.write(`VM test: ${line}\n`);
    const kubeDir = versionDir(VERSION);
    image = await time('VM image (build or cache)', () => baseImage());
    parts = await time('cluster parts (build or cache)', () => ensureClusterParts(path.join(kubeDir, 'bin', 'kubeadm'), log));
    repos = await time('package repositories', () => startPackageRepos(work, kubeDir, readBuild(VERSION)!, parts));
    egress = await startEgress();
    const disk = await time('project disk', () => projectDisk(work, ROOT));
    vm = await time('boot', () => bootVm(image, work, {
      name: NODE.name, index: 1, cpus: 2, memoryMiB: 2048, disks: [disk],
      forwards: [{ guest: `${REPO_HOST}:80`, hostPort: repos.port }, { guest: PROXY_FOR_VM, hostPort: egress.port }],
    }));
    // What a fresh VM of the tutorial has: swap in /etc/fstab and on, ufw on with SSH allowed; restricted
    // user-mode networking hands out no default route. apt reaches Debian's archive through the test's proxy.
    vm.sh([
      'dd if=/dev/zero of=/swapfile bs=1M count=256 status=none && chmod 600 /swapfile && mkswap /swapfile >/dev/null && swapon -a',
      'ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null',
      `printf 'Acquire::http::Proxy "http://${PROXY_FOR_VM}/";\\nAcquire::http::Proxy::${REPO_HOST} "DIRECT";\\n' > /etc/apt/apt.conf.d/00vmtest-proxy`,
      `mkdir -p /opt/vmtest && mount /dev/vdb /opt/vmtest && ln -s /opt/vmtest/repo ${REPO_ON_VM} && ln -s /opt/vmtest/bin/node /usr/local/bin/node`,
    ].join(' && '));
    vm.sh(`cat > ${REPO_ON_VM}/cluster.yaml`, clusterYaml());
  }, 3_600_000);

  afterAll(async () => {
    stopAll();
    await repos?.stop();
    await egress?.stop();
    removeRunFiles(work);
    process.stderr.write(`VM test (prep) timings: ${summary()}${image?.buildSeconds ? ` (VM image built in ${image.buildSeconds.toFixed(0)}s)` : ' (VM image from the cache)'}; console in ${work}\n`);
  });

  test('a VM without a default route is refused before anything is touched, with the fix', async () => {
    const refused = await prep('prep, refused');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${NODE.name}: has no IPv4 default route;`);
    expect(vm.sh('test -e /etc/apt/sources.list.d/kubernetes.list && echo touched || echo untouched').trim()).toBe('untouched');
    expect(vm.sh('swapon --show --noheadings')).toContain('/swapfile');
    // The fix the line gives, persisted: user-mode networking's gateway leads nowhere, which is enough.
    vm.sh("ip route replace default via 10.0.2.2 dev eth0 && sed -i '/iface eth0 inet dhcp/a\\    post-up ip route replace default via 10.0.2.2 dev eth0' /etc/network/interfaces");
  });

  test('hosts/prep.mjs prepares the VM: facts of a VM, every step done', async () => {
    const first = await prep('prep, first run');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`\\[${NODE.name}\\] facts: Debian GNU/Linux 12 \\(bookworm\\) \\(debian\\), VM or bare metal, 2 CPU\\(s\\), \\d+ MB, cgroup v2, product_uuid 6b1c1f0e-0000-4000-8000-000000000001,`));
    expect(first.stdout).toMatch(/prep: done, \d+ step\(s\) changed something/);
  }, 1_800_000);

  test('swap off now and commented out in /etc/fstab, with a backup', () => {
    expect(vm.sh('swapon --show --noheadings')).toBe('');
    expect(vm.sh('cat /etc/fstab')).toMatch(/^#swap-off \(managed by hosts\/prep\.mjs\): \/swapfile none swap sw 0 0$/m);
    expect(vm.sh('cat /etc/fstab.bak-*')).toContain('\n/swapfile none swap sw 0 0');
  });

  test('kernel modules loaded by prep and persisted; sysctls live and persisted', () => {
    expect(vm.sh('lsmod')).toMatch(/^br_netfilter /m);
    expect(vm.sh('lsmod')).toMatch(/^overlay /m);
    expect(vm.sh('cat /etc/modules-load.d/kubernetes.conf').split('\n').filter((l) => l && !l.startsWith('#')).sort()).toEqual(['br_netfilter', 'overlay']);
    expect(vm.sh('sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables')).toBe('1\n1\n1\n');
    const persisted = vm.sh('cat /etc/sysctl.d/99-kubernetes.conf');
    for (const key of ['net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables']) {
      expect(persisted).toMatch(new RegExp(`^${key.replaceAll('.', '\\.')} *= *1$`, 'm'));
    }
  });

  test('containerd.io from the Docker-style repository, running with SystemdCgroup and kubeadm\'s pause image; kube packages pinned and held; kubelet enabled', () => {
    expect(vm.sh("dpkg-query -W -f='${Version}' containerd.io")).toBe(repos.containerdVersion);
    expect(vm.sh('systemctl is-active containerd').trim()).toBe('active');
    const dump = vm.sh('containerd config dump');
    expect(dump).toMatch(/SystemdCgroup = true/);
    const pause = execFileSync(path.join(versionDir(VERSION), 'bin', 'kubeadm'), ['config', 'images', 'list', `--kubernetes-version=v${VERSION}`], { encoding: 'utf8' }).split('\n').find((l) => l.includes('/pause:'));
    // containerd 2 prints its dump's strings in single quotes.
    expect(dump).toContain(`sandbox = '${pause}'`);
    // The repository also holds the next patch release: the install pinned the configured version, and the hold keeps it.
    expect(repos.kubernetesVersions).toEqual([`${VERSION}-1.1`, expect.not.stringMatching(VERSION)]);
    expect(vm.sh("dpkg-query -W -f='${Package} ${Version}\\n' kubelet kubeadm kubectl")).toBe(`kubeadm ${VERSION}-1.1\nkubectl ${VERSION}-1.1\nkubelet ${VERSION}-1.1\n`);
    expect(vm.sh('apt-mark showhold').split('\n').filter(Boolean).sort()).toEqual(['containerd.io', 'cri-tools', 'kubeadm', 'kubectl', 'kubelet']);
    const upgrade = vm.sh('apt-get -s upgrade');
    expect(upgrade).toMatch(/kept back:\n +kubeadm kubectl kubelet\n/);
    expect(upgrade).not.toMatch(/^Inst kube(let|adm|ctl) /m);
    expect(vm.sh('systemctl is-enabled kubelet').trim()).toBe('enabled');
  });

  test('its node name, itself in /etc/hosts once; ufw active with the control plane\'s ports, live in the kernel\'s tables', () => {
    expect(vm.sh('hostname').trim()).toBe(NODE.name);
    expect(vm.sh('cat /etc/hosts').match(new RegExp(`^${NODE.address.replaceAll('.', '\\.')}\\s+${NODE.name}\\b`, 'gm'))).toHaveLength(1);
    expect(vm.sh('ufw status')).toMatch(/^Status: active$/m);
    const rules = vm.sh('ufw show added');
    for (const rule of ['ufw allow 6443/tcp', 'ufw allow 2379:2380/tcp', 'ufw allow 10250/tcp', 'ufw allow 30000:32767/tcp', 'ufw allow 8472/udp', 'ufw route allow from 10.244.0.0/16']) expect(rules).toContain(rule);
    // A cluster of one node serves the ingress controller's ports too.
    expect(rules).toContain('ufw allow 80/tcp');
    // The rules are live in the kernel's tables, not only in ufw's files; a port prep does not open (Traefik's metrics) is not there.
    const live = vm.sh('iptables -S ufw-user-input');
    expect(live).toMatch(/--dport 6443 -j ACCEPT/);
    expect(live).toMatch(/--dport 10250 -j ACCEPT/);
    expect(live).not.toContain('--dport 8082');
  });

  test('a second run changes nothing and writes no file', async () => {
    const before = state();
    vm.sh(`touch ${MARK}`);
    const second = await prep('prep, second run');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`[${NODE.name}] prep: nothing changed, the node already was as configured`);
    expect(state()).toBe(before);
    expect(writtenSinceMark()).toBe('');
    expect(timings['prep, second run']).toBeLessThan(timings['prep, first run'] / 2);
  });

  test('after a reboot: swap still off, the modules and sysctls back, containerd running, kubelet enabled, ufw active', async () => {
    timings.reboot = await vm.reboot();
    expect(vm.sh('swapon --show --noheadings')).toBe('');
    expect(vm.sh('lsmod')).toMatch(/^br_netfilter /m);
    expect(vm.sh('lsmod')).toMatch(/^overlay /m);
    expect(vm.sh('sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables')).toBe('1\n1\n');
    expect(vm.sh('systemctl is-active containerd').trim()).toBe('active');
    expect(vm.sh('systemctl is-enabled kubelet').trim()).toBe('enabled');
    expect(vm.sh('ufw status')).toMatch(/^Status: active$/m);
    expect(vm.sh('ip -4 route show default')).toMatch(/^default via 10\.0\.2\.2/);
  });

  test('the VM reached nothing outside itself but Debian\'s archive (through the proxy) and the test\'s repositories', async () => {
    expect(egress.refused).toEqual([]);
    expect([...egress.passed.keys()]).toContain('deb.debian.org');
    const code = async (args: string) => (await vm.run(`curl -s -o /dev/null -w '%{http_code}' --max-time 10 ${args} || true`)).stdout.trim();
    const release = `/k8s/core:/stable:/v${VERSION.split('.').slice(0, 2).join('.')}/deb/Release`;
    expect(await code(`http://${REPO_HOST}${release}`)).toBe('200');
    // The same server at this machine's own address: out of reach (restrict=on).
    expect(await code(`http://10.0.2.2:${repos.port}${release}`)).toBe('000');
    expect(await code(`-x http://${PROXY_FOR_VM} http://example.invalid/`)).toBe('403');
    expect(egress.refused).toEqual(['GET http://example.invalid/']);
  });
}
