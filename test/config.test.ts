/** cluster.yaml loading: defaults, and one clear line per problem for every kind of mistake. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { containerdRelease, containerdSupported } from '../config/containerd-support';
import { addonImage, clusterRegistries, controlPlaneImageRepository, registryMirrors } from '../config/images';
import { UserError } from '../config/errors';
import { loadClusterConfig, parseClusterConfig, resolveConfigPath } from '../config/load';
import { TESTED_RELEASES } from '../config/versions';
import { dashboardHost } from '../config/schema';
import { defaultConfig, ROOT } from './helpers';

/** The problems a config text produces, or [] when it is valid. */
function problemsOf(text: string): string[] {
  try {
    parseClusterConfig(text, 'cluster.yaml');
    return [];
  } catch (error) {
    if (error instanceof UserError) return error.problems;
    throw error;
  }
}

const minimal = {
  kubernetes: { version: '1.35.1' },
  nodes: [
    { name: 'k8s-node1', address: '192.168.83.133', role: 'control-plane' },
    { name: 'k8s-node2', address: '192.168.83.134', role: 'worker' },
  ],
};

/** The minimal config with `edit` applied, as YAML text. */
function edited(edit: (config: any) => void): string {
  const config = structuredClone(minimal) as any;
  edit(config);
  return stringify(config);
}

describe('the committed cluster.yaml', () => {
  test('is the tutorial cluster on current versions', () => {
    const config = defaultConfig();
    expect(TESTED_RELEASES).toContain(config.kubernetes.version);
    expect(config.nodes.map((n) => [n.name, n.address, n.role])).toEqual([
      ['k8s-node1', '192.168.83.133', 'control-plane'],
      ['k8s-node2', '192.168.83.134', 'worker'],
      ['k8s-node3', '192.168.83.135', 'worker'],
    ]);
    expect(config.network).toEqual({ podCidr: '10.244.0.0/16', serviceCidr: '10.96.0.0/16' });
    expect(config.ingress.exposure).toBe('hostNetwork');
    expect(config.tomcat6).toEqual({ image: 'tomcat:6.0.53-jre8', replicas: 3, host: 'tomcat6.touch.air.mall.com' });
  });

  test('package.json describes what it makes by default: Traefik first, ingress-nginx only as the other choice', () => {
    const { description } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { description: string };
    expect(defaultConfig().ingress.controller).toBe('traefik');
    expect(description.indexOf('Traefik')).toBeGreaterThanOrEqual(0);
    expect(description.indexOf('Traefik')).toBeLessThan(description.indexOf('ingress-nginx'));
  });
});

describe('defaults', () => {
  test('a config with only the version and nodes gets every documented default', () => {
    const config = parseClusterConfig(stringify(minimal));
    expect(config).toEqual({
      kubernetes: { version: '1.35.1', allowCgroupV1: false },
      network: { podCidr: '10.244.0.0/16', serviceCidr: '10.96.0.0/16' },
      nodes: [
        { name: 'k8s-node1', address: '192.168.83.133', role: 'control-plane', ssh: { user: 'root', port: 22 } },
        { name: 'k8s-node2', address: '192.168.83.134', role: 'worker', ssh: { user: 'root', port: 22 } },
      ],
      images: { mirrorFallback: true, pinDigests: true },
      packages: { kubernetes: 'https://pkgs.k8s.io/core:/stable:', containerd: 'docker', docker: 'https://download.docker.com/linux' },
      firewall: 'open',
      ingress: { controller: 'traefik', exposure: 'hostNetwork', api: 'ingress', allowUnsupportedKubernetes: false },
      tomcat6: { image: 'tomcat:6.0.53-jre8', replicas: 3, host: 'tomcat6.touch.air.mall.com' },
      dashboard: { enabled: false, access: 'view', tokenDuration: '1h' },
    });
  });

  test('kubernetes.extraArgs: a number or a boolean is taken as the flag\'s text, as the component reads it', () => {
    const config = parseClusterConfig(edited((c) => { c.kubernetes.extraArgs = { controllerManager: { 'leader-elect-lease-duration': '60s', 'kube-api-qps': 10 }, scheduler: { 'leader-elect': false } }; }));
    expect(config.kubernetes.extraArgs).toEqual({ controllerManager: { 'leader-elect-lease-duration': '60s', 'kube-api-qps': '10' }, scheduler: { 'leader-elect': 'false' } });
  });

  test.each(['1.35.0', '1.36.5', '1.37.2'])('Kubernetes %s, inside the window, is accepted (with traefik; with ingress-nginx past 1.35 only with its override)', (version) => {
    expect(parseClusterConfig(edited((c) => { c.kubernetes.version = version; })).kubernetes.version).toBe(version);
    const minor = Number(version.split('.')[1]);
    const nginx = parseClusterConfig(edited((c) => {
      c.kubernetes.version = version;
      c.ingress = { controller: 'ingress-nginx', ...(minor > 35 ? { allowUnsupportedKubernetes: true } : {}) };
    }));
    expect(nginx.ingress.controller).toBe('ingress-nginx');
  });

  test('a leading v on the version is accepted and dropped', () => {
    expect(parseClusterConfig(edited((c) => { c.kubernetes.version = 'v1.35.0'; })).kubernetes.version).toBe('1.35.0');
  });

  test('the dashboard\'s host defaults to dashboard. and the domain of tomcat6.host', () => {
    expect(dashboardHost(parseClusterConfig(edited((c) => { c.dashboard = { enabled: true }; })))).toBe('dashboard.touch.air.mall.com');
    expect(dashboardHost(parseClusterConfig(edited((c) => { c.dashboard = { enabled: true }; c.tomcat6 = { host: 'shop.example.com' }; })))).toBe('dashboard.example.com');
    expect(dashboardHost(parseClusterConfig(edited((c) => { c.dashboard = { enabled: true, host: 'ui.lab.test' }; })))).toBe('ui.lab.test');
  });

  test('replicas 0 is allowed (scaled to zero)', () => {
    expect(parseClusterConfig(edited((c) => { c.tomcat6 = { replicas: 0 }; })).tomcat6.replicas).toBe(0);
  });
});

