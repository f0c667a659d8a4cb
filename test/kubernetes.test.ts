/**
 * What the project renders, read by the real Kubernetes of the pinned
 * version (npm run kube:build): kubeadm validates every kubeadm
 * configuration, `kubeadm init --dry-run` turns the init configuration into
 * static pod manifests, and a real control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler; see kube/control-plane.ts) takes
 * dist/ for every config variant, the bootstrap's own staged apply, and a
 * worker's join configuration through kubeadm's real discovery.
 * No kubelet runs here: pods stay Pending (the VM test runs them).
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { renderManifests, type Stage, stageFile, stagesOf, synthesize } from '../charts/app';
import { ingressController } from '../charts/ingress-controller';
import { controlPlaneImageRepository } from '../config/images';
import { controlPlane, controlPlanes, workers } from '../config/nodes';
import { type ClusterConfig, dashboardHost } from '../config/schema';
import { applyStages, stageWaits } from '../hosts/cluster/apply';
import { TOKEN_GONE } from '../hosts/cluster/join-tokens';
import { API_SERVER_NAME, withServer } from '../hosts/cluster/kubeconfig';
import { rollout, workloads } from '../hosts/cluster/status';
import { LocalHost } from '../hosts/engine/host';
import { redact } from '../hosts/engine/redact';
import { NodeRun, StepFailed } from '../hosts/engine/steps';
import { ADMIN_CONF, CA_CERT, caCertHash, initConfig, type JoinDetails, joinConfig, mintJoinDetails, newCertificateKey, SUPER_ADMIN_CONF } from '../hosts/node/kubeadm';
import { kubeVipManifest } from '../hosts/node/kube-vip';
import { PAUSE_VERSION_BY_MINOR } from '../hosts/node/plan-model';
import { INGRESS_NGINX_MAX_MINOR, minorOf, TESTED_RELEASES } from '../config/versions';
import { TRAEFIK_VERSION, traefikPath } from '../scripts/kube-build/traefik';
import { CONFIG_VARIANTS, configWith, type DeepPartial, defaultConfig, synthCharts, withIngressNginx } from './helpers';
import { type BuiltKubernetes, builtKubernetes, type ControlPlane, isRoot, Netns, startControlPlane } from './kube/control-plane';
import { missingPrerequisite } from './prerequisites';

jest.setTimeout(300_000);

const config = defaultConfig();
const kube = builtKubernetes(config.kubernetes.version);

/**
 * Every release of the supported window the tests run (one per minor), and
 * the config's own: the kubeadm checks run with each one's own kubeadm.
 */
const RELEASES = [...new Set([config.kubernetes.version, ...TESTED_RELEASES])];

/** Three control planes (k8s-node1, k8s-node4, k8s-node5) and two workers behind the virtual IP 192.168.83.130. */
function haConfig(release: string): ClusterConfig {
  const base = atRelease(release);
  return configWith({
    kubernetes: { version: release, controlPlaneEndpoint: '192.168.83.130' },
    nodes: [...base.nodes, { name: 'k8s-node4', address: '192.168.83.136', role: 'control-plane', ssh: { user: 'root', port: 22 } }, { name: 'k8s-node5', address: '192.168.83.137', role: 'control-plane', ssh: { user: 'root', port: 22 } }],
  });
}

/** kube-vip's manifest (admin.conf's and super-admin.conf's) created by a real API server (dry run); a broken one refused. */
function kubeVipTakenBy(cp: ControlPlane, release: string): void {
  const ha = haConfig(release);
  for (const kubeconfig of [ADMIN_CONF, SUPER_ADMIN_CONF]) {
    const file = path.join(work, `kube-vip-${written++}.yaml`);
    writeFileSync(file, kubeVipManifest(ha, 'eth0', kubeconfig));
    const created = cp.kubectl(['create', '--dry-run=server', '-o', 'name', '-f', file]);
    expect({ code: created.status, stdout: created.stdout, stderr: created.stderr }).toEqual({ code: 0, stdout: 'pod/kube-vip\n', stderr: '' });
  }
  const broken = path.join(work, `kube-vip-${written++}.yaml`);
  writeFileSync(broken, kubeVipManifest(ha, 'eth0').replace('type: File', 'type: Folder'));
  const refused = cp.kubectl(['create', '--dry-run=server', '-o', 'name', '-f', broken]);
  expect(refused.status).not.toBe(0);
  expect(refused.stderr).toMatch(/hostPath\.type.*Folder/);
}

/** A config at another Kubernetes version. */
function atRelease(release: string, changes: DeepPartial<ClusterConfig> = {}): ClusterConfig {
  return configWith({ ...changes, kubernetes: { version: release } });
}
/**
 * A config's stages in the order these tests apply them by hand: the Gateway
 * API's CRDs (if any) before everything that names their kinds, the network
 * and the app before the controller (no Ingress meets an admission webhook
 * nothing answers), then the controller.
 */
function applyOrder(config: ClusterConfig): { network: Stage; crds: Stage[]; apps: Stage[]; controller: Stage } {
  const stages = stagesOf(config);
  return { network: 'flannel', crds: stages.filter((s) => s === 'gateway-api'), apps: stages.filter((s) => s === 'tomcat6' || s === 'dashboard'), controller: ingressController(config).stage };
}

/** Node objects for the config's nodes, Ready, as their kubelets would have registered them (once). */
function registerNodes(cp: ControlPlane): void {
  for (const node of config.nodes) {
    if (cp.kubectl(['get', 'node', node.name, '-o', 'name']).status === 0) continue;
    cp.mustKubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: node.name, labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': node.name } } }) });
    cp.mustKubectl(['patch', 'node', node.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'stands for a kubelet', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }] } })]);
  }
}

const MIRROR = 'registry.example.com:5000/k8s';
const FLAT = 'registry.cn-hangzhou.aliyuncs.com/google_containers';

/**
 * Preflight checks of `kubeadm init/join --dry-run` that cannot pass on a
 * test machine, ignored by name (CONTRIBUTING.md, "Tests", lists them with why):
 * - CRI, ContainerRuntimeVersion: no container runtime runs here;
 * - FileContent--proc-sys-net-ipv4-ip_forward: this machine's forwarding is not the test's to change (prep sets it on nodes);
 * - SystemVerification: the machine may run cgroup v1 (this kind does), which the kubelet refuses since 1.35; prep refuses such nodes first;
 * - Swap: the machine may have swap on; prep turns it off on nodes.
 */
const IGNORED_PREFLIGHT = ['CRI', 'ContainerRuntimeVersion', 'FileContent--proc-sys-net-ipv4-ip_forward', 'SystemVerification', 'Swap'];

