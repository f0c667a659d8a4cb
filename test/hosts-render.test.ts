/** The files the node scripts write, and the small parsers they rely on, as pure functions. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { UserError } from '../config/errors';
import { mirrorHost } from '../config/images';
import { redact } from '../hosts/engine/redact';
import { controlParent } from '../hosts/engine/ssh';
import { NodeRun, StepFailed } from '../hosts/engine/steps';
import { API_UNAVAILABLE } from '../hosts/cluster/apply';
import { describeFacts, identityLabel, KUBELET_KERNEL_SETTINGS, kubeconfigServer, nodeIdentity, parseAddresses, parseInterfaceOf, parseListeningPorts, preflightProblems, preflightWarnings, type NodeFacts } from '../hosts/node/facts';
import {
  containerdConfig, fstabWithoutSwap, fstabWithSwapRestored, hostsFile, hostsFileWithoutBlock, hostsToml, modulesConf,
  parseContainerdVersion, selinuxPermissive, selinuxRestored, sysctlConf,
} from '../hosts/node/files';
import { firewallRules, ufwRules } from '../hosts/node/firewall';
import { caCertHash, initConfig, joinConfig, parseTicket, renderTicket } from '../hosts/node/kubeadm';
import { PlanHost } from '../hosts/node/plan-model';
import { portsToBeUsed } from '../hosts/node/ports';
import { aptSource } from '../hosts/os/apt';
import { yumDockerRepo, yumKubernetesRepo } from '../hosts/os/el9';
import { osFamily, parseOsRelease } from '../hosts/os/release';
import { configWith, defaultConfig, withIngressNginx } from './helpers';

const config = defaultConfig();
const [cp, worker] = config.nodes;

describe('/etc/hosts', () => {
  const original = '127.0.0.1 localhost\n::1 localhost\n';

  test('adds one line per node in a managed block, and a second run changes nothing', () => {
    const once = hostsFile(original, config.nodes);
    expect(once).toBe(`${original}# BEGIN cluster nodes (managed by hosts/prep.mjs)\n192.168.83.133\tk8s-node1\n192.168.83.134\tk8s-node2\n192.168.83.135\tk8s-node3\n# END cluster nodes\n`);
    expect(hostsFile(once, config.nodes)).toBe(once);
  });

  test('replaces the block when the nodes change, never duplicating it', () => {
    const once = hostsFile(original, config.nodes);
    const changed = hostsFile(once, [cp, { ...worker, address: '192.168.83.200' }]);
    expect(changed.match(/# BEGIN/g)).toHaveLength(1);
    expect(changed).toContain('192.168.83.200\tk8s-node2');
    expect(changed).not.toContain('k8s-node3');
  });

  test('leaves a node the user already mapped the same way outside the block', () => {
    const text = hostsFile('127.0.0.1 localhost\n192.168.83.133  k8s-node1\n', config.nodes);
    expect(text.match(/k8s-node1/g)).toHaveLength(1);
  });

  test('the undo removes exactly the block', () => {
    expect(hostsFileWithoutBlock(hostsFile(original, config.nodes))).toBe(original);
  });
});

describe('/etc/fstab', () => {
  const fstab = '/dev/sda1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n# /old-swap none swap sw 0 0\nUUID=abc none swap defaults 0 0\n';

  test('comments out every active swap entry, and only those', () => {
    const edited = fstabWithoutSwap(fstab);
    expect(edited.split('\n').filter((l) => !l.startsWith('#') && / swap /.test(l))).toEqual([]);
    expect(edited).toContain('/dev/sda1 / ext4 defaults 0 1');
    expect(edited).toContain('# /old-swap none swap sw 0 0');
    expect(fstabWithoutSwap(edited)).toBe(edited);
  });

  test('the undo restores the original text', () => {
    expect(fstabWithSwapRestored(fstabWithoutSwap(fstab))).toBe(fstab);
  });
});

describe('SELinux config', () => {
  test('enforcing becomes permissive (no `disabled`, no typo) and can be restored', () => {
    const original = '# comment\nSELINUX=enforcing\nSELINUXTYPE=targeted\n';
    const edited = selinuxPermissive(original);
    expect(edited).toMatch(/^SELINUX=permissive$/m);
    expect(edited).not.toMatch(/^SELINUX=enforcing/m);
    expect(edited).not.toMatch(/diabled|disabled/);
    expect(selinuxPermissive(edited)).toBe(edited);
    expect(selinuxRestored(edited)).toBe(original);
  });

  test('permissive or disabled is left alone', () => {
    expect(selinuxPermissive('SELINUX=disabled\n')).toBe('SELINUX=disabled\n');
  });
});

describe('kernel, runtime and repository files', () => {
  test('modules and sysctls', () => {
    expect(modulesConf().split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(['overlay', 'br_netfilter']);
    expect(sysctlConf().split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([
      'net.ipv4.ip_forward = 1', 'net.bridge.bridge-nf-call-iptables = 1', 'net.bridge.bridge-nf-call-ip6tables = 1',
    ]);
  });

  test('containerd 1.x: the version 2 format, with the systemd cgroup driver, the given sandbox image and the registry hosts folder', () => {
    const text = containerdConfig('mirror.example.com/pause:3.10.1', 1);
    expect(text).toMatch(/^version = 2$/m);
    expect(text).toContain('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true');
    expect(text).toContain('sandbox_image = "mirror.example.com/pause:3.10.1"');
    expect(text).toContain('[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"');
    expect(text).not.toContain('disabled_plugins');
    // Debian's containerd 1.x looks for CNI plugins in /usr/lib/cni unless told: flannel's and kubernetes-cni's are in /opt/cni/bin.
    expect(text).toContain('[plugins."io.containerd.grpc.v1.cri".cni]\n  bin_dir = "/opt/cni/bin"\n  conf_dir = "/etc/cni/net.d"\n');
  });

  test('containerd 2.x: the version 3 format, with the 2.x plugin ids and the CNI folders written out', () => {
    expect(containerdConfig('registry.k8s.io/pause:3.10.1', 2)).toBe(`# containerd 2.x for kubelet (managed by hosts/prep.mjs)
version = 3

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "registry.k8s.io/pause:3.10.1"

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = "/etc/containerd/certs.d"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["/opt/cni/bin"]
  conf_dir = "/etc/cni/net.d"
`);
  });

  test('containerd in a system container: restrict_oom_score_adj in the CRI plugin of each format; elsewhere not', () => {
    const v2 = containerdConfig('registry.k8s.io/pause:3.10.1', 2, { inContainer: true });
    expect(v2).toContain("[plugins.'io.containerd.cri.v1.runtime']\n  restrict_oom_score_adj = true\n");
    expect(containerdConfig('registry.k8s.io/pause:3.10.1', 1, { inContainer: true })).toContain('[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.10.1"\n  restrict_oom_score_adj = true\n');
    for (const major of [1, 2]) expect(containerdConfig('registry.k8s.io/pause:3.10.1', major)).not.toContain('restrict_oom_score_adj');
  });

  test('containerd\'s version, from what each package\'s `containerd --version` prints', () => {
    expect(parseContainerdVersion('containerd containerd.io 2.2.1 05044ec0a9a75232cad458027ca83437aae3f4da\n')).toEqual({ major: 2, text: '2.2.1' });
    expect(parseContainerdVersion('containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1\n')).toEqual({ major: 1, text: '1.6.20' });
    expect(parseContainerdVersion('containerd github.com/containerd/containerd/v2 v2.3.4 abcdef\n')).toEqual({ major: 2, text: '2.3.4' });
    expect(() => parseContainerdVersion('containerd: command not found')).toThrow(/cannot read containerd's version/);
  });

  test('hosts.toml: the mirror first, the upstream registry as the fallback; a path is the API root', () => {
    expect(hostsToml(mirrorHost('registry.k8s.io', 'registry.example.com:5000/k8s'), true, false)).toBe(`# Images of registry.k8s.io come through the mirror https://registry.example.com:5000/v2/k8s, else from the registry itself (managed by hosts/prep.mjs)
server = "https://registry.k8s.io"

[host."https://registry.example.com:5000/v2/k8s"]
  capabilities = ["pull", "resolve"]
  override_path = true
`);
    expect(hostsToml(mirrorHost('docker.io', 'http://10.0.0.5:5000'), true, false)).toContain('server = "https://registry-1.docker.io"\n\n[host."http://10.0.0.5:5000"]\n  capabilities = ["pull", "resolve"]\n');
  });

  test('hosts.toml: without the fallback the mirror is the only server; a private CA beside the file', () => {
    expect(hostsToml(mirrorHost('ghcr.io', 'mirror.internal'), false, true)).toBe(`# Images of ghcr.io come through the mirror https://mirror.internal only (managed by hosts/prep.mjs)
server = "https://mirror.internal"
capabilities = ["pull", "resolve"]
ca = "/etc/containerd/certs.d/ghcr.io/mirror-ca.crt"
`);
  });

  test('the Kubernetes repositories are the signed per-minor ones, or the configured mirror of them', () => {
    const minor = config.kubernetes.version.split('.').slice(0, 2).join('.');
    expect(aptSource(config)).toBe(`deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] https://pkgs.k8s.io/core:/stable:/v${minor}/deb/ /\n`);
    const rpm = yumKubernetesRepo(config);
    expect(rpm).toContain(`baseurl=https://pkgs.k8s.io/core:/stable:/v${minor}/rpm/`);
    expect(rpm).toContain('gpgcheck=1');
    expect(rpm).not.toMatch(/gpgcheck=0/);
    expect(rpm).toContain(`gpgkey=https://pkgs.k8s.io/core:/stable:/v${minor}/rpm/repodata/repomd.xml.key`);
    expect(rpm).toContain('exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni');
    const mirrored = configWith({ kubernetes: { version: '1.36.5' }, ingress: { allowUnsupportedKubernetes: true }, packages: { kubernetes: 'https://mirrors.aliyun.com/kubernetes-new/core/stable/' } });
    expect(aptSource(mirrored)).toContain('https://mirrors.aliyun.com/kubernetes-new/core/stable/v1.36/deb/ /');
    expect(yumDockerRepo(config)).toContain('baseurl=https://download.docker.com/linux/centos/$releasever/$basearch/stable');
    expect(yumDockerRepo(config)).toContain('gpgcheck=1');
  });
});

describe('kubeadm configuration (v1beta4)', () => {
  // The v1beta4 fields these files use; strict, so a misspelt field fails.
  const nodeRegistration = z.strictObject({
    name: z.string(), criSocket: z.string(),
    kubeletExtraArgs: z.array(z.strictObject({ name: z.string(), value: z.string() })),
    taints: z.array(z.never()).optional(),
  });
  const init = z.strictObject({
    apiVersion: z.literal('kubeadm.k8s.io/v1beta4'), kind: z.literal('InitConfiguration'),
    bootstrapTokens: z.array(z.strictObject({ groups: z.array(z.string()), ttl: z.string(), usages: z.array(z.string()) })),
    localAPIEndpoint: z.strictObject({ advertiseAddress: z.string(), bindPort: z.number() }),
    nodeRegistration,
  });
  const cluster = z.strictObject({
    apiVersion: z.literal('kubeadm.k8s.io/v1beta4'), kind: z.literal('ClusterConfiguration'),
    kubernetesVersion: z.string(), imageRepository: z.string(),
    dns: z.strictObject({ imageRepository: z.string() }).optional(),
    networking: z.strictObject({ dnsDomain: z.string(), podSubnet: z.string(), serviceSubnet: z.string() }),
  });
  const kubelet = z.strictObject({ apiVersion: z.literal('kubelet.config.k8s.io/v1beta1'), kind: z.literal('KubeletConfiguration'), cgroupDriver: z.literal('systemd') });
  const join = z.strictObject({
    apiVersion: z.literal('kubeadm.k8s.io/v1beta4'), kind: z.literal('JoinConfiguration'),
    discovery: z.strictObject({ bootstrapToken: z.strictObject({ apiServerEndpoint: z.string(), token: z.string(), caCertHashes: z.array(z.string()).min(1) }) }),
    nodeRegistration,
  });

  test('init: the tutorial\'s flags from cluster.yaml, the systemd cgroup driver, the kubelet node-ip', () => {
    const [i, c, k] = parseAllDocuments(initConfig(config, cp)).map((d) => d.toJS());
    expect(init.parse(i)).toMatchObject({
      localAPIEndpoint: { advertiseAddress: '192.168.83.133', bindPort: 6443 },
      nodeRegistration: { name: 'k8s-node1', kubeletExtraArgs: [{ name: 'node-ip', value: '192.168.83.133' }] },
      bootstrapTokens: [{ ttl: '15m0s' }],
    });
    expect(cluster.parse(c)).toMatchObject({
      kubernetesVersion: `v${config.kubernetes.version}`, imageRepository: 'registry.k8s.io',
      networking: { podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/16' },
    });
    expect(kubelet.parse(k)).toBeTruthy();
  });

  test('init: a registry mirror leaves kubeadm on registry.k8s.io (containerd mirrors it); a flat copy becomes imageRepository, CoreDNS\'s too', () => {
    const mirrored = parseAllDocuments(initConfig(configWith({ images: { mirror: 'registry.example.com/k8s' } }), cp))[1].toJS();
    expect(mirrored.imageRepository).toBe('registry.k8s.io');
    expect(mirrored.dns).toBeUndefined();
    const flat = parseAllDocuments(initConfig(configWith({ images: { controlPlaneRepository: 'registry.cn-hangzhou.aliyuncs.com/google_containers' } }), cp))[1].toJS();
    expect(cluster.parse(flat)).toMatchObject({
      imageRepository: 'registry.cn-hangzhou.aliyuncs.com/google_containers',
      dns: { imageRepository: 'registry.cn-hangzhou.aliyuncs.com/google_containers' },
    });
  });

  test('init: a cluster of one node leaves the control plane untainted; with workers kubeadm\'s default taint stays', () => {
    const single = configWith({ nodes: [cp] });
    expect(init.parse(parseAllDocuments(initConfig(single, cp))[0].toJS()).nodeRegistration.taints).toEqual([]);
    expect(init.parse(parseAllDocuments(initConfig(config, cp))[0].toJS()).nodeRegistration.taints).toBeUndefined();
  });

  test('kubernetes.extraArgs: each component\'s flags as v1beta4 lists in the ClusterConfiguration (etcd\'s under etcd.local); unset, none', () => {
    const tuned = configWith({ kubernetes: { version: config.kubernetes.version, extraArgs: { controllerManager: { 'leader-elect-lease-duration': '60s', 'leader-elect-retry-period': '10s' }, scheduler: { 'leader-elect': 'true' }, etcd: { 'heartbeat-interval': '500' }, apiServer: { 'max-requests-inflight': '100' } } } });
    const cluster = parseAllDocuments(initConfig(tuned, cp))[1].toJS();
    expect(cluster.controllerManager).toEqual({ extraArgs: [{ name: 'leader-elect-lease-duration', value: '60s' }, { name: 'leader-elect-retry-period', value: '10s' }] });
    expect(cluster.scheduler).toEqual({ extraArgs: [{ name: 'leader-elect', value: 'true' }] });
    expect(cluster.etcd).toEqual({ local: { extraArgs: [{ name: 'heartbeat-interval', value: '500' }] } });
    expect(cluster.apiServer).toEqual({ extraArgs: [{ name: 'max-requests-inflight', value: '100' }] });
    expect(initConfig(config, cp)).not.toContain('extraArgs');
  });

  test('kubernetes.encryptionAlgorithm: the key type of the cluster\'s certificates in the ClusterConfiguration; unset, kubeadm\'s default', () => {
    const ecdsa = configWith({ kubernetes: { version: config.kubernetes.version, encryptionAlgorithm: 'ECDSA-P256' } });
    expect(parseAllDocuments(initConfig(ecdsa, cp))[1].toJS().encryptionAlgorithm).toBe('ECDSA-P256');
    expect(initConfig(config, cp)).not.toContain('encryptionAlgorithm');
  });

  test('kubernetes.timeouts: kubeadm\'s v1beta4 timeouts in both the init and the join configuration; unset, kubeadm\'s defaults', () => {
    const details = { apiServerEndpoint: '192.168.83.133:6443', token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'a'.repeat(64)}` };
    const slow = configWith({ kubernetes: { version: config.kubernetes.version, timeouts: { controlPlaneComponentHealthCheck: '8m', kubernetesAPICall: '5m' } } });
    expect(parseAllDocuments(initConfig(slow, cp))[0].toJS().timeouts).toEqual({ controlPlaneComponentHealthCheck: '8m', kubernetesAPICall: '5m' });
    expect(parseAllDocuments(joinConfig(slow, worker, details))[0].toJS().timeouts).toEqual({ controlPlaneComponentHealthCheck: '8m', kubernetesAPICall: '5m' });
    expect(initConfig(config, cp)).not.toContain('timeouts');
    expect(joinConfig(config, worker, details)).not.toContain('timeouts');
  });

  test('kubernetes.allowCgroupV1: the kubelet told failCgroupV1: false, and kubeadm ignores SystemVerification alone, on init and join', () => {
    const details = { apiServerEndpoint: '192.168.83.133:6443', token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'a'.repeat(64)}` };
    const v1 = configWith({ kubernetes: { version: config.kubernetes.version, allowCgroupV1: true } });
    const [i, , k] = parseAllDocuments(initConfig(v1, cp)).map((d) => d.toJS());
    expect(i.nodeRegistration.ignorePreflightErrors).toEqual(['SystemVerification']);
    expect(k).toEqual({ apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration', cgroupDriver: 'systemd', failCgroupV1: false });
    expect(parseAllDocuments(joinConfig(v1, worker, details))[0].toJS().nodeRegistration.ignorePreflightErrors).toEqual(['SystemVerification']);
    for (const text of [initConfig(config, cp), joinConfig(config, worker, details)]) {
      expect(text).not.toContain('ignorePreflightErrors');
      expect(text).not.toContain('failCgroupV1');
    }
  });

  test('system-container nodes: kube-proxy leaves nf_conntrack_max alone (maxPerCore 0); otherwise no kube-proxy document', () => {
    const docs = parseAllDocuments(initConfig(config, cp, { containerNodes: true })).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(['InitConfiguration', 'ClusterConfiguration', 'KubeletConfiguration', 'KubeProxyConfiguration']);
    expect(docs[3]).toEqual({ apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration', conntrack: { maxPerCore: 0 } });
    expect(initConfig(config, cp)).not.toContain('KubeProxyConfiguration');
  });

  test('join: the CA is pinned, never skipped', () => {
    const text = joinConfig(config, worker, { apiServerEndpoint: '192.168.83.133:6443', token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'a'.repeat(64)}` });
    const parsed = join.parse(parseAllDocuments(text)[0].toJS());
    expect(parsed.discovery.bootstrapToken.caCertHashes).toEqual([`sha256:${'a'.repeat(64)}`]);
    expect(parsed.nodeRegistration.kubeletExtraArgs).toEqual([{ name: 'node-ip', value: '192.168.83.134' }]);
    expect(text).not.toContain('unsafeSkipCAVerification');
  });

  test('the CA hash is what openssl computes from the certificate\'s public key', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ca-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.crt'), '-days', '1', '-subj', '/CN=kubernetes'], { stdio: 'ignore' });
    const viaOpenssl = execFileSync('sh', ['-c', `openssl x509 -pubkey -in ${dir}/ca.crt | openssl rsa -pubin -outform der 2>/dev/null | openssl dgst -sha256 -hex | sed 's/^.* //'`], { encoding: 'utf8' }).trim();
    expect(caCertHash(readFileSync(path.join(dir, 'ca.crt'), 'utf8'))).toBe(`sha256:${viaOpenssl}`);
  });

  test('a join ticket round-trips, and an expired or malformed one is refused with a way out', () => {
    const details = { apiServerEndpoint: '192.168.83.133:6443', token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'b'.repeat(64)}` };
    const text = renderTicket({ ...details, expires: '2030-01-01T00:00:00Z' });
    expect(parseTicket(text, 't.yaml', new Date('2029-12-31T23:59:00Z'))).toEqual(details);
    expect(() => parseTicket(text, 't.yaml', new Date('2030-01-01T00:00:01Z'))).toThrow(/t\.yaml: the join ticket expired at 2030-01-01T00:00:00Z; make a new one with hosts\/init\.mjs/);
    expect(() => parseTicket(text.replace(/caCertHash.*/, ''), 't.yaml', new Date(0))).toThrow(/caCertHash is missing or malformed/);
  });
});

