/**
 * A real cluster on three real Debian 12 VMs (qemu, tcg) on a private
 * network of their own, from bare VMs to tomcat6 answering through the
 * Ingress. The repository and node are on the first VM, which runs
 * ./scripts/bootstrap.mjs there, as a user would; it reaches the two
 * workers over real SSH across that network.
 *
 * Everything the cluster runs is real and built here from source (npm run
 * kube:build): kubelet, kubeadm, kubectl, cri-tools and kubernetes-cni as
 * pkgs.k8s.io packages them, containerd.io (containerd 2 and runc) as
 * Docker's repository does (packages.ts); every image kubeadm and dist/
 * pull (images.ts), served by a real registry over TLS (registry.ts) that
 * the test's cluster.yaml names as its registry mirror, with its CA, as a
 * user with a private mirror does. Nothing is pre-loaded into containerd.
 *
 * The private network is a user-space switch on a unix socket (switch.cjs):
 * it never touches a real interface. Each VM also has restricted user-mode
 * networking: this test's SSH comes in from a loopback port, and the VM
 * reaches only the test's package repositories, its registry, and an apt
 * proxy that lets through Debian's archive and nothing else (egress.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { caCertHash, DEFAULT_TICKET_FILE, JOIN_CONFIG_FILE } from '../../hosts/node/kubeadm';
import { readBuild, versionDir } from '../../scripts/kube-build/cache';
import { type ClusterParts, ensureClusterParts } from '../../scripts/kube-build/cluster-parts';
import { traefikPath } from '../../scripts/kube-build/traefik';
import { missingPrerequisite } from '../prerequisites';
import { type Egress, startEgress } from './egress';
import { baseLayers, clusterImages, distImages, pushImages } from './images';
import { baseImage, bootVm, CACHE, type Image, projectDisk, removeEarlierRunFiles, removeRunFiles, spawnTracked, stopAll, timer, vmToolsMissing, type Vm } from './machine';
import { type PackageRepos, startPackageRepos } from './packages';
import { type Registry, registryMissing, startRegistry } from './registry';

const ROOT = path.resolve(__dirname, '../..');
/** The repository's own cluster.yaml: its version, its add-ons, its app. */
const DEFAULT_CONFIG = parseDocument(readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8'));
const VERSION = String(DEFAULT_CONFIG.getIn(['kubernetes', 'version']));
/**
 * VM_CLUSTER_NODES: 3 (the default), the tutorial's control plane and two workers; or 1, a cluster of one
 * node (no taint, so every pod runs on it), for a machine that cannot run three (CONTRIBUTING.md, "Tests").
 */
const SIZE = process.env.VM_CLUSTER_NODES ?? '3';
if (SIZE !== '1' && SIZE !== '3') throw new Error(`VM_CLUSTER_NODES must be 1 (one node) or 3 (the tutorial's three), not "${SIZE}"`);
const ONE_NODE = SIZE === '1';
const NODES = ([
  { name: 'k8s-node1', address: '192.168.56.11', role: 'control-plane' },
  { name: 'k8s-node2', address: '192.168.56.12', role: 'worker' },
  { name: 'k8s-node3', address: '192.168.56.13', role: 'worker' },
] as const).slice(0, Number(SIZE));
const WORKERS = NODES.filter((n) => n.role === 'worker');
/** Where Traefik serves port 80 on the host network: the workers, or the one node. */
const INGRESS_NODES = ONE_NODE ? NODES : WORKERS;
/** The bootstrap's own checks: the NodePort on every node, the Ingress on every ingress node. */
const CHECK_COUNT = NODES.length + INGRESS_NODES.length;
const CHECKS = `${CHECK_COUNT}/${CHECK_COUNT} answered HTTP 200`;
/** What a test that needs two nodes says when there is one. */
const oneNodeSkip = (what: string) => process.stderr.write(`VM test (cluster): skipped with VM_CLUSTER_NODES=1: ${what}\n`);
const ALL_200 = Array(CHECK_COUNT).fill('200');
const INGRESS_HOST = String(DEFAULT_CONFIG.getIn(['tomcat6', 'host']));
const REPLICAS = Number(DEFAULT_CONFIG.getIn(['tomcat6', 'replicas']));
const REPO_ON_VM = '/root/cluster';
// The only addresses a VM reaches outside itself (guestfwd to this machine's loopback).
const REPO_HOST = '10.0.2.100';
const PROXY_FOR_VM = '10.0.2.101:3142';
const REGISTRY_HOST = '10.0.2.102';
const UPSTREAM_REGISTRIES = ['registry.k8s.io', 'ghcr.io', 'docker.io'];
/** Where runs keep their folders: not /tmp, which is often a small tmpfs (three VM disks take gigabytes). */
const WORK_PARENT = process.env.VM_WORK ?? '/var/tmp';
const NEEDED_GB = 8;

const buildMissing = () => (readBuild(VERSION) ? [] : [`the Kubernetes ${VERSION} build (npm run kube:build -- --tested)`]);
const missing = [...vmToolsMissing(), ...registryMissing(), ...buildMissing()];
const freeGb = () => {
  const stats = statfsSync(WORK_PARENT);
  return (stats.bavail * stats.bsize) / 2 ** 30;
};

if (missing.length) {
  missingPrerequisite('VM test (cluster)', `needs ${missing.join(', ')}`);
} else {
  const { timings, time, summary } = timer();
  mkdirSync(WORK_PARENT, { recursive: true });
  const work = mkdtempSync(path.join(WORK_PARENT, 'vmtest-cluster-'));
  const vms: Vm[] = [];
  let image: Image;
  let repos: PackageRepos;
  let registry: Registry;
  let egress: Egress;
  let parts: ClusterParts;
  /** Everything the runs printed, for the secrets check at the end. */
  const printed: string[] = [];
  /** The parts of the closing summary line, filled in by the tests that prove them. */
  const results: Record<string, string> = {
    'nodes ready': 'not checked', 'kube-system running': 'not checked', 'pod-to-pod across nodes': 'not checked', dns: 'not checked',
    'nodeport 200 on': 'not checked', 'ingress 200 on': 'not checked', rerun: 'not checked',
  };

  const vm = (name: string) => vms.find((v) => v.name === name)!;
  const controlPlane = () => vm('k8s-node1');
  const workers = () => WORKERS.map((w) => vm(w.name));
  const ingressNames = INGRESS_NODES.map((n) => n.name);

  /** The repository's cluster.yaml, comments kept, with this network's addresses, the test's repositories and its registry as the mirror. */
  const clusterYaml = () => {
    const doc = parseDocument(readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8'));
    NODES.forEach((node, i) => {
      doc.setIn(['nodes', i, 'name'], node.name);
      doc.setIn(['nodes', i, 'address'], node.address);
      doc.setIn(['nodes', i, 'role'], node.role);
    });
    // The repository's file lists three nodes: the test's cluster has NODES.length.
    while ((doc.getIn(['nodes']) as { items: unknown[] }).items.length > NODES.length) doc.deleteIn(['nodes', NODES.length]);
    for (const upstream of UPSTREAM_REGISTRIES) doc.setIn(['images', 'mirrors', upstream], `${REGISTRY_HOST}/${upstream}`);
    doc.setIn(['images', 'mirrorCa'], 'mirror-ca.crt');
    // Air-gapped, as the VMs are: the mirror only.
    doc.setIn(['images', 'mirrorFallback'], false);
    // Measured under tcg with three VMs on two cores: the API server answers its first calls more than a minute
    // after it turns healthy (kubeadm's default for them is 1m), so kubeadm waits longer, as a user on slow machines would set it.
    doc.setIn(['kubernetes', 'timeouts'], { controlPlaneComponentHealthCheck: '8m', kubeletHealthCheck: '8m', kubernetesAPICall: '5m', etcdAPICall: '5m', tlsBootstrap: '10m', discovery: '10m' });
    // One control plane, so no other instance to elect: measured under tcg, the scheduler and the controller manager
    // missed their 10 s lease renewals against the busy API server, exited ("Leaderelection lost") and were restarted again and again.
    // etcd answered the API server's health check later than its 2 s (WAL fsync 92 ms on average, commits 193 ms): /livez
    // failed, so the kubelet restarted the API server, and the controller manager, which waits for /healthz, kept exiting.
    doc.setIn(['kubernetes', 'extraArgs'], {
      apiServer: { 'etcd-healthcheck-timeout': '10s', 'etcd-readycheck-timeout': '10s' },
      controllerManager: { 'leader-elect': false },
      scheduler: { 'leader-elect': false },
    });
    doc.setIn(['packages', 'kubernetes'], `http://${REPO_HOST}/k8s/core:/stable:`);
    doc.setIn(['packages', 'docker'], `http://${REPO_HOST}/docker`);
    return doc.toString();
  };

  /** A command on the control plane, without blocking this process (the repositories and the proxy answer from it). */
  const onControlPlane = async (command: string) => {
    const result = await controlPlane().run(command);
    if (result.code !== 0) throw new Error(`${command}: exit ${result.code}\n${result.stdout}${result.stderr}`);
    return result.stdout;
  };
  const kubectl = (args: string) => onControlPlane(`kubectl --kubeconfig /etc/kubernetes/admin.conf ${args}`);
  /** Runs a shell condition on the control plane every 5 s until it holds; returns the seconds it took. */
  const waitFor = async (what: string, condition: string, seconds = 300) => {
    const started = Date.now();
    const result = await controlPlane().run(`export KUBECONFIG=/etc/kubernetes/admin.conf; for i in $(seq ${Math.ceil(seconds / 5)}); do if ${condition}; then exit 0; fi; sleep 5; done; exit 1`);
    if (result.code !== 0) {
      const context = (await controlPlane().run('kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes,pods -A -o wide 2>&1')).stdout;
      throw new Error(`${what}: not within ${seconds} s\n${context}`);
    }
    return (Date.now() - started) / 1000;
  };
  /** HTTP status of a URL fetched from the control plane (000: no answer). */
  const status = async (url: string, host?: string) => (await controlPlane().run(`curl -s -o /dev/null -w '%{http_code}' --max-time 10 ${host ? `-H 'Host: ${host}' ` : ''}${url} || true`)).stdout.trim();
  const nodePortOf = async () => Number(await kubectl("get svc tomcat6 -o jsonpath='{.spec.ports[0].nodePort}'"));
  /** The ready tomcat6 pods: name, node, IP. */
  const tomcatPods = async () => (await kubectl("get pods -l app=tomcat6 -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP} {.status.conditions[?(@.type==\"Ready\")].status} {.metadata.deletionTimestamp}{\"\\n\"}{end}'"))
    .split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length === 4 && f[3] === 'True').map(([name, node, ip]) => ({ name, node, ip }));
  /** Every node's NodePort and every worker's Ingress, answered 200 (the page Tomcat 6.0.53 serves). */
  const serviceAnswers = async () => {
    const port = await nodePortOf();
    const nodePort = await Promise.all(NODES.map((n) => status(`http://${n.address}:${port}/`)));
    const ingress = await Promise.all(INGRESS_NODES.map((n) => status(`http://${n.address}/`, INGRESS_HOST)));
    return { nodePort: nodePort.filter((s) => s === '200').length, ingress: ingress.filter((s) => s === '200').length, all: [...nodePort, ...ingress] };
  };

  /** ./scripts/bootstrap.mjs on the first VM, in the repository there, as a user runs it. */
  const bootstrap = async (label: string, args = '') => {
    // Under tcg a stage's pods take more than kubectl's 5 minutes to pull, unpack and start: the waits get 20, as a user on slow machines would set it.
    const result = await time(label, () => controlPlane().run(`cd ${REPO_ON_VM} && BOOTSTRAP_WAIT_SECONDS=1200 ./scripts/bootstrap.mjs ${args}`));
    printed.push(result.stdout, result.stderr);
    return result;
  };
  const bootstrapOk = async (label: string) => {
    const result = await bootstrap(label);
    if (result.code !== 0) {
      const logs = controlPlane().sh(`tail -n 40 ${REPO_ON_VM}/logs/*/*.log 2>&1 || true`);
      throw new Error(`bootstrap exited ${result.code}\n${result.stdout}${result.stderr}\n--- logs ---\n${logs}`);
    }
    return result;
  };
  /** Seconds a node's phase took, from the bootstrap's `<node>  <phase> done: ... (12.3s)` line. */
  const phaseSeconds = (out: string, node: string, phase: string) => Number(new RegExp(`${node} +${phase} done: .*\\((\\d+(?:\\.\\d+)?)s\\)`).exec(out)?.[1] ?? Number.NaN);

  /** What a run could change on a node: files, packages, holds, firewall rules, /etc's entries, services' starts. */
  const state = (node: Vm) => node.sh([
    'md5sum /etc/fstab /etc/hosts /etc/hostname /etc/containerd/config.toml /etc/sysctl.d/99-kubernetes.conf /etc/modules-load.d/kubernetes.conf /etc/apt/sources.list.d/kubernetes.list /etc/apt/sources.list.d/docker.list /etc/kubernetes/kubelet.conf /etc/containerd/certs.d/*/hosts.toml',
    "dpkg-query -W -f='${Package} ${Version} ${Status}\\n' | md5sum",
    'apt-mark showhold | md5sum',
    'ufw show added | md5sum',
    'ls -a /etc /etc/kubernetes /etc/kubernetes/manifests /root | md5sum',
    'systemctl show -p ActiveEnterTimestampMonotonic -p NRestarts containerd kubelet',
  ].join('; '));
  /** The cluster's objects the bootstrap applies: their spec generations (status updates do not count). */
  const objects = () => kubectl("get deploy,ds,svc,ingress,sa,cm -A -o jsonpath='{range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name} {.metadata.generation} {.metadata.uid}{\"\\n\"}{end}'");
  /** Files a run wrote since the mark, leaving out what a running node writes by itself (kubelet, containerd, etcd, DHCP, timers, kubectl's cache). The project's own folder, with its logs, is a separate disk: -xdev. */
  const MARK = '/run/vmtest-mark';
  const RUNTIME_STATE = ['/proc', '/sys', '/run', '/dev', '/tmp', '/var/log', '/var/cache', '/var/tmp', '/var/lib/kubelet', '/var/lib/containerd', '/var/lib/etcd', '/var/lib/cni', '/var/lib/dhcp', '/var/lib/systemd', '/var/lib/apt/lists', '/root/.kube/cache'];
  const writtenSinceMark = (node: Vm) => node.sh(`find / -xdev \\( ${RUNTIME_STATE.map((p) => `-path ${p}`).join(' -o ')} \\) -prune -o -newer ${MARK} -print`);

  beforeAll(async () => {
    removeEarlierRunFiles(work);
    if (freeGb() < NEEDED_GB) throw new Error(`the VM test needs ${NEEDED_GB} GB free in ${WORK_PARENT} (VM_WORK); it has ${freeGb().toFixed(1)} GB`);
    const log = (line: string) => process.stderr.write(`VM test: ${line}\n`);
    const kubeDir = versionDir(VERSION);
    const build = readBuild(VERSION)!;
    const kubeBin = path.join(kubeDir, 'bin');
    image = await time('image (build or cache)', () => baseImage());
    parts = await time('cluster parts (build or cache)', () => ensureClusterParts(path.join(kubeBin, 'kubeadm'), log));

    const base = await time('image base layers (build or cache)', () => baseLayers(CACHE, log));
    registry = await startRegistry(path.join(work, 'registry'), path.join(work, 'registry-storage'), REGISTRY_HOST, path.join(work, 'registry.log'));
    const kubeadmImages = execFileSync(path.join(kubeBin, 'kubeadm'), ['config', 'images', 'list', `--kubernetes-version=v${VERSION}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const recipes = await time('image assembly', () => clusterImages({
      kubeadmImages, distImages: distImages(path.join(ROOT, 'dist')), kubeBin, parts, traefik: traefikPath(), base, workDir: work, cacheDir: CACHE,
    }));
    const pushed = await time('registry push', () => pushImages(parts.crane, registry.address, registry.caFile, recipes));
    log(`pushed ${pushed.length} images: ${recipes.map((r) => r.name).join(', ')}`);
    repos = await time('package repositories', () => startPackageRepos(work, kubeDir, build, parts));
    egress = await startEgress();

    const socket = path.join(work, 'switch.sock');
    const network = spawnTracked(process.execPath, [path.join(__dirname, 'switch.cjs'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      network.stdout!.once('data', resolve);
      network.once('exit', (code) => reject(new Error(`the private switch exited (${code}) before it listened`)));
    });
    const disk = await time('project disk', () => projectDisk(work, ROOT));

    const forwards = [
      { guest: `${REPO_HOST}:80`, hostPort: repos.port },
      { guest: PROXY_FOR_VM, hostPort: egress.port },
      { guest: `${REGISTRY_HOST}:443`, hostPort: Number(registry.address.split(':')[1]) },
    ];
    const boots = await time(`boot (${NODES.length} VM(s) at once)`, () => Promise.allSettled(NODES.map(async (node, i) => {
      // Measured under tcg: a control plane uses about 850 MB once up; kubeadm wants 2 CPUs and 1700 MB on it.
      // Four emulated CPUs share this machine's two cores: the workers give way (nice 10); measured, the control
      // plane's qemu then gets about 170% of the 200% while kubeadm init runs. A cluster of one node runs the
      // add-ons and tomcat6's replicas on the control plane too: 4 GiB.
      vms[i] = await bootVm(image, work, {
        name: node.name, index: i + 1, cpus: i === 0 ? 2 : 1, memoryMiB: i > 0 ? 2048 : ONE_NODE ? 4096 : 3072, privateSwitch: socket, disks: i === 0 ? [disk] : [], forwards, nice: i === 0 ? 0 : 10, tscClock: true,
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
        'dd if=/dev/zero of=/swapfile bs=1M count=256 status=none && chmod 600 /swapfile && mkswap /swapfile >/dev/null && swapon -a',
        'ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null',
        // apt reaches Debian's archive through the test's proxy; the test's repositories directly.
        `printf 'Acquire::http::Proxy "http://${PROXY_FOR_VM}/";\\nAcquire::http::Proxy::${REPO_HOST} "DIRECT";\\n' > /etc/apt/apt.conf.d/00vmtest-proxy`,
      ].join(' && '), readFileSync(`${key}.pub`, 'utf8'));
    });
    controlPlane().sh(`install -m 600 /dev/stdin /root/.ssh/id_ed25519 && mkdir -p /opt/vmtest && mount /dev/vdb /opt/vmtest && ln -s /opt/vmtest/repo ${REPO_ON_VM} && ln -s /opt/vmtest/bin/node /usr/local/bin/node`, readFileSync(key, 'utf8'));
    controlPlane().sh(`cat > ${REPO_ON_VM}/cluster.yaml`, clusterYaml());
    controlPlane().sh(`cat > ${REPO_ON_VM}/mirror-ca.crt`, readFileSync(registry.caFile, 'utf8'));
  }, 3_600_000);

  afterAll(async () => {
    // Kept for a look afterwards: the bootstrap's logs, each VM's console, qemu's and the registry's messages; disks, keys, repositories, images and sockets go.
    try {
      writeFileSync(path.join(work, 'bootstrap-logs.txt'), controlPlane().sh(`tail -n +1 ${REPO_ON_VM}/logs/*/*.log`));
      writeFileSync(path.join(work, 'cluster.txt'), controlPlane().sh('kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes,pods -A -o wide 2>&1; kubectl --kubeconfig /etc/kubernetes/admin.conf get events -A 2>&1 | tail -n 60'));
    } catch {
      // no VM, or no cluster yet
    }
    stopAll();
    await repos?.stop();
    await egress?.stop();
    removeRunFiles(work);
    process.stderr.write(`VM test (cluster) timings: ${summary()}${image?.buildSeconds ? ` (VM image built in ${image.buildSeconds.toFixed(0)}s)` : ' (VM image from the cache)'}; logs and consoles in ${work}\n`);
    // Last: the one line that says what the real cluster proved.
    process.stderr.write(`real cluster: nodes ready ${results['nodes ready']}, kube-system running ${results['kube-system running']}, pod-to-pod across nodes ${results['pod-to-pod across nodes']}, dns ${results.dns}, nodeport 200 on ${results['nodeport 200 on']}, ingress 200 on ${results['ingress 200 on']}, rerun ${results.rerun}\n`);
  });

  test('a node without a default route is refused before anything is touched, with the fix', async () => {
    for (const node of vms) node.sh('ip route del default 2>/dev/null || true');
    const refused = await bootstrap('bootstrap, refused');
    expect(refused.code).not.toBe(0);
    for (const node of NODES) expect(`${refused.stdout}${refused.stderr}`).toContain(`${node.name}: has no IPv4 default route;`);
    for (const node of vms) expect(node.sh('test -e /etc/apt/sources.list.d/kubernetes.list && echo touched || echo untouched').trim()).toBe('untouched');
    // The fix the line gives, persisted: restricted user-mode networking's gateway leads nowhere, which is enough.
    for (const node of vms) node.sh("ip route replace default via 10.0.2.2 dev eth0 && sed -i '/iface eth0 inet dhcp/a\\    post-up ip route replace default via 10.0.2.2 dev eth0' /etc/network/interfaces");
  });

  test(`./scripts/bootstrap.mjs takes the bare VMs to a cluster: init, ${ONE_NODE ? 'no join' : 'joins with the CA pinned'}, add-ons applied, ${CHECKS}`, async () => {
    expect(controlPlane().sh('swapon --show --noheadings')).toContain('/swapfile');
    const started = Date.now();
    const first = await bootstrapOk('bootstrap, first run');
    const out = first.stdout;
    for (const phase of ['connect', 'facts', 'prep', 'init', 'join', 'apply', 'verify', 'summary']) expect(out).toContain(`==> ${phase}`);
    if (!ONE_NODE) expect(out).toMatch(/k8s-node2 +ssh root@192\.168\.56\.12:22/);
    for (const node of NODES) {
      expect(out).toMatch(new RegExp(`${node.name} +prep done: \\d+ step\\(s\\) changed`));
      timings[`prep ${node.name}`] = phaseSeconds(out, node.name, 'prep');
    }
    expect(out).toMatch(/k8s-node1 +init done: initialised/);
    timings['kubeadm init'] = phaseSeconds(out, 'k8s-node1', 'init');
    const hash = caCertHash(controlPlane().sh('cat /etc/kubernetes/pki/ca.crt'));
    for (const worker of WORKERS) {
      expect(out).toMatch(new RegExp(`${worker.name} +join done: joined 192\\.168\\.56\\.11:6443 \\(CA pinned to ${hash.slice(0, 19)}\\.\\.\\.\\)`));
      timings[`join ${worker.name}`] = phaseSeconds(out, worker.name, 'join');
    }
    expect(out).toMatch(/apply done: flannel: \d+ object\(s\) created or changed; traefik: \d+ object\(s\) created or changed; tomcat6: \d+ object\(s\) created or changed/);
    expect(out).toContain(`verify done: ${CHECKS}`);
    // Apply stages, from the bootstrap's log: each stage's kubectl apply to its last wait.
    const logLines = controlPlane().sh(`cat ${REPO_ON_VM}/logs/*/k8s-node1.log`).split('\n');
    const stamp = (line: string) => Date.parse(line.split(' ')[0]);
    const applies = logLines.map((l, i) => ({ l, i })).filter(({ l }) => /\$ kubectl .*apply -f -: exit 0/.test(l));
    for (const [n, stage] of ['flannel', 'traefik', 'tomcat6'].entries()) {
      if (!applies[n]) continue;
      const end = applies[n + 1]?.i ?? logLines.findIndex((l, i) => i > applies[n].i && /\$ curl /.test(l));
      const waits = logLines.slice(applies[n].i, end > 0 ? end : undefined).filter((l) => /\$ kubectl /.test(l));
      timings[`apply ${stage}`] = (stamp(waits[waits.length - 1]) - stamp(logLines[applies[n].i - 1] ?? applies[n].l)) / 1000;
    }
    // Time from the start of the bootstrap until the last node turned Ready.
    const readySince = (await kubectl("get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}{\"\\n\"}{end}'")).split('\n').filter(Boolean).map(Date.parse);
    timings['all nodes Ready'] = (Math.max(...readySince) - started) / 1000;
    // Measured on 2 cores: prep 240-320 s, kubeadm init 380 s, the joins 90 s, the apply more than 10 minutes.
  }, 3_600_000);

  test(`all ${NODES.length} node(s) Ready, every kube-system pod Running and ready; ${ONE_NODE ? 'the one node untainted' : 'the workers joined with the control plane\'s CA'}`, async () => {
    const nodes = (await kubectl("get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}'")).trim().split('\n');
    const ready = nodes.filter((l) => l.endsWith(' True')).length;
    results['nodes ready'] = `${ready}/${NODES.length}`;
    expect(nodes.sort()).toEqual(NODES.map((n) => `${n.name} True`));
    await waitFor('every kube-system pod ready', "! kubectl -n kube-system get pods --no-headers | awk '{split($2,a,\"/\"); if ($3!=\"Running\" || a[1]!=a[2]) bad=1} END {exit !bad}'", 600);
    const pods = (await kubectl('-n kube-system get pods --no-headers')).trim().split('\n');
    const running = pods.filter((l) => / Running /.test(l));
    results['kube-system running'] = `${running.length}/${pods.length}`;
    expect(running).toHaveLength(pods.length);
    // etcd, the API server, the controller manager and the scheduler; kube-proxy on each node; CoreDNS twice.
    for (const name of ['etcd-k8s-node1', 'kube-apiserver-k8s-node1', 'kube-controller-manager-k8s-node1', 'kube-scheduler-k8s-node1']) expect(pods.join('\n')).toContain(name);
    expect(pods.filter((p) => p.startsWith('kube-proxy-'))).toHaveLength(NODES.length);
    // A cluster of one node: the control plane carries no taint, or nothing else could run.
    if (ONE_NODE) expect(await kubectl("get node k8s-node1 -o jsonpath='{.spec.taints}'")).toBe('');
    expect(pods.filter((p) => p.startsWith('coredns-'))).toHaveLength(2);
    // The CA each worker's kubelet trusts is the control plane's; no join file left behind.
    const ca = controlPlane().sh('cat /etc/kubernetes/pki/ca.crt');
    for (const worker of workers()) {
      expect(worker.sh("grep certificate-authority-data /etc/kubernetes/kubelet.conf | awk '{print $2}' | base64 -d")).toBe(ca);
      expect(worker.sh(`test -e ${JOIN_CONFIG_FILE} && echo present || echo gone`).trim()).toBe('gone');
    }
  });

  test(`flannel: a pod reaches a pod ${ONE_NODE ? 'on the same node (its bridge)' : 'on the other worker (VXLAN over the private switch)'}, and the API server's ClusterIP`, async () => {
    const pods = await tomcatPods();
    const [from, to] = ONE_NODE ? pods : [pods.find((p) => p.node === 'k8s-node2'), pods.find((p) => p.node === 'k8s-node3')];
    expect(from && to).toBeTruthy();
    const request = (ip: string, port: number) => `exec 3<>/dev/tcp/${ip}/${port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && head -c 200 <&3`;
    const answer = await kubectl(`exec ${from!.name} -- bash -c "${request(to!.ip, 8080)}"`);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK/);
    // The API server's ClusterIP (kube-proxy's rules, through flannel to the control plane's address).
    const apiServer = (await kubectl("get svc kubernetes -o jsonpath='{.spec.clusterIP}'")).trim();
    expect(await kubectl(`exec ${to!.name} -- bash -c "exec 3<>/dev/tcp/${apiServer}/443 && echo connected"`)).toBe('connected\n');
    // flannel's VXLAN device on each node; across nodes, the packets did cross the private switch through it.
    for (const node of vms) expect(node.sh('ip -d link show flannel.1')).toMatch(/vxlan id 1 .*dstport 8472/);
    if (ONE_NODE) oneNodeSkip('pod-to-pod across nodes (there is one node)');
    results['pod-to-pod across nodes'] = ONE_NODE ? 'not run (one node)' : 'ok';
  });

  test('CoreDNS resolves kubernetes.default and the tomcat6 Service from a pod', async () => {
    const [pod] = await tomcatPods();
    const apiServer = (await kubectl("get svc kubernetes -o jsonpath='{.spec.clusterIP}'")).trim();
    const tomcat = (await kubectl("get svc tomcat6 -o jsonpath='{.spec.clusterIP}'")).trim();
    expect(await kubectl(`exec ${pod.name} -- getent hosts kubernetes.default`)).toMatch(new RegExp(`^${apiServer.replaceAll('.', '\\.')}\\s+kubernetes\\.default\\.svc\\.cluster\\.local`));
    expect(await kubectl(`exec ${pod.name} -- getent hosts tomcat6`)).toMatch(new RegExp(`^${tomcat.replaceAll('.', '\\.')}\\s+tomcat6\\.default\\.svc\\.cluster\\.local`));
    results.dns = 'ok';
  });

  test(`tomcat6: its replicas ready on ${ONE_NODE ? 'the one node' : 'both workers'}; the NodePort answers on every node, the Ingress host on each ${ONE_NODE ? 'node' : 'worker'}, with Tomcat's page`, async () => {
    const pods = await tomcatPods();
    expect(pods).toHaveLength(REPLICAS);
    expect(new Set(pods.map((p) => p.node))).toEqual(new Set(ingressNames));
    const answers = await serviceAnswers();
    results['nodeport 200 on'] = `${answers.nodePort}/${NODES.length}`;
    results['ingress 200 on'] = `${answers.ingress}/${INGRESS_NODES.length}`;
    expect(answers.all).toEqual(ALL_200);
    const page = await onControlPlane(`curl -s --max-time 10 -H 'Host: ${INGRESS_HOST}' http://${INGRESS_NODES[0].address}/`);
    expect(page).toContain('Apache Tomcat/6.0.53');
    // Another host on the Ingress port is not routed; a page Tomcat does not have is its own 404.
    expect(await status(`http://${INGRESS_NODES[INGRESS_NODES.length - 1].address}/`, 'other.example.com')).toBe('404');
    expect(await status(`http://${NODES[0].address}:${await nodePortOf()}/nope`)).toBe('404');
  });

  test('the tutorial\'s experiments: scale to 5 and back to 3, delete a pod and see it replaced; the service keeps answering', async () => {
    await kubectl('scale deployment tomcat6 --replicas=5');
    timings['scale to 5'] = await waitFor('5 tomcat6 replicas ready', "[ \"$(kubectl get deploy tomcat6 -o jsonpath='{.status.readyReplicas}')\" = 5 ]", 600);
    expect(await tomcatPods()).toHaveLength(5);
    expect((await serviceAnswers()).all).toEqual(ALL_200);
    await kubectl(`scale deployment tomcat6 --replicas=${REPLICAS}`);
    await waitFor(`${REPLICAS} tomcat6 pods left`, `[ "$(kubectl get pods -l app=tomcat6 --no-headers | wc -l)" = ${REPLICAS} ]`, 300);
    const before = await tomcatPods();
    expect(before).toHaveLength(REPLICAS);
    await kubectl(`delete pod ${before[0].name} --wait=false`);
    timings['pod replaced'] = await waitFor('a replacement pod ready', `[ "$(kubectl get deploy tomcat6 -o jsonpath='{.status.readyReplicas}')" = ${REPLICAS} ] && ! kubectl get pod ${before[0].name} >/dev/null 2>&1`, 600);
    const after = await tomcatPods();
    expect(after).toHaveLength(REPLICAS);
    expect(after.map((p) => p.name)).not.toContain(before[0].name);
    expect((await serviceAnswers()).all).toEqual(ALL_200);
  });

  test('every node: swap off, modules and sysctls live and persisted; containerd.io from Docker\'s layout with the mirror and its CA; packages pinned and held', async () => {
    for (const node of vms) {
      expect(node.sh('swapon --show --noheadings')).toBe('');
      expect(node.sh('cat /etc/fstab')).toMatch(/^#swap-off \(managed by hosts\/prep\.mjs\): \/swapfile none swap sw 0 0$/m);
      expect(node.sh('lsmod')).toMatch(/^br_netfilter /m);
      expect(node.sh('sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables')).toBe('1\n1\n1\n');
      expect(node.sh("dpkg-query -W -f='${Version}' containerd.io")).toBe(repos.containerdVersion);
      expect(node.sh('containerd --version')).toContain(' 2.');
      const dump = node.sh('containerd config dump');
      expect(dump).toMatch(/SystemdCgroup = true/);
      for (const upstream of UPSTREAM_REGISTRIES) {
        const hosts = node.sh(`cat /etc/containerd/certs.d/${upstream}/hosts.toml`);
        expect(hosts).toContain(`[host."https://${REGISTRY_HOST}/v2/${upstream}"]`);
        expect(hosts).toMatch(/ca = "\/etc\/containerd\/certs\.d\/.*"/);
      }
      // Images keep their upstream names: pulled through the mirror, not renamed.
      const images = node.sh('ctr -n k8s.io images ls -q');
      expect(images).toContain(`registry.k8s.io/kube-proxy:v${VERSION}`);
      expect(images).toMatch(/^ghcr\.io\/flannel-io\/flannel:/m);
      // The repository also holds the next patch release: the install pinned the configured version, and the hold keeps it.
      expect(repos.kubernetesVersions).toEqual([`${VERSION}-1.1`, expect.not.stringMatching(VERSION)]);
      expect(node.sh("dpkg-query -W -f='${Package} ${Version}\\n' kubelet kubeadm kubectl")).toBe(`kubeadm ${VERSION}-1.1\nkubectl ${VERSION}-1.1\nkubelet ${VERSION}-1.1\n`);
      expect(node.sh('apt-mark showhold').split('\n').filter(Boolean).sort()).toEqual(['containerd.io', 'cri-tools', 'kubeadm', 'kubectl', 'kubelet']);
      const upgrade = node.sh('apt-get -s upgrade');
      expect(upgrade).toMatch(/kept back:\n +kubeadm kubectl kubelet\n/);
      expect(upgrade).not.toMatch(/^Inst kube(let|adm|ctl) /m);
    }
    expect(controlPlane().sh('ctr -n k8s.io images ls -q')).toContain(`registry.k8s.io/kube-apiserver:v${VERSION}`);
  });

  test('every node: its node name, each node in /etc/hosts once; ufw active, filtering what prep did not open', async () => {
    for (const node of vms) {
      expect(node.sh('hostname').trim()).toBe(node.name);
      const hosts = node.sh('cat /etc/hosts');
      for (const other of NODES) expect(hosts.match(new RegExp(`^${other.address.replaceAll('.', '\\.')}\\s+${other.name}\\b`, 'gm'))).toHaveLength(1);
      expect(node.sh('ufw status')).toMatch(/^Status: active$/m);
    }
    // Traefik's metrics listen on port 9100 of each node it runs on, which prep does not open: answered locally, filtered across the network.
    expect(vm(ingressNames[0]).sh("curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:9100/metrics || true")).toBe('200');
    if (ONE_NODE) oneNodeSkip('ufw filtering across the network (no other node to ask from)');
    else expect(await status('http://192.168.56.12:9100/metrics')).toBe('000');
  });

  test('a second run changes nothing on any node or in the cluster, and takes at most 15% of the first', async () => {
    const before = vms.map(state);
    const objectsBefore = await objects();
    for (const node of vms) node.sh(`touch ${MARK}`);
    const second = await bootstrapOk('bootstrap, second run');
    for (const node of NODES) expect(second.stdout).toMatch(new RegExp(`${node.name} +prep done: nothing to change`));
    expect(second.stdout).toMatch(/k8s-node1 +init done: already initialised/);
    for (const worker of WORKERS) expect(second.stdout).toMatch(new RegExp(`${worker.name} +join done: already joined`));
    expect(second.stdout).toContain('apply done: 3 stages unchanged');
    expect(second.stdout).toContain(`verify done: ${CHECKS}`);
    expect(vms.map(state)).toEqual(before);
    expect(await objects()).toBe(objectsBefore);
    for (const node of vms) expect(`${node.name}: ${writtenSinceMark(node)}`).toBe(`${node.name}: `);
    const ratio = timings['bootstrap, second run'] / timings['bootstrap, first run'];
    results.rerun = `${Math.round(ratio * 100)}% of first`;
    expect(ratio).toBeLessThanOrEqual(0.15);
  });

  test('kubectl on the control plane and the kubeconfig the summary points to both work', async () => {
    expect(await onControlPlane('kubectl get nodes --no-headers | wc -l')).toBe(`${NODES.length}\n`);
    const fetched = await bootstrap('bootstrap.mjs kubeconfig', 'kubeconfig');
    expect(fetched.code).toBe(0);
    expect(controlPlane().sh(`stat -c %a ${REPO_ON_VM}/kubeconfig`).trim()).toBe('600');
    expect(await onControlPlane(`cd ${REPO_ON_VM} && KUBECONFIG=./kubeconfig kubectl get nodes -o name`)).toBe(NODES.map((n) => `node/${n.name}`).join('\n') + '\n');
  });

  test('the node scripts on the same real node: hosts/prep.mjs finds nothing to change, hosts/init.mjs writes a join ticket', async () => {
    const prep = await time('hosts/prep.mjs', () => controlPlane().run(`cd ${REPO_ON_VM} && ./hosts/prep.mjs`));
    printed.push(prep.stdout, prep.stderr);
    expect(prep.stderr).toBe('');
    expect(prep.stdout).toContain('[k8s-node1] prep: nothing changed, the node already was as configured');
    const init = await time('hosts/init.mjs', () => controlPlane().run(`cd ${REPO_ON_VM} && ./hosts/init.mjs`));
    printed.push(init.stdout, init.stderr);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('already initialised');
    expect(controlPlane().sh(`stat -c %a ${DEFAULT_TICKET_FILE}`).trim()).toBe('600');
    const ticket = controlPlane().sh(`cat ${DEFAULT_TICKET_FILE}`);
    expect(ticket).toContain(`caCertHash: ${caCertHash(controlPlane().sh('cat /etc/kubernetes/pki/ca.crt'))}`);
    const token = /^token: (\S+)$/m.exec(ticket)![1];
    expect(init.stdout).not.toContain(token);
  });

  (ONE_NODE ? test.skip : test)('a worker rebooted comes back Ready, its pods run again, and the NodePort and Ingress answer again', async () => {
    const worker = vm('k8s-node3');
    timings['reboot k8s-node3'] = await worker.reboot();
    expect(worker.sh('swapon --show --noheadings')).toBe('');
    expect(worker.sh('sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables')).toBe('1\n1\n');
    expect(worker.sh('ip -4 route show default')).toMatch(/^default via 10\.0\.2\.2/);
    timings['k8s-node3 Ready again'] = await waitFor('k8s-node3 Ready', "kubectl get node k8s-node3 -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True", 600);
    await waitFor('the pods on k8s-node3 running again', "[ -z \"$(kubectl get pods -A --field-selector spec.nodeName=k8s-node3 --no-headers | awk '{split($3,a,\"/\"); if ($4!=\"Running\" || a[1]!=a[2]) print}')\" ]", 600);
    await waitFor('NodePort and Ingress on k8s-node3', `[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://192.168.56.13:$(kubectl get svc tomcat6 -o jsonpath='{.spec.ports[0].nodePort}')/)" = 200 ] && [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: ${INGRESS_HOST}' http://192.168.56.13/)" = 200 ]`, 600);
  });

  test('no join token and no private key in anything the runs printed or logged', () => {
    const tokens = controlPlane().sh("kubeadm token list -o jsonpath='{.token}{\"\\n\"}' --kubeconfig /etc/kubernetes/admin.conf").split('\n').filter(Boolean);
    expect(tokens.length).toBeGreaterThan(0);
    const caKey = controlPlane().sh('cat /etc/kubernetes/pki/ca.key').split('\n').filter((l) => l && !l.startsWith('-----'));
    const everything = [...printed, controlPlane().sh(`cat ${REPO_ON_VM}/logs/*/*.log`)].join('\n');
    for (const token of tokens) {
      expect(everything).not.toContain(token);
      expect(everything).not.toContain(token.split('.')[1]);
    }
    expect(everything).not.toContain('PRIVATE KEY');
    for (const line of caKey) expect(everything).not.toContain(line);
  });

  test('the VMs reached nothing outside themselves but Debian\'s archive (through the proxy), the test\'s repositories and its registry', async () => {
    expect(egress.refused).toEqual([]);
    expect([...egress.passed.keys()]).toContain('deb.debian.org');
    const code = async (args: string) => (await controlPlane().run(`curl -s -o /dev/null -w '%{http_code}' --max-time 10 ${args} || true`)).stdout.trim();
    const release = `/k8s/core:/stable:/v${VERSION.split('.').slice(0, 2).join('.')}/deb/Release`;
    expect(await code(`http://${REPO_HOST}${release}`)).toBe('200');
    expect(await code(`--cacert ${REPO_ON_VM}/mirror-ca.crt https://${REGISTRY_HOST}/v2/`)).toBe('200');
    // The same server at this machine's own address: out of reach (restrict=on).
    expect(await code(`http://10.0.2.2:${repos.port}${release}`)).toBe('000');
    expect(await code(`-x http://${PROXY_FOR_VM} http://example.invalid/`)).toBe('403');
    expect(egress.refused).toEqual(['GET http://example.invalid/']);
  });
}