/** A throwaway directory for this file's configs. */
const work = mkdtempSync(path.join(tmpdir(), 'kubernetes-'));
let written = 0;
function writeConfig(text: string): string {
  const file = path.join(work, `config-${written++}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** Every kubeadm configuration the project renders for a release, over the variants that change them. */
function kubeadmConfigurations(release: string): { name: string; text: string }[] {
  const config = atRelease(release);
  const found: { name: string; text: string }[] = [];
  const details: JoinDetails = { apiServerEndpoint: `${config.nodes[0].address}:6443`, token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'ab'.repeat(32)}` };
  for (const family of ['el9', 'debian', 'ubuntu'] as const) {
    for (const topology of ['three nodes', 'one control-plane node'] as const) {
      for (const images of ['upstream images', 'a registry mirror', 'a flat copy of kubeadm\'s images'] as const) {
        const nodes = (topology === 'three nodes' ? config.nodes : [controlPlane(config)]).map((n) => ({ ...n, os: family }));
        const chosen = { 'upstream images': {}, 'a registry mirror': { mirror: MIRROR }, 'a flat copy of kubeadm\'s images': { controlPlaneRepository: FLAT } }[images];
        const variant = atRelease(release, { nodes, images: chosen });
        const label = `${family}, ${topology}, ${images}`;
        found.push({ name: `init: ${label}`, text: initConfig(variant, controlPlane(variant)) });
        for (const worker of workers(variant)) found.push({ name: `join ${worker.name}: ${label}`, text: joinConfig(variant, worker, details) });
      }
    }
  }
  const networks = atRelease(release, { network: { podCidr: '172.20.0.0/16', serviceCidr: '10.112.0.0/12' } });
  found.push({ name: 'init: other pod and service networks', text: initConfig(networks, controlPlane(networks)) });
  // Slow machines: every timeout, and extra flags for each control-plane component.
  const slow = configWith({ kubernetes: {
    version: release,
    timeouts: { controlPlaneComponentHealthCheck: '8m', kubeletHealthCheck: '6m', kubernetesAPICall: '5m', etcdAPICall: '3m', tlsBootstrap: '10m', discovery: '1h2m3s' },
    extraArgs: { apiServer: { 'max-requests-inflight': '100' }, controllerManager: { 'leader-elect-lease-duration': '60s' }, scheduler: { 'leader-elect-retry-period': '10s' }, etcd: { 'heartbeat-interval': '500' } },
    encryptionAlgorithm: 'ECDSA-P256',
  } });
  found.push({ name: 'init: every timeout set, extra flags for each component, ECDSA keys', text: initConfig(slow, controlPlane(slow)) });
  for (const worker of workers(slow)) found.push({ name: `join ${worker.name}: every timeout set`, text: joinConfig(slow, worker, details) });
  // System-container nodes on a cgroup v1 host (the real-cluster test's): kube-proxy's conntrack left alone, the cgroup v1 opt-in.
  const containers = configWith({ kubernetes: { version: release, allowCgroupV1: true } });
  found.push({ name: 'init: system-container nodes, cgroup v1 allowed', text: initConfig(containers, controlPlane(containers), { containerNodes: true }) });
  found.push({ name: 'join: cgroup v1 allowed', text: joinConfig(containers, workers(containers)[0], details) });
  // Three control planes behind a virtual IP: init (and the upload of its certificates, with a key), a control
  // plane's join with the key, a worker's join through the virtual IP.
  const ha = haConfig(release);
  const [first, second] = controlPlanes(ha);
  const throughVip = { ...details, apiServerEndpoint: `${ha.kubernetes.controlPlaneEndpoint}:6443` };
  found.push({ name: 'init: three control planes behind a virtual IP', text: initConfig(ha, first) });
  found.push({ name: 'init: the upload of the certificates, with a certificate key', text: initConfig(ha, first, { certificateKey: newCertificateKey() }) });
  found.push({ name: 'join: a control plane, with the certificate key', text: joinConfig(ha, second, { ...throughVip, certificateKey: newCertificateKey() }) });
  found.push({ name: 'join: a worker through the virtual IP', text: joinConfig(ha, workers(ha)[0], throughVip) });
  return found;
}

/** kubeadm of one release validates every configuration the project renders for it. */
function validatesConfigurations(release: BuiltKubernetes) {
  describe(`kubeadm v${release.version} config validate`, () => {
    const configurations = kubeadmConfigurations(release.version);

    test.each(configurations.map((c) => [c.name, c.text]))('%s: valid, no warning', (_name, text) => {
      const result = spawnSync(release.bin('kubeadm'), ['config', 'validate', `--config=${writeConfig(text)}`], { encoding: 'utf8' });
      expect({ code: result.status, stdout: result.stdout, stderr: result.stderr }).toEqual({ code: 0, stdout: 'ok\n', stderr: '' });
    });

    test('catches a broken configuration (the check can fail)', () => {
      const at = atRelease(release.version);
      const broken = initConfig(at, controlPlane(at)).replace('podSubnet: 10.244.0.0/16', 'podSubnet: 10.244.0.0/33');
      const result = spawnSync(release.bin('kubeadm'), ['config', 'validate', `--config=${writeConfig(broken)}`], { encoding: 'utf8' });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/podSubnet|10\.244\.0\.0\/33/);
    });

    test('the dry-run plan\'s model names the pause image this kubeadm names', () => {
      const listed = spawnSync(release.bin('kubeadm'), ['config', 'images', 'list', `--kubernetes-version=v${release.version}`], { encoding: 'utf8' }).stdout;
      const minor = Number(release.version.split('.')[1]);
      expect(listed).toContain(`registry.k8s.io/pause:${PAUSE_VERSION_BY_MINOR[minor]}\n`);
    });

    test(`${configurations.length} configurations`, () => {
      // Per family: init for 3 topologies x 3 image sources, join for the 2 workers of the three-node ones;
      // then other networks (init), and every kubeadm timeout set (init and the 2 joins).
      expect(configurations.length).toBe(3 * (2 * 3 + 2 * 3) + 1 + 3 + 2 + 4);
      process.stderr.write(`kubeadm v${release.version} config validate: ${configurations.length} configurations valid\n`);
    });
  });
}

const otherReleases = RELEASES.filter((release) => release !== config.kubernetes.version).map((release) => ({ release, built: builtKubernetes(release, 'control-plane') }));
for (const { release, built } of otherReleases) {
  if (!built) missingPrerequisite(`real kubeadm v${release}`, `needs Kubernetes v${release} built from source: run npm run kube:build -- --tested`);
  else validatesConfigurations(built);
}