describe('secrets are masked', () => {
  test('tokens keep only their public id; certificate keys and private keys disappear', () => {
    const text = [
      'kubeadm join 192.168.83.133:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:0123',
      '--certificate-key 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----',
      '    client-key-data: LS0tLS1CRUdJTi==',
    ].join('\n');
    const masked = redact(text);
    expect(masked).not.toContain('0123456789abcdef0123456789abcdef');
    expect(masked).not.toContain('abcdef.0123456789abcdef');
    expect(masked).toContain('abcdef.****************');
    expect(masked).toContain('--certificate-key [redacted]');
    expect(masked).toContain('[private key redacted]');
    expect(masked).not.toContain('MHcCAQEEIB');
    expect(masked).toContain('client-key-data: [redacted]');
    expect(masked).toContain('sha256:0123'); // the CA hash is public
  });
});

describe('a secret file in a dry-run plan', () => {
  test('is shown with its token masked before any output sees it', async () => {
    const lines: string[] = [];
    // An output that prints exactly what it is given: the masking must be the plan's own.
    const run = new NodeRun('k8s-node1', new PlanHost('el9', config, cp), 'plan', { line: (l) => lines.push(l), detail: (l) => lines.push(l) });
    const ticket = renderTicket({ apiServerEndpoint: '192.168.83.133:6443', token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'1'.repeat(64)}`, expires: '2030-01-01T00:00:00Z' });
    await run.write('/root/kubeadm-join-ticket.yaml', ticket, { mode: 0o600, secret: true });
    expect(lines).toContain('  | token: abcdef.****************');
    expect(lines).toContain(`  | caCertHash: sha256:${'1'.repeat(64)}`);
    expect(lines.join('\n')).not.toContain('0123456789abcdef');
  });
});

describe('the answers of an API server that is only busy, which the apply tries again', () => {
  // As kubectl prints them (apimachinery's StatusError messages, etcd's error text, Go's io.EOF), in a StepFailed line.
  const failed = (stderr: string) => new StepFailed('k8s-node1', 'apply tomcat6', ['kubectl', 'apply', '-f', '-'], { code: 1, stdout: '', stderr }).message;
  test.each([
    'Error from server (TooManyRequests): the server has received too many requests and has asked us to try again later',
    'Error from server (Timeout): the server was unable to return a response in the time allotted, but may still be processing the request',
    'Unable to connect to the server: EOF',
    'Error from server: etcdserver: leader changed',
    'error: error when retrieving current configuration of:\nResource: "apps/v1, Resource=deployments"\nfrom server for: "STDIN": Get "https://192.168.83.133:6443/apis/apps/v1/namespaces/default/deployments/tomcat6": EOF',
    'The connection to the server 192.168.83.133:6443 was refused - did you specify the right host or port?',
  ])('%s', (stderr) => {
    expect(API_UNAVAILABLE.test(failed(stderr))).toBe(true);
  });
  test('a real refusal is not tried again', () => {
    for (const stderr of ['Error from server (Invalid): error when creating "STDIN": Deployment.apps "tomcat6" is invalid', 'Error from server (NotFound): deployments.apps "tomcat6" not found', 'error: the path "EOF.yaml" does not exist']) {
      expect(API_UNAVAILABLE.test(failed(stderr))).toBe(false);
    }
  });
});

describe('SSH control sockets', () => {
  test('go under TMPDIR when a socket path fits there, else under /tmp', () => {
    expect(controlParent('/tmp')).toBe('/tmp');
    expect(controlParent('/tmp/kh-test-AbC123')).toBe('/tmp/kh-test-AbC123');
    expect(controlParent('/var/folders/7x/zmpr0bcn6t3bnb1bdd0pt5kc0000gn/T')).toBe('/tmp');
  });
});

describe('facts and preflight', () => {
  const facts: NodeFacts = {
    os: 'Rocky Linux 9.5', family: 'el9', release: parseOsRelease('ID="rocky"\nVERSION_ID="9.5"\n'), uid: 0, cpus: 2, memoryMb: 3900, cgroupV2: true, hostname: 'x',
    macs: ['52:54:00:00:00:01'], addresses: ['192.168.83.133'], defaultRoute: true, listeningPorts: [22], kubernetes: {},
    productUuid: '4c4c4544-0000-4000-8000-000000000001', machineId: '0f4b7a9e2c1d4e5f8a9b0c1d2e3f4a5b',
    modules: { overlay: true, br_netfilter: true }, kubeletKernelSettings: { ...KUBELET_KERNEL_SETTINGS },
  };
  /** A system container on a host that did its part: the kubelet's settings in place, the modules there. */
  const inContainer: NodeFacts = { ...facts, container: 'lxc', productUuid: undefined };

  test('parsers read ip and ss output', () => {
    expect(parseAddresses('1: lo    inet 127.0.0.1/8 scope host lo\n2: enp0s8    inet 192.168.83.133/24 brd 192.168.83.255 scope global enp0s8\n')).toEqual(['127.0.0.1', '192.168.83.133']);
    expect(parseListeningPorts('LISTEN 0 4096 0.0.0.0:22 0.0.0.0:*\nLISTEN 0 4096 [::]:6443 [::]:*\n')).toEqual([22, 6443]);
    // The interface of an address and its prefix: a veth's peer suffix dropped, a real interface before lo.
    const ip = '1: lo    inet 127.0.0.1/8 scope host lo\n2: host0@if9    inet 192.168.56.11/24 metric 1024 brd 192.168.56.255 scope global host0\n2: host0@if9    inet 192.168.56.10/32 scope global host0\n3: eth1    inet 127.0.0.1/24 scope global eth1\n';
    expect(parseInterfaceOf(ip, '192.168.56.11')).toEqual({ name: 'host0', prefix: 24 });
    expect(parseInterfaceOf(ip, '192.168.56.10')).toEqual({ name: 'host0', prefix: 32 });
    expect(parseInterfaceOf(ip, '127.0.0.1')).toEqual({ name: 'eth1', prefix: 24 });
    expect(parseInterfaceOf(ip, '10.0.0.1')).toBeUndefined();
    // The API server a kubeconfig names, as kubeadm writes it.
    expect(kubeconfigServer('apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0t\n    server: https://192.168.56.10:6443\n  name: kubernetes\n')).toBe('192.168.56.10:6443');
    expect(kubeconfigServer(undefined)).toBeUndefined();
  });

  test('a fit control plane passes', () => {
    expect(preflightProblems(config, cp, facts, false)).toEqual([]);
  });

  test('every problem is reported at once, each naming the node and the fix', () => {
    const problems = preflightProblems(config, cp, { ...facts, uid: 1000, cpus: 1, memoryMb: 1024, cgroupV2: false, addresses: ['10.0.2.15'], defaultRoute: false, listeningPorts: [6443] }, false);
    expect(problems).toEqual([
      'k8s-node1: must run as root (uid 0), not uid 1000: run it with sudo',
      expect.stringMatching(/^k8s-node1: the node runs cgroup v1; the kubelet of Kubernetes 1\.3\d refuses it/),
      'k8s-node1: a control-plane node needs at least 2 CPUs; it has 1',
      'k8s-node1: a control-plane node needs at least 1700 MB of memory; it has 1024 MB',
      expect.stringMatching(/^k8s-node1: address 192\.168\.83\.133 from cluster\.yaml is not on any interface of this machine \(it has 10\.0\.2\.15\)/),
      expect.stringMatching(/^k8s-node1: has no IPv4 default route; .*: add one \(ip route add default via <gateway>/),
      expect.stringMatching(/^k8s-node1: port\(s\) 6443 already in use/),
    ]);
  });

  test('cgroup v1 is refused unless kubernetes.allowCgroupV1; allowed, it is a warning once per node', () => {
    const v1 = { ...facts, cgroupV2: false };
    expect(preflightProblems(config, cp, v1, false)).toEqual([expect.stringMatching(/^k8s-node1: the node runs cgroup v1; .* or set kubernetes\.allowCgroupV1: true to run on it anyway \(unsupported upstream\)$/)]);
    expect(preflightWarnings(config, cp, v1)).toEqual([]);
    const allowed = configWith({ kubernetes: { allowCgroupV1: true } });
    expect(preflightProblems(allowed, cp, v1, false)).toEqual([]);
    expect(preflightWarnings(allowed, cp, v1)).toEqual([expect.stringMatching(/^warning: k8s-node1 runs cgroup v1, which Kubernetes 1\.\d+ no longer supports \(kubernetes\.allowCgroupV1: true\): the kubelet runs with failCgroupV1: false/)]);
    // A cgroup v2 node is not warned about, opt-in or not.
    expect(preflightWarnings(allowed, cp, facts)).toEqual([]);
  });

  test('a system container: the host must have the modules and the kubelet\'s global kernel settings, each with the host-side fix', () => {
    expect(preflightProblems(config, cp, inContainer, false)).toEqual([]);
    const bare = { ...inContainer, modules: { overlay: true, br_netfilter: false }, kubeletKernelSettings: { ...KUBELET_KERNEL_SETTINGS, 'kernel.panic': '1', 'vm.overcommit_memory': '0' } };
    expect(preflightProblems(config, cp, bare, false)).toEqual([
      'k8s-node1: runs in a system container (lxc), which cannot load kernel modules, and the kernel has no br_netfilter: load it on the host (modprobe br_netfilter, and add it to /etc/modules-load.d/ there)',
      'k8s-node1: runs in a system container (lxc), where the kubelet\'s global kernel settings are the host\'s and it cannot set them (it exits): vm.overcommit_memory is 0, the kubelet needs 1; kernel.panic is 1, the kubelet needs 10; set them on the host (sysctl -w vm.overcommit_memory=1, sysctl -w kernel.panic=10, persisted in /etc/sysctl.d/ there), or give the container files with these values over their /proc/sys entries',
    ]);
    // On a VM the kubelet sets them itself, and prep loads the modules.
    expect(preflightProblems(config, cp, { ...bare, container: undefined }, false)).toEqual([]);
  });

  test('what tells nodes apart: product_uuid on VMs, machine-id in containers (the host\'s DMI) or without DMI', () => {
    expect([identityLabel(facts), nodeIdentity(facts)]).toEqual(['product_uuid', facts.productUuid]);
    expect([identityLabel(inContainer), nodeIdentity(inContainer)]).toEqual(['machine-id', facts.machineId]);
    expect(nodeIdentity({ ...inContainer, productUuid: facts.productUuid })).toBe(facts.machineId);
    expect(nodeIdentity({ ...facts, productUuid: undefined })).toBe(facts.machineId);
    expect(describeFacts(inContainer)).toMatch(/^Rocky Linux 9\.5 \(el9\), system container \(lxc\), 2 CPU\(s\), 3900 MB, cgroup v2, machine-id 0f4b7a9e2c1d4e5f8a9b0c1d2e3f4a5b, /);
    expect(describeFacts(facts)).toMatch(/, VM or bare metal, .*product_uuid 4c4c4544-/);
  });

  test('ports in use are expected once the node is in the cluster; workers need less', () => {
    expect(preflightProblems(config, cp, { ...facts, listeningPorts: [6443, 10250] }, true)).toEqual([]);
    expect(preflightProblems(config, worker, { ...facts, cpus: 1, memoryMb: 900, addresses: ['192.168.83.134'] }, false)).toEqual([]);
    // Traefik on the host network: web, websecure, its ping entry point and its metrics; ingress-nginx: its admission webhook instead.
    expect(portsToBeUsed(config, worker)).toEqual([80, 443, 8080, 8082, 10250]);
    expect(portsToBeUsed(withIngressNginx(), worker)).toEqual([80, 443, 8443, 10250]);
    expect(portsToBeUsed(configWith({ ingress: { exposure: 'nodePort' } }), worker)).toEqual([10250]);
  });

  test('OS families from /etc/os-release; EL7 and others refused with the reason and the way out', () => {
    const family = (text: string) => osFamily(parseOsRelease(text), config, 'n1');
    expect(family('ID="rocky"\nVERSION_ID="9.4"\n')).toBe('el9');
    expect(family('ID="almalinux"\nVERSION_ID="9.5"\n')).toBe('el9');
    expect(family('ID="centos"\nVERSION_ID="9"\nID_LIKE="rhel fedora"\n')).toBe('el9');
    expect(family('ID=debian\nVERSION_ID="12"\n')).toBe('debian');
    expect(family('ID=ubuntu\nVERSION_ID="22.04"\n')).toBe('ubuntu');
    expect(() => family('ID="centos"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n'))
      .toThrow(/n1: CentOS Linux 7 \(Core\) is not supported: EL7 reached end of life on 2024-06-30 and runs cgroup v1.*reinstall the node with Rocky Linux 9/);
    expect(() => family('ID=ubuntu\nVERSION_ID="20.04"\nPRETTY_NAME="Ubuntu 20.04"\n')).toThrow(UserError);
  });

  test('firewall rules by role and exposure', () => {
    expect(firewallRules(config, cp).ports).toEqual(['6443/tcp', '2379-2380/tcp', '10257/tcp', '10259/tcp', '10250/tcp', '10256/tcp', '30000-32767/tcp', '30000-32767/udp', '8472/udp']);
    // Only what other hosts reach: Traefik's ping and metrics ports stay closed; ingress-nginx's webhook is called by the API server.
    expect(firewallRules(config, worker).ports).toEqual(['10250/tcp', '10256/tcp', '30000-32767/tcp', '30000-32767/udp', '8472/udp', '80/tcp', '443/tcp']);
    expect(firewallRules(withIngressNginx(), worker).ports).toEqual(['10250/tcp', '10256/tcp', '30000-32767/tcp', '30000-32767/udp', '8472/udp', '80/tcp', '443/tcp', '8443/tcp']);
    expect(firewallRules(configWith({ ingress: { exposure: 'nodePort' } }), worker).ports).toEqual(['10250/tcp', '10256/tcp', '30000-32767/tcp', '30000-32767/udp', '8472/udp']);
    expect(ufwRules(firewallRules(config, worker))).toContain('allow 30000:32767/udp');
  });
});
