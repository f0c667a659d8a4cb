/**
 * npm run test:cluster: a real cluster, end to end, on three Debian 12
 * system containers (containers.ts) on a private network of the test's own,
 * from bare nodes to tomcat6 answering through the Ingress.
 *
 * ./scripts/bootstrap.mjs runs as a user runs it, from the test's
 * "workstation" (this checkout, in the test's network namespace) over SSH to
 * the three nodes, with the repository's cluster.yaml changed only in the
 * addresses, the logins, the mirror and its CA, and the cgroup v1 opt-in
 * (this machine's cgroups are v1, so the nodes' are), and the version: the
 * cluster is formed at the tested release of the minor before (1.36.5), then
 * day 2 runs on it: `upgrade` to the repository's version while tomcat6 is
 * asked through the Ingress every second, `backup` and `restore`, and
 * `certs renew`. Last, after a reset, a highly available cluster on the same
 * nodes and two more: three control planes behind a virtual IP (kube-vip),
 * whose holder is stopped and started again. Nothing is installed or loaded
 * on a node behind the product's back.
 *
 * Everything the cluster runs is real and built here from source (npm run
 * kube:build and scripts/kube-build/cluster-parts.ts): kubelet, kubeadm,
 * kubectl, cri-tools and kubernetes-cni as pkgs.k8s.io packages them,
 * containerd.io (containerd 2 and runc) as Docker's repository does
 * (../vm/packages.ts); every image kubeadm and dist/ pull (../vm/images.ts,
 * Tomcat 6.0.53 from Maven Central), served by a real registry over TLS
 * (../vm/registry.ts) that the cluster.yaml names as the registry mirror with
 * its CA. The nodes reach nothing but those, and Debian's archive through an
 * apt proxy that refuses anything else (../vm/egress.ts).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { ADDON_IMAGES, KUBE_VIP_IMAGE } from '../../config/images';
import { caCertHash, JOIN_CONFIG_FILE } from '../../hosts/node/kubeadm';
import { releaseBefore } from '../../config/versions';
import { readBuild, versionDir } from '../../scripts/kube-build/cache';
import { type ClusterParts, ensureClusterParts } from '../../scripts/kube-build/cluster-parts';
import { traefikPath } from '../../scripts/kube-build/traefik';
import { missingPrerequisite } from '../prerequisites';
import { type Egress, startEgress } from '../vm/egress';
import { baseLayers, clusterImages, distImages, pushImages } from '../vm/images';
import { CACHE, removeEarlierRunFiles, removeRunFiles, stopAll, timer } from '../vm/machine';
import { type PackageRepos, startPackageRepos } from '../vm/packages';
import { type Registry, registryMissing, startRegistry } from '../vm/registry';
import { type NodeContainer, type NodeImage, nodeImage, NodeReaper, relayInto, startNetwork, startNode, type TestNetwork } from './containers';
import { headlampStandIn } from './headlamp-stand-in';

const ROOT = path.resolve(__dirname, '../..');
/** The repository's own cluster.yaml: its version, its add-ons, its app. */
const DEFAULT_CONFIG = parseDocument(readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8'));
const VERSION = String(DEFAULT_CONFIG.getIn(['kubernetes', 'version']));
/** The release the cluster is formed at: the tested release of the minor before; `upgrade` moves it to VERSION. */
const FIRST = releaseBefore(VERSION);
const GATEWAY = '192.168.56.1';
const NODES = [
  { name: 'k8s-node1', address: '192.168.56.11', role: 'control-plane' },
  { name: 'k8s-node2', address: '192.168.56.12', role: 'worker' },
  { name: 'k8s-node3', address: '192.168.56.13', role: 'worker' },
] as const;
const WORKERS = NODES.filter((n) => n.role === 'worker');
/** The highly available cluster: the same nodes and two more control planes, behind this virtual IP. */
const VIP = '192.168.56.10';
const HA_NODES = [...NODES, { name: 'k8s-node4', address: '192.168.56.14', role: 'control-plane' }, { name: 'k8s-node5', address: '192.168.56.15', role: 'control-plane' }] as const;
const HA_CONTROL_PLANES = HA_NODES.filter((n) => n.role === 'control-plane').map((n) => n.name);
/** The bootstrap's own checks: the NodePort on every node, the Ingress on every worker. */
const CHECK_COUNT = NODES.length + WORKERS.length;
const CHECKS = `${CHECK_COUNT}/${CHECK_COUNT} answered HTTP 200`;
const ALL_200 = Array(CHECK_COUNT).fill('200');
const INGRESS_HOST = String(DEFAULT_CONFIG.getIn(['tomcat6', 'host']));
const REPLICAS = Number(DEFAULT_CONFIG.getIn(['tomcat6', 'replicas']));
const PROXY_PORT = 3142;
const UPSTREAM_REGISTRIES = ['registry.k8s.io', 'ghcr.io', 'docker.io'];
/** Where runs keep their folders: not /tmp, which is often a small tmpfs (the nodes' images take gigabytes). */
const WORK_PARENT = process.env.VM_WORK ?? '/var/tmp';
/** What a run writes in WORK_PARENT at most (the nodes' containerd stores, the registry, the repositories). */
const RUN_GB = 12;
/**
 * The nodes' kubelets see this machine's filesystem as theirs and evict every pod once less than 15% of it is
 * free (their default imagefs.available threshold): a run needs that much free besides its own.
 */
const EVICTION_SHARE = 0.15;
/** One folder for every run: a run finds there what an earlier, killed one left in the kernel (reaper.cjs). */
const STATE_DIR = path.join(WORK_PARENT, 'kube-hosts-cluster-state');

const toolsMissing = () => [
  ...['/usr/sbin/debootstrap', '/usr/bin/systemd-nspawn', '/usr/bin/nsenter', '/usr/bin/unshare', '/usr/bin/apt-ftparchive', '/usr/bin/gpg', '/usr/bin/dpkg-deb', '/usr/bin/ssh']
    .filter((tool) => { try { execFileSync('test', ['-x', tool]); return false; } catch { return true; } }),
  ...(process.getuid?.() === 0 ? [] : ['root']),
];
const buildMissing = () => [
  ...[VERSION, FIRST].flatMap((v) => (readBuild(v) ? [] : [`the Kubernetes ${v} build (npm run kube:build -- --tested)`])),
  ...(existsSync(traefikPath()) ? [] : ['the Traefik build (npm run kube:build -- --tested)']),
];
const missing = [...toolsMissing(), ...registryMissing(), ...buildMissing()];
const freeGb = () => {
  const stats = statfsSync(WORK_PARENT);
  return (stats.bavail * stats.bsize) / 2 ** 30;
};
const neededGb = () => {
  const stats = statfsSync(WORK_PARENT);
  return RUN_GB + EVICTION_SHARE * ((stats.blocks * stats.bsize) / 2 ** 30);
};

if (missing.length) {
  missingPrerequisite('real cluster test', `needs ${missing.join(', ')}`);
} else {
  const { timings, time, summary } = timer();
  mkdirSync(WORK_PARENT, { recursive: true });
  const work = mkdtempSync(path.join(WORK_PARENT, 'clustertest-'));
  const workstation = path.join(work, 'workstation');
  const nodes: NodeContainer[] = [];
  let image: NodeImage;
  let repos: PackageRepos;
  let registry: Registry;
  let egress: Egress;
  let parts: ClusterParts;
  let network: TestNetwork;
  let reaper: NodeReaper;
  let stopRelays: (() => void) | undefined;
  /** Everything the runs printed, for the secrets check at the end. */
  const printed: string[] = [];
  /** The parts of the closing summary line, filled in by the tests that prove them. */
  const results: Record<string, string> = {
    'nodes ready': 'not checked', 'kube-system running': 'not checked', 'pod-to-pod across nodes': 'not checked', dns: 'not checked',
    'nodeport 200 on': 'not checked', 'ingress 200 on': 'not checked', 'gateway 200 on': 'not checked', rerun: 'not checked',
  };

  /** The two control planes more that the highly available cluster adds (started by its test). */
  const haNodes: NodeContainer[] = [];
  const node = (name: string) => [...nodes, ...haNodes].find((n) => n.name === name)!;
  const controlPlane = () => node('k8s-node1');
  const workers = () => WORKERS.map((w) => node(w.name));

  /** The repository's cluster.yaml, comments kept, with this network's addresses and logins, the test's repositories, its registry as the mirror, and the cgroup v1 opt-in. */
  const clusterYaml = () => {
    const doc = parseDocument(readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8'));
    NODES.forEach((n, i) => {
      doc.setIn(['nodes', i, 'name'], n.name);
      doc.setIn(['nodes', i, 'address'], n.address);
      doc.setIn(['nodes', i, 'role'], n.role);
      doc.setIn(['nodes', i, 'ssh'], { identityFile: path.join(workstation, 'id_ed25519') });
    });
    for (const upstream of UPSTREAM_REGISTRIES) doc.setIn(['images', 'mirrors', upstream], `${GATEWAY}/${upstream}`);
    doc.setIn(['images', 'mirrorCa'], 'mirror-ca.crt');
    // Air-gapped, as the nodes are: the mirror only.
    doc.setIn(['images', 'mirrorFallback'], false);
    doc.setIn(['packages', 'kubernetes'], `http://${GATEWAY}/k8s/core:/stable:`);
    doc.setIn(['packages', 'docker'], `http://${GATEWAY}/docker`);
    // This machine's cgroups are a v1 layout, and so are its containers'.
    doc.setIn(['kubernetes', 'allowCgroupV1'], true);
    // Formed at the release before; the upgrade test moves it to the repository's version.
    doc.setIn(['kubernetes', 'version'], FIRST);
    return doc.toString();
  };

  /** A command on a node, without blocking this process (the repositories, the proxy and the relays answer from it). */
  const on = async (target: NodeContainer, command: string) => {
    const result = await target.run(command);
    if (result.code !== 0) throw new Error(`${target.name}: ${command}: exit ${result.code}\n${result.stdout}${result.stderr}`);
    return result.stdout;
  };
  const onControlPlane = (command: string) => on(controlPlane(), command);
  const kubectl = (args: string) => onControlPlane(`kubectl --kubeconfig /etc/kubernetes/admin.conf ${args}`);
  /** Runs a shell condition on the control plane every 2 s until it holds; returns the seconds it took. */
  const waitFor = async (what: string, condition: string, seconds = 300) => {
    const started = Date.now();
    const result = await controlPlane().run(`export KUBECONFIG=/etc/kubernetes/admin.conf; for i in $(seq ${Math.ceil(seconds / 2)}); do if ${condition}; then exit 0; fi; sleep 2; done; exit 1`);
    if (result.code !== 0) {
      const context = (await controlPlane().run('kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes,pods -A -o wide 2>&1')).stdout;
      throw new Error(`${what}: not within ${seconds} s\n${context}`);
    }
    return (Date.now() - started) / 1000;
  };
  /**
   * Every kube-system pod Running and ready. The bootstrap waits for the nodes and its own add-ons, not for
   * kubeadm's CoreDNS, which is scheduled once a worker has joined and may still be starting when it ends.
   */
  const KUBE_SYSTEM_READY = "! kubectl -n kube-system get pods --no-headers | awk '{split($2,a,\"/\"); if ($3!=\"Running\" || a[1]!=a[2]) bad=1} END {exit !bad}'";
  /** HTTP status of a URL fetched from the control plane (000: no answer). */
  const status = async (url: string, host?: string) => (await controlPlane().run(`curl -s -o /dev/null -w '%{http_code}' --max-time 10 ${host ? `-H 'Host: ${host}' ` : ''}${url} || true`)).stdout.trim();
  const nodePortOf = async () => Number(await kubectl("get svc tomcat6 -o jsonpath='{.spec.ports[0].nodePort}'"));
  /** The ready tomcat6 pods: name, node, IP. */
  const tomcatPods = async () => (await kubectl("get pods -l app=tomcat6 -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP} {.status.conditions[?(@.type==\"Ready\")].status} {.metadata.deletionTimestamp}{\"\\n\"}{end}'"))
    .split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length === 4 && f[3] === 'True').map(([name, nodeName, ip]) => ({ name, node: nodeName, ip }));
  /** Every node's NodePort and every worker's Ingress, answered 200 (the page Tomcat 6.0.53 serves). */
  const serviceAnswers = async () => {
    const port = await nodePortOf();
    const nodePort = await Promise.all(NODES.map((n) => status(`http://${n.address}:${port}/`)));
    const ingress = await Promise.all(WORKERS.map((n) => status(`http://${n.address}/`, INGRESS_HOST)));
    return { nodePort: nodePort.filter((s) => s === '200').length, ingress: ingress.filter((s) => s === '200').length, all: [...nodePort, ...ingress] };
  };

  /** ./scripts/bootstrap.mjs from the workstation, in its folder, as a user runs it. */
  const bootstrap = async (label: string, args: string[] = []) => {
    const result = await time(label, () => network.run([process.execPath, path.join(ROOT, 'scripts', 'bootstrap.mjs'), ...args, '--ssh-config', path.join(workstation, 'ssh_config')], {
      cwd: workstation,
      env: { PATH: process.env.PATH, HOME: workstation, LANG: 'C.UTF-8', TMPDIR: '/tmp' },
    }));
    printed.push(result.stdout, result.stderr);
    return result;
  };
  const bootstrapOk = async (label: string, args: string[] = []) => {
    const result = await bootstrap(label, args);
    if (result.code !== 0) {
      // The cause first (CI keeps only the start of a long message): the run's own error lines, then the cluster's state, then the logs' tails.
      const tail = (text: string, lines: number) => text.trimEnd().split('\n').slice(-lines).join('\n');
      const cluster = (await controlPlane().run('export KUBECONFIG=/etc/kubernetes/admin.conf; kubectl get nodes,pods -A -o wide 2>&1; kubectl get events -A --field-selector type=Warning 2>&1 | tail -n 30')).stdout;
      const logs = execFileSync('sh', ['-c', `for f in ${workstation}/logs/*/*.log; do echo "== $f"; tail -n 25 "$f"; done 2>&1 || true`], { encoding: 'utf8' });
      throw new Error(`bootstrap exited ${result.code}\n--- its error ---\n${tail(result.stderr, 15)}\n--- the end of its output ---\n${tail(result.stdout, 25)}\n--- the cluster ---\n${cluster}\n--- logs ---\n${logs}`);
    }
    return result;
  };
  /** Seconds a node's phase took, from the bootstrap's `<node>  <phase> done: ... (12.3s)` line. */
  const phaseSeconds = (out: string, nodeName: string, phase: string) => Number(new RegExp(`${nodeName} +${phase} done: .*\\((\\d+(?:\\.\\d+)?)s\\)`).exec(out)?.[1] ?? Number.NaN);
  /** A node's log of the bootstrap's runs so far, oldest first. */
  const logFile = (nodeName: string) => execFileSync('sh', ['-c', `cat ${workstation}/logs/*/${nodeName}.log`], { encoding: 'utf8', maxBuffer: 1 << 28 });

  /** What a run could change on a node: files, packages, holds, /etc's entries, services' starts. */
  const state = (target: NodeContainer) => target.sh([
    'md5sum /etc/hosts /etc/hostname /etc/containerd/config.toml /etc/sysctl.d/99-kubernetes.conf /etc/apt/sources.list.d/kubernetes.list /etc/apt/sources.list.d/docker.list /etc/kubernetes/kubelet.conf /etc/containerd/certs.d/*/hosts.toml',
    "dpkg-query -W -f='${Package} ${Version} ${Status}\\n' | md5sum",
    'apt-mark showhold | md5sum',
    'ls -a /etc /etc/kubernetes /etc/kubernetes/manifests /root | md5sum',
    'systemctl show -p ActiveEnterTimestampMonotonic -p NRestarts containerd kubelet',
  ].join('; '));
  /** The cluster's objects the bootstrap applies: their spec generations (status updates do not count). */
  const objects = () => kubectl("get deploy,ds,svc,ingress,sa,cm -A -o jsonpath='{range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name} {.metadata.generation} {.metadata.uid}{\"\\n\"}{end}'");
  /** Files a run wrote since the mark, leaving out what a running node writes by itself (kubelet, containerd, etcd, systemd, kubectl's cache). */
  const MARK = '/run/clustertest-mark';
  const RUNTIME_STATE = ['/proc', '/sys', '/run', '/dev', '/tmp', '/var/log', '/var/cache', '/var/tmp', '/var/lib/kubelet', '/var/lib/containerd', '/var/lib/etcd', '/var/lib/cni', '/var/lib/systemd', '/var/lib/apt/lists', '/root/.kube/cache'];
  const writtenSinceMark = (target: NodeContainer) => target.sh(`find / -xdev \\( ${RUNTIME_STATE.map((p) => `-path ${p}`).join(' -o ')} \\) -prune -o -newer ${MARK} -print`);

  /**
   * A bare node on the test's network: an address and a default route, the workstation's key, and apt's way to
   * Debian's archive (the proxy); the test's repositories directly.
   */
  const bareNode = (n: { name: string; address: string }) => startNode({
    name: n.name, address: n.address, network, image, workDir: work, files: {
      '/etc/systemd/network/10-host0.network': `[Match]\nName=host0\n\n[Network]\nAddress=${n.address}/24\nGateway=${GATEWAY}\n`,
      '/etc/resolv.conf': `nameserver ${GATEWAY}\n`,
      '/root/.ssh/authorized_keys': readFileSync(path.join(workstation, 'id_ed25519.pub'), 'utf8'),
      '/etc/apt/apt.conf.d/00clustertest-proxy': `Acquire::http::Proxy "http://${GATEWAY}:${PROXY_PORT}/";\nAcquire::http::Proxy::${GATEWAY} "DIRECT";\n`,
    },
  }, reaper);

  beforeAll(async () => {
    removeEarlierRunFiles(work);
    if (freeGb() < neededGb()) throw new Error(`the real cluster test needs ${neededGb().toFixed(1)} GB free in ${WORK_PARENT} (VM_WORK): ${RUN_GB} GB for its files, and 15% of the filesystem, below which the nodes' kubelets evict every pod (DiskPressure); it has ${freeGb().toFixed(1)} GB`);
    const log = (line: string) => process.stderr.write(`cluster test: ${line}\n`);
    const kubeDir = versionDir(VERSION);
    const build = readBuild(VERSION)!;
    const kubeBin = path.join(kubeDir, 'bin');
    const firstBin = path.join(versionDir(FIRST), 'bin');
    reaper = new NodeReaper(STATE_DIR);
    image = await time('node image (build or cache)', () => nodeImage(CACHE));
    // The parts of both releases (CoreDNS and etcd's tools follow kubeadm's images).
    const firstParts = await time(`cluster parts of ${FIRST} (build or cache)`, () => ensureClusterParts(path.join(firstBin, 'kubeadm'), log));
    parts = await time('cluster parts (build or cache)', () => ensureClusterParts(path.join(kubeBin, 'kubeadm'), log));

    const base = await time('image base layers (build or cache)', () => baseLayers(CACHE, log));
    registry = await startRegistry(path.join(work, 'registry'), path.join(work, 'registry-storage'), GATEWAY, path.join(work, 'registry.log'));
    const kubeadmImagesOf = (bin: string, version: string) => execFileSync(path.join(bin, 'kubeadm'), ['config', 'images', 'list', `--kubernetes-version=v${version}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const kubeadmImages = kubeadmImagesOf(kubeBin, VERSION);
    // The images kubeadm of the first release runs (the cluster starts there); those both releases name are built once.
    const firstImages = kubeadmImagesOf(firstBin, FIRST).filter((i) => !kubeadmImages.includes(i));
    const firstRecipes = await time(`image builds (${FIRST})`, () => clusterImages({
      kubeadmImages: firstImages, distImages: [], kubeBin: firstBin, parts: firstParts, traefik: traefikPath(), base, workDir: path.join(work, `images-${FIRST}`), cacheDir: CACHE,
    }));
    const recipes = await time('image builds', () => clusterImages({
      // dist/ of the committed cluster.yaml, the dashboard's image for the run with dashboard.enabled, and kube-vip's
      // (the HA cluster's control planes run it as a static pod).
      kubeadmImages, distImages: [...distImages(path.join(ROOT, 'dist')), ADDON_IMAGES.headlamp, KUBE_VIP_IMAGE], kubeBin, parts, traefik: traefikPath(), base, workDir: work, cacheDir: CACHE,
      headlamp: headlampStandIn(CACHE),
    }));
    recipes.push(...firstRecipes);
    const pushed = await time('registry push', () => pushImages(parts.crane, registry.address, registry.caFile, recipes));
    log(`pushed ${pushed.length} images: ${recipes.map((r) => r.name).join(', ')}`);
    repos = await time('package repositories', () => startPackageRepos(work, kubeDir, build, parts, [{ kubeDir: versionDir(FIRST), build: readBuild(FIRST)! }]));
    egress = await startEgress();

    network = await startNetwork(GATEWAY, 24);
    stopRelays = await relayInto(network, work, [
      { listen: `${GATEWAY}:80`, port: repos.port },
      { listen: `${GATEWAY}:${PROXY_PORT}`, port: egress.port },
      { listen: `${GATEWAY}:443`, port: Number(registry.address.split(':')[1]) },
    ]);

    // The workstation: a key to log in with, known hosts of its own, the cluster.yaml and the mirror's CA.
    mkdirSync(workstation, { recursive: true });
    const key = path.join(workstation, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cluster-test', '-f', key]);
    writeFileSync(path.join(workstation, 'ssh_config'), `Host *\n  UserKnownHostsFile ${path.join(workstation, 'known_hosts')}\n`);
    writeFileSync(path.join(workstation, 'cluster.yaml'), clusterYaml());
    copyFileSync(registry.caFile, path.join(workstation, 'mirror-ca.crt'));
    chmodSync(workstation, 0o700);

    // What the nodes have before anything runs: an address and a default route on the test's network, the
    // workstation's key, and apt's way to Debian's archive (the proxy); the test's repositories directly.
    const boots = await time(`node start (${NODES.length} at once)`, () => Promise.all(NODES.map(bareNode)));
    nodes.push(...boots);
    log(`nodes up in ${boots.map((n) => `${n.name} ${n.bootSeconds.toFixed(1)}s`).join(', ')}`);
  }, 3_600_000);

  afterAll(async () => {
    // CLUSTER_TEST_HOLD=1: the cluster stays up for a look until the hold file is removed (CONTRIBUTING.md).
    if (process.env.CLUSTER_TEST_HOLD) {
      const hold = path.join(work, 'hold');
      writeFileSync(hold, '');
      process.stderr.write(`cluster test: holding the cluster; workstation ${workstation}, network namespace ${network?.namespace}; rm ${hold} to end\n`);
      while (existsSync(hold)) await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    // Kept for a look afterwards: the bootstrap's logs, the nodes' consoles, the cluster's pods and events, the registry's messages.
    try {
      writeFileSync(path.join(work, 'cluster.txt'), await onControlPlane('kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes,pods -A -o wide 2>&1; kubectl --kubeconfig /etc/kubernetes/admin.conf get events -A 2>&1 | tail -n 80'));
    } catch {
      // no node, or no cluster yet
    }
    for (const n of [...nodes, ...haNodes]) await n.stop();
    await reaper?.cleanUp();
    stopRelays?.();
    stopAll();
    await repos?.stop();
    await egress?.stop();
    removeRunFiles(work);
    // The nodes' writable layers and containerd stores (gigabytes): gone once the containers and their mounts are.
    rmSync(path.join(work, 'nodes'), { recursive: true, force: true });
    process.stderr.write(`real cluster timings: ${summary()}${image?.buildSeconds ? ` (node image built in ${image.buildSeconds.toFixed(0)}s)` : ' (node image from the cache)'}; logs and consoles in ${work}\n`);
    process.stderr.write(`ha: ${results.ha ?? 'not run'}\n`);
    // Last: the one line that says what the real cluster proved.
    process.stderr.write(`day 2: ${results['day 2 upgrade'] ?? 'upgrade not run'}; ${results['day 2 restore'] ?? 'backup and restore not run'}; ${results['day 2 certs'] ?? 'certificates not renewed'}\n`);
    process.stderr.write(`real cluster: nodes ready ${results['nodes ready']}, kube-system running ${results['kube-system running']}, pod-to-pod across nodes ${results['pod-to-pod across nodes']}, dns ${results.dns}, nodeport 200 on ${results['nodeport 200 on']}, ingress 200 on ${results['ingress 200 on']}, gateway 200 on ${results['gateway 200 on']}, dashboard ${results.dashboard ?? 'not run'} (a stand-in for Headlamp's server, whose sources are not served here; the token read nodes and was refused writes), rerun ${results.rerun}\n`);
  }, process.env.CLUSTER_TEST_HOLD ? 86_400_000 : 300_000);

  test(`./scripts/bootstrap.mjs takes the bare nodes to a cluster: init, joins with the CA pinned, add-ons applied, ${CHECKS}`, async () => {
    const started = Date.now();
    // With no terminal to ask on, a run that changes the nodes needs --yes (a user at a terminal types yes).
    const first = await bootstrapOk('bootstrap, first run', ['--yes']);
    const out = first.stdout;
    for (const phase of ['connect', 'facts', 'prep', 'init', 'join', 'apply', 'verify', 'summary']) expect(out).toContain(`==> ${phase}`);
    // What it would change was said before it changed anything: every node prepared, then init or join.
    expect(out).toContain('    this run will change:\n');
    for (const n of NODES) expect(out).toContain(`      ${n.name} (${n.address}): prepared (`);
    expect(out.indexOf('this run will change:')).toBeLessThan(out.indexOf('==> prep'));
    for (const n of NODES) {
      expect(out).toMatch(new RegExp(`${n.name} +ssh root@${n.address.replaceAll('.', '\\.')}:22`));
      // The facts say what the node is, and the cgroup v1 opt-in is a warning per node.
      expect(out).toMatch(new RegExp(`${n.name} +facts done: Debian GNU/Linux 12 \\(bookworm\\) \\(debian\\), system container \\(systemd-nspawn\\), .*cgroup v1, machine-id [0-9a-f]{32}`));
      expect(out).toContain(`warning: ${n.name} runs cgroup v1`);
      expect(out).toMatch(new RegExp(`${n.name} +prep done: \\d+ step\\(s\\) changed`));
      timings[`prep ${n.name}`] = phaseSeconds(out, n.name, 'prep');
    }
    expect(out).toMatch(/k8s-node1 +init done: initialised/);
    timings['kubeadm init'] = phaseSeconds(out, 'k8s-node1', 'init');
    const hash = caCertHash(controlPlane().sh('cat /etc/kubernetes/pki/ca.crt'));
    for (const worker of WORKERS) {
      expect(out).toMatch(new RegExp(`${worker.name} +join done: joined \\(`));
      // The join step's own line, in the worker's log: the control plane's address and its real CA, pinned.
      expect(logFile(worker.name)).toContain(`[${worker.name}] kubeadm join: joined 192.168.56.11:6443 (CA pinned to ${hash.slice(0, 19)}...)`);
      timings[`join ${worker.name}`] = phaseSeconds(out, worker.name, 'join');
    }
    expect(out).toMatch(/apply done: flannel: \d+ object\(s\) created or changed; traefik: \d+ object\(s\) created or changed; tomcat6: \d+ object\(s\) created or changed/);
    expect(out).toContain(`verify done: ${CHECKS}`);
    expect(out).toContain('    system containers: k8s-node1 (systemd-nspawn), k8s-node2 (systemd-nspawn), k8s-node3 (systemd-nspawn); the host\'s kernel, modules and global settings are theirs');
    // Apply stages, from the bootstrap's log of the control plane: each stage's kubectl apply to its last wait.
    const logLines = logFile('k8s-node1').split('\n');
    const stamp = (line: string) => Date.parse(line.split(' ')[0]);
    const applies = logLines.map((l, i) => ({ l, i })).filter(({ l }) => /\$ kubectl .*apply .*-f -: exit 0/.test(l));
    for (const [n, stage] of ['flannel', 'traefik', 'tomcat6'].entries()) {
      if (!applies[n]) continue;
      const end = applies[n + 1]?.i ?? logLines.findIndex((l, i) => i > applies[n].i && /\$ curl /.test(l));
      const waits = logLines.slice(applies[n].i, end > 0 ? end : undefined).filter((l) => /\$ kubectl /.test(l));
      // From the last line logged before the apply (its command's start) to the stage's last wait.
      const before = logLines.slice(0, applies[n].i).reverse().find((l) => /^\d{4}-\d\d-\d\dT/.test(l)) ?? applies[n].l;
      timings[`apply ${stage}`] = (stamp(waits[waits.length - 1]) - stamp(before)) / 1000;
    }
    const readySince = (await kubectl("get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}{\"\\n\"}{end}'")).split('\n').filter(Boolean).map(Date.parse);
    timings['all nodes Ready'] = (Math.max(...readySince) - started) / 1000;
  }, 3_600_000);

  test('all 3 nodes Ready, every kube-system pod Running and ready; the workers joined with the control plane\'s CA', async () => {
    const listed = (await kubectl("get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}'")).trim().split('\n');
    results['nodes ready'] = `${listed.filter((l) => l.endsWith(' True')).length}/${NODES.length}`;
    expect(listed.sort()).toEqual(NODES.map((n) => `${n.name} True`));
    await waitFor('every kube-system pod ready', KUBE_SYSTEM_READY, 600);
    const pods = (await kubectl('-n kube-system get pods --no-headers')).trim().split('\n');
    const running = pods.filter((l) => / Running /.test(l));
    results['kube-system running'] = `${running.length}/${pods.length}`;
    expect(running).toHaveLength(pods.length);
    for (const name of ['etcd-k8s-node1', 'kube-apiserver-k8s-node1', 'kube-controller-manager-k8s-node1', 'kube-scheduler-k8s-node1']) expect(pods.join('\n')).toContain(name);
    expect(pods.filter((p) => p.startsWith('kube-proxy-'))).toHaveLength(NODES.length);
    expect(pods.filter((p) => p.startsWith('coredns-'))).toHaveLength(2);
    const ca = controlPlane().sh('cat /etc/kubernetes/pki/ca.crt');
    for (const worker of workers()) {
      expect(worker.sh("grep certificate-authority-data /etc/kubernetes/kubelet.conf | awk '{print $2}' | base64 -d")).toBe(ca);
      expect(worker.sh(`test -e ${JOIN_CONFIG_FILE} && echo present || echo gone`).trim()).toBe('gone');
    }
  });

  test('flannel: a pod reaches a pod on the other worker (VXLAN across the test\'s bridge), and the API server\'s ClusterIP', async () => {
    const pods = await tomcatPods();
    const [from, to] = [pods.find((p) => p.node === 'k8s-node2'), pods.find((p) => p.node === 'k8s-node3')];
    expect(from && to).toBeTruthy();
    const request = (ip: string, port: number) => `exec 3<>/dev/tcp/${ip}/${port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && head -c 200 <&3`;
    expect(await kubectl(`exec ${from!.name} -- bash -c "${request(to!.ip, 8080)}"`)).toMatch(/^HTTP\/1\.1 200 OK/);
    const apiServer = (await kubectl("get svc kubernetes -o jsonpath='{.spec.clusterIP}'")).trim();
    expect(await kubectl(`exec ${to!.name} -- bash -c "exec 3<>/dev/tcp/${apiServer}/443 && echo connected"`)).toBe('connected\n');
    for (const n of nodes) expect(n.sh('ip -d link show flannel.1')).toMatch(/vxlan id 1 .*dstport 8472/);
    results['pod-to-pod across nodes'] = 'ok';
  });

  test('CoreDNS resolves kubernetes.default and the tomcat6 Service from a pod', async () => {
    const [pod] = await tomcatPods();
    const apiServer = (await kubectl("get svc kubernetes -o jsonpath='{.spec.clusterIP}'")).trim();
    const tomcat = (await kubectl("get svc tomcat6 -o jsonpath='{.spec.clusterIP}'")).trim();
    expect(await kubectl(`exec ${pod.name} -- getent hosts kubernetes.default`)).toMatch(new RegExp(`^${apiServer.replaceAll('.', '\\.')}\\s+kubernetes\\.default\\.svc\\.cluster\\.local`));
    expect(await kubectl(`exec ${pod.name} -- getent hosts tomcat6`)).toMatch(new RegExp(`^${tomcat.replaceAll('.', '\\.')}\\s+tomcat6\\.default\\.svc\\.cluster\\.local`));
    results.dns = 'ok';
  });

  test('tomcat6: its replicas ready on both workers; the NodePort answers on every node, the Ingress host on each worker, with Tomcat\'s page', async () => {
    const pods = await tomcatPods();
    expect(pods).toHaveLength(REPLICAS);
    expect(new Set(pods.map((p) => p.node))).toEqual(new Set(WORKERS.map((w) => w.name)));
    const answers = await serviceAnswers();
    results['nodeport 200 on'] = `${answers.nodePort}/${NODES.length}`;
    results['ingress 200 on'] = `${answers.ingress}/${WORKERS.length}`;
    expect(answers.all).toEqual(ALL_200);
    expect(await onControlPlane(`curl -s --max-time 10 -H 'Host: ${INGRESS_HOST}' http://${WORKERS[0].address}/`)).toContain('Apache Tomcat/6.0.53');
    // Another host on the Ingress port is not routed; a page Tomcat does not have is its own 404.
    expect(await status(`http://${WORKERS[1].address}/`, 'other.example.com')).toBe('404');
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

  test('every node: what prep did in a system container; containerd.io from Docker\'s layout with the mirror and its CA; packages pinned and held', async () => {
    for (const n of nodes) {
      // The modules are the host's kernel's: nothing loaded, nothing to load at boot; the sysctls are the node's own network namespace's.
      expect(n.sh('test -e /etc/modules-load.d/kubernetes.conf && echo written || echo none').trim()).toBe('none');
      expect(n.sh('sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables')).toBe('1\n1\n1\n');
      expect(n.sh("dpkg-query -W -f='${Version}' containerd.io")).toBe(repos.containerdVersion);
      expect(n.sh('containerd --version')).toContain(' 2.');
      const dump = n.sh('containerd config dump');
      expect(dump).toMatch(/SystemdCgroup = true/);
      expect(dump).toMatch(/restrict_oom_score_adj = true/);
      for (const upstream of UPSTREAM_REGISTRIES) {
        const hosts = n.sh(`cat /etc/containerd/certs.d/${upstream}/hosts.toml`);
        // mirrorFallback: false, so the mirror is the only server.
        expect(hosts).toContain(`server = "https://${GATEWAY}/v2/${upstream}"`);
        expect(hosts).toMatch(/ca = "\/etc\/containerd\/certs\.d\/.*"/);
      }
      // Images keep their upstream names: pulled through the mirror, not renamed.
      const images = n.sh('ctr -n k8s.io images ls -q');
      expect(images).toContain(`registry.k8s.io/kube-proxy:v${FIRST}`);
      expect(images).toMatch(/^ghcr\.io\/flannel-io\/flannel:/m);
      // The repository also holds the next patch release: the install pinned the configured version, and the hold keeps it.
      expect(repos.versionsByRelease[FIRST]).toEqual([`${FIRST}-1.1`, expect.not.stringMatching(FIRST)]);
      expect(n.sh("dpkg-query -W -f='${Package} ${Version}\\n' kubelet kubeadm kubectl")).toBe(`kubeadm ${FIRST}-1.1\nkubectl ${FIRST}-1.1\nkubelet ${FIRST}-1.1\n`);
      expect(n.sh('apt-mark showhold').split('\n').filter(Boolean).sort()).toEqual(['containerd.io', 'cri-tools', 'kubeadm', 'kubectl', 'kubelet']);
      const upgrade = n.sh('apt-get -s upgrade');
      expect(upgrade).toMatch(/kept back:\n +kubeadm kubectl kubelet\n/);
      expect(upgrade).not.toMatch(/^Inst kube(let|adm|ctl) /m);
      // Its node name, and each node in /etc/hosts once.
      expect(n.sh('hostname').trim()).toBe(n.name);
      const hosts = n.sh('cat /etc/hosts');
      for (const other of NODES) expect(hosts.match(new RegExp(`^${other.address.replaceAll('.', '\\.')}\\s+${other.name}\\b`, 'gm'))).toHaveLength(1);
    }
    expect(controlPlane().sh('ctr -n k8s.io images ls -q')).toContain(`registry.k8s.io/kube-apiserver:v${FIRST}`);
    // kube-proxy was told to leave the conntrack table's size to the host (which a container may not set).
    expect(await kubectl("-n kube-system get cm kube-proxy -o jsonpath='{.data.config\\.conf}'")).toMatch(/^ {2}maxPerCore: 0$/m);
  });

  test('a second run changes nothing on any node or in the cluster, and takes at most 15% of the first', async () => {
    const before = nodes.map(state);
    const objectsBefore = await objects();
    for (const n of nodes) n.sh(`touch ${MARK}`);
    // A converged cluster: nothing to ask (no --yes, no terminal), nothing said to change.
    const second = await bootstrapOk('bootstrap, second run');
    expect(second.stdout).not.toContain('this run will change:');
    for (const n of NODES) expect(second.stdout).toMatch(new RegExp(`${n.name} +prep done: nothing to change`));
    expect(second.stdout).toMatch(/k8s-node1 +init done: already initialised/);
    for (const worker of WORKERS) expect(second.stdout).toMatch(new RegExp(`${worker.name} +join done: already joined`));
    expect(second.stdout).toContain('apply done: 3 stages unchanged');
    expect(second.stdout).toContain(`verify done: ${CHECKS}`);
    expect(nodes.map(state)).toEqual(before);
    expect(await objects()).toBe(objectsBefore);
    for (const n of nodes) expect(`${n.name}: ${writtenSinceMark(n)}`).toBe(`${n.name}: `);
    const ratio = timings['bootstrap, second run'] / timings['bootstrap, first run'];
    results.rerun = `${Math.round(ratio * 100)}% of first`;
    expect(ratio).toBeLessThanOrEqual(0.15);
  });

  test('kubectl on the control plane and the kubeconfig `bootstrap.mjs kubeconfig` fetches both work', async () => {
    expect(await onControlPlane('kubectl get nodes --no-headers | wc -l')).toBe(`${NODES.length}\n`);
    const fetched = await bootstrap('bootstrap.mjs kubeconfig', ['kubeconfig']);
    expect(fetched.code).toBe(0);
    expect(execFileSync('stat', ['-c', '%a', path.join(workstation, 'kubeconfig')], { encoding: 'utf8' }).trim()).toBe('600');
    const listed = await network.run([path.join(versionDir(FIRST), 'bin', 'kubectl'), '--kubeconfig', path.join(workstation, 'kubeconfig'), 'get', 'nodes', '-o', 'name']);
    expect(listed.stdout).toBe(NODES.map((n) => `node/${n.name}`).join('\n') + '\n');
  });

  test('a worker restarted comes back Ready, its pods run again, and the NodePort and Ingress answer again', async () => {
    const worker = node('k8s-node3');
    const restarted = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    timings['restart k8s-node3'] = await worker.reboot();
    expect(worker.sh('sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables')).toBe('1\n1\n');
    expect(worker.sh('ip -4 route show default')).toMatch(new RegExp(`^default via ${GATEWAY.replaceAll('.', '\\.')}`));
    // Ready, as its restarted kubelet reported it (a heartbeat after the restart began).
    timings['k8s-node3 Ready again'] = await waitFor('k8s-node3 Ready', `[ "$(kubectl get node k8s-node3 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ] && [ ! "$(kubectl get node k8s-node3 -o jsonpath='{.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}')" \\< ${restarted} ]`, 600);
    await waitFor('the pods on k8s-node3 running again', "[ -z \"$(kubectl get pods -A --field-selector spec.nodeName=k8s-node3 --no-headers | awk '{split($3,a,\"/\"); if ($4!=\"Running\" || a[1]!=a[2]) print}')\" ]", 600);
    await waitFor('NodePort and Ingress on k8s-node3', `[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://192.168.56.13:$(kubectl get svc tomcat6 -o jsonpath='{.spec.ports[0].nodePort}')/)" = 200 ] && [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: ${INGRESS_HOST}' http://192.168.56.13/)" = 200 ]`, 600);
  });

  /** cluster.yaml on the workstation with another kubernetes.version (comments kept). */
  const setVersion = (version: string) => {
    const doc = parseDocument(readFileSync(path.join(workstation, 'cluster.yaml'), 'utf8'));
    doc.setIn(['kubernetes', 'version'], version);
    writeFileSync(path.join(workstation, 'cluster.yaml'), doc.toString());
  };
  const LOOP_LOG = '/run/clustertest-requests';
  const LOOP_STOP = '/run/clustertest-requests-stop';
  /** A request to tomcat6 through the Ingress every second, from the control plane, each worker in turn; its answers (status and time taken) go to LOOP_LOG. */
  const startRequests = () => controlPlane().sh(`rm -f ${LOOP_LOG} ${LOOP_STOP}; setsid sh -c 'i=0; while [ ! -e ${LOOP_STOP} ]; do i=$((i+1)); if [ $((i % 2)) = 0 ]; then w=${WORKERS[0].address}; else w=${WORKERS[1].address}; fi; c=$(curl -s -o /dev/null -w "%{http_code} %{time_total}s" --max-time 5 -H "Host: ${INGRESS_HOST}" http://$w/); echo "$(date +%s) $w $c" >> ${LOOP_LOG}; sleep 1; done' >/dev/null 2>&1 < /dev/null &`);
  /** Stops the loop; its answers: every one, and the ones that were not 200. */
  const stopRequests = async () => {
    controlPlane().sh(`touch ${LOOP_STOP}`);
    await new Promise((resolve) => setTimeout(resolve, 7000));
    const lines = controlPlane().sh(`cat ${LOOP_LOG}`).split('\n').filter(Boolean);
    // A line: the time, the worker asked, the HTTP status (000: no answer) and how long the request took.
    return { total: lines.length, failed: lines.filter((l) => l.split(' ')[2] !== '200') };
  };

  test(`day 2: upgrade ${FIRST} -> ${VERSION} with \`npm run upgrade\` while tomcat6 is asked through the Ingress every second; every node at ${VERSION}, the add-ons and checks again`, async () => {
    setVersion(VERSION);
    // The plain bootstrap refuses the version change, naming the command that does it; nothing changes.
    const refused = await bootstrap('bootstrap refuses a version change', ['--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`k8s-node1: has the control plane ${FIRST.replaceAll('.', '\\.')}, kubeadm ${FIRST.replaceAll('.', '\\.')}, kubelet ${FIRST.replaceAll('.', '\\.')}, but kubernetes.version is ${VERSION.replaceAll('.', '\\.')}; changing the version of a cluster is an upgrade: run scripts/bootstrap.mjs upgrade`));
    expect(refused.stdout).not.toContain('==> prep');

    startRequests();
    let answers: Awaited<ReturnType<typeof stopRequests>>;
    let upgraded;
    try {
      upgraded = await bootstrap(`upgrade ${FIRST} -> ${VERSION}`, ['upgrade', '--yes']);
    } finally {
      answers = await stopRequests();
    }
    if (upgraded.code !== 0) throw new Error(`upgrade exited ${upgraded.code}\n${upgraded.stderr}\n${upgraded.stdout.split('\n').slice(-40).join('\n')}`);
    const out = upgraded.stdout;
    results['day 2 upgrade'] = `upgrade ${FIRST} -> ${VERSION} ok in ${timings[`upgrade ${FIRST} -> ${VERSION}`].toFixed(0)}s, requests failed ${answers.failed.length}/${answers.total}`;
    process.stderr.write(`cluster test: requests during the upgrade: ${answers.total}, not 200: ${answers.failed.length}${answers.failed.length ? ` (${answers.failed.slice(0, 10).join('; ')})` : ''}\n`);
    // It said what it would change, did the control plane first, then each worker, then the add-ons and the checks.
    expect(out).toContain('    this upgrade will change:\n');
    expect(out).toContain(`      k8s-node1 (${NODES[0].address}): kubeadm upgrade apply v${VERSION} (control plane ${FIRST} -> ${VERSION})`);
    expect(out.indexOf('==> upgrade control plane')).toBeLessThan(out.indexOf('==> upgrade workers'));
    expect(out.indexOf('==> upgrade workers')).toBeLessThan(out.indexOf('==> apply'));
    for (const n of NODES) expect(out).toMatch(new RegExp(`${n.name} +upgrade (control plane|workers) done: upgraded ${FIRST.replaceAll('.', '\\.')} -> ${VERSION.replaceAll('.', '\\.')}`));
    expect(out).toContain(`verify done: ${CHECKS}`);
    expect(out).toMatch(new RegExp(`upgraded: k8s-node1 ${FIRST.replaceAll('.', '\\.')} -> ${VERSION.replaceAll('.', '\\.')} in \\d+\\.\\ds, k8s-node2 .* in \\d+\\.\\ds, k8s-node3 .* in \\d+\\.\\ds`));
    for (const w of WORKERS) timings[`upgrade ${w.name}`] = phaseSeconds(out, w.name, 'upgrade workers');
    timings['upgrade k8s-node1'] = phaseSeconds(out, 'k8s-node1', 'upgrade control plane');
    // One worker at a time: the second was drained only after the first was uncordoned (the control plane's log, in order).
    const cpLog = logFile('k8s-node1');
    const drained = (name: string) => cpLog.indexOf(`drain ${name} --ignore-daemonsets`);
    const uncordoned = (name: string) => cpLog.indexOf(`uncordon ${name}: exit 0`);
    expect(uncordoned('k8s-node2')).toBeGreaterThan(drained('k8s-node2'));
    expect(drained('k8s-node3')).toBeGreaterThan(uncordoned('k8s-node2'));

    // What the cluster and the nodes say now.
    const kubelets = (await kubectl("get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.spec.unschedulable} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}'")).trim().split('\n').sort();
    expect(kubelets).toEqual(NODES.map((n) => `${n.name} v${VERSION}  True`));
    expect(controlPlane().sh('grep -h "image:" /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests/kube-controller-manager.yaml /etc/kubernetes/manifests/kube-scheduler.yaml')).toBe(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((c) => `    image: registry.k8s.io/${c}:v${VERSION}\n`).join(''));
    expect(await kubectl("-n kube-system get ds kube-proxy -o jsonpath='{.spec.template.spec.containers[0].image}'")).toBe(`registry.k8s.io/kube-proxy:v${VERSION}`);
    for (const n of nodes) {
      expect(n.sh("dpkg-query -W -f='${Package} ${Version}\\n' kubelet kubeadm kubectl")).toBe(`kubeadm ${VERSION}-1.1\nkubectl ${VERSION}-1.1\nkubelet ${VERSION}-1.1\n`);
      expect(n.sh('apt-mark showhold').split('\n').filter(Boolean).sort()).toEqual(['containerd.io', 'cri-tools', 'kubeadm', 'kubectl', 'kubelet']);
      expect(n.sh('cat /etc/apt/sources.list.d/kubernetes.list')).toContain(`/v${VERSION.split('.').slice(0, 2).join('.')}/deb/ /`);
    }
    expect((await serviceAnswers()).all).toEqual(ALL_200);
    // The tutorial's app never lost more than one replica: its PodDisruptionBudget (in dist/).
    expect(await kubectl("get pdb tomcat6 -o jsonpath='{.spec.maxUnavailable}'")).toBe('1');

    // Again: nothing left to do, nothing asked.
    const again = await bootstrapOk('upgrade, second run', ['upgrade']);
    expect(again.stdout).not.toContain('this upgrade will change:');
    for (const n of NODES) expect(again.stdout).toMatch(new RegExp(`${n.name} +upgrade (control plane|workers) done: already at ${VERSION.replaceAll('.', '\\.')}`));
    expect(answers.failed).toEqual([]);
  }, 3_600_000);

  test('day 2: backup, then a ConfigMap deleted and another made; restore brings the backup\'s state back, every node Ready', async () => {
    await kubectl('create configmap day2-before-backup --from-literal=made=before');
    const backup = await bootstrapOk('backup', ['backup']);
    const saved = /backup: (\S+\.db) \((\d+) bytes, SHA-256 ([0-9a-f]{64}); etcd revision (\d+), (\d+) keys, Kubernetes ([\d.]+)\)/.exec(backup.stdout);
    expect(saved).toBeTruthy();
    const [, file, size, hash, , , kubernetes] = saved!;
    expect(kubernetes).toBe(VERSION);
    expect(path.dirname(file)).toBe(path.join(workstation, 'backups'));
    const data = readFileSync(file);
    expect(data.length).toBe(Number(size));
    expect(createHash('sha256').update(data).digest('hex')).toBe(hash);
    expect(execFileSync('stat', ['-c', '%a', file], { encoding: 'utf8' }).trim()).toBe('600');
    const pki = file.replace(/\.db$/, '-pki');
    expect(execFileSync('sh', ['-c', `cd ${pki} && find . -type f | sort && stat -c %a ca.key`], { encoding: 'utf8' })).toBe(['./ca.crt', './ca.key', './etcd/ca.crt', './etcd/ca.key', './front-proxy-ca.crt', './front-proxy-ca.key', './sa.key', './sa.pub', '600', ''].join('\n'));
    expect(readFileSync(path.join(pki, 'ca.crt'), 'utf8')).toBe(controlPlane().sh('cat /etc/kubernetes/pki/ca.crt'));
    // Nothing left on the node.
    expect(controlPlane().sh('ls /var/lib/etcd')).toBe('member\n');

    await kubectl('delete configmap day2-before-backup');
    await kubectl('create configmap day2-after-backup --from-literal=made=after');
    const restore = await bootstrapOk('restore', ['restore', path.relative(workstation, file), '--yes']);
    expect(restore.stdout).toMatch(/k8s-node1 +restore done: etcd runs on the snapshot/);
    expect(restore.stdout).toMatch(/nodes ready done: 3 node\(s\) Ready/);
    expect(await kubectl("get configmap day2-before-backup -o jsonpath='{.data.made}'")).toBe('before');
    expect((await controlPlane().run('kubectl --kubeconfig /etc/kubernetes/admin.conf get configmap day2-after-backup 2>&1')).stdout).toMatch(/NotFound/);
    // The data it replaced is kept beside, and the nodes and the app are as before.
    expect(controlPlane().sh('ls -d /var/lib/etcd.before-restore-*').trim()).toMatch(/^\/var\/lib\/etcd\.before-restore-\d{8}T\d{6}Z$/);
    const ready = (await kubectl("get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}'")).trim().split('\n');
    expect(ready).toEqual(NODES.map(() => 'True'));
    await waitFor('tomcat6 answering through the Ingress again', `[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: ${INGRESS_HOST}' http://${WORKERS[0].address}/)" = 200 ]`, 300);
    results['day 2 restore'] = 'backup and restore ok';
  }, 1_800_000);

  test('day 2: certs renew moves every expiry, the control plane runs on the new certificates, and a fetched kubeconfig works', async () => {
    const expiry = (cert: string) => Date.parse(controlPlane().sh(`openssl x509 -enddate -noout -in /etc/kubernetes/pki/${cert}.crt`).trim().replace(/^notAfter=/, ''));
    const before = { apiserver: expiry('apiserver'), etcd: expiry('etcd/server') };
    const status = await bootstrap('status before renewal', ['status']);
    expect(status.stdout).toMatch(/==> certificates \(k8s-node1\)\n {4}earliest expiry: \S+, \d{4}-\d\d-\d\d \d\d:\d\d UTC \(36[45] day\(s\)\)/);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const renewed = await bootstrapOk('certs renew', ['certs', 'renew']);
    expect(renewed.stdout).toMatch(/certificates: renewed; earliest expiry now /);
    expect(expiry('apiserver')).toBeGreaterThan(before.apiserver);
    expect(expiry('etcd/server')).toBeGreaterThan(before.etcd);
    // The API server serves the renewed certificate (it was restarted to load it).
    const served = controlPlane().sh(`echo | openssl s_client -connect ${NODES[0].address}:6443 2>/dev/null | openssl x509 -noout -enddate`).trim().replace(/^notAfter=/, '');
    expect(Date.parse(served)).toBe(expiry('apiserver'));
    expect(controlPlane().sh('cmp /etc/kubernetes/admin.conf /root/.kube/config && echo same').trim()).toBe('same');
    const fetched = await bootstrapOk('kubeconfig after renewal', ['kubeconfig']);
    expect(fetched.stdout).toContain('kubeconfig');
    const listed = await network.run([path.join(versionDir(VERSION), 'bin', 'kubectl'), '--kubeconfig', path.join(workstation, 'kubeconfig'), 'get', 'nodes', '-o', 'name']);
    expect(listed.stdout).toBe(NODES.map((n) => `node/${n.name}`).join('\n') + '\n');
    results['day 2 certs'] = 'certificates renewed ok';
  }, 1_800_000);

  test('reset takes the cluster down; a bootstrap with ingress.api: gateway makes it again, and tomcat6 answers through the HTTPRoute on each worker', async () => {
    const reset = await bootstrap('reset', ['reset', '--yes']);
    expect(reset.code).toBe(0);
    for (const n of nodes) {
      expect(n.sh('test -e /etc/kubernetes/kubelet.conf && echo left || echo gone').trim()).toBe('gone');
      expect(n.sh('ip link show flannel.1 >/dev/null 2>&1 && echo left || echo gone').trim()).toBe('gone');
    }
    // The same cluster.yaml with the Gateway API instead of the Ingress, and the dashboard.
    const doc = parseDocument(readFileSync(path.join(workstation, 'cluster.yaml'), 'utf8'));
    doc.setIn(['ingress', 'api'], 'gateway');
    doc.setIn(['dashboard', 'enabled'], true);
    writeFileSync(path.join(workstation, 'cluster-gateway.yaml'), doc.toString());
    const gateway = await bootstrapOk('bootstrap with the Gateway API and the dashboard', ['--config', 'cluster-gateway.yaml', '--yes']);
    expect(gateway.stdout).toMatch(/apply done: flannel: \d+ object\(s\) created or changed; gateway-api: \d+ object\(s\) created or changed; traefik: \d+ object\(s\) created or changed; tomcat6: \d+ object\(s\) created or changed; dashboard: \d+ object\(s\) created or changed/);
    // The bootstrap's own checks, now with the dashboard's host on every worker too.
    const withDashboard = CHECK_COUNT + WORKERS.length;
    expect(gateway.stdout).toContain(`verify done: ${withDashboard}/${withDashboard} answered HTTP 200`);
    expect(await kubectl("get httproute tomcat6 -o jsonpath='{.status.parents[0].conditions[?(@.type==\"Accepted\")].status}'")).toBe('True');
    expect(await kubectl('get ingress -A --no-headers 2>&1')).toMatch(/No resources found/);
    const answers = await Promise.all(WORKERS.map((w) => status(`http://${w.address}/`, INGRESS_HOST)));
    results['gateway 200 on'] = `${answers.filter((a) => a === '200').length}/${WORKERS.length}`;
    expect(answers).toEqual(WORKERS.map(() => '200'));
    expect(await onControlPlane(`curl -s --max-time 10 -H 'Host: ${INGRESS_HOST}' http://${WORKERS[1].address}/`)).toContain('Apache Tomcat/6.0.53');

    // The dashboard: `bootstrap.mjs dashboard` names its address and mints a login token; the address answers
    // 200 through the Gateway on each worker (the Headlamp stand-in: see test/cluster/headlamp-stand-in/main.go),
    // and the token reads what its role allows and nothing more, asked of the real API server.
    const access = await bootstrap('bootstrap.mjs dashboard', ['dashboard', '--config', 'cluster-gateway.yaml', '--duration', '10m']);
    expect(access.stderr).toBe('');
    expect(access.code).toBe(0);
    expect(access.stdout).toMatch(/^dashboard: KUBECONFIG=\.\/kubeconfig kubectl -n headlamp port-forward service\/headlamp 4466:80 then open http:\/\/127\.0\.0\.1:4466\//m);
    const dashboardHost = /^also at http:\/\/([^/:\s]+)/m.exec(access.stdout)?.[1];
    expect(dashboardHost).toBe(`dashboard.${INGRESS_HOST.split('.').slice(1).join('.')}`);
    const token = access.stdout.trim().split('\n').pop()!;
    expect(token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    const pages = await Promise.all(WORKERS.map((w) => status(`http://${w.address}/`, dashboardHost)));
    results.dashboard = pages.every((p) => p === '200') ? '200' : `200 on ${pages.filter((p) => p === '200').length}/${WORKERS.length} only`;
    expect(pages).toEqual(WORKERS.map(() => '200'));
    expect(await onControlPlane(`curl -s --max-time 10 -H 'Host: ${dashboardHost}' http://${WORKERS[0].address}/`)).toContain('Headlamp stand-in');
    // The way it prints to sign in: kubectl's port-forward, with the kubeconfig `bootstrap.mjs kubeconfig` wrote (here from the control plane).
    const forwarded = await controlPlane().run(`kubectl --kubeconfig /etc/kubernetes/admin.conf -n headlamp port-forward service/headlamp 4466:80 >/dev/null 2>&1 & pf=$!; for i in $(seq 30); do code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:4466/) && [ "$code" = 200 ] && break; sleep 1; done; kill $pf; echo "$code"`);
    expect(forwarded.stdout.trim()).toBe('200');
    const api = async (args: string) => (await controlPlane().run(`curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert /etc/kubernetes/pki/ca.crt -H "Authorization: Bearer $(cat /run/clustertest-token)" ${args} || true`)).stdout.trim();
    controlPlane().sh(`umask 077; cat > /run/clustertest-token <<'EOF'\n${token}\nEOF`);
    try {
      expect(await api(`https://${NODES[0].address}:6443/api/v1/nodes`)).toBe('200');
      expect(await api(`-X POST -H 'Content-Type: application/json' -d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"written-by-the-dashboard-token"}}' https://${NODES[0].address}:6443/api/v1/namespaces`)).toBe('403');
      expect(await api(`-X DELETE https://${NODES[0].address}:6443/api/v1/namespaces/default/services/tomcat6`)).toBe('403');
    } finally {
      controlPlane().sh('rm -f /run/clustertest-token');
    }
  }, 1_800_000);

  test(`a highly available cluster: ${HA_CONTROL_PLANES.length} control planes behind the virtual IP ${VIP} (kube-vip), ${WORKERS.length} workers; the control plane holding the address stopped: the address moves, the API, the Ingress and a new Deployment keep working; started again, it is back`, async () => {
    const reset = await bootstrap('reset before the highly available cluster', ['reset', '--yes']);
    expect(reset.code).toBe(0);
    haNodes.push(...await time('node start (the 2 control planes more)', () => Promise.all(HA_NODES.filter((n) => !NODES.some((m) => m.name === n.name)).map(bareNode))));
    const doc = parseDocument(readFileSync(path.join(workstation, 'cluster.yaml'), 'utf8'));
    doc.setIn(['kubernetes', 'controlPlaneEndpoint'], VIP);
    HA_NODES.forEach((n, i) => {
      doc.setIn(['nodes', i, 'name'], n.name);
      doc.setIn(['nodes', i, 'address'], n.address);
      doc.setIn(['nodes', i, 'role'], n.role);
      doc.setIn(['nodes', i, 'ssh'], { identityFile: path.join(workstation, 'id_ed25519') });
    });
    writeFileSync(path.join(workstation, 'cluster-ha.yaml'), doc.toString());
    const formed = await bootstrapOk('bootstrap of the highly available cluster', ['--config', 'cluster-ha.yaml', '--yes']);
    expect(formed.stdout).toMatch(/k8s-node1 +init done: initialised/);
    for (const name of HA_CONTROL_PLANES.slice(1)) expect(formed.stdout).toMatch(new RegExp(`${name} +join control planes done: joined`));
    for (const w of WORKERS) expect(logFile(w.name)).toContain(`[${w.name}] kubeadm join: joined ${VIP}:6443 (CA pinned to`);
    // The NodePort on every node, the Ingress on every worker.
    const haChecks = HA_NODES.length + WORKERS.length;
    expect(formed.stdout).toContain(`verify done: ${haChecks}/${haChecks} answered HTTP 200`);

    /** kubectl with a control plane's admin kubeconfig, whose server is the virtual IP. */
    const kubectlOn = (target: NodeContainer, args: string) => on(target, `kubectl --kubeconfig /etc/kubernetes/admin.conf ${args}`);
    const controlPlanesReady = async (target: NodeContainer) => (await kubectlOn(target, "get nodes -l node-role.kubernetes.io/control-plane -o jsonpath='{range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}'"))
      .split('\n').filter((l) => l === 'True').length;
    /** etcd's members, healthy ones, asked of one member's etcdctl. */
    const etcdHealthy = async (target: NodeContainer) => {
      const result = await target.run(`kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system exec etcd-${target.name} -- etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key endpoint health --cluster -w json`);
      try {
        return (JSON.parse(result.stdout) as { health: boolean }[]).filter((e) => e.health).length;
      } catch {
        return 0;
      }
    };
    /** Polls once a second until the check holds; a check that throws (the API away a moment) counts as not yet. */
    const waitUntil = async (what: string, check: () => Promise<boolean>, seconds: number) => {
      const started = Date.now();
      const holds = () => check().catch(() => false);
      while (!(await holds())) {
        if (Date.now() - started > seconds * 1000) throw new Error(`${what}: not within ${seconds} s`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      return (Date.now() - started) / 1000;
    };
    const cps = () => HA_CONTROL_PLANES.map(node);
    await waitUntil('3 control planes Ready', async () => (await controlPlanesReady(controlPlane())) === 3, 300);
    await waitUntil('3 healthy etcd members', async () => (await etcdHealthy(controlPlane())) === 3, 300);
    const ready = await controlPlanesReady(controlPlane());
    const healthy = await etcdHealthy(controlPlane());
    // The product's own view: status lists the members, and has no problem once kube-system is ready.
    timings['ha: kube-system ready after the bootstrap'] = await waitFor('every kube-system pod of the highly available cluster ready', KUBE_SYSTEM_READY, 600);
    const status = await bootstrap('status of the highly available cluster', ['status', '--config', 'cluster-ha.yaml']);
    expect(status.stdout).toContain('==> etcd members (3/3 healthy)');
    expect(status.code).toBe(0);
    // Every kube-vip holds the same address on host0; exactly one control plane has it.
    const holders = async (among: NodeContainer[]) => (await Promise.all(among.map(async (n) => ((await n.run('ip -o -4 addr show dev host0')).stdout.includes(`inet ${VIP}/32`) ? n.name : '')))).filter(Boolean);
    expect(await holders(cps())).toHaveLength(1);
    // Through the virtual IP, from the workstation: the fetched kubeconfig names it, and kubectl answers.
    const fetched = await bootstrapOk('kubeconfig of the highly available cluster', ['kubeconfig', '--config', 'cluster-ha.yaml', '--output', 'kubeconfig-ha']);
    expect(fetched.stdout).toContain(`server https://${VIP}:6443 answers from this machine`);
    const kubectlHere = (args: string[]) => network.run([path.join(versionDir(VERSION), 'bin', 'kubectl'), '--kubeconfig', path.join(workstation, 'kubeconfig-ha'), ...args]);
    const listed = await kubectlHere(['get', 'nodes', '-o', 'name']);
    expect(listed.stdout.split('\n').filter(Boolean).sort()).toEqual(HA_NODES.map((n) => `node/${n.name}`).sort());
    const viaVip = listed.code === 0;

    // The holder goes away at once, as a machine whose power is cut.
    let ingressAfterFailover = '';
    const holder = node((await holders(cps()))[0]);
    const others = cps().filter((n) => n !== holder);
    const survivor = others[0];
    // A worker asks, as every node and client does, through the address.
    const client = node(WORKERS[0].name);
    const stopped = Date.now();
    await holder.stop();
    const readyThroughVip = async () => (await client.run(`curl -sk --max-time 2 https://${VIP}:6443/readyz`)).stdout.trim() === 'ok';
    const silent = !(await readyThroughVip());
    await waitUntil('the API answering through the virtual IP again', readyThroughVip, 120);
    const failoverSeconds = (Date.now() - stopped) / 1000;
    // The stopped node answers no more: what answers now is another control plane.
    expect(silent).toBe(true);
    // The address is on one of the others. (Right after the failover it may move once more: etcd elects a new
    // leader when its leader was on the node that went, and a kube-vip that cannot renew its Lease in time gives
    // the address up for the next election.)
    const settled = await waitUntil('one of the other control planes holding the address, the API answering through it', async () => (await holders(others)).length === 1 && readyThroughVip(), 180);
    timings['ha: address held again after the failover'] = settled;
    const apiDown = (await kubectlOn(survivor, 'get --raw /readyz')).trim();
    // Traefik follows the cluster through the API server's Service; after the failover it may answer 503 for a
    // moment while its watch reconnects: how long that lasts is measured, and both workers must answer 200 after.
    const ingressCodes = () => Promise.all(WORKERS.map(async (w) => (await client.run(`curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Host: ${INGRESS_HOST}' http://${w.address}/ || true`)).stdout.trim()));
    const firstCodes = await ingressCodes();
    timings['ha: ingress 200 on every worker after the failover'] = await waitUntil('tomcat6 answering through the Ingress on both workers', async () => (await ingressCodes()).every((c) => c === '200'), 180);
    ingressAfterFailover = firstCodes.join(',');
    const ingressDown = await ingressCodes();
    await kubectlOn(survivor, `create deployment ha-probe --image=${String(DEFAULT_CONFIG.getIn(['tomcat6', 'image']))} --replicas=1`);
    await kubectlOn(survivor, 'rollout status deployment/ha-probe --timeout=300s');
    await kubectlOn(survivor, 'delete deployment ha-probe');
    expect(apiDown).toBe('ok');
    expect(ingressDown).toEqual(WORKERS.map(() => '200'));

    // Power back: the node rejoins as it was, etcd has its 3 members again.
    await holder.start();
    const back = await waitUntil('the control plane back Ready, etcd 3/3 healthy', async () => (await controlPlanesReady(survivor)) === 3 && (await etcdHealthy(survivor)) === 3, 600);
    timings['ha: failover'] = failoverSeconds;
    timings['ha: back after start'] = back;
    const readyBack = await controlPlanesReady(survivor);
    if (ingressAfterFailover !== WORKERS.map(() => '200').join(',')) process.stderr.write(`cluster test: the Ingress answered ${ingressAfterFailover} right after the failover, 200 on every worker after ${timings['ha: ingress 200 on every worker after the failover'].toFixed(1)} s\n`);
    results.ha = `control planes ready ${ready}/3, etcd members healthy ${healthy}/3, api through the virtual IP ${viaVip ? 'ok' : 'failed'}, one control plane down: api ${apiDown === 'ok' ? 'ok' : apiDown}, ingress 200 on ${ingressDown.filter((c) => c === '200').length}/${WORKERS.length}; back: ${readyBack}/3 ready, failover ${failoverSeconds.toFixed(0)}s`;
    expect([ready, healthy, viaVip, readyBack]).toEqual([3, 3, true, 3]);
  }, 3_600_000);

  test('no join token and no private key in anything the runs printed or logged', () => {
    const tokens = controlPlane().sh("kubeadm token list -o jsonpath='{.token}{\"\\n\"}' --kubeconfig /etc/kubernetes/admin.conf").split('\n').filter(Boolean);
    expect(tokens.length).toBeGreaterThan(0);
    const caKey = controlPlane().sh('cat /etc/kubernetes/pki/ca.key').split('\n').filter((l) => l && !l.startsWith('-----'));
    const everything = [...printed, execFileSync('sh', ['-c', `cat ${workstation}/logs/*/*.log`], { encoding: 'utf8', maxBuffer: 1 << 28 })].join('\n');
    for (const token of tokens) {
      expect(everything).not.toContain(token);
      expect(everything).not.toContain(token.split('.')[1]);
    }
    expect(everything).not.toContain('PRIVATE KEY');
    // The highly available cluster's certificate key (its control planes joined with it): never printed.
    expect(everything).not.toMatch(/certificate[-_ ]?key["']?\s*[:=]?\s*["']?[0-9a-f]{64}/i);
    expect(everything).toContain('$ kubeadm init phase upload-certs --upload-certs --skip-certificate-key-print');
    for (const line of caKey) expect(everything).not.toContain(line);
  });

  test('the nodes reached nothing outside the test\'s network but Debian\'s archive (through the proxy), the test\'s repositories and its registry', async () => {
    expect(egress.refused).toEqual([]);
    expect([...egress.passed.keys()]).toContain('deb.debian.org');
    const code = async (args: string) => (await controlPlane().run(`curl -s -o /dev/null -w '%{http_code}' --max-time 10 ${args} || true`)).stdout.trim();
    const release = `/k8s/core:/stable:/v${VERSION.split('.').slice(0, 2).join('.')}/deb/Release`;
    expect(await code(`http://${GATEWAY}${release}`)).toBe('200');
    expect(await code(`--cacert /etc/containerd/certs.d/registry.k8s.io/mirror-ca.crt https://${GATEWAY}/v2/`)).toBe('200');
    expect(await code(`-x http://${GATEWAY}:${PROXY_PORT} http://example.invalid/`)).toBe('403');
    expect(egress.refused).toEqual(['GET http://example.invalid/']);
  });
}
