/**
 * The whole bootstrap on three real Debian 12 VMs (qemu, tcg) on a private
 * network of their own: the repository and node are on the first VM, which
 * runs ./scripts/bootstrap.mjs there, as a user would; it reaches the two
 * workers over real SSH across that network. Everything on the VMs is real
 * (apt, systemd, containerd, modprobe, sysctl, swap, ufw, /etc files, SSH)
 * but the Kubernetes packages, which are stand-ins from a signed repository
 * this test serves (see standin-repo.ts).
 *
 * The private network is a user-space switch on a unix socket (switch.cjs):
 * it never touches a real interface. Each VM also has restricted user-mode
 * networking: this test's SSH comes in from a loopback port, and the VM
 * reaches only the test's package repository and an apt proxy that lets
 * through Debian's archive and nothing else (egress.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { caCertHash, DEFAULT_TICKET_FILE, JOIN_CONFIG_FILE } from '../../hosts/node/kubeadm';
import { missingPrerequisite } from '../prerequisites';
import { type Egress, startEgress } from './egress';
import { baseImage, bootVm, type Image, projectDisk, removeEarlierRunFiles, removeRunFiles, spawnTracked, stopAll, timer, vmToolsMissing, type Vm } from './machine';
import { type StandinRepo, startStandinRepo } from './standin-repo';

const VERSION = '1.35.1';
const ROOT = path.resolve(__dirname, '../..');
const NODES = [
  { name: 'k8s-node1', address: '192.168.56.11', role: 'control-plane' },
  { name: 'k8s-node2', address: '192.168.56.12', role: 'worker' },
  { name: 'k8s-node3', address: '192.168.56.13', role: 'worker' },
] as const;
const MIRROR = 'registry.example.com/k8s';
const NODE_PORT = 31080; // what the stand-in cluster "picks" for tomcat6's NodePort
const INGRESS_HOST = 'tomcat6.touch.air.mall.com';
const REPO_ON_VM = '/root/cluster';
// The only addresses a VM reaches outside itself (guestfwd to this machine's loopback).
const REPO_HOST = '10.0.2.100';
const REPO_FOR_VM = `${REPO_HOST}:80`;
const PROXY_FOR_VM = '10.0.2.101:3142';

const missing = vmToolsMissing();

if (missing.length) {
  missingPrerequisite('VM test (cluster)', `needs ${missing.join(', ')}`);
} else {
  const { timings, time, summary } = timer();
  const work = mkdtempSync(path.join(tmpdir(), 'vmtest-cluster-'));
  const vms: Vm[] = [];
  let image: Image;
  let repo: StandinRepo;
  let egress: Egress;
  /** Everything the runs printed, for the secrets check at the end. */
  const printed: string[] = [];

  const vm = (name: string) => vms.find((v) => v.name === name)!;
  const controlPlane = () => vm('k8s-node1');
  const workers = () => [vm('k8s-node2'), vm('k8s-node3')];

  /** The repository's cluster.yaml, comments kept, with this network's addresses, the mirror and the stand-in repository. */
  const clusterYaml = () => {
    const doc = parseDocument(readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8'));
    NODES.forEach((node, i) => {
      doc.setIn(['nodes', i, 'name'], node.name);
      doc.setIn(['nodes', i, 'address'], node.address);
      doc.setIn(['nodes', i, 'role'], node.role);
    });
    doc.setIn(['kubernetes', 'version'], VERSION);
    doc.setIn(['images', 'mirror'], MIRROR);
    // Docker's repository is out of the VMs' reach: Debian's own containerd (1.6).
    doc.setIn(['packages', 'containerd'], 'distro');
    doc.setIn(['packages', 'kubernetes'], `http://${REPO_HOST}/core:/stable:`);
    doc.setIn(['tomcat6', 'host'], INGRESS_HOST);
    return doc.toString();
  };

  /** ./scripts/bootstrap.mjs on the first VM, in the repository there, as a user runs it. */
  const bootstrap = async (label: string) => {
    const result = await time(label, () => controlPlane().run(`cd ${REPO_ON_VM} && ./scripts/bootstrap.mjs`));
    printed.push(result.stdout, result.stderr);
    if (result.code !== 0) {
      const logs = controlPlane().sh(`tail -n 30 ${REPO_ON_VM}/logs/*/*.log 2>&1 || true`);
      throw new Error(`bootstrap exited ${result.code}\n${result.stdout}${result.stderr}\n--- logs ---\n${logs}`);
    }
    return result;
  };

  /** What a run could change on a node: files, packages, firewall rules, /etc's entries, services' starts. */
  const state = (node: Vm) => node.sh([
    'md5sum /etc/fstab /etc/hosts /etc/hostname /etc/containerd/config.toml /etc/sysctl.d/99-kubernetes.conf /etc/modules-load.d/kubernetes.conf /etc/apt/sources.list.d/kubernetes.list /etc/kubernetes/kubelet.conf',
    "dpkg-query -W -f='${Package} ${Version} ${Status}\\n' | md5sum",
    'apt-mark showhold | md5sum',
    'ufw show added | md5sum',
    'ls -a /etc /etc/kubernetes /root | md5sum',
    'ls -a /var/lib/standin-kubectl 2>/dev/null | md5sum',
    'systemctl show -p ActiveEnterTimestampMonotonic -p NRestarts containerd kubelet',
  ].join('; '));
  /** Files a run wrote since the mark (the project's own folder, with its logs, is a separate disk: -xdev). */
  const MARK = '/run/vmtest-mark';
  const writtenSinceMark = (node: Vm) => node.sh(`find / -xdev \\( -path /proc -o -path /sys -o -path /run -o -path /dev -o -path /tmp -o -path /var/log -o -path /var/cache -o -path /var/tmp \\) -prune -o -newer ${MARK} -print`);

  beforeAll(async () => {
    removeEarlierRunFiles(work);
    image = await time('image (build or cache)', () => baseImage());
    repo = await startStandinRepo(work, VERSION, { nodePort: NODE_PORT, ingressHost: INGRESS_HOST });
    egress = await startEgress();
    const socket = path.join(work, 'switch.sock');
    const network = spawnTracked(process.execPath, [path.join(__dirname, 'switch.cjs'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      network.stdout!.once('data', resolve);
      network.once('exit', (code) => reject(new Error(`the private switch exited (${code}) before it listened`)));
    });
    const disk = await time('project disk', () => projectDisk(work, ROOT));

    const forwards = [{ guest: REPO_FOR_VM, hostPort: repo.port }, { guest: PROXY_FOR_VM, hostPort: egress.port }];
    const boots = await time('boot (3 VMs at once)', () => Promise.allSettled(NODES.map(async (node, i) => {
      vms[i] = await bootVm(image, work, {
        // kubeadm's preflight wants 2 CPUs and 1700 MB on a control-plane node.
        name: node.name, index: i + 1, cpus: i === 0 ? 2 : 1, memoryMiB: i === 0 ? 2048 : 1024, privateSwitch: socket, disks: i === 0 ? [disk] : [], forwards,
      });
    })));
    for (const boot of boots) if (boot.status === 'rejected') throw boot.reason;

    // What the tutorial's VMs have before anything runs: a static address on the
    // private network, swap in /etc/fstab and on. The firewall is on (SSH allowed),
    // so the checks below also prove that prep opened the ports the cluster needs.
    const key = path.join(work, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vm-test', '-f', key]);
    NODES.forEach((node, i) => {
      vms[i].sh([
        'cat >> /root/.ssh/authorized_keys',
        `printf 'auto eth1\\niface eth1 inet static\\n    address ${node.address}/24\\n' >> /etc/network/interfaces && ifup eth1`,
        // Restricted user-mode networking hands out no default route; Kubernetes needs one (prep checks).
        "ip route replace default via 10.0.2.2 dev eth0 && sed -i '/iface eth0 inet dhcp/a\\    post-up ip route replace default via 10.0.2.2 dev eth0' /etc/network/interfaces",
        'dd if=/dev/zero of=/swapfile bs=1M count=256 status=none && chmod 600 /swapfile && mkswap /swapfile >/dev/null && swapon -a',
        'ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null',
        // apt reaches Debian's archive through the test's proxy; the stand-in repository directly.
        `printf 'Acquire::http::Proxy "http://${PROXY_FOR_VM}/";\\nAcquire::http::Proxy::${REPO_HOST} "DIRECT";\\n' > /etc/apt/apt.conf.d/00vmtest-proxy`,
      ].join(' && '), readFileSync(`${key}.pub`, 'utf8'));
    });
    controlPlane().sh(`install -m 600 /dev/stdin /root/.ssh/id_ed25519 && mkdir -p /opt/vmtest && mount /dev/vdb /opt/vmtest && ln -s /opt/vmtest/repo ${REPO_ON_VM} && ln -s /opt/vmtest/bin/node /usr/local/bin/node`, readFileSync(key, 'utf8'));
    controlPlane().sh(`cat > ${REPO_ON_VM}/cluster.yaml`, clusterYaml());
  }, 1_800_000);

  afterAll(async () => {
    // Kept for a look afterwards: the bootstrap's logs, each VM's console and qemu's messages; disks, keys, repository and sockets go.
    try {
      writeFileSync(path.join(work, 'bootstrap-logs.txt'), controlPlane().sh(`tail -n +1 ${REPO_ON_VM}/logs/*/*.log`));
    } catch {
      // no VM, or no run yet
    }
    stopAll();
    await repo?.stop();
    await egress?.stop();
    removeRunFiles(work);
    process.stderr.write(`VM test (cluster) timings: ${summary()}${image?.buildSeconds ? ` (image built in ${image.buildSeconds.toFixed(0)}s)` : ' (image from the cache)'}; logs and consoles in ${work}\n`);
  });

  test('./scripts/bootstrap.mjs on the first VM takes the three VMs to a cluster whose checks pass', async () => {
    expect(controlPlane().sh('swapon --show --noheadings')).toContain('/swapfile');
    const first = await bootstrap('bootstrap, first run');
    const out = first.stdout;
    for (const phase of ['connect', 'facts', 'prep', 'init', 'join', 'apply', 'verify', 'summary']) expect(out).toContain(`==> ${phase}`);
    expect(out).toMatch(/k8s-node1 +local/);
    expect(out).toMatch(/k8s-node2 +ssh root@192\.168\.56\.12:22/);
    expect(out).toMatch(/k8s-node3 +ssh root@192\.168\.56\.13:22/);
    expect(out).toContain('share the hostname localhost; prep renames each to its node name');
    for (const node of NODES) {
      expect(out).toMatch(new RegExp(`${node.name} +prep done: \\d+ step\\(s\\) changed`));
      timings[`prep ${node.name}`] = Number(new RegExp(`${node.name} +prep done: .*\\((\\d+\\.\\d)s\\)`).exec(out)![1]);
    }
    expect(out).toMatch(/k8s-node1 +init done: initialised/);
    expect(out).toMatch(/k8s-node2 +join done: joined/);
    expect(out).toMatch(/k8s-node3 +join done: joined/);
    expect(out).toMatch(/apply done: flannel: 1 object\(s\) created or changed; traefik: 1 object\(s\) created or changed; tomcat6: 1 object\(s\) created or changed/);
    // The checks ran from the control plane across the private network (through the workers' firewalls; its own address is local).
    for (const node of NODES) expect(out).toContain(`ok   ${`${node.name} NodePort`.padEnd(22)} http://${node.address}:${NODE_PORT}/ -> 200`);
    for (const node of NODES.filter((n) => n.role === 'worker')) expect(out).toContain(`ok   ${`${node.name} Ingress`.padEnd(22)} http://${node.address}/ (Host: ${INGRESS_HOST}) -> 200`);
    expect(out).toContain('verify done: 5/5 answered HTTP 200');
  });

  test('every node: swap off and commented out in /etc/fstab with a backup; modules and sysctls live and persisted', () => {
    for (const node of vms) {
      expect(node.sh('swapon --show --noheadings')).toBe('');
      expect(node.sh('cat /etc/fstab')).toMatch(/^#swap-off \(managed by hosts\/prep\.mjs\): \/swapfile none swap sw 0 0$/m);
      expect(node.sh('cat /etc/fstab.bak-*')).toContain('\n/swapfile none swap sw 0 0');
      expect(node.sh('lsmod')).toMatch(/^br_netfilter /m);
      expect(node.sh('lsmod')).toMatch(/^overlay /m);
      expect(node.sh('cat /etc/modules-load.d/kubernetes.conf').split('\n').filter((l) => l && !l.startsWith('#')).sort()).toEqual(['br_netfilter', 'overlay']);
      expect(node.sh('sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables')).toBe('1\n1\n1\n');
      const persisted = node.sh('cat /etc/sysctl.d/99-kubernetes.conf');
      for (const key of ['net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables']) {
        expect(persisted).toMatch(new RegExp(`^${key.replaceAll('.', '\\.')} *= *1$`, 'm'));
      }
    }
  });

  test('every node: containerd active with SystemdCgroup, kubeadm\'s sandbox image and the mirror for registry.k8s.io; kube packages pinned and held; kubelet enabled', () => {
    for (const node of vms) {
      expect(node.sh('systemctl is-active containerd').trim()).toBe('active');
      const dump = node.sh('containerd config dump');
      expect(dump).toMatch(/SystemdCgroup = true/);
      // The stand-in kubeadm names its own pause tag: prep asked it. Images keep their upstream names;
      // containerd is told to pull registry.k8s.io's through the mirror.
      expect(dump).toContain('sandbox_image = "registry.k8s.io/pause:3.10.1-standin"');
      expect(dump).toContain('config_path = "/etc/containerd/certs.d"');
      expect(node.sh('cat /etc/containerd/certs.d/registry.k8s.io/hosts.toml')).toContain(`[host."https://${MIRROR.replace('/', '/v2/')}"]`);
      // The repository also holds the next patch release: the install pinned the configured version ...
      expect(repo.versions).toEqual([VERSION, expect.not.stringMatching(VERSION)]);
      expect(node.sh("dpkg-query -W -f='${Package} ${Version}\\n' kubelet kubeadm kubectl")).toBe(`kubeadm ${VERSION}-1.1\nkubectl ${VERSION}-1.1\nkubelet ${VERSION}-1.1\n`);
      expect(node.sh('apt-mark showhold').split('\n').filter(Boolean).sort()).toEqual(['containerd', 'cri-tools', 'kubeadm', 'kubectl', 'kubelet']);
      // ... and the hold keeps an upgrade to that release from moving them.
      const upgrade = node.sh('apt-get -s upgrade');
      expect(upgrade).toMatch(/The following packages have been kept back:\n +kubeadm kubectl kubelet\n/);
      expect(upgrade).not.toMatch(/^Inst kube(let|adm|ctl) /m);
      expect(node.sh('systemctl is-enabled kubelet').trim()).toBe('enabled');
    }
  });

  test('every node: its node name, each node in /etc/hosts exactly once, ufw active with the ports of its role', () => {
    for (const node of vms) {
      expect(node.sh('hostname').trim()).toBe(node.name);
      const hosts = node.sh('cat /etc/hosts');
      for (const other of NODES) expect(hosts.match(new RegExp(`^${other.address.replaceAll('.', '\\.')}\\s+${other.name}\\b`, 'gm'))).toHaveLength(1);
      const status = node.sh('ufw status');
      expect(status).toMatch(/^Status: active$/m);
      const rules = node.sh('ufw show added');
      for (const rule of ['ufw allow 10250/tcp', 'ufw allow 30000:32767/tcp', 'ufw allow 8472/udp', 'ufw route allow from 10.244.0.0/16']) expect(rules).toContain(rule);
      const controlPlaneRules = ['ufw allow 6443/tcp', 'ufw allow 2379:2380/tcp'];
      const workerRules = ['ufw allow 80/tcp', 'ufw allow 443/tcp'];
      for (const rule of node.name === 'k8s-node1' ? controlPlaneRules : workerRules) expect(rules).toContain(rule);
      for (const rule of node.name === 'k8s-node1' ? workerRules : controlPlaneRules) expect(rules).not.toContain(rule);
    }
    // The firewall filters for real: from a worker, the control plane's NodePort answers (opened by prep),
    // its port 80 does not (not opened on a control plane), though something listens there.
    const code = (from: Vm, url: string) => from.sh(`curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: ${INGRESS_HOST}' ${url} || true`).trim();
    expect(code(vm('k8s-node2'), `http://192.168.56.11:${NODE_PORT}/`)).toBe('200');
    expect(code(controlPlane(), 'http://127.0.0.1/')).toBe('200');
    expect(code(vm('k8s-node2'), 'http://192.168.56.11/')).toBe('000');
  });

  test('the workers joined with the CA hash pinned, checked against the CA fetched from the control plane; no join file left behind', () => {
    const hash = caCertHash(controlPlane().sh('cat /etc/kubernetes/pki/ca.crt'));
    expect(controlPlane().sh('cat /var/lib/standin-kubeadm/init.yaml')).toContain('advertiseAddress: 192.168.56.11');
    for (const worker of workers()) {
      expect(worker.sh('cat /var/lib/standin-kubeadm/join-discovery')).toBe(`endpoint 192.168.56.11:6443\ncaCertHash ${hash}\nverified ${hash}\n`);
      expect(worker.sh(`test -e ${JOIN_CONFIG_FILE} && echo present || echo gone`).trim()).toBe('gone');
      expect(worker.sh('test -e /etc/kubernetes/kubelet.conf && echo joined').trim()).toBe('joined');
    }
  });

  test('a second run changes nothing on any node (files, packages, firewall, services) and takes a fraction of the first', async () => {
    const before = vms.map(state);
    for (const node of vms) node.sh(`touch ${MARK}`);
    const second = await bootstrap('bootstrap, second run');
    for (const node of NODES) expect(second.stdout).toMatch(new RegExp(`${node.name} +prep done: nothing to change`));
    expect(second.stdout).toMatch(/k8s-node1 +init done: already initialised/);
    expect(second.stdout).toMatch(/k8s-node2 +join done: already joined/);
    expect(second.stdout).toMatch(/k8s-node3 +join done: already joined/);
    expect(second.stdout).toContain('apply done: 3 stages unchanged');
    expect(second.stdout).toContain('verify done: 5/5 answered HTTP 200');
    expect(vms.map(state)).toEqual(before);
    for (const node of vms) expect(`${node.name}: ${writtenSinceMark(node)}`).toBe(`${node.name}: `);
    expect(timings['bootstrap, second run']).toBeLessThan(timings['bootstrap, first run'] / 2);
  });

  test('the node scripts on the same real node: hosts/prep.mjs finds nothing to change, hosts/init.mjs writes a join ticket', async () => {
    const prep = await time('hosts/prep.mjs', () => controlPlane().run(`cd ${REPO_ON_VM} && ./hosts/prep.mjs`));
    printed.push(prep.stdout, prep.stderr);
    expect(prep.stderr).toBe('');
    expect(prep.stdout).toContain('[k8s-node1] prep: nothing changed, the node already was as configured');
    expect(prep.code).toBe(0);
    const init = await time('hosts/init.mjs', () => controlPlane().run(`cd ${REPO_ON_VM} && ./hosts/init.mjs`));
    printed.push(init.stdout, init.stderr);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('already initialised');
    expect(controlPlane().sh(`stat -c %a ${DEFAULT_TICKET_FILE}`).trim()).toBe('600');
    const ticket = controlPlane().sh(`cat ${DEFAULT_TICKET_FILE}`);
    expect(ticket).toContain(`caCertHash: ${caCertHash(controlPlane().sh('cat /etc/kubernetes/pki/ca.crt'))}`);
    expect(ticket).toContain('apiServerEndpoint: 192.168.56.11:6443');
    const token = /^token: (\S+)$/m.exec(ticket)![1];
    expect(init.stdout).not.toContain(token);
  });

  test('a worker rebooted: swap still off, modules and sysctls back, its services up, and it answers again', async () => {
    const worker = vm('k8s-node3');
    timings['reboot k8s-node3'] = await worker.reboot();
    expect(worker.sh('swapon --show --noheadings')).toBe('');
    expect(worker.sh('lsmod')).toMatch(/^br_netfilter /m);
    expect(worker.sh('lsmod')).toMatch(/^overlay /m);
    expect(worker.sh('sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables')).toBe('1\n1\n');
    expect(worker.sh('systemctl is-active containerd kubelet')).toBe('active\nactive\n');
    expect(worker.sh('ufw status')).toMatch(/^Status: active$/m);
    const answered = await controlPlane().run(`for i in $(seq 30); do s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://192.168.56.13:${NODE_PORT}/); [ "$s" = 200 ] && break; sleep 2; done; echo $s`);
    expect(answered.stdout.trim()).toBe('200');
  });

  test('no join token and no private key in anything the runs printed or logged', () => {
    const tokens = controlPlane().sh('cat /var/lib/standin-kubeadm/tokens').split('\n').filter(Boolean);
    expect(tokens.length).toBeGreaterThan(0);
    const caKey = controlPlane().sh('cat /etc/kubernetes/pki/ca.key').split('\n').filter((l) => l && !l.startsWith('-----'));
    const everything = [...printed, controlPlane().sh(`cat ${REPO_ON_VM}/logs/*/*.log`)].join('\n');
    expect(printed.length).toBeGreaterThanOrEqual(8);
    for (const token of tokens) {
      expect(everything).not.toContain(token);
      expect(everything).not.toContain(token.split('.')[1]);
    }
    expect(everything).not.toContain('PRIVATE KEY');
    for (const line of caKey) expect(everything).not.toContain(line);
  });

  test('the VMs reached nothing outside themselves but Debian\'s archive (through the proxy) and the test\'s repository', async () => {
    expect(egress.refused).toEqual([]);
    expect([...egress.passed.keys()]).toContain('deb.debian.org');
    // And they could not have. The servers answer from this process, so the VM's curl must not block it (run, not sh).
    const code = async (args: string) => (await controlPlane().run(`curl -s -o /dev/null -w '%{http_code}' --max-time 10 ${args} || true`)).stdout.trim();
    const release = `/core:/stable:/v${VERSION.split('.').slice(0, 2).join('.')}/deb/Release`;
    expect(await code(`http://${REPO_FOR_VM}${release}`)).toBe('200');
    // The same server at this machine's own address: out of reach (restrict=on).
    expect(await code(`http://10.0.2.2:${repo.port}${release}`)).toBe('000');
    expect(await code(`-x http://${PROXY_FOR_VM} http://example.invalid/`)).toBe('403');
    expect(egress.refused).toEqual(['GET http://example.invalid/']);
  });
}