if (!kube) {
  missingPrerequisite('real Kubernetes', `needs Kubernetes v${config.kubernetes.version} built from source: run npm run kube:build`);
} else {
  validatesConfigurations(kube);

  if (!isRoot()) {
    missingPrerequisite('kubeadm init --dry-run and a real control plane', 'needs root (they run in a network namespace of their own)');
  } else {
    describe('kubeadm init --dry-run: what the init configuration becomes', () => {
      const cases: [string, ClusterConfig, BuiltKubernetes][] = [
        ['the committed cluster.yaml', config, kube],
        ['a registry mirror (kubeadm stays on registry.k8s.io; containerd mirrors it)', configWith({ images: { mirror: MIRROR } }), kube],
        ['a flat copy of kubeadm\'s images', configWith({ images: { controlPlaneRepository: FLAT } }), kube],
        ['other pod and service networks', configWith({ network: { podCidr: '172.20.0.0/16', serviceCidr: '10.112.0.0/12' } }), kube],
        // Every other minor of the window, with its own kubeadm.
        ...otherReleases.filter((r) => r.built).map((r): [string, ClusterConfig, BuiltKubernetes] => [`the committed cluster.yaml at v${r.release}, with kubeadm v${r.release}`, atRelease(r.release), r.built!]),
      ];
      let netns: Netns;
      beforeAll(async () => {
        netns = await Netns.start(config.nodes.map((n) => n.address));
      });
      afterAll(() => netns?.stop());

      test.each(cases)('%s', (_name, variant, kubeadm) => {
        const cp = controlPlane(variant);
        const out = path.join(work, `dry-run-${written++}`);
        mkdirSync(out);
        // The other releases are built without a kubelet (kube:build --tested builds them for their control plane only).
        const ignored = kubeadm === kube ? IGNORED_PREFLIGHT : [...IGNORED_PREFLIGHT, 'KubeletVersion'];
        const result = netns.run([kubeadm.bin('kubeadm'), 'init', '--dry-run', `--config=${writeConfig(initConfig(variant, cp))}`, `--ignore-preflight-errors=${ignored.join(',')}`], {
          env: { ...process.env, KUBEADM_INIT_DRYRUN_DIR: out, PATH: `${kubeadm.binDir}:${process.env.PATH}` },
        });
        expect({ code: result.status, stderr: redact(result.stderr).split('\n').filter((l) => /\[ERROR |^error/.test(l)) }).toEqual({ code: 0, stderr: [] });
        const manifest = (name: string) => (parse(readFileSync(path.join(out, `${name}.yaml`), 'utf8')) as { spec: { containers: { image: string; command: string[] }[] } }).spec.containers[0];
        const repository = controlPlaneImageRepository(variant.images);
        const apiServer = manifest('kube-apiserver');
        expect(apiServer.image).toBe(`${repository}/kube-apiserver:v${variant.kubernetes.version}`);
        expect(apiServer.command).toEqual(expect.arrayContaining([`--advertise-address=${cp.address}`, `--service-cluster-ip-range=${variant.network.serviceCidr}`, '--secure-port=6443']));
        const controllerManager = manifest('kube-controller-manager');
        expect(controllerManager.image).toBe(`${repository}/kube-controller-manager:v${variant.kubernetes.version}`);
        // flannel's kube-subnet-mgr takes each node's /24 from the CIDRs the controller manager allocates out of the pod network.
        expect(controllerManager.command).toEqual(expect.arrayContaining(['--allocate-node-cidrs=true', `--cluster-cidr=${variant.network.podCidr}`, `--service-cluster-ip-range=${variant.network.serviceCidr}`]));
        expect(manifest('kube-scheduler').image).toBe(`${repository}/kube-scheduler:v${variant.kubernetes.version}`);
        const etcd = manifest('etcd');
        expect(etcd.image).toMatch(new RegExp(`^${repository.replace(/[.]/g, '\\.')}/etcd:\\d+\\.\\d+\\.\\d+-0$`));
        expect(etcd.command).toContain(`--listen-client-urls=https://127.0.0.1:2379,https://${cp.address}:2379`);
        expect(readFileSync(path.join(out, 'kubeadm-flags.env'), 'utf8')).toContain(`--node-ip=${cp.address}`);
        expect((parse(readFileSync(path.join(out, 'config.yaml'), 'utf8')) as { cgroupDriver: string }).cgroupDriver).toBe('systemd');
        // kube-proxy's configuration, which init would upload, carries the pod network too.
        expect(result.stdout).toContain(`clusterCIDR: ${variant.network.podCidr}`);
        // CoreDNS: kubeadm adds its /coredns path only on registry.k8s.io; a flat copy keeps it beside the others.
        const coredns = repository === 'registry.k8s.io' ? 'registry.k8s.io/coredns/coredns' : `${repository}/coredns`;
        expect(result.stdout).toMatch(new RegExp(`image: ${coredns.replace(/[.]/g, '\\.')}:v\\d+\\.\\d+\\.\\d+\\b`));
      });
    });

    describe(`a real control plane of v${kube.version} on loopback`, () => {
      let cp: ControlPlane;
      const dist = (variant: ClusterConfig) => {
        const dir = path.join(work, `dist-${written++}`);
        synthesize(variant, dir);
        return dir;
      };
      beforeAll(async () => {
        cp = await startControlPlane(kube, initConfig(config, controlPlane(config)), config.nodes.map((n) => n.address));
        process.stderr.write(`real control plane: API server ready in ${cp.timings.apiServerReady.toFixed(1)} s, controllers and kubeadm's phases done in ${cp.timings.ready.toFixed(1)} s\n`);
      });
      afterAll(() => cp?.stop());

      test('kube-vip\'s static pod (a highly available control plane\'s), as each control plane gets it, is a Pod the API server takes; a broken one is refused', () => {
        kubeVipTakenBy(cp, kube.version);
      });

      test('is made from the project\'s kubeadm configuration: its networks reach the cluster', () => {
        const uploaded = parseAllDocuments(cp.mustKubectl(['-n', 'kube-system', 'get', 'configmap', 'kubeadm-config', '-o', 'jsonpath={.data.ClusterConfiguration}']))[0].toJS();
        expect(uploaded.networking).toEqual({ dnsDomain: 'cluster.local', podSubnet: config.network.podCidr, serviceSubnet: config.network.serviceCidr });
        expect(cp.mustKubectl(['-n', 'kube-system', 'get', 'configmap', 'kube-proxy', '-o', 'jsonpath={.data.config\\.conf}'])).toContain(`clusterCIDR: ${config.network.podCidr}`);
        expect(cp.mustKubectl(['get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}'])).toBe('10.96.0.1');
        expect(cp.mustKubectl(['-n', 'kube-system', 'get', 'service', 'kube-dns', '-o', 'jsonpath={.spec.clusterIP}'])).toBe('10.96.0.10');
        expect(cp.commands['kube-controller-manager']).toContain(`--cluster-cidr=${config.network.podCidr}`);
      });

      describe('a worker\'s join, through kubeadm\'s real discovery', () => {
        const root = () => {
          // The control-plane node as the project's code sees it: its CA where kubeadm keeps it.
          const dir = path.join(cp.dir, 'node-root');
          mkdirSync(path.join(dir, path.dirname(CA_CERT)), { recursive: true });
          writeFileSync(path.join(dir, CA_CERT), readFileSync(path.join(cp.dir, 'pki', 'ca.crt')));
          return dir;
        };
        const logged: string[] = [];
        let details: JoinDetails;
        const join = (joinDetails: JoinDetails) => {
          // kubernetes.timeouts: a refused discovery gives up after 10 s instead of kubeadm's 5 minutes.
          const quick = configWith({ ...config, kubernetes: { ...config.kubernetes, timeouts: { discovery: '10s' } } });
          const text = joinConfig(quick, workers(quick)[0], joinDetails);
          const out = path.join(cp.dir, `join-dry-run-${written++}`);
          mkdirSync(out);
          const result = cp.netns.run([kube.bin('kubeadm'), 'join', '--dry-run', `--config=${writeConfig(text)}`, `--ignore-preflight-errors=${IGNORED_PREFLIGHT.join(',')}`], {
            env: { ...process.env, KUBEADM_JOIN_DRYRUN_DIR: out, PATH: `${kube.binDir}:${process.env.PATH}` },
          });
          return { code: result.status, output: redact(`${result.stdout}${result.stderr}`) };
        };
        beforeAll(async () => {
          // The project's own minting: `kubeadm token create` on the control plane, and the CA hash of its certificate.
          const run = new NodeRun('k8s-node1', new LocalHost(root(), { ...process.env, PATH: `${cp.shimBin}:${process.env.PATH}` }), 'apply', { line: (l) => logged.push(l), detail: (l) => logged.push(redact(l)) });
          details = await mintJoinDetails(run, config);
        });

        test('a fresh token and the pinned CA hash: discovery verifies the API server and the join goes through', () => {
          expect(details.caCertHash).toBe(caCertHash(readFileSync(path.join(cp.dir, 'pki', 'ca.crt'), 'utf8')));
          expect(details.apiServerEndpoint).toBe(`${controlPlane(config).address}:6443`);
          const result = join(details);
          expect(result.code).toBe(0);
          expect(result.output).toContain('This node has joined the cluster');
        });

        test('another cluster\'s CA hash: refused, in the words the fake kubeadm uses', () => {
          const result = join({ ...details, caCertHash: `sha256:${'0'.repeat(64)}` });
          expect(result.code).toBe(1);
          expect(result.output).toMatch(/cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "sha256:[0-9a-f]{64}" are pinned/);
        });

        test('a token the cluster does not know: the error the bootstrap takes for an expired token', () => {
          const result = join({ ...details, token: 'abcdef.0123456789abcdef' });
          expect(result.code).toBe(1);
          expect(result.output).toContain('could not find a JWS signature in the cluster-info ConfigMap for token ID "abcdef"');
          expect(result.output).toMatch(TOKEN_GONE);
        });
      });

      describe('the bootstrap\'s staged apply with ingress-nginx, as far as it goes without a kubelet', () => {
        const nginx = withIngressNginx();
        const lines: string[] = [];
        let failure: unknown;
        let second: unknown;
        beforeAll(async () => {
          registerNodes(cp);
          const run = new NodeRun('k8s-node1', new LocalHost(cp.dir, { ...process.env, PATH: `${cp.shimBin}:${process.env.PATH}` }), 'apply', { line: (l) => lines.push(l), detail: (l) => lines.push(l) });
          const options = { manifests: renderManifests(nginx), retryDelayMs: 500, waitTimeout: '5s' };
          const names = config.nodes.map((n) => n.name);
          failure = await applyStages(run, nginx, names, options).catch((error: unknown) => error);
          lines.push('--- second run');
          second = await applyStages(run, nginx, names, options).catch((error: unknown) => error);
        });

        test('flannel applied (every object created) and waited for; ingress-nginx applied; then the controller\'s rollout cannot finish', () => {
          const firstRun = lines.slice(0, lines.indexOf('--- second run'));
          const flannelApply = firstRun.find((l) => l.startsWith('$ kubectl --kubeconfig=/etc/kubernetes/admin.conf apply -f -'))!;
          expect(flannelApply.split('\n').slice(1)).toEqual([
            '  > namespace/kube-flannel created', '  > clusterrole.rbac.authorization.k8s.io/flannel created',
            '  > clusterrolebinding.rbac.authorization.k8s.io/flannel created', '  > serviceaccount/flannel created',
            '  > configmap/kube-flannel-cfg created', '  > daemonset.apps/kube-flannel-ds created',
          ]);
          expect(failure).toBeInstanceOf(StepFailed);
          expect((failure as Error).message).toMatch(/^k8s-node1: step "apply ingress-nginx" failed: `kubectl --kubeconfig=\/etc\/kubernetes\/admin\.conf -n ingress-nginx rollout status daemonset\/ingress-nginx-controller --timeout=5s` exited 1: /);
          // The admission Jobs were applied: their certificate Secret does not exist yet.
          expect(cp.mustKubectl(['-n', 'ingress-nginx', 'get', 'jobs', '-o', 'name']).split('\n').filter(Boolean).sort()).toEqual(['job.batch/ingress-nginx-admission-create', 'job.batch/ingress-nginx-admission-patch']);
          expect(cp.kubectl(['get', 'deployment', 'tomcat6']).status).not.toBe(0);
        });

        test('a second run finds flannel unchanged (real kubectl says so, and the bootstrap counts no change)', () => {
          const secondRun = lines.slice(lines.indexOf('--- second run'));
          const flannelApply = secondRun.find((l) => l.startsWith('$ kubectl --kubeconfig=/etc/kubernetes/admin.conf apply -f -'))!;
          expect(flannelApply.split('\n').slice(1).every((l) => l.endsWith(' unchanged'))).toBe(true);
          expect((second as Error).message).toMatch(/rollout status daemonset\/ingress-nginx-controller/);
        });

        test('the other commands the bootstrap relies on answer as it expects', () => {
          expect(cp.mustKubectl(['get', '--raw=/readyz'])).toBe('ok');
          const secret = cp.kubectl(['-n', 'ingress-nginx', 'get', 'secret', 'ingress-nginx-admission', '-o', 'name']);
          expect(secret.status).toBe(1);
          expect(secret.stderr).toMatch(/NotFound/);
          const caBundle = ['wait', '--for=jsonpath={.webhooks[0].clientConfig.caBundle}', 'validatingwebhookconfiguration/ingress-nginx-admission'];
          expect(cp.kubectl([...caBundle, '--timeout=2s']).status).not.toBe(0);
          cp.mustKubectl(['patch', 'validatingwebhookconfiguration', 'ingress-nginx-admission', '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: Buffer.from(readFileSync(path.join(cp.dir, 'pki', 'ca.crt'))).toString('base64') }])]);
          expect(cp.kubectl([...caBundle, '--timeout=10s']).status).toBe(0);
        });

        test('the Ingress is turned away while no controller answers the admission webhook: the error the bootstrap retries on', () => {
          const result = cp.kubectl(['apply', '-f', path.join(dist(nginx), stageFile(nginx, 'tomcat6'))]);
          expect(result.status).not.toBe(0);
          expect(result.stderr).toMatch(/failed calling webhook "validate\.nginx\.ingress\.kubernetes\.io"/);
        });
      });

      describe('the bootstrap\'s staged apply with Traefik (the default), as far as it goes without a kubelet', () => {
        const lines: string[] = [];
        let failure: unknown;
        beforeAll(async () => {
          const run = new NodeRun('k8s-node1', new LocalHost(cp.dir, { ...process.env, PATH: `${cp.shimBin}:${process.env.PATH}` }), 'apply', { line: (l) => lines.push(l), detail: (l) => lines.push(l) });
          failure = await applyStages(run, config, config.nodes.map((n) => n.name), { manifests: renderManifests(config), retryDelayMs: 500, waitTimeout: '5s' }).catch((error: unknown) => error);
        });

        test('flannel found unchanged, Traefik applied (every object created), then its rollout cannot finish; no admission webhook to wait for', () => {
          const applies = lines.filter((l) => l.startsWith('$ kubectl --kubeconfig=/etc/kubernetes/admin.conf apply -f -'));
          expect(applies).toHaveLength(2);
          expect(applies[0].split('\n').slice(1).every((l) => l.endsWith(' unchanged'))).toBe(true);
          expect(applies[1].split('\n').slice(1)).toEqual([
            '  > namespace/traefik created', '  > serviceaccount/traefik created', '  > configmap/traefik-file-provider created', '  > clusterrole.rbac.authorization.k8s.io/traefik-traefik created',
            '  > clusterrolebinding.rbac.authorization.k8s.io/traefik-traefik created', '  > service/traefik created', '  > daemonset.apps/traefik created',
            '  > ingressclass.networking.k8s.io/traefik created',
          ]);
          expect((failure as Error).message).toMatch(/^k8s-node1: step "apply traefik" failed: `kubectl --kubeconfig=\/etc\/kubernetes\/admin\.conf -n traefik rollout status daemonset\/traefik --timeout=5s` exited 1: /);
          expect(lines.join('\n')).not.toContain('caBundle');
        });

        test('applied again as the bootstrap applies them (client-side), every object of flannel, Traefik, tomcat6 and the dashboard is unchanged (same resourceVersion): dist/ holds nothing the API server drops', () => {
          const variant = configWith({ dashboard: { enabled: true } });
          const files = ['flannel', 'traefik', 'tomcat6', 'dashboard'].map((stage) => path.join(dist(variant), stageFile(variant, stage as Stage)));
          // ingress-nginx's admission webhook, left by the run with ingress-nginx above, would refuse the Ingresses (no
          // controller answers it here): out of the way while these apply, put back after.
          const webhook = cp.kubectl(['get', 'validatingwebhookconfiguration', 'ingress-nginx-admission', '-o', 'json']);
          if (webhook.status === 0) cp.mustKubectl(['delete', 'validatingwebhookconfiguration', 'ingress-nginx-admission']);
          // The first apply creates what the bootstrap's run above did not get to (tomcat6, the dashboard).
          const first = cp.kubectl(['apply', ...files.flatMap((f) => ['-f', f])]);
          const versions = () => cp.mustKubectl(['get', ...files.flatMap((f) => ['-f', f]), '-o', 'custom-columns=KIND:.kind,NAME:.metadata.name,RV:.metadata.resourceVersion', '--no-headers']);
          const before = versions();
          const again = cp.kubectl(['apply', ...files.flatMap((f) => ['-f', f])]);
          const after = versions();
          if (webhook.status === 0) {
            const saved = JSON.parse(webhook.stdout);
            for (const field of ['resourceVersion', 'uid', 'creationTimestamp', 'generation', 'managedFields']) delete saved.metadata[field];
            cp.mustKubectl(['create', '-f', '-'], { input: JSON.stringify(saved) });
          }
          expect(first.status).toBe(0);
          expect(again.status).toBe(0);
          const said = again.stdout.trim().split('\n');
          expect(said.length).toBeGreaterThan(20);
          // kubectl says `configured` of a PodDisruptionBudget every time (its selector's patch strategy is "replace":
          // the patch is never empty), yet the API server stores nothing new: the bootstrap counts resourceVersions.
          expect(said.filter((l) => !l.endsWith(' unchanged'))).toEqual(['poddisruptionbudget.policy/tomcat6 configured']);
          expect(before.split('\n').length).toBeGreaterThan(20);
          expect(after).toBe(before);
        });
      });

      describe('the bootstrap\'s staged apply with the Gateway API, as far as it goes without a kubelet', () => {
        const gateway = configWith({ ingress: { api: 'gateway' } });
        const names = config.nodes.map((n) => n.name);
        const lines: string[] = [];
        let failure: unknown;
        const waits = (stage: 'traefik' | 'tomcat6') => stageWaits(gateway, stage, names, '3s').filter((argv) => argv.includes('wait')).map((argv) => argv.slice(2));
        beforeAll(async () => {
          registerNodes(cp);
          const run = new NodeRun('k8s-node1', new LocalHost(cp.dir, { ...process.env, PATH: `${cp.shimBin}:${process.env.PATH}` }), 'apply', { line: (l) => lines.push(l), detail: (l) => lines.push(l) });
          failure = await applyStages(run, gateway, names, { manifests: renderManifests(gateway), retryDelayMs: 500, waitTimeout: '20s' }).catch((error: unknown) => error);
        });

        test('the CRDs go in server-side, as upstream installs them (no last-applied annotation), and become Established; then Traefik\'s Gateway objects are taken', () => {
          const applies = lines.filter((l) => / apply (--server-side --force-conflicts )?-f -: exit/.test(l));
          expect(applies.map((l) => l.split(':')[0])).toEqual([
            '$ kubectl --kubeconfig=/etc/kubernetes/admin.conf apply -f -',
            '$ kubectl --kubeconfig=/etc/kubernetes/admin.conf apply --server-side --force-conflicts -f -',
            '$ kubectl --kubeconfig=/etc/kubernetes/admin.conf apply -f -',
          ]);
          const crdLines = applies[1].split('\n').slice(1).filter((l) => l.includes('customresourcedefinition'));
          expect(crdLines).toHaveLength(10);
          expect(crdLines.every((l) => l.endsWith(' serverside-applied'))).toBe(true);
          const httproutes = JSON.parse(cp.mustKubectl(['get', 'crd', 'httproutes.gateway.networking.k8s.io', '-o', 'json']));
          expect(httproutes.status.conditions.find((c: { type: string }) => c.type === 'Established').status).toBe('True');
          expect(Object.keys(httproutes.metadata.annotations ?? {})).not.toContain('kubectl.kubernetes.io/last-applied-configuration');
          expect(applies[2]).toContain('gateway.gateway.networking.k8s.io/traefik-gateway created');
          expect(applies[2]).toContain('gatewayclass.gateway.networking.k8s.io/traefik created');
          expect((failure as Error).message).toMatch(/step "apply traefik" failed: `kubectl --kubeconfig=\/etc\/kubernetes\/admin\.conf -n traefik rollout status daemonset\/traefik --timeout=20s` exited 1: /);
        });

        test('applied again, the server-side stage counts what changed by resourceVersion: once the policy\'s managedFields, then nothing, then the one CRD edited under it', async () => {
          const run = new NodeRun('k8s-node1', new LocalHost(cp.dir, { ...process.env, PATH: `${cp.shimBin}:${process.env.PATH}` }), 'apply', { line: () => undefined, detail: () => undefined });
          const crds = renderManifests(gateway).filter((m) => m.stage === 'gateway-api');
          // Once: the safe-upgrades policy's status was written (by the API server's type checker) after kubectl
          // created it; kubectl's next apply rewrites its own managedFields entry (a new resourceVersion, the same spec).
          const policy = () => JSON.parse(cp.mustKubectl(['get', 'validatingadmissionpolicy', 'safe-upgrades.gateway.networking.k8s.io', '-o', 'json', '--show-managed-fields']));
          const settled = policy();
          expect(settled.metadata.managedFields.map((f: { manager: string }) => f.manager)).toEqual(['kubectl', 'validatingadmissionpolicy-status']);
          expect(await applyStages(run, gateway, names, { manifests: crds, retryDelayMs: 500, waitTimeout: '20s' })).toEqual(['gateway-api: 1 object(s) created or changed']);
          const rewritten = policy();
          expect(rewritten.metadata.managedFields.map((f: { manager: string }) => f.manager)).toEqual(['validatingadmissionpolicy-status', 'kubectl']);
          expect([rewritten.metadata.generation, rewritten.spec]).toEqual([settled.metadata.generation, settled.spec]);
          expect(await applyStages(run, gateway, names, { manifests: crds, retryDelayMs: 500, waitTimeout: '20s' })).toEqual([]);
          cp.mustKubectl(['patch', 'crd', 'grpcroutes.gateway.networking.k8s.io', '--type=merge', '-p', JSON.stringify({ metadata: { annotations: { 'api-approved.kubernetes.io': 'https://github.com/kubernetes-sigs/gateway-api/pull/1' } } })]);
          expect(await applyStages(run, gateway, names, { manifests: crds, retryDelayMs: 500, waitTimeout: '20s' })).toEqual(['gateway-api: 1 object(s) created or changed']);
        });

        test('the safe-upgrades policy is in force: an older Gateway API over these CRDs is refused', () => {
          const crd = JSON.parse(cp.mustKubectl(['get', 'crd', 'gatewayclasses.gateway.networking.k8s.io', '-o', 'json']));
          crd.metadata.annotations['gateway.networking.k8s.io/bundle-version'] = 'v1.4.0';
          const result = cp.kubectl(['replace', '-f', '-'], { input: JSON.stringify(crd) });
          expect(result.status).not.toBe(0);
          expect(result.stderr).toContain('Installing CRDs with version before v1.5.0 is prohibited by default');
        });

        test('the waits after Traefik and after tomcat6 hold until the controller reports the Gateway Programmed and the HTTPRoute Accepted, then pass', () => {
          cp.mustKubectl(['apply', '-f', '-'], { input: renderManifests(gateway).find((m) => m.stage === 'tomcat6')!.yaml });
          const [programmed] = waits('traefik');
          const [accepted] = waits('tomcat6');
          expect(cp.kubectl(programmed).status).not.toBe(0);
          expect(cp.kubectl(accepted).status).not.toBe(0);
          // What Traefik writes once it runs (its Gateway provider's status, trimmed to what the waits read).
          const now = new Date().toISOString();
          const condition = (type: string) => ({ type, status: 'True', reason: type, message: 'set by the test, as Traefik would', lastTransitionTime: now, observedGeneration: 1 });
          cp.mustKubectl(['-n', 'traefik', 'patch', 'gateway', 'traefik-gateway', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { conditions: [condition('Accepted'), condition('Programmed')] } })]);
          cp.mustKubectl(['patch', 'httproute', 'tomcat6', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { parents: [{ parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'traefik-gateway', namespace: 'traefik', sectionName: 'web' }, controllerName: 'traefik.io/gateway-controller', conditions: [condition('Accepted'), condition('ResolvedRefs')] }] } })]);
          expect(cp.kubectl(programmed).stdout).toContain('gateway.gateway.networking.k8s.io/traefik-gateway condition met');
          expect(cp.kubectl(accepted).stdout).toContain('httproute.gateway.networking.k8s.io/tomcat6 condition met');
        });
      });

      describe('dist/ of every config variant, server-side applied', () => {
        // The default last, so the cluster ends with what the committed cluster.yaml makes.
        const variants = Object.entries(CONFIG_VARIANTS).sort(([a], [b]) => Number(a === 'default') - Number(b === 'default'));
        // secondApplyDiffs: what kubectl diff found right after each apply step (none, when a second apply would change nothing).
        const applied: Record<string, { objects: number; expected: number; secondApplyDiffs: string[] }> = {};
        const documents = (files: string[]) => files.reduce((sum, f) => sum + parseAllDocuments(readFileSync(f, 'utf8')).length, 0);
        let ingressNodePort = '';
        // --force-conflicts: the staged apply above went in with kubectl's client-side apply, another field manager.
        const apply = (files: string[]) => cp.kubectl(['apply', '--server-side', '--force-conflicts', ...files.flatMap((f) => ['-f', f])]);
        const diff = (files: string[]) => {
          const result = cp.kubectl(['diff', '--server-side', '--force-conflicts', ...files.flatMap((f) => ['-f', f])]);
          return result.status === 0 ? [] : [`exit ${result.status}: ${result.stdout}${result.stderr}`];
        };
        beforeAll(() => {
          // No controller pod answers the admission webhook here, so the Ingresses go in before it is registered, as on
          // a fresh cluster; the staged apply above registered it already.
          cp.kubectl(['delete', 'validatingwebhookconfiguration', 'ingress-nginx-admission']);
          const dirs = Object.fromEntries(variants.map(([name, make]) => [name, dist(make())]));
          const count = (stdout: string) => stdout.split('\n').filter((l) => / serverside-applied$/.test(l)).length;
          for (const [name, make] of variants) {
            const { network, crds, apps } = applyOrder(make());
            applied[name] = { objects: 0, expected: 0, secondApplyDiffs: [] };
            const files = [network, ...apps].map((stage) => path.join(dirs[name], stageFile(make(), stage)));
            const crdFiles = crds.map((stage) => path.join(dirs[name], stageFile(make(), stage)));
            if (crdFiles.length) {
              // The Gateway API's CRDs first, served before anything names their kinds (the bootstrap's own wait).
              const result = apply(crdFiles);
              if (result.status !== 0) throw new Error(`${name}: ${result.stderr}`);
              applied[name].objects += count(result.stdout);
              applied[name].expected += documents(crdFiles);
              cp.mustKubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
            }
            const result = apply(files);
            if (result.status !== 0) throw new Error(`${name}: ${result.stderr}`);
            applied[name].objects += count(result.stdout);
            applied[name].expected += documents(files);
            applied[name].secondApplyDiffs.push(...diff([...crdFiles, ...files]));
          }
          for (const [name, make] of variants) {
            // The admission Jobs delete themselves once done (ttlSecondsAfterFinished: 0); with no kubelet they never run, so they go here.
            cp.kubectl(['-n', 'ingress-nginx', 'delete', 'jobs', '--all']);
            const files = [path.join(dirs[name], stageFile(make(), applyOrder(make()).controller))];
            const result = apply(files);
            if (result.status !== 0) throw new Error(`${name}: ${result.stderr}`);
            applied[name].objects += result.stdout.split('\n').filter((l) => / serverside-applied$/.test(l)).length;
            applied[name].expected += documents(files);
            applied[name].secondApplyDiffs.push(...diff(files));
            if (name === 'nodePort exposure') {
              // What the bootstrap's check reads to find the controller's NodePort.
              const { namespace, service, httpPort } = ingressController(make());
              ingressNodePort = cp.mustKubectl(['-n', namespace, 'get', 'service', service, '-o', `jsonpath={.spec.ports[?(@.name=="${httpPort}")].nodePort}`]);
            }
          }
          process.stderr.write(`real API server: ${Object.values(applied).reduce((sum, a) => sum + a.objects, 0)} objects applied over ${variants.length} config variants\n`);
        });

        test.each(variants.map(([name]) => [name]))('%s: every object accepted, and a second apply changes nothing', (name) => {
          expect(applied[name].objects).toBe(applied[name].expected);
          expect(applied[name].objects).toBeGreaterThan(12);
          expect(applied[name].secondApplyDiffs).toEqual([]);
        });

        test('the tomcat6 Deployment gets a ReplicaSet with its replicas, Pending with no kubelet', async () => {
          for (let i = 0; i < 120; i++) {
            const phases = cp.mustKubectl(['get', 'pods', '-l', 'app=tomcat6', '-o', 'jsonpath={.items[*].status.phase}']).split(' ').filter(Boolean);
            if (phases.length === config.tomcat6.replicas) break;
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
          const replicaSets = JSON.parse(cp.mustKubectl(['get', 'replicasets', '-l', 'app=tomcat6', '-o', 'json'])).items;
          expect(replicaSets.map((rs: any) => rs.spec.replicas).sort()).toContain(config.tomcat6.replicas);
          const phases = cp.mustKubectl(['get', 'pods', '-l', 'app=tomcat6', '-o', 'jsonpath={.items[*].status.phase}']).split(' ').filter(Boolean);
          expect(phases).toEqual(Array(config.tomcat6.replicas).fill('Pending'));
        });

        test('the DaemonSets and Services the tutorial needs, with their ports', () => {
          expect(cp.mustKubectl(['-n', 'kube-flannel', 'get', 'daemonset', 'kube-flannel-ds', '-o', 'name'])).toBe('daemonset.apps/kube-flannel-ds\n');
          const controller = JSON.parse(cp.mustKubectl(['-n', 'traefik', 'get', 'daemonset', 'traefik', '-o', 'json']));
          expect(controller.spec.template.spec.hostNetwork).toBe(true);
          expect(controller.spec.template.spec.containers[0].ports.map((p: any) => [p.containerPort, p.hostPort])).toEqual([[8082, undefined], [8080, undefined], [80, 80], [443, 443]]);
          const nginx = JSON.parse(cp.mustKubectl(['-n', 'ingress-nginx', 'get', 'daemonset', 'ingress-nginx-controller', '-o', 'json']));
          expect(nginx.spec.template.spec.containers[0].ports.map((p: any) => p.containerPort)).toEqual([80, 443, 8443]);
          const tomcat6 = JSON.parse(cp.mustKubectl(['get', 'service', 'tomcat6', '-o', 'json'])).spec;
          expect(tomcat6.type).toBe('NodePort');
          expect(tomcat6.ports).toEqual([expect.objectContaining({ port: 80, targetPort: 8080, nodePort: expect.any(Number) })]);
          expect(tomcat6.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
          // What the bootstrap's check reads to find it.
          expect(cp.mustKubectl(['get', 'service', 'tomcat6', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).toBe(String(tomcat6.ports[0].nodePort));
          expect(Number(ingressNodePort)).toBeGreaterThanOrEqual(30000);
        });

        test('status reads the real objects: every workload of the config and of kubeadm found; a Deployment with no kubelet is not rolled out', () => {
          const objects = JSON.parse(cp.mustKubectl(['get', 'daemonsets,deployments', '--all-namespaces', '-o', 'json'])).items;
          const states = Object.fromEntries(workloads(config).map((w) => [`${w.namespace}/${w.kind}/${w.name}`,
            rollout(objects.find((o: any) => o.kind === w.kind && o.metadata.name === w.name && o.metadata.namespace === w.namespace))]));
          expect(Object.keys(states)).toEqual(['kube-system/Deployment/coredns', 'kube-system/DaemonSet/kube-proxy', 'kube-flannel/DaemonSet/kube-flannel-ds',
            'traefik/DaemonSet/traefik', 'default/Deployment/tomcat6']);
          for (const state of Object.values(states)) expect(state.text).not.toBe('missing');
          expect(states['default/Deployment/tomcat6']).toEqual({ ok: false, text: `0/${config.tomcat6.replicas} ready, ${config.tomcat6.replicas}/${config.tomcat6.replicas} updated` });
          expect(states['kube-system/Deployment/coredns']).toMatchObject({ ok: false, text: expect.stringMatching(/^0\/2 ready/) });
          // A DaemonSet wants a pod on every Node object (the join tests above make some); none runs without a kubelet.
          const nodes = JSON.parse(cp.mustKubectl(['get', 'nodes', '-o', 'json'])).items.length;
          expect(states['kube-flannel/DaemonSet/kube-flannel-ds']).toMatchObject({ ok: nodes === 0, text: expect.stringMatching(new RegExp(`^0/${nodes} ready`)) });
        });

        test('kubeconfig --server: through another address, the real API server\'s certificate passes for the name kubeadm always gives it', () => {
          const admin = readFileSync(cp.adminConf, 'utf8');
          const other = new URL('https://127.0.0.1:6443');
          const readyz = (text: string) => {
            const file = path.join(work, `kubeconfig-${written++}`);
            writeFileSync(file, text, { mode: 0o600 });
            return cp.netns.run([kube.bin('kubectl'), `--kubeconfig=${file}`, 'get', '--raw=/readyz']);
          };
          const rewritten = withServer(admin, other, controlPlane(config).address, 'test');
          expect(parse(rewritten.yaml).clusters[0].cluster['tls-server-name']).toBe(API_SERVER_NAME);
          expect(readyz(rewritten.yaml)).toMatchObject({ status: 0, stdout: 'ok' });
          // The same address without the name: the certificate does not cover it.
          const bare = parse(rewritten.yaml);
          delete bare.clusters[0].cluster['tls-server-name'];
          const refused = readyz(JSON.stringify(bare));
          expect(refused.status).not.toBe(0);
          expect(refused.stderr).toMatch(/x509: certificate is valid for .*not 127\.0\.0\.1/);
          // Without --server, admin.conf as it is: the control plane's own address.
          expect(withServer(admin, undefined, controlPlane(config).address, 'test')).toEqual({ yaml: admin, server: `https://${controlPlane(config).address}:6443` });
          expect(readyz(admin)).toMatchObject({ status: 0, stdout: 'ok' });
        });

        test('the Ingress is admitted with its class and host (Traefik\'s, the default class); ingress-nginx\'s class and admission webhook are registered too', () => {
          const ingress = JSON.parse(cp.mustKubectl(['get', 'ingress', 'tomcat6', '-o', 'json'])).spec;
          expect(ingress.ingressClassName).toBe('traefik');
          expect(ingress.rules.map((r: any) => r.host)).toEqual([config.tomcat6.host]);
          const traefik = JSON.parse(cp.mustKubectl(['get', 'ingressclass', 'traefik', '-o', 'json']));
          expect(traefik.spec.controller).toBe('traefik.io/ingress-controller');
          expect(traefik.metadata.annotations['ingressclass.kubernetes.io/is-default-class']).toBe('true');
          expect(JSON.parse(cp.mustKubectl(['get', 'ingressclass', 'nginx', '-o', 'json'])).spec.controller).toBe('k8s.io/ingress-nginx');
          const webhook = JSON.parse(cp.mustKubectl(['get', 'validatingwebhookconfiguration', 'ingress-nginx-admission', '-o', 'json']));
          expect(webhook.webhooks.map((w: any) => w.name)).toEqual(['validate.nginx.ingress.kubernetes.io']);
        });
      });

      // Last: it changes which provider's objects Traefik's ClusterRole allows.
      describe(`Traefik v${TRAEFIK_VERSION}, built from source, on this control plane: the project's objects and RBAC route the tomcat6 host (and the dashboard's)`, () => {
        const traefik = traefikPath();
        if (!existsSync(traefik)) {
          missingPrerequisite('Traefik on a real API server', `needs Traefik v${TRAEFIK_VERSION} built from source: run npm run kube:build -- --tested`);
          return;
        }
        // No kubelet runs here, so no tomcat6 pod: an HTTP server on a pod-network address stands in for one,
        // listed in an EndpointSlice of Service tomcat6 as the EndpointSlice controller would list a ready pod
        // (on another port than tomcat's 8080: Traefik itself listens on 8080 of every address here).
        const POD_IP = '10.244.1.10';
        const POD_PORT = 18080;
        let backend: ChildProcess | undefined;
        beforeAll(() => {
          // What every case needs, whatever ran before: the Gateway API's CRDs, served; and no ingress-nginx
          // admission webhook (an earlier variant's), which nothing answers here and every Ingress would call.
          const gateway = configWith({ ingress: { api: 'gateway' } });
          cp.mustKubectl(['apply', '--server-side', '--force-conflicts', '-f', path.join(dist(gateway), stageFile(gateway, 'gateway-api'))]);
          cp.mustKubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
          cp.kubectl(['delete', 'validatingwebhookconfiguration', 'ingress-nginx-admission', '--ignore-not-found']);
          cp.netns.mustRun(['ip', 'addr', 'add', `${POD_IP}/32`, 'dev', 'lo']);
          backend = cp.netns.spawn([process.execPath, '-e', `require('node:http').createServer((req, res) => res.end('stand-in pod, asked for ' + req.headers.host)).listen(${POD_PORT}, '${POD_IP}')`], path.join(work, 'backend.log'));
          // For Service tomcat6, and for the dashboard's Service headlamp (its namespace made here if no earlier test made it).
          cp.kubectl(['create', 'namespace', 'headlamp']);
          for (const [namespace, service] of [['default', 'tomcat6'], ['headlamp', 'headlamp']]) {
            cp.mustKubectl(['apply', '-f', '-'], { input: JSON.stringify({
              apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
              metadata: { name: `${service}-stand-in`, namespace, labels: { 'kubernetes.io/service-name': service } },
              addressType: 'IPv4',
              endpoints: [{ addresses: [POD_IP], conditions: { ready: true, serving: true, terminating: false } }],
              ports: [{ name: 'http', port: POD_PORT, protocol: 'TCP' }],
            }) });
          }
        });
        afterAll(() => backend?.kill('SIGKILL'));

        /**
         * Traefik as dist/ runs it (the workload's arguments), its provider pointed at this API server with the token
         * of its own ServiceAccount, and its file provider reading the ConfigMap's files from a folder, as the kubelet
         * mounts them. `without` leaves out the arguments it matches.
         */
        function runTraefik(variant: ClusterConfig, log: string, without?: RegExp): ChildProcess {
          const objects = synthCharts(variant).traefik as any[];
          const workload = objects.find((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment');
          const pod = workload.spec.template.spec;
          const dynamic = mkdtempSync(path.join(work, 'traefik-dynamic-'));
          for (const volume of pod.volumes.filter((v: any) => v.configMap)) {
            const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume.configMap.name);
            for (const [file, text] of Object.entries(configMap.data)) writeFileSync(path.join(dynamic, file), text as string);
            const mount = pod.containers[0].volumeMounts.find((m: any) => m.name === volume.name).mountPath;
            expect(pod.containers[0].args).toContain(`--providers.file.directory=${mount}`);
          }
          const args: string[] = pod.containers[0].args
            .filter((a: string) => !without?.test(a))
            .map((a: string) => (a.startsWith('--providers.file.directory=') ? `--providers.file.directory=${dynamic}` : a));
          const provider = variant.ingress.api === 'gateway' ? 'kubernetesgateway' : 'kubernetesingress';
          const token = path.join(work, `traefik-token-${written++}`);
          writeFileSync(token, cp.mustKubectl(['-n', 'traefik', 'create', 'token', 'traefik', '--duration=1h']).trim(), { mode: 0o600 });
          const server = parse(readFileSync(cp.adminConf, 'utf8')).clusters[0].cluster.server;
          return cp.netns.spawn([traefik, ...args, `--providers.${provider}.endpoint=${server}`, `--providers.${provider}.token=${token}`, `--providers.${provider}.certauthfilepath=${path.join(cp.dir, 'pki', 'ca.crt')}`], log);
        }

        /** The HTTP status and body of a request to the web entry point with a Host header, once Traefik has the route (or after 60 s). */
        async function request(url: string, host: string, expected: string): Promise<{ status: string; body: string }> {
          let last = { status: '', body: '' };
          for (const started = Date.now(); Date.now() - started < 60_000; await new Promise((resolve) => setTimeout(resolve, 500))) {
            const result = cp.netns.run(['curl', '-s', '-w', '\n%{http_code}', '--max-time', '5', '-H', `Host: ${host}`, url]);
            const lines = result.stdout.split('\n');
            last = { status: lines.pop() ?? '', body: lines.join('\n') };
            if (last.status === expected) break;
          }
          return last;
        }

        const cases: [string, ClusterConfig][] = [
          ['Ingress, hostNetwork', config],
          ['Ingress, nodePort', configWith({ ingress: { exposure: 'nodePort' } })],
          ['Gateway API, hostNetwork', configWith({ ingress: { api: 'gateway' } })],
          ['Gateway API, nodePort', configWith({ ingress: { api: 'gateway', exposure: 'nodePort' } })],
          ['Gateway API with the dashboard, hostNetwork', configWith({ ingress: { api: 'gateway' }, dashboard: { enabled: true } })],
          ['Ingress with the dashboard, hostNetwork', configWith({ dashboard: { enabled: true } })],
        ];
        test.each(cases)('%s: the host answers through Traefik\'s web entry point, another host does not', async (_name, variant) => {
          const dir = dist(variant);
          // The controller's objects of this variant (its ClusterRole; the IngressClass, or the GatewayClass and
          // Gateway), and the app with its route (the Ingress, or the HTTPRoute).
          cp.mustKubectl(['apply', '--server-side', '--force-conflicts', ...stagesOf(variant).filter((stage) => ['traefik', 'tomcat6', 'dashboard'].includes(stage)).flatMap((stage) => ['-f', path.join(dir, stageFile(variant, stage))])]);
          const log = path.join(work, `traefik-${written++}.log`);
          const controller = runTraefik(variant, log);
          try {
            const web = variant.ingress.exposure === 'hostNetwork' ? `http://${workers(variant)[0].address}/` : `http://${controlPlane(variant).address}:8000/`;
            const hosts = [variant.tomcat6.host, ...(variant.dashboard.enabled ? [dashboardHost(variant)] : [])];
            for (const host of hosts) {
              const routed = await request(web, host, '200');
              expect({ host, routed, log: routed.status === '200' ? '' : readFileSync(log, 'utf8').split('\n').slice(-30).join('\n') }).toEqual({ host, routed: { status: '200', body: `stand-in pod, asked for ${host}` }, log: '' });
            }
            expect((await request(web, 'other.example.com', '404')).status).toBe('404');
            if (variant.ingress.api === 'gateway') {
              // The bootstrap's own waits, on what Traefik wrote: the Gateway Programmed, the HTTPRoute Accepted.
              for (const stage of stagesOf(variant).filter((s) => s !== 'flannel' && s !== 'gateway-api')) {
                for (const wait of stageWaits(variant, stage, [], '60s').filter((argv) => argv.includes('wait'))) {
                  expect(cp.kubectl(wait.slice(2))).toMatchObject({ status: 0 });
                }
              }
              for (const [namespace, name] of [['default', 'tomcat6'], ...(variant.dashboard.enabled ? [['headlamp', 'headlamp']] : [])]) {
                const route = JSON.parse(cp.mustKubectl(['-n', namespace, 'get', 'httproute', name, '-o', 'json']));
                expect(route.status.parents[0].controllerName).toBe('traefik.io/gateway-controller');
                expect(route.status.parents[0].conditions.map((c: any) => `${c.type}=${c.status}`).sort()).toEqual(['Accepted=True', 'ResolvedRefs=True']);
              }
            }
          } finally {
            if (controller.exitCode === null && controller.signalCode === null) {
              const exited = new Promise((resolve) => controller.once('exit', resolve));
              controller.kill('SIGKILL');
              await exited;
            }
          }
        });

        test('a pod listed as ready that refuses connections costs no request: Traefik tries it on the other pod (the retry middleware of dist/); without it, every other request is a 502', async () => {
          // A second tomcat6 endpoint at an address where nothing listens: the kernel refuses at once, as for a pod
          // that stopped before Traefik learned it was gone.
          const REFUSING_IP = '10.244.1.11';
          cp.netns.mustRun(['ip', 'addr', 'add', `${REFUSING_IP}/32`, 'dev', 'lo']);
          const slice = (addresses: string[]) => JSON.stringify({
            apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
            metadata: { name: 'tomcat6-stand-in', namespace: 'default', labels: { 'kubernetes.io/service-name': 'tomcat6' } },
            addressType: 'IPv4',
            endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true, serving: true, terminating: false } })),
            ports: [{ name: 'http', port: POD_PORT, protocol: 'TCP' }],
          });
          cp.mustKubectl(['apply', '-f', '-'], { input: slice([POD_IP, REFUSING_IP]) });
          const dir = dist(config);
          cp.mustKubectl(['apply', '--server-side', '--force-conflicts', ...['traefik', 'tomcat6'].flatMap((stage) => ['-f', path.join(dir, stageFile(config, stage as Stage))])]);
          const web = `http://${workers(config)[0].address}/`;
          /** 20 requests once the route answers: their HTTP statuses, counted. */
          const twenty = async (without?: RegExp) => {
            const log = path.join(work, `traefik-${written++}.log`);
            const controller = runTraefik(config, log, without);
            try {
              // Both servers are in Traefik's list once a request gets 200 (both come from one EndpointSlice).
              expect((await request(web, config.tomcat6.host, '200')).status).toBe('200');
              const counts: Record<string, number> = {};
              for (let i = 0; i < 20; i++) {
                const status = cp.netns.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', '-H', `Host: ${config.tomcat6.host}`, web]).stdout;
                counts[status] = (counts[status] ?? 0) + 1;
              }
              return counts;
            } finally {
              const exited = new Promise((resolve) => controller.once('exit', resolve));
              controller.kill('SIGKILL');
              await exited;
            }
          };
          try {
            expect(await twenty()).toEqual({ 200: 20 });
            // The same Traefik without the entry points' middleware: round robin sends every other request to the refusing address.
            const bare = await twenty(/^--entryPoints\.\w+\.http\.middlewares=/);
            expect(bare).toEqual({ 200: 10, 502: 10 });
          } finally {
            cp.mustKubectl(['apply', '-f', '-'], { input: slice([POD_IP]) });
            cp.netns.run(['ip', 'addr', 'del', `${REFUSING_IP}/32`, 'dev', 'lo']);
          }
        });
      });
    });

    // The other minors of the window: dist/ on a control plane of each one's own release, from its own kubeadm.
    for (const { release, built } of otherReleases) {
      if (!built) continue;
      describe(`dist/ on a real control plane of v${release}: each controller with each exposure, Traefik with each API`, () => {
        const variant = atRelease(release);
        // ingress-nginx past the minors it was tested on takes its override, as a user would have to give it.
        const nginx = (exposure: 'hostNetwork' | 'nodePort') => atRelease(release, { ingress: { controller: 'ingress-nginx', exposure, allowUnsupportedKubernetes: minorOf(release) > INGRESS_NGINX_MAX_MINOR } });
        const combinations: [string, ClusterConfig][] = [
          ['traefik, hostNetwork', variant],
          ['traefik, nodePort', atRelease(release, { ingress: { exposure: 'nodePort' } })],
          ['traefik, Gateway API, hostNetwork', atRelease(release, { ingress: { api: 'gateway' } })],
          ['traefik, Gateway API, nodePort, dashboard', atRelease(release, { ingress: { api: 'gateway', exposure: 'nodePort' }, dashboard: { enabled: true } })],
          ['ingress-nginx, hostNetwork', nginx('hostNetwork')],
          ['ingress-nginx, nodePort', nginx('nodePort')],
        ];
        let cp: ControlPlane;
        const results: Record<string, { applied: number; expected: number; errors: string[]; diffs: (number | string)[] }> = {};
        beforeAll(async () => {
          cp = await startControlPlane(built, initConfig(variant, controlPlane(variant)), variant.nodes.map((n) => n.address));
          process.stderr.write(`real control plane v${release}: API server ready in ${cp.timings.apiServerReady.toFixed(1)} s, ready in ${cp.timings.ready.toFixed(1)} s\n`);
          const files = Object.fromEntries(combinations.map(([name, config]) => {
            const dir = path.join(work, `dist-${written++}`);
            synthesize(config, dir);
            const { network, crds, controller, apps } = applyOrder(config);
            const file = (stage: Stage) => path.join(dir, stageFile(config, stage));
            return [name, { crds: crds.map(file), first: [network, ...apps].map(file), controller: [file(controller)] }];
          }));
          const count = (list: string[]) => list.reduce((sum, f) => sum + parseAllDocuments(readFileSync(f, 'utf8')).length, 0);
          const step = (name: string, list: string[]) => {
            const applied = cp.kubectl(['apply', '--server-side', '--force-conflicts', ...list.flatMap((f) => ['-f', f])]);
            const result = results[name] ?? (results[name] = { applied: 0, expected: 0, errors: [], diffs: [] });
            result.applied += applied.stdout.split('\n').filter((l) => / serverside-applied$/.test(l)).length;
            result.expected += count(list);
            if (applied.status !== 0) result.errors.push(applied.stderr);
            // Right after the apply: an ingress-nginx webhook, once registered, would be called by a later Ingress dry run, and nothing answers it here.
            const again = cp.kubectl(['diff', '--server-side', '--force-conflicts', ...list.flatMap((f) => ['-f', f])]);
            result.diffs.push(again.status === 0 ? 0 : `exit ${again.status}: ${again.stdout}${again.stderr}`);
          };
          // The Gateway API's CRDs, served before anything names their kinds; every Ingress before any admission
          // webhook exists, as on a fresh cluster; then the controllers.
          for (const [name] of combinations) if (files[name].crds.length) step(name, files[name].crds);
          if (combinations.some(([name]) => files[name].crds.length)) cp.mustKubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
          for (const [name] of combinations) step(name, files[name].first);
          for (const [name] of combinations) step(name, files[name].controller);
        });
        afterAll(() => cp?.stop());

        test('the API server runs the release', () => {
          expect(JSON.parse(cp.mustKubectl(['version', '-o', 'json'])).serverVersion.gitVersion).toBe(`v${release}`);
        });

        test('kube-vip\'s static pod (a highly available control plane\'s), as each control plane gets it, is a Pod the API server takes; a broken one is refused', () => {
          kubeVipTakenBy(cp, release);
        });

        test.each(combinations.map(([name]) => [name]))('%s: every object of dist/ accepted, and a second apply changes nothing', (name) => {
          expect(results[name].errors).toEqual([]);
          expect(results[name].applied).toBe(results[name].expected);
          // One diff per apply step: the Gateway API's CRDs (with that API), the network and the app, the controller.
          expect(results[name].diffs).toEqual(name.includes('Gateway API') ? [0, 0, 0] : [0, 0]);
        });
      });
    }
  }
}
