/**
 * The cluster config schema: every field a user can set in cluster.yaml, its
 * default, and the checks that need more than one field. The JSON Schema for
 * editors (config/cluster.schema.json) is generated from this file.
 */
import { parseAll as parseImageReference, type Reference } from '@swimlane/docker-reference';
import * as ipaddr from 'ipaddr.js';
import isFQDN from 'validator/lib/isFQDN';
import { z } from 'zod';

import { FULL_VERSION, INGRESS_NGINX_MAX_MINOR, minorOf, NEWEST_RELEASE, SUPPORTED_MINORS, SUPPORTED_VERSION, testedRelease } from './versions';
import { containerdNeeds, containerdSupported, DISTRO_CONTAINERD } from './containerd-support';

/**
 * A hint for a value that is present but wrong; a missing value falls through
 * to the loader's "is required".
 */
function hint(message: string) {
  return { error: (issue: { input?: unknown }) => (issue.input === undefined ? undefined : message), abort: true };
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function parseImage(value: string): Reference | undefined {
  try {
    return parseImageReference(value);
  } catch {
    return undefined;
  }
}

/** A registry host with an optional port and path, e.g. `registry.example.com:5000/k8s`. */
export function isRegistryPrefix(value: string): boolean {
  const host = value.split('/')[0];
  if (!/[.:]/.test(host) && host !== 'localhost') return false;
  const probe = parseImage(`${value}/probe`);
  return probe !== undefined && probe.domain === host && !probe.tag && !probe.digest;
}

/** A registry host name with an optional port, e.g. `docker.io`, `registry.example.com:5000`. */
export function isRegistryHost(value: string): boolean {
  return !value.includes('/') && isRegistryPrefix(value);
}

/** A registry mirror: a registry host with an optional port and path, and an optional http:// or https://. */
export function isRegistryMirror(value: string): boolean {
  return isRegistryPrefix(value.replace(/^https?:\/\//, ''));
}

const registryMirror = z.string().refine(isRegistryMirror,
  'must be a registry mirror: a host with an optional port and path, optionally after http:// or https://, e.g. registry.example.com:5000/k8s (no trailing "/")');

export function isHostname(value: string): boolean {
  return isFQDN(value, { require_tld: true, allow_underscores: false, allow_trailing_dot: false });
}

function prefixLength(cidr: string): number {
  return ipaddr.IPv4.parseCIDR(cidr)[1];
}

const cidr = (range: { min: number; max: number; example: string }) => z
  .cidrv4(hint(`must be an IPv4 network in CIDR notation, e.g. ${range.example}`))
  .refine((value) => ipaddr.IPv4.networkAddressFromCIDR(value).toString() === value.split('/')[0],
    `has host bits set: write the network address, e.g. ${range.example}`)
  .refine((value) => prefixLength(value) >= range.min && prefixLength(value) <= range.max,
    `must have a prefix from /${range.min} to /${range.max}, e.g. ${range.example}`);

// Flannel gives each node a /24 out of the pod network; the API server
// refuses a service network larger than /12 and kubeadm puts DNS on its 10th address.
const podCidr = cidr({ min: 8, max: 22, example: '10.244.0.0/16' });
const serviceCidr = cidr({ min: 12, max: 28, example: '10.96.0.0/16' });

/** The fix for a pod network too small for `nodes` /24 subnets: the shortest prefix that fits, on the same network. */
function podCidrFix(network: ipaddr.IPv4, nodes: number): string {
  const prefix = 24 - Math.ceil(Math.log2(nodes));
  if (prefix < 8) return `no pod network has room for that many nodes (at most 65536 with a /8)`;
  const address = ipaddr.IPv4.networkAddressFromCIDR(`${network.toString()}/${prefix}`);
  return `use a /${prefix} or shorter prefix, e.g. ${address.toString()}/${prefix}`;
}

const sshSchema = z.strictObject({
  /** Login user; a user other than root needs passwordless sudo. */
  user: z.string().regex(/^[a-z_][a-z0-9_-]*[$]?$/, 'must be a Linux user name, e.g. root').default('root'),
  /** Where to connect, when it is not the node's address (port forwarding, NAT, a jump host's alias). */
  host: z.string().regex(/^[A-Za-z0-9.:_-]+$/, 'must be a host name or IP address, e.g. 127.0.0.1').optional()
    .describe("Address or ssh_config alias to connect to, when it is not the node's address (NAT, port forwarding)."),
  /** SSH port. */
  port: z.number().int().min(1).max(65535).default(22),
  /** Private key file; the SSH agent and ~/.ssh/config are used when unset. */
  identityFile: z.string().min(1).optional(),
}).describe('How the bootstrap reaches this node over SSH.');

const nodeSchema = z.strictObject({
  name: z.string().regex(DNS1123_LABEL, 'must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters, e.g. k8s-node1')
    .describe('Node name: the hostname prep sets and the Kubernetes node name.'),
  address: z.ipv4(hint('must be an IPv4 address, e.g. 192.168.83.133'))
    .describe('The address other nodes reach this node on; also the kubelet node-ip.'),
  role: z.enum(['control-plane', 'worker'], hint('must be control-plane or worker'))
    .describe('control-plane (runs kubeadm init) or worker (joins).'),
  os: z.enum(['el9', 'debian', 'ubuntu'], hint('must be el9, debian or ubuntu')).optional()
    .describe('OS family; detected from /etc/os-release when unset.'),
  ssh: sshSchema.prefault({}),
});

/** kubeadm's v1beta4 timeouts this config can set, with kubeadm's default and what each bounds. */
export const KUBEADM_TIMEOUTS = {
  controlPlaneComponentHealthCheck: 'How long kubeadm waits for the API server, controller manager and scheduler to be healthy (default 4m).',
  kubeletHealthCheck: 'How long kubeadm waits for the kubelet to be healthy (default 4m).',
  kubernetesAPICall: 'How long kubeadm retries a call to the API server, e.g. creating the admin RBAC binding right after init (default 1m).',
  etcdAPICall: 'How long kubeadm retries a call to etcd (default 2m).',
  tlsBootstrap: "How long a joining node's kubelet may take to get its certificate (default 5m).",
  discovery: 'How long a joining node may take to find and verify the cluster (default 5m).',
} as const;

/** A Go duration kubeadm reads: hours, minutes and seconds, e.g. 4m, 90s, 1m30s. */
const kubeadmDuration = z.string().regex(/^(?=\d)(\d+h)?(\d+m)?(\d+s)?$/, 'must be a duration such as 4m, 90s or 1m30s (h, m and s; whole numbers)');

/** The control-plane components whose command-line flags `kubernetes.extraArgs` adds to, by their key in kubeadm's ClusterConfiguration. */
export const CONTROL_PLANE_COMPONENTS = {
  apiServer: 'kube-apiserver',
  controllerManager: 'kube-controller-manager',
  scheduler: 'kube-scheduler',
  etcd: 'etcd (local)',
} as const;

/** One component's extra flags: name (without --) to value; numbers and booleans are written as their text. */
const componentFlags = z.record(
  z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a flag name in lower case without the leading --, e.g. leader-elect-lease-duration'),
  z.union([z.string(), z.number(), z.boolean()], hint('must be a value: text, a number or true/false')).transform(String),
  // Only for a value that is no map at all: a bad flag name keeps its own message.
  { error: (issue: { code?: string; input?: unknown }) => (issue.code === 'invalid_type' && issue.input !== undefined ? 'must be a map of flag names to values, e.g. {leader-elect-lease-duration: 60s}' : undefined) },
);

export const clusterConfigSchema = z.strictObject({
  kubernetes: z.strictObject({
    version: z.string()
      .regex(FULL_VERSION, { message: `must be a full Kubernetes version MAJOR.MINOR.PATCH, e.g. ${NEWEST_RELEASE}`, abort: true })
      // A pattern (not a refinement), so the JSON Schema carries the window too and editors flag another version.
      .regex(SUPPORTED_VERSION, `is outside the supported window 1.${SUPPORTED_MINORS.min}-1.${SUPPORTED_MINORS.max} (the Kubernetes minors that still get patches); use e.g. ${NEWEST_RELEASE}`)
      .transform((value) => value.replace(/^v/, ''))
      .describe(`Kubernetes version for kubeadm, kubelet and kubectl (packages are pinned to it); 1.${SUPPORTED_MINORS.min}.x to 1.${SUPPORTED_MINORS.max}.x.`),
    timeouts: z.strictObject(Object.fromEntries(Object.entries(KUBEADM_TIMEOUTS).map(([field, what]) => [field, kubeadmDuration.optional().describe(what)])))
      .optional()
      .describe("kubeadm's timeouts (v1beta4 `timeouts` of its init and join configurations), for slow machines such as emulated VMs; unset: kubeadm's defaults."),
    encryptionAlgorithm: z.enum(['RSA-2048', 'RSA-3072', 'RSA-4096', 'ECDSA-P256', 'ECDSA-P384'], hint('must be RSA-2048, RSA-3072, RSA-4096, ECDSA-P256 or ECDSA-P384')).optional()
      .describe("Key type of the cluster's certificates and keys (kubeadm's `encryptionAlgorithm`), read by kubeadm init. Unset: kubeadm's default, RSA-2048."),
    extraArgs: z.strictObject(Object.fromEntries(Object.entries(CONTROL_PLANE_COMPONENTS).map(([field, component]) => [field, componentFlags.optional().describe(`Extra flags of ${component}.`)])))
      .optional()
      .describe("Extra command-line flags of the control-plane components (kubeadm's `extraArgs` in its ClusterConfiguration), flag name without -- to value; they override kubeadm's own. Unset: kubeadm's flags only."),
    controlPlaneEndpoint: z.ipv4(hint('must be an IPv4 address, e.g. 192.168.83.130')).optional()
      .describe("A free address on the control planes' network that becomes the API server's virtual IP (kube-vip, ARP): kubeadm's controlPlaneEndpoint, the address every node and kubeconfig reaches the API server on. Required with more than one control plane; optional with one (it cannot be added to a cluster later)."),
    allowCgroupV1: z.boolean(hint('must be true or false')).default(false)
      .describe('Run on nodes with cgroup v1 anyway (the kubelet of 1.35+ refuses them; upstream no longer supports them and plans to remove the opt-out): the kubelet gets failCgroupV1: false and kubeadm ignores its SystemVerification preflight check. For hosts that cannot give their nodes cgroup v2, e.g. system containers on a cgroup v1 host.'),
  }),
  network: z.strictObject({
    podCidr: podCidr.default('10.244.0.0/16')
      .describe('Pod network: kubeadm podSubnet and flannel Network.'),
    serviceCidr: serviceCidr.default('10.96.0.0/16')
      .describe('Service network: kubeadm serviceSubnet.'),
    flannelInterface: z.string().regex(/^[a-zA-Z0-9_.:-]{1,15}$/, 'must be a network interface name, e.g. eth1').optional()
      .describe("Interface flanneld uses between nodes, on every node; default: the interface holding the node's own address."),
  }).prefault({}),
  nodes: z.array(nodeSchema).min(1, 'must list at least one node'),
  images: z.strictObject({
    mirror: registryMirror.optional()
      .describe("A registry mirror every node's containerd pulls through, for every registry the cluster uses (registry.k8s.io, ghcr.io, docker.io); image names stay upstream's. https unless it starts with http://."),
    mirrors: z.record(z.string().refine(isRegistryHost, 'must be a registry host name, e.g. docker.io'), registryMirror).optional()
      .describe('A mirror per upstream registry, e.g. { docker.io: docker-mirror.internal:5000 }; overrides `mirror` for that registry.'),
    mirrorCa: z.string().min(1).optional()
      .describe('The CA certificate (a PEM file; a relative path is taken from the folder of cluster.yaml) of a mirror whose certificate a private CA signed.'),
    mirrorFallback: z.boolean().default(true)
      .describe('When a mirror cannot serve an image, pull it from the upstream registry; false for sites that reach only the mirror.'),
    controlPlaneRepository: z.string().refine(isRegistryPrefix, 'must be a registry host with an optional port and path, e.g. registry.cn-hangzhou.aliyuncs.com/google_containers (no scheme, no trailing "/")').optional()
      .describe("A flat copy of kubeadm's images (kube-apiserver, etcd, coredns, pause side by side), e.g. registry.cn-hangzhou.aliyuncs.com/google_containers: kubeadm's imageRepository."),
    pinDigests: z.boolean().default(true)
      .describe('Keep the upstream sha256 digests on add-on images; turn off for a mirror that re-pushes images.'),
  }).prefault({}),
  packages: z.strictObject({
    kubernetes: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. https://pkgs.k8s.io/core:/stable:' })
      .transform((url) => url.replace(/\/+$/, ''))
      .default('https://pkgs.k8s.io/core:/stable:')
      .describe('Base of the per-minor Kubernetes package repositories: <base>/v1.35/deb/ and <base>/v1.35/rpm/.'),
    containerd: z.enum(['docker', 'distro'], hint('must be docker or distro')).default('docker')
      .describe("docker: containerd.io (2.x) from Docker's repository, on every family; distro: the OS's own containerd package, where it is new enough for kubernetes.version (1.35: 1.7.28+ or 2.1.5+; 1.36 and later: 2.2+): Ubuntu 24.04's 2.2 is; Debian 12's 1.6.20 is not, and EL9 has none."),
    docker: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. https://download.docker.com/linux' })
      .transform((url) => url.replace(/\/+$/, ''))
      .refine((url) => !/\/(centos|rhel|debian|ubuntu)$/.test(url), 'is the base of Docker\'s repositories, without the distribution: drop the last part (prep adds centos, debian or ubuntu), e.g. https://download.docker.com/linux')
      .default('https://download.docker.com/linux')
      .describe("Base of Docker's package repositories (prep adds centos, debian or ubuntu): the source of containerd.io with packages.containerd: docker."),
  }).prefault({}),
  firewall: z.enum(['open', 'disable', 'leave'], hint('must be open, disable or leave')).default('open')
    .describe('open: open the ports each role needs in firewalld/ufw; disable: stop and disable the firewall; leave: do not touch it.'),
  ingress: z.strictObject({
    controller: z.enum(['traefik', 'ingress-nginx'], hint('must be traefik or ingress-nginx')).default('traefik')
      .describe('traefik: Traefik v3.7, maintained (the default); ingress-nginx: the tutorial\'s controller, retired upstream (v1.15.1 is its last release).'),
    exposure: z.enum(['hostNetwork', 'nodePort'], hint('must be hostNetwork or nodePort')).default('hostNetwork')
      .describe('hostNetwork: a DaemonSet serving ports 80/443 on every worker; nodePort: upstream Deployment behind a NodePort Service.'),
    api: z.enum(['ingress', 'gateway'], hint('must be ingress or gateway')).default('ingress')
      .describe('ingress: an Ingress routes the tomcat6 host (the tutorial\'s object); gateway: the Gateway API (standard CRDs v1.6.1, a Gateway on port 80 and an HTTPRoute), Traefik only.'),
    allowUnsupportedKubernetes: z.boolean().default(false)
      .describe(`With controller ingress-nginx: run it (retired upstream; v1.15.1, its last release, was tested up to Kubernetes 1.${INGRESS_NGINX_MAX_MINOR}) on a newer Kubernetes anyway.`),
  }).prefault({}),
  tomcat6: z.strictObject({
    image: z.string().refine((value) => parseImage(value) !== undefined, 'must be an image reference, e.g. tomcat:6.0.53-jre8').default('tomcat:6.0.53-jre8')
      .describe('Image of the tomcat6 Deployment, used as written (images.mirror does not apply).'),
    replicas: z.number().int('must be a whole number').min(0, 'must be 0 or more').default(3)
      .describe('Number of tomcat6 pods.'),
    host: z.string().refine(isHostname, 'must be a DNS host name, e.g. tomcat6.touch.air.mall.com').default('tomcat6.touch.air.mall.com')
      .describe('Host name the Ingress (or, with ingress.api: gateway, the HTTPRoute) serves tomcat6 on.'),
    nodePort: z.number().int().min(30000, 'must be in the NodePort range 30000-32767').max(32767, 'must be in the NodePort range 30000-32767').optional()
      .describe('Fixed NodePort for the tomcat6 Service; Kubernetes picks one when unset.'),
  }).prefault({}),
  dashboard: z.strictObject({
    enabled: z.boolean().default(false)
      .describe('Deploy Headlamp, a web UI to look at the cluster, reached through the ingress controller on dashboard.host.'),
    host: z.string().refine(isHostname, 'must be a DNS host name, e.g. dashboard.touch.air.mall.com').optional()
      .describe('Host name the dashboard is served on; default: dashboard. followed by the domain of tomcat6.host (dashboard.touch.air.mall.com).'),
    access: z.enum(['view', 'admin'], hint('must be view or admin')).default('view')
      .describe('What a login token may do: view, read-only (the built-in view ClusterRole, no Secrets; plus reading nodes); admin, change and delete every namespaced object, Secrets included (the built-in admin ClusterRole, cluster-wide).'),
    tokenDuration: z.string().refine((d) => !tokenDurationProblem(d), { error: (issue) => tokenDurationProblem(String(issue.input)) })
      .default('1h')
      .describe('How long a login token from `scripts/bootstrap.mjs dashboard` is valid (10m to 24h).'),
  }).prefault({}),
}).superRefine((config, ctx) => {
  // Checks across fields; each runs only on values that passed their own checks.
  const minor = minorOf(config.kubernetes.version);
  if (config.ingress.controller === 'ingress-nginx' && SUPPORTED_VERSION.test(config.kubernetes.version) && minor > INGRESS_NGINX_MAX_MINOR && !config.ingress.allowUnsupportedKubernetes) {
    ctx.addIssue({
      code: 'custom', path: ['kubernetes', 'version'], input: config.kubernetes.version,
      message: `is newer than ingress-nginx supports: v1.15.1, its last release (the project is retired), was tested up to Kubernetes 1.${INGRESS_NGINX_MAX_MINOR}; use e.g. ${testedRelease(INGRESS_NGINX_MAX_MINOR)}, or ingress.controller: traefik, or set ingress.allowUnsupportedKubernetes: true to run it anyway`,
    });
  }
  if (config.ingress.api === 'gateway' && config.ingress.controller === 'ingress-nginx') {
    ctx.addIssue({
      code: 'custom', path: ['ingress', 'api'], input: 'gateway',
      message: 'needs ingress.controller: traefik (ingress-nginx has no Gateway API support); use api: ingress with ingress-nginx, or controller: traefik',
    });
  }
  if (config.dashboard.enabled && isHostname(config.tomcat6.host) && dashboardHost(config) === config.tomcat6.host) {
    ctx.addIssue({ code: 'custom', path: ['dashboard', 'host'], input: dashboardHost(config), message: 'is tomcat6.host too; give the dashboard a host name of its own, e.g. dashboard.touch.air.mall.com' });
  }
  const { network } = config;
  const pod = podCidr.safeParse(network.podCidr).success ? ipaddr.IPv4.parseCIDR(network.podCidr) : undefined;
  const service = serviceCidr.safeParse(network.serviceCidr).success ? ipaddr.IPv4.parseCIDR(network.serviceCidr) : undefined;
  if (pod && service && (pod[0].match(service) || service[0].match(pod))) {
    ctx.addIssue({
      code: 'custom', path: ['network', 'podCidr'], input: network.podCidr,
      message: `overlaps the service network ${network.serviceCidr}; pick disjoint ranges, e.g. 10.244.0.0/16 and 10.96.0.0/16`,
    });
  }
  if (pod && 2 ** (24 - pod[1]) < config.nodes.length) {
    ctx.addIssue({
      code: 'custom', path: ['network', 'podCidr'], input: network.podCidr,
      message: `has room for ${2 ** (24 - pod[1])} node subnets but there are ${config.nodes.length} nodes (each node gets a /24); ${podCidrFix(pod[0], config.nodes.length)}`,
    });
  }
  const { images } = config;
  const mirrored = images.mirror !== undefined || Object.keys(images.mirrors ?? {}).length > 0;
  if (!mirrored && images.mirrorCa !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['images', 'mirrorCa'], input: images.mirrorCa, message: 'names a mirror\'s CA, but there is no mirror: set images.mirror (or images.mirrors) too, or remove it' });
  }
  if (!mirrored && !images.mirrorFallback) {
    ctx.addIssue({ code: 'custom', path: ['images', 'mirrorFallback'], input: false, message: 'without a mirror there is nothing to fall back from: set images.mirror (or images.mirrors) too, or remove it' });
  }
  config.nodes.forEach((node, i) => {
    if (node.os === 'el9' && config.packages.containerd === 'distro') {
      ctx.addIssue({ code: 'custom', path: ['packages', 'containerd'], input: 'distro', message: `EL9 has no containerd package of its own (nodes[${i}] is el9): use docker, Docker's containerd.io` });
    }
    // The debian family is Debian 12, whose own containerd is known and too old.
    const distro = DISTRO_CONTAINERD['debian 12'];
    if (node.os === 'debian' && config.packages.containerd === 'distro' && !containerdSupported(distro, config.kubernetes.version)) {
      ctx.addIssue({ code: 'custom', path: ['packages', 'containerd'], input: 'distro', message: `Debian 12's own containerd is ${distro} (nodes[${i}] is debian), too old: Kubernetes ${config.kubernetes.version} needs containerd ${containerdNeeds(config.kubernetes.version)}; use docker, Docker's containerd.io` });
    }
  });
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  config.nodes.forEach((node, i) => {
    if (names.has(node.name)) {
      ctx.addIssue({ code: 'custom', path: ['nodes', i, 'name'], input: node.name, message: `duplicates nodes[${names.get(node.name)}].name; node names must be unique` });
    } else names.set(node.name, i);
    if (addresses.has(node.address)) {
      ctx.addIssue({ code: 'custom', path: ['nodes', i, 'address'], input: node.address, message: `duplicates nodes[${addresses.get(node.address)}].address; node addresses must be unique` });
    } else addresses.set(node.address, i);
    if (!ipaddr.IPv4.isValidFourPartDecimal(node.address)) return;
    const address = ipaddr.IPv4.parse(node.address);
    for (const [field, range] of [['podCidr', pod], ['serviceCidr', service]] as const) {
      if (range && address.match(range)) {
        ctx.addIssue({
          code: 'custom', path: ['nodes', i, 'address'], input: node.address,
          message: `lies inside network.${field} ${network[field]}; node addresses and cluster networks must not overlap: change network.${field}`,
        });
      }
    }
  });
  const controlPlanes = config.nodes.map((node, i) => ({ node, i })).filter(({ node }) => node.role === 'control-plane');
  if (config.nodes.length > 0 && !controlPlanes.length) {
    ctx.addIssue({ code: 'custom', path: ['nodes'], message: 'has no control-plane node; set role: control-plane on the node that runs kubeadm init' });
  }
  if (controlPlanes.length > 1 && controlPlanes.length % 2 === 0) {
    const last = controlPlanes[controlPlanes.length - 1];
    ctx.addIssue({
      code: 'custom', path: ['nodes', last.i, 'role'], input: last.node.role,
      message: `makes ${controlPlanes.length} control-plane nodes; etcd needs a majority of its members, so an even number tolerates no more failures than one fewer (${controlPlanes.length} tolerate ${controlPlanes.length / 2 - 1}, like ${controlPlanes.length - 1}): use an odd number (1, 3, 5), e.g. make this node a worker`,
    });
  }
  const endpoint = config.kubernetes.controlPlaneEndpoint;
  if (controlPlanes.length > 1 && endpoint === undefined) {
    ctx.addIssue({
      code: 'custom', path: ['nodes', controlPlanes[1].i, 'role'], input: controlPlanes[1].node.role,
      message: 'is a second control plane, which needs kubernetes.controlPlaneEndpoint: a free address on the nodes\' network for the API server\'s virtual IP (e.g. one below the first node\'s), so that every node reaches whichever control plane is up',
    });
  }
  if (endpoint !== undefined && ipaddr.IPv4.isValidFourPartDecimal(endpoint)) {
    const vip = ipaddr.IPv4.parse(endpoint);
    const owner = config.nodes.findIndex((node) => node.address === endpoint);
    const problem = owner >= 0
      ? `is nodes[${owner}].address; the virtual IP must be an address no machine has: pick a free one on the same network`
      : pod && vip.match(pod) ? `lies inside network.podCidr ${network.podCidr}; pick a free address on the nodes' network`
        : service && vip.match(service) ? `lies inside network.serviceCidr ${network.serviceCidr}; pick a free address on the nodes' network`
          : undefined;
    if (problem) ctx.addIssue({ code: 'custom', path: ['kubernetes', 'controlPlaneEndpoint'], input: endpoint, message: problem });
  }
});

/** What is wrong with a login token's duration (minutes or hours, 10m to 24h), or undefined. */
export function tokenDurationProblem(duration: string): string | undefined {
  if (!/^[1-9]\d*[mh]$/.test(duration)) return 'must be minutes or hours, e.g. 30m or 1h';
  const minutes = durationMinutes(duration);
  return minutes < 10 || minutes > 24 * 60 ? 'must be from 10m to 24h' : undefined;
}

/** A duration of cluster.yaml (30m, 1h) in minutes. */
export function durationMinutes(duration: string): number {
  return Number.parseInt(duration, 10) * (duration.endsWith('h') ? 60 : 1);
}

/** The dashboard's host name: dashboard.host, else dashboard. and the domain of tomcat6.host. */
export function dashboardHost(config: { dashboard: { host?: string }; tomcat6: { host: string } }): string {
  if (config.dashboard.host) return config.dashboard.host;
  const labels = config.tomcat6.host.split('.');
  return `dashboard.${(labels.length > 2 ? labels.slice(1) : labels).join('.')}`;
}

/**
 * What a valid config should still make its user think twice about, one
 * line each (synth and the bootstrap print them on stderr).
 */
export function configWarnings(config: z.output<typeof clusterConfigSchema>): string[] {
  return config.ingress.controller === 'ingress-nginx'
    ? ['warning: ingress.controller: ingress-nginx is retired upstream and unmaintained (v1.15.1, March 2026, is its last release; no fixes, security fixes included); traefik is the maintained default']
    : [];
}

/** The validated cluster config: what every module reads, never the YAML. */
export type ClusterConfig = z.output<typeof clusterConfigSchema>;
export type ClusterNode = ClusterConfig['nodes'][number];