describe('each mistake gives one line naming the file position, the field, the value and the fix', () => {
  const cases: [string, string, RegExp][] = [
    ['YAML syntax error', 'kubernetes:\n  version: "1.35.1\nnodes: [', /^cluster\.yaml:\d+:\d+: YAML syntax error: /],
    ['duplicate key', 'kubernetes:\n  version: "1.35.1"\nkubernetes:\n  version: "1.35.1"\n', /^cluster\.yaml:3:1: YAML syntax error: the key kubernetes appears twice in one mapping \(first on line 1\); keep one of them$/],
    ['duplicate key in a node', 'nodes:\n  - name: a\n    address: x\n  - name: b\n    address: y\n    address: z\n', /^cluster\.yaml:6:5: YAML syntax error: the key address appears twice in one mapping \(first on line 5\); keep one of them$/],
    ['a tab as indentation', 'kubernetes:\n\tversion: "1.35.1"\n', /^cluster\.yaml:2:1: YAML syntax error: a tab indents this line; YAML indents with spaces only: replace the tab with spaces$/],
    ['a key indented one space too far', 'kubernetes:\n  version: "1.35.1"\n   extra: 1\nnodes: []\n', /^cluster\.yaml:3:1: YAML syntax error: this line is indented more or less than the keys before it at its level; line it up with them, with spaces$/],
    ['a node\'s key indented like a list item', 'nodes:\n  - name: a\n   address: b\n', /^cluster\.yaml:3:1: YAML syntax error: this line is indented like a list item's but has no "- ": indent it like the keys of the item above, or start it with "- "$/],
    ['a key without its colon', 'kubernetes\n  version: "1.35.1"\n', /^cluster\.yaml:1:1: YAML syntax error: a key without its colon \(or a value spread over lines\): write "key: value", with a space after the colon$/],
    ['unknown top-level key', edited((c) => { c.tomcat = {}; }), /^cluster\.yaml:\d+:1: tomcat: unknown field; check its spelling \(allowed: kubernetes, network, nodes, images, packages, firewall, ingress, tomcat6, dashboard\)$/],
    ['unknown node key (typo)', edited((c) => { c.nodes[1].adress = '1.2.3.4'; }), /^cluster\.yaml:\d+:5: nodes\[1\]\.adress: unknown field; check its spelling \(allowed: name, address, role, os, ssh\)$/],
    ['missing version', edited((c) => { delete c.kubernetes.version; }), /^cluster\.yaml:\d+:\d+: kubernetes\.version: is required$/],
    ['missing nodes', edited((c) => { delete c.nodes; }), /^cluster\.yaml:1:1: nodes: is required$/],
    ['missing node role', edited((c) => { delete c.nodes[1].role; }), /^cluster\.yaml:\d+:\d+: nodes\[1\]\.role: is required$/],
    ['empty node list', edited((c) => { c.nodes = []; }), /nodes: must list at least one node$/],
    ['unquoted short version', 'kubernetes:\n  version: 1.35\nnodes:\n  - { name: a, address: 10.0.0.1, role: control-plane }\n', /^cluster\.yaml:2:12: kubernetes\.version: 1\.35 must be a string: put it in quotes$/],
    ['version without a patch', edited((c) => { c.kubernetes.version = '1.35'; }), /kubernetes\.version: "1\.35" must be a full Kubernetes version MAJOR\.MINOR\.PATCH, e\.g\. 1\.37\.2$/],
    ['version too new', edited((c) => { c.kubernetes.version = '1.38.0'; }), /kubernetes\.version: "1\.38\.0" is outside the supported window 1\.35-1\.37 \(the Kubernetes minors that still get patches\); use e\.g\. 1\.37\.2$/],
    ['version past its end of life', edited((c) => { c.kubernetes.version = '1.34.2'; }), /kubernetes\.version: "1\.34\.2" is outside the supported window 1\.35-1\.37/],
    ['ingress-nginx beyond the minors it was tested on', edited((c) => { c.kubernetes.version = '1.36.5'; c.ingress = { controller: 'ingress-nginx' }; }), /^cluster\.yaml:\d+:\d+: kubernetes\.version: "1\.36\.5" is newer than ingress-nginx supports: v1\.15\.1, its last release \(the project is retired\), was tested up to Kubernetes 1\.35; use e\.g\. 1\.35\.8, or ingress\.controller: traefik, or set ingress\.allowUnsupportedKubernetes: true to run it anyway$/],
    ['the Gateway API with ingress-nginx', edited((c) => { c.kubernetes.version = '1.35.8'; c.ingress = { controller: 'ingress-nginx', api: 'gateway' }; }), /^cluster\.yaml:\d+:\d+: ingress\.api: "gateway" needs ingress\.controller: traefik \(ingress-nginx has no Gateway API support\); use api: ingress with ingress-nginx, or controller: traefik$/],
    ['the dashboard on the host of tomcat6', edited((c) => { c.dashboard = { enabled: true, host: 'tomcat6.touch.air.mall.com' }; }), /^cluster\.yaml:\d+:\d+: dashboard\.host: "tomcat6\.touch\.air\.mall\.com" is tomcat6\.host too; give the dashboard a host name of its own, e\.g\. dashboard\.touch\.air\.mall\.com$/],
    ['a dashboard token for a week', edited((c) => { c.dashboard = { tokenDuration: '168h' }; }), /^cluster\.yaml:\d+:\d+: dashboard\.tokenDuration: "168h" must be from 10m to 24h$/],
    ['a dashboard token duration in seconds', edited((c) => { c.dashboard = { tokenDuration: '3600s' }; }), /^cluster\.yaml:\d+:\d+: dashboard\.tokenDuration: "3600s" must be minutes or hours, e\.g\. 30m or 1h$/],
    ['a dashboard access that is not a role', edited((c) => { c.dashboard = { access: 'cluster-admin' }; }), /^cluster\.yaml:\d+:\d+: dashboard\.access: "cluster-admin" must be view or admin$/],
    ['an unknown routing API', edited((c) => { c.ingress = { api: 'gateway-api' }; }), /^cluster\.yaml:\d+:\d+: ingress\.api: "gateway-api" must be ingress or gateway$/],
    ['an unknown ingress controller', edited((c) => { c.ingress = { controller: 'nginx' }; }), /^cluster\.yaml:\d+:\d+: ingress\.controller: "nginx" must be traefik or ingress-nginx$/],
    ['a kubeadm timeout that is no duration', edited((c) => { c.kubernetes.timeouts = { kubernetesAPICall: '5 minutes' }; }), /^cluster\.yaml:\d+:\d+: kubernetes\.timeouts\.kubernetesAPICall: "5 minutes" must be a duration such as 4m, 90s or 1m30s \(h, m and s; whole numbers\)$/],
    ['a key type kubeadm does not know', edited((c) => { c.kubernetes.encryptionAlgorithm = 'ED25519'; }), /^cluster\.yaml:\d+:\d+: kubernetes\.encryptionAlgorithm: "ED25519" must be RSA-2048, RSA-3072, RSA-4096, ECDSA-P256 or ECDSA-P384$/],
    ['a control-plane flag written with its dashes', edited((c) => { c.kubernetes.extraArgs = { scheduler: { '--leader-elect': 'false' } }; }), /^cluster\.yaml:\d+:\d+: kubernetes\.extraArgs\.scheduler\.--leader-elect: "--leader-elect" must be a flag name in lower case without the leading --, e.g\. leader-elect-lease-duration$/],
    ['extra flags for a component kubeadm does not configure', edited((c) => { c.kubernetes.extraArgs = { kubelet: { v: '2' } }; }), /^cluster\.yaml:\d+:\d+: kubernetes\.extraArgs\.kubelet: unknown field; check its spelling \(allowed: apiServer, controllerManager, scheduler, etcd\)$/],
    ['a list where flags go', edited((c) => { c.kubernetes.extraArgs = { apiServer: ['v=2'] }; }), /^cluster\.yaml:\d+:\d+: kubernetes\.extraArgs\.apiServer: must be a map of flag names to values, e.g\. \{leader-elect-lease-duration: 60s\}$/],
    ['an unknown kubeadm timeout', edited((c) => { c.kubernetes.timeouts = { upgradeManifests: '5m' }; }), /^cluster\.yaml:\d+:\d+: kubernetes\.timeouts\.upgradeManifests: unknown field; check its spelling \(allowed: controlPlaneComponentHealthCheck, kubeletHealthCheck, kubernetesAPICall, etcdAPICall, tlsBootstrap, discovery\)$/],
    ['version too old (the tutorial\'s)', edited((c) => { c.kubernetes.version = '1.17.3'; }), /kubernetes\.version: "1\.17\.3" is outside the supported window/],
    ['invalid CIDR', edited((c) => { c.network = { podCidr: '10.244.0.0/33' }; }), /^cluster\.yaml:\d+:\d+: network\.podCidr: "10\.244\.0\.0\/33" must be an IPv4 network in CIDR notation, e\.g\. 10\.244\.0\.0\/16$/],
    ['CIDR with host bits', edited((c) => { c.network = { serviceCidr: '10.96.0.1/16' }; }), /network\.serviceCidr: "10\.96\.0\.1\/16" has host bits set: write the network address, e\.g\. 10\.96\.0\.0\/16$/],
    ['service CIDR too large for the API server', edited((c) => { c.network = { serviceCidr: '10.0.0.0/8' }; }), /network\.serviceCidr: "10\.0\.0\.0\/8" must have a prefix from \/12 to \/28/],
    ['pod CIDR overlapping the service CIDR', edited((c) => { c.network = { podCidr: '10.96.0.0/12', serviceCidr: '10.96.0.0/16' }; }), /network\.podCidr: "10\.96\.0\.0\/12" overlaps the service network 10\.96\.0\.0\/16; pick disjoint ranges/],
    ['pod CIDR containing a node address', edited((c) => { c.nodes[1].address = '10.244.7.1'; }), /nodes\[1\]\.address: "10\.244\.7\.1" lies inside network\.podCidr 10\.244\.0\.0\/16; .*change network\.podCidr$/],
    ['pod CIDR overlapping the default service CIDR', edited((c) => { c.network = { podCidr: '10.96.0.0/12' }; }), /network\.podCidr: "10\.96\.0\.0\/12" overlaps the service network 10\.96\.0\.0\/16/],
    ['service CIDR containing a node address', edited((c) => { c.nodes[1].address = '10.96.3.4'; }), /nodes\[1\]\.address: "10\.96\.3\.4" lies inside network\.serviceCidr 10\.96\.0\.0\/16/],
    ['pod CIDR too small for one /24 per node', edited((c) => { c.network = { podCidr: '10.244.0.0/24' }; }), /network\.podCidr: "10\.244\.0\.0\/24" must have a prefix from \/8 to \/22/],
    ['pod CIDR too small for the number of nodes', edited((c) => {
      c.network = { podCidr: '10.244.0.0/22' };
      for (let i = 3; i <= 5; i++) c.nodes.push({ name: `n${i}`, address: `192.168.83.${i}`, role: 'worker' });
    }), /network\.podCidr: "10\.244\.0\.0\/22" has room for 4 node subnets but there are 5 nodes \(each node gets a \/24\); use a \/21 or shorter prefix, e\.g\. 10\.244\.0\.0\/21$/],
    ['pod CIDR too small for 300 nodes: the fix fits them', edited((c) => {
      c.network = { podCidr: '10.245.0.0/16' };
      for (let i = 3; i <= 300; i++) c.nodes.push({ name: `n${i}`, address: `192.168.${80 + Math.floor(i / 250)}.${i % 250 + 1}`, role: 'worker' });
    }), /network\.podCidr: "10\.245\.0\.0\/16" has room for 256 node subnets but there are 300 nodes \(each node gets a \/24\); use a \/15 or shorter prefix, e\.g\. 10\.244\.0\.0\/15$/],
    ['pod CIDR containing the default service CIDR', edited((c) => { c.network = { podCidr: '10.0.0.0/8' }; }), /network\.podCidr: "10\.0\.0\.0\/8" overlaps the service network 10\.96\.0\.0\/16; pick disjoint ranges/],
    ['pod CIDR inside the service CIDR', edited((c) => { c.network = { podCidr: '10.100.0.0/16', serviceCidr: '10.96.0.0/12' }; }), /network\.podCidr: "10\.100\.0\.0\/16" overlaps the service network 10\.96\.0\.0\/12; pick disjoint ranges/],
    ['service CIDR inside the default pod CIDR', edited((c) => { c.network = { serviceCidr: '10.244.16.0/20' }; }), /network\.podCidr: "10\.244\.0\.0\/16" overlaps the service network 10\.244\.16\.0\/20; pick disjoint ranges/],
    ['duplicate node names', edited((c) => { c.nodes[1].name = 'k8s-node1'; }), /^cluster\.yaml:\d+:\d+: nodes\[1\]\.name: "k8s-node1" duplicates nodes\[0\]\.name; node names must be unique$/],
    ['duplicate node addresses', edited((c) => { c.nodes[1].address = '192.168.83.133'; }), /nodes\[1\]\.address: "192\.168\.83\.133" duplicates nodes\[0\]\.address; node addresses must be unique$/],
    ['node name not a DNS-1123 label', edited((c) => { c.nodes[0].name = 'K8s_Node1'; }), /nodes\[0\]\.name: "K8s_Node1" must be a DNS-1123 label/],
    ['invalid IP', edited((c) => { c.nodes[0].address = '192.168.83.300'; }), /nodes\[0\]\.address: "192\.168\.83\.300" must be an IPv4 address, e\.g\. 192\.168\.83\.133$/],
    ['no control-plane node', edited((c) => { c.nodes[0].role = 'worker'; }), /nodes: has no control-plane node; set role: control-plane on the node that runs kubeadm init$/],
    ['two control-plane nodes: an even number', edited((c) => { c.nodes[1].role = 'control-plane'; c.kubernetes.controlPlaneEndpoint = '192.168.83.130'; }), /^cluster\.yaml:\d+:\d+: nodes\[1\]\.role: "control-plane" makes 2 control-plane nodes; etcd needs a majority of its members, so an even number tolerates no more failures than one fewer \(2 tolerate 0, like 1\): use an odd number \(1, 3, 5\), e\.g\. make this node a worker$/],
    ['four control-plane nodes: the fourth is named', edited((c) => {
      c.kubernetes.controlPlaneEndpoint = '192.168.83.130';
      c.nodes = [1, 2, 3, 4].map((i) => ({ name: `cp${i}`, address: `192.168.83.${140 + i}`, role: 'control-plane' }));
    }), /^cluster\.yaml:\d+:\d+: nodes\[3\]\.role: "control-plane" makes 4 control-plane nodes; .*\(4 tolerate 1, like 3\)/],
    ['three control planes without an endpoint', edited((c) => { c.nodes[1].role = 'control-plane'; c.nodes.push({ name: 'k8s-node3', address: '192.168.83.135', role: 'control-plane' }); }), /^cluster\.yaml:\d+:\d+: nodes\[1\]\.role: "control-plane" is a second control plane, which needs kubernetes\.controlPlaneEndpoint: a free address on the nodes' network for the API server's virtual IP/],
    ['an endpoint that is a node\'s address', edited((c) => { c.kubernetes.controlPlaneEndpoint = '192.168.83.134'; }), /^cluster\.yaml:\d+:\d+: kubernetes\.controlPlaneEndpoint: "192\.168\.83\.134" is nodes\[1\]\.address; the virtual IP must be an address no machine has: pick a free one on the same network$/],
    ['an endpoint inside the pod network', edited((c) => { c.kubernetes.controlPlaneEndpoint = '10.244.0.5'; }), /^cluster\.yaml:\d+:\d+: kubernetes\.controlPlaneEndpoint: "10\.244\.0\.5" lies inside network\.podCidr 10\.244\.0\.0\/16; pick a free address on the nodes' network$/],
    ['an endpoint inside the service network', edited((c) => { c.kubernetes.controlPlaneEndpoint = '10.96.0.10'; }), /^cluster\.yaml:\d+:\d+: kubernetes\.controlPlaneEndpoint: "10\.96\.0\.10" lies inside network\.serviceCidr 10\.96\.0\.0\/16; pick a free address on the nodes' network$/],
    ['an endpoint that is a host name', edited((c) => { c.kubernetes.controlPlaneEndpoint = 'api.example.com'; }), /^cluster\.yaml:\d+:\d+: kubernetes\.controlPlaneEndpoint: "api\.example\.com" must be an IPv4 address, e\.g\. 192\.168\.83\.130$/],
    ['unknown role', edited((c) => { c.nodes[0].role = 'master'; }), /nodes\[0\]\.role: "master" must be control-plane or worker$/],
    ['unknown OS family', edited((c) => { c.nodes[0].os = 'centos7'; }), /nodes\[0\]\.os: "centos7" must be el9, debian or ubuntu$/],
    ['SSH host with a space', edited((c) => { c.nodes[0].ssh = { host: 'my host' }; }), /nodes\[0\]\.ssh\.host: "my host" must be a host name or IP address, e\.g\. 127\.0\.0\.1$/],
    ['SSH port out of range', edited((c) => { c.nodes[0].ssh = { port: 70000 }; }), /nodes\[0\]\.ssh\.port: 70000 must be at most 65535$/],
    ['negative replicas', edited((c) => { c.tomcat6 = { replicas: -1 }; }), /^cluster\.yaml:\d+:\d+: tomcat6\.replicas: -1 must be 0 or more$/],
    ['fractional replicas', edited((c) => { c.tomcat6 = { replicas: 1.5 }; }), /tomcat6\.replicas: 1\.5 must be a whole number$/],
    ['invalid image reference', edited((c) => { c.tomcat6 = { image: 'Tomcat::6' }; }), /tomcat6\.image: "Tomcat::6" must be an image reference, e\.g\. tomcat:6\.0\.53-jre8$/],
    ['mirror with a trailing slash', edited((c) => { c.images = { mirror: 'https://registry.example.com/' }; }), /images\.mirror: "https:\/\/registry\.example\.com\/" must be a registry mirror: a host with an optional port and path, optionally after http:\/\/ or https:\/\//],
    ['mirror without a registry host', edited((c) => { c.images = { mirror: 'google_containers' }; }), /images\.mirror: "google_containers" must be a registry mirror/],
    ['per-registry mirror under a name that is no registry', edited((c) => { c.images = { mirrors: { 'docker hub': 'mirror.example.com' } }; }), /^cluster\.yaml:\d+:\d+: images\.mirrors\.docker hub: "docker hub" must be a registry host name, e\.g\. docker\.io$/],
    ['a mirror CA and no mirror', edited((c) => { c.images = { mirrorCa: 'ca.crt' }; }), /images\.mirrorCa: "ca\.crt" names a mirror's CA, but there is no mirror: set images\.mirror \(or images\.mirrors\) too, or remove it$/],
    ['the cgroup v1 opt-in as a word', edited((c) => { c.kubernetes.allowCgroupV1 = 'yes'; }), /^cluster\.yaml:\d+:\d+: kubernetes\.allowCgroupV1: "yes" must be true or false$/],
    ['no fallback and no mirror', edited((c) => { c.images = { mirrorFallback: false }; }), /images\.mirrorFallback: false without a mirror there is nothing to fall back from/],
    ['a flat control-plane repository with a scheme', edited((c) => { c.images = { controlPlaneRepository: 'https://registry.cn-hangzhou.aliyuncs.com/google_containers' }; }), /images\.controlPlaneRepository: .* must be a registry host with an optional port and path/],
    ['invalid hostname', edited((c) => { c.tomcat6 = { host: 'tomcat6_bad' }; }), /tomcat6\.host: "tomcat6_bad" must be a DNS host name, e\.g\. tomcat6\.touch\.air\.mall\.com$/],
    ['nodePort below the range', edited((c) => { c.tomcat6 = { nodePort: 8080 }; }), /tomcat6\.nodePort: 8080 must be in the NodePort range 30000-32767$/],
    ['nodePort above the range', edited((c) => { c.tomcat6 = { nodePort: 32768 }; }), /tomcat6\.nodePort: 32768 must be in the NodePort range 30000-32767$/],
    ['unknown exposure', edited((c) => { c.ingress = { exposure: 'loadBalancer' }; }), /ingress\.exposure: "loadBalancer" must be hostNetwork or nodePort$/],
    ['package mirror that is not a URL', edited((c) => { c.packages = { kubernetes: 'mirrors.aliyun.com/kubernetes-new' }; }), /packages\.kubernetes: "mirrors\.aliyun\.com\/kubernetes-new" must be an http\(s\) URL, e\.g\. https:\/\/pkgs\.k8s\.io\/core:\/stable:$/],
    ['Docker repository given with the distribution', edited((c) => { c.packages = { docker: 'https://mirrors.aliyun.com/docker-ce/linux/centos' }; }), /packages\.docker: "https:\/\/mirrors\.aliyun\.com\/docker-ce\/linux\/centos" is the base of Docker's repositories, without the distribution: drop the last part/],
    ['the distribution\'s containerd on EL9', edited((c) => { c.nodes[0].os = 'el9'; c.packages = { containerd: 'distro' }; }), /packages\.containerd: "distro" EL9 has no containerd package of its own \(nodes\[0\] is el9\): use docker, Docker's containerd\.io$/],
    ['Debian 12\'s own containerd, too old for the version', edited((c) => { c.nodes[0].os = 'debian'; c.packages = { containerd: 'distro' }; }), /packages\.containerd: "distro" Debian 12's own containerd is 1\.6\.20 \(nodes\[0\] is debian\), too old: Kubernetes 1\.35\.1 needs containerd 1\.7\.28 or later on 1\.7, or 2\.1\.5 or later; use docker, Docker's containerd\.io$/],
    ['unknown containerd source', edited((c) => { c.packages = { containerd: 'apt' }; }), /packages\.containerd: "apt" must be docker or distro$/],
    ['unknown firewall mode', edited((c) => { c.firewall = 'off'; }), /firewall: "off" must be open, disable or leave$/],
    ['a section that is not a mapping', edited((c) => { c.tomcat6 = 'tomcat:6'; }), /tomcat6: "tomcat:6" must be a mapping of fields$/],
    ['empty file', '', /^cluster\.yaml: the file is empty/],
  ];

  test.each(cases)('%s', (_name, text, expected) => {
    const problems = problemsOf(text);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(expected);
    expect(problems[0]).not.toContain('\n');
  });

  test('a highly available control plane: 3 or 5 control planes behind an endpoint; one control plane may have an endpoint too', () => {
    const ha = (count: number) => edited((c) => {
      c.kubernetes.controlPlaneEndpoint = '192.168.83.130';
      c.nodes = [...Array.from({ length: count }, (_, i) => ({ name: `cp${i + 1}`, address: `192.168.83.${141 + i}`, role: 'control-plane' })), { name: 'w1', address: '192.168.83.151', role: 'worker' }];
    });
    expect(problemsOf(ha(3))).toEqual([]);
    expect(problemsOf(ha(5))).toEqual([]);
    expect(problemsOf(ha(1))).toEqual([]);
    expect(parseClusterConfig(ha(3)).kubernetes.controlPlaneEndpoint).toBe('192.168.83.130');
    // Without it, one control plane is as before.
    expect(parseClusterConfig(edited(() => undefined)).kubernetes.controlPlaneEndpoint).toBeUndefined();
  });

  test('the line number points at the offending field', () => {
    const text = 'kubernetes:\n  version: "1.35.1"\nnodes:\n  - name: a\n    address: 10.0.0.1\n    role: master\n';
    expect(problemsOf(text)).toEqual(['cluster.yaml:6:11: nodes[0].role: "master" must be control-plane or worker']);
  });

  test('several problems are all reported, in file order', () => {
    const text = edited((c) => {
      c.tomcat6 = { replicas: -2 };
      c.nodes[0].address = 'x';
      c.kubernetes.version = '2.0.0';
    });
    const problems = problemsOf(text);
    expect(problems.map((p) => p.split(': ')[1])).toEqual(['kubernetes.version', 'nodes[0].address', 'tomcat6.replicas']);
  });
});

describe('finding the file', () => {
  test('--config beats CLUSTER_CONFIG beats cluster.yaml, relative to where the user ran npm', () => {
    expect(resolveConfigPath('a.yaml', { INIT_CWD: '/work/x', CLUSTER_CONFIG: 'b.yaml' })).toBe('/work/x/a.yaml');
    expect(resolveConfigPath(undefined, { INIT_CWD: '/work/x', CLUSTER_CONFIG: 'b.yaml' })).toBe('/work/x/b.yaml');
    expect(resolveConfigPath(undefined, { INIT_CWD: '/work/x', CLUSTER_CONFIG: '/etc/c.yaml' })).toBe('/etc/c.yaml');
    const here = mkdtempSync(path.join(tmpdir(), 'here-'));
    writeFileSync(path.join(here, 'cluster.yaml'), '');
    expect(resolveConfigPath(undefined, { INIT_CWD: here })).toBe(path.join(here, 'cluster.yaml'));
  });

  test('with no cluster.yaml where the user is (a subfolder of the repository, say), the repository\'s own', () => {
    expect(resolveConfigPath(undefined, { INIT_CWD: path.join(ROOT, 'charts') })).toBe(path.join(ROOT, 'cluster.yaml'));
    expect(resolveConfigPath(undefined, { INIT_CWD: mkdtempSync(path.join(tmpdir(), 'elsewhere-')) })).toBe(path.join(ROOT, 'cluster.yaml'));
  });

  test('a missing file is one line that says how to pass another', () => {
    const missing = path.join(mkdtempSync(path.join(tmpdir(), 'cfg-')), 'nope.yaml');
    expect(() => loadClusterConfig(missing)).toThrow(/nope\.yaml: cannot read the cluster config \(no such file\); pass an existing file with --config or CLUSTER_CONFIG$/);
  });

  test('a folder instead of a file is one line naming the file it holds', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'));
    expect(() => loadClusterConfig(dir)).toThrow(/cfg-\w+: is a folder, not a cluster config; name the file itself with --config or CLUSTER_CONFIG$/);
    writeFileSync(path.join(dir, 'cluster.yaml'), 'kubernetes: {}\n');
    expect(() => loadClusterConfig(dir)).toThrow(/cfg-\w+: is a folder, not a cluster config; name the file itself with --config or CLUSTER_CONFIG, e\.g\. .*cfg-\w+\/cluster\.yaml$/);
  });

  test('a file on disk is read and validated', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cfg-')), 'other.yaml');
    writeFileSync(file, edited((c) => { c.tomcat6 = { replicas: 5 }; }));
    expect(loadClusterConfig(file).tomcat6.replicas).toBe(5);
  });
});

describe('images and mirrors', () => {
  const upstream = 'registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:594ceea76b01c592858f803f9ff4d2cb40542cae2060410b2c95f75907d659e1';
  const withImages = (images: object, extra: object = {}) => parseClusterConfig(stringify({ ...minimal, images, ...extra }));

  test('add-on images keep their upstream names; pinDigests: false drops the digest', () => {
    expect(addonImage(upstream, true)).toBe(upstream);
    expect(addonImage(upstream, false)).toBe('registry.k8s.io/ingress-nginx/controller:v1.15.1');
  });

  test('kubeadm pulls from registry.k8s.io, or from a flat copy of its images when one is named', () => {
    expect(controlPlaneImageRepository(withImages({}).images)).toBe('registry.k8s.io');
    expect(controlPlaneImageRepository(withImages({ mirror: 'mirror.example.com' }).images)).toBe('registry.k8s.io');
    expect(controlPlaneImageRepository(withImages({ controlPlaneRepository: 'registry.cn-hangzhou.aliyuncs.com/google_containers' }).images))
      .toBe('registry.cn-hangzhou.aliyuncs.com/google_containers');
  });

  test('one mirror stands in for every registry the cluster pulls from; a path becomes the API root', () => {
    expect(clusterRegistries(defaultConfig())).toEqual(['docker.io', 'ghcr.io', 'registry.k8s.io']);
    expect(registryMirrors(withImages({ mirror: 'registry.example.com:5000/k8s' }))).toEqual(['docker.io', 'ghcr.io', 'registry.k8s.io'].map((upstream) => (
      { upstream, url: 'https://registry.example.com:5000/v2/k8s', overridePath: true })));
    expect(registryMirrors(withImages({}))).toEqual([]);
  });

  test('a mirror per registry overrides it; http:// is kept for a mirror without TLS; tomcat6 on another registry is mirrored too', () => {
    const config = withImages({ mirror: 'mirror.example.com', mirrors: { 'docker.io': 'http://192.168.1.10:5000', 'quay.io': 'quay-mirror.example.com' } }, { tomcat6: { image: 'harbor.example.com/apps/tomcat:6.0.53-jre8' } });
    expect(registryMirrors(config)).toEqual([
      { upstream: 'docker.io', url: 'http://192.168.1.10:5000', overridePath: false },
      { upstream: 'ghcr.io', url: 'https://mirror.example.com', overridePath: false },
      { upstream: 'harbor.example.com', url: 'https://mirror.example.com', overridePath: false },
      { upstream: 'quay.io', url: 'https://quay-mirror.example.com', overridePath: false },
      { upstream: 'registry.k8s.io', url: 'https://mirror.example.com', overridePath: false },
    ]);
  });

  test('the mirror\'s CA: a PEM file, relative to cluster.yaml, checked when the config is read', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ca-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'mirror-ca.crt'), '-days', '1', '-subj', '/CN=mirror'], { stdio: 'ignore' });
    writeFileSync(path.join(dir, 'not-a-cert.pem'), 'hello\n');
    const file = path.join(dir, 'cluster.yaml');
    writeFileSync(file, stringify({ ...minimal, images: { mirror: 'mirror.example.com', mirrorCa: 'mirror-ca.crt' } }));
    expect(loadClusterConfig(file).images.mirrorCa).toBe(path.join(dir, 'mirror-ca.crt'));
    for (const [ca, message] of [['missing.crt', /images\.mirrorCa: "missing\.crt" cannot be read \(no such file\); give the path/], ['not-a-cert.pem', /images\.mirrorCa: "not-a-cert\.pem" is not a PEM certificate/]] as const) {
      writeFileSync(file, stringify({ ...minimal, images: { mirror: 'mirror.example.com', mirrorCa: ca } }));
      let problems: string[] = [];
      try {
        loadClusterConfig(file);
      } catch (error) {
        problems = (error as UserError).problems;
      }
      expect(problems).toEqual([expect.stringMatching(new RegExp(`^${path.relative(process.cwd(), file).replace(/[.]/g, '\\.')}:\\d+:\\d+: ${message.source}`))]);
    }
  });
});

describe('the JSON Schema editors read', () => {
  test('flags a Kubernetes version outside the supported window', () => {
    const schema = require('../config/cluster.schema.json');
    const validate = new (require('ajv').default)({ strict: false }).compile(schema.properties.kubernetes.properties.version);
    expect(validate('1.35.1')).toBe(true);
    expect(validate('v1.37.2')).toBe(true);
    expect(validate('1.34.9')).toBe(false);
    expect(validate('1.38.0')).toBe(false);
    expect(validate('1.17.3')).toBe(false);
  });
});

describe('which containerd each Kubernetes minor takes (containerd\'s RELEASES.md)', () => {
  test.each([
    ['1.35.3', '1.7.28', true], ['1.35.3', '1.7.27', false], ['1.35.3', '1.6.20', false],
    ['1.35.3', '2.0.7', false], ['1.35.3', '2.1.4', false], ['1.35.3', '2.1.5', true], ['1.35.3', '2.2.1', true],
    ['1.36.1', '1.7.28', false], ['1.36.1', '2.1.9', false], ['1.36.1', '2.2.0', true], ['1.37.2', '2.10.0', true], ['1.37.2', '3.0.0', true],
  ])('Kubernetes %s with containerd %s: %s', (kubernetes, containerd, supported) => {
    expect(containerdSupported(containerd, kubernetes)).toBe(supported);
  });

  test('the versions packages write are read by their whole release', () => {
    expect(containerdRelease('1.6.20~ds1-1+b1')).toBe('1.6.20');
    expect(containerdRelease('2.2.1-1~debian.12~bookworm')).toBe('2.2.1');
    expect(containerdRelease('1.7.3')).toBe('1.7.3');
    expect(containerdSupported(containerdRelease('1.7.3')!, '1.35.1')).toBe(false);
  });
});
