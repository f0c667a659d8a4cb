/**
 * kubeadm: where it keeps its files, the config files rendered from
 * cluster.yaml, the join details (a fresh short-lived token and the pinned
 * CA hash) and the join ticket that carries them from the control plane to
 * a worker. The init and join steps are in init.ts and join.ts.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { UserError } from '../../config/errors';
import { controlPlaneImageRepository } from '../../config/images';
import { apiServerHost, controlPlane, controlPlanes, hasNoWorkers } from '../../config/nodes';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import type { NodeRun } from '../engine/steps';

export const KUBEADM_API = 'kubeadm.k8s.io/v1beta4';
export const CRI_SOCKET = 'unix:///var/run/containerd/containerd.sock';
export const INIT_CONFIG_FILE = '/etc/kubernetes/kubeadm-init.yaml';
export const JOIN_CONFIG_FILE = '/etc/kubernetes/kubeadm-join.yaml';
/** The init configuration with a certificate key, for uploading the control plane's certificates; removed right after. */
export const UPLOAD_CERTS_CONFIG_FILE = '/etc/kubernetes/kubeadm-upload-certs.yaml';
export const ADMIN_CONF = '/etc/kubernetes/admin.conf';
/** kubeadm init's break-glass kubeconfig (system:masters), the only one with rights before init has bound admin.conf's group. */
export const SUPER_ADMIN_CONF = '/etc/kubernetes/super-admin.conf';
/** Whether the API server is ready: `kubectl get --raw=/readyz` with the admin kubeconfig (exit 0 when it is). */
export const READYZ = ['kubectl', `--kubeconfig=${ADMIN_CONF}`, 'get', '--raw=/readyz'];
export const KUBELET_CONF = '/etc/kubernetes/kubelet.conf';
/** The API server's static pod: its image tag is the version the control plane runs. */
export const API_SERVER_MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';
/** The Kubernetes version the control plane runs: the API server manifest's image tag (undefined when there is none). */
export const apiServerVersion = (manifest: string | undefined) => /\/kube-apiserver:v(\d+\.\d+\.\d+)\b/.exec(manifest ?? '')?.[1];
export const CA_CERT = '/etc/kubernetes/pki/ca.crt';
export const ROOT_KUBECONFIG = '/root/.kube/config';
export const DEFAULT_TICKET_FILE = '/root/kubeadm-join-ticket.yaml';
/** Join tokens live 15 minutes: long enough to join, short enough not to matter in a log. */
export const TOKEN_TTL_MINUTES = 15;
export const API_SERVER_PORT = 6443;

function nodeRegistration(config: ClusterConfig, node: ClusterNode) {
  return {
    name: node.name,
    criSocket: CRI_SOCKET,
    // Multi-NIC VMs: the kubelet advertises the configured address, not the NAT one.
    kubeletExtraArgs: [{ name: 'node-ip', value: node.address }],
    // v1beta4 taints a control plane unless told otherwise; with no worker, nothing else could run anywhere.
    ...(node.role === 'control-plane' && hasNoWorkers(config) ? { taints: [] } : {}),
    // kubernetes.allowCgroupV1: kubeadm's system verification fails on cgroup v1 since 1.35; only that check is ignored.
    ...(config.kubernetes.allowCgroupV1 ? { ignorePreflightErrors: ['SystemVerification'] } : {}),
  };
}

/** host:port every node and kubeconfig reaches the API server on: the virtual IP, else the first control plane. */
export function apiServerEndpoint(config: ClusterConfig): string {
  return `${apiServerHost(config)}:${API_SERVER_PORT}`;
}

/** What the init configuration depends on besides cluster.yaml and the node. */
export interface InitOptions {
  /**
   * Some node of the cluster is a system container: kube-proxy must leave the conntrack table's size alone
   * (conntrack.maxPerCore: 0), since nf_conntrack_max is the host's and a container may not write it.
   */
  containerNodes?: boolean;
  /** The key the uploaded control-plane certificates are encrypted with (a secret): only in uploadCertsConfig's file. */
  certificateKey?: string;
}

/** kubernetes.extraArgs as v1beta4 writes them: a list of name and value per component (etcd's under etcd.local). */
function componentExtraArgs(config: ClusterConfig) {
  const { extraArgs, controlPlaneEndpoint } = config.kubernetes;
  const list = (flags: Record<string, string>) => ({ extraArgs: Object.entries(flags).map(([name, value]) => ({ name, value })) });
  // Behind a virtual IP, the API server's certificate names it and every control plane (whichever one answers).
  const certSANs = controlPlaneEndpoint ? { certSANs: [controlPlaneEndpoint, ...controlPlanes(config).map((n) => n.address)] } : {};
  const apiServer = { ...certSANs, ...(extraArgs?.apiServer ? list(extraArgs.apiServer) : {}) };
  return {
    ...(Object.keys(apiServer).length ? { apiServer } : {}),
    ...(extraArgs?.controllerManager ? { controllerManager: list(extraArgs.controllerManager) } : {}),
    ...(extraArgs?.scheduler ? { scheduler: list(extraArgs.scheduler) } : {}),
    ...(extraArgs?.etcd ? { etcd: { local: list(extraArgs.etcd) } } : {}),
  };
}

/** InitConfiguration + ClusterConfiguration + KubeletConfiguration for `kubeadm init --config`. */
export function initConfig(config: ClusterConfig, node: ClusterNode, options: InitOptions = {}): string {
  const documents = [
    {
      apiVersion: KUBEADM_API,
      kind: 'InitConfiguration',
      // kubeadm always creates one token at init; make it expire quickly (joins mint their own).
      bootstrapTokens: [{
        groups: ['system:bootstrappers:kubeadm:default-node-token'],
        ttl: `${TOKEN_TTL_MINUTES}m0s`,
        usages: ['signing', 'authentication'],
      }],
      localAPIEndpoint: { advertiseAddress: node.address, bindPort: API_SERVER_PORT },
      ...(config.kubernetes.timeouts ? { timeouts: config.kubernetes.timeouts } : {}),
      nodeRegistration: nodeRegistration(config, node),
      // Only for uploading the certificates the other control planes join with (uploadCertsConfig).
      ...(options.certificateKey ? { certificateKey: options.certificateKey } : {}),
    },
    {
      apiVersion: KUBEADM_API,
      kind: 'ClusterConfiguration',
      kubernetesVersion: `v${config.kubernetes.version}`,
      ...(config.kubernetes.controlPlaneEndpoint ? { controlPlaneEndpoint: apiServerEndpoint(config) } : {}),
      ...(config.kubernetes.encryptionAlgorithm ? { encryptionAlgorithm: config.kubernetes.encryptionAlgorithm } : {}),
      imageRepository: controlPlaneImageRepository(config.images),
      // A flat copy of kubeadm's images keeps CoreDNS beside the others (kubeadm adds /coredns only for registry.k8s.io).
      ...(config.images.controlPlaneRepository ? { dns: { imageRepository: config.images.controlPlaneRepository } } : {}),
      networking: {
        dnsDomain: 'cluster.local',
        podSubnet: config.network.podCidr,
        serviceSubnet: config.network.serviceCidr,
      },
      ...componentExtraArgs(config),
    },
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      cgroupDriver: 'systemd',
      // kubernetes.allowCgroupV1: the kubelet of 1.35+ refuses cgroup v1 unless told so. Every node's kubelet
      // reads this configuration (kubeadm keeps it in the kubelet-config ConfigMap the joins read).
      ...(config.kubernetes.allowCgroupV1 ? { failCgroupV1: false } : {}),
    },
    ...(options.containerNodes ? [{
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      conntrack: { maxPerCore: 0 },
    }] : []),
  ];
  return documents.map((d) => stringify(d)).join('---\n');
}

/** What a worker needs from the control plane to join it, safely. */
export interface JoinDetails {
  apiServerEndpoint: string;
  token: string;
  /** sha256:<hex> of the cluster CA's public key: the worker refuses any other API server. */
  caCertHash: string;
}

/** What a control plane needs besides: the key that decrypts the certificates the first one uploaded (a secret). */
export interface ControlPlaneJoinDetails extends JoinDetails {
  certificateKey: string;
}

/** JoinConfiguration for `kubeadm join --config`; the CA is always pinned, never skipped. A control plane joins with its certificate key. */
export function joinConfig(config: ClusterConfig, node: ClusterNode, details: JoinDetails | ControlPlaneJoinDetails): string {
  const certificateKey = (details as Partial<ControlPlaneJoinDetails>).certificateKey;
  if (node.role === 'control-plane' && !certificateKey) throw new Error(`${node.name} is a control plane: its join needs the certificate key`);
  return stringify({
    apiVersion: KUBEADM_API,
    kind: 'JoinConfiguration',
    ...(config.kubernetes.timeouts ? { timeouts: config.kubernetes.timeouts } : {}),
    discovery: {
      bootstrapToken: {
        apiServerEndpoint: details.apiServerEndpoint,
        token: details.token,
        caCertHashes: [details.caCertHash],
      },
    },
    nodeRegistration: nodeRegistration(config, node),
    ...(node.role === 'control-plane' ? {
      controlPlane: { localAPIEndpoint: { advertiseAddress: node.address, bindPort: API_SERVER_PORT }, certificateKey },
    } : {}),
  });
}

/** A fresh certificate key: 32 random bytes, hex, as `kubeadm certs certificate-key` makes one (made here, so no command prints it). */
export function newCertificateKey(): string {
  return randomBytes(32).toString('hex');
}

/**
 * Uploads the control plane's certificates for the joining control planes (the kubeadm-certs Secret, encrypted
 * with a fresh key, deleted by kubeadm after 2 hours) and returns the key. The key travels only in files of
 * mode 0600 that are removed after use: kubeadm reads it from its config and is told not to print it.
 */
export async function uploadCertificates(run: NodeRun, config: ClusterConfig): Promise<string> {
  const cp = controlPlane(config);
  run.stepTitle = 'upload certificates';
  const certificateKey = run.planning ? '<a fresh certificate key>' : newCertificateKey();
  await run.write(UPLOAD_CERTS_CONFIG_FILE, initConfig(config, cp, { certificateKey }), { mode: 0o600, secret: true });
  try {
    await run.run(['kubeadm', 'init', 'phase', 'upload-certs', '--upload-certs', '--skip-certificate-key-print', `--config=${UPLOAD_CERTS_CONFIG_FILE}`]);
  } finally {
    await run.remove(UPLOAD_CERTS_CONFIG_FILE);
  }
  return certificateKey;
}

/** The hash kubeadm pins: SHA-256 of the CA certificate's DER SubjectPublicKeyInfo. */
export function caCertHash(caPem: string): string {
  const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

const ticketSchema = z.strictObject({
  apiServerEndpoint: z.string().regex(/^[\w.-]+:\d+$/),
  token: z.string().regex(/^[a-z0-9]{6}\.[a-z0-9]{16}$/),
  caCertHash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  expires: z.iso.datetime(),
});
export type JoinTicket = z.infer<typeof ticketSchema>;

export function renderTicket(ticket: JoinTicket): string {
  return `# Join ticket: lets one node join the cluster until ${ticket.expires}.
# It holds a secret token: copy it only to the worker, and delete it after use.
${stringify(ticket)}`;
}

export function parseTicket(text: string, source: string, now: Date): JoinDetails {
  let data: unknown;
  try {
    data = parse(text);
  } catch {
    throw new UserError([`${source}: not a join ticket (invalid YAML); make a new one with hosts/init.mjs on the control-plane node`]);
  }
  const result = ticketSchema.safeParse(data);
  if (!result.success) {
    const field = result.error.issues[0].path.join('.') || 'the file';
    throw new UserError([`${source}: not a valid join ticket (${field} is missing or malformed); make a new one with hosts/init.mjs on the control-plane node`]);
  }
  if (new Date(result.data.expires) <= now) {
    throw new UserError([`${source}: the join ticket expired at ${result.data.expires}; make a new one with hosts/init.mjs on the control-plane node`]);
  }
  const { expires: _expires, ...details } = result.data;
  return details;
}

/**
 * Mints a fresh join token on the control plane and pairs it with the CA
 * hash read from the cluster's CA certificate.
 */
export async function mintJoinDetails(run: NodeRun, config: ClusterConfig): Promise<JoinDetails> {
  run.stepTitle = 'mint join token';
  const created = await run.run([
    'kubeadm', 'token', 'create', `--ttl=${TOKEN_TTL_MINUTES}m0s`, '--description=join a worker (hosts/join.mjs)',
  ]);
  const caPem = await run.read(CA_CERT);
  const cp = controlPlane(config);
  if (run.planning) {
    return { apiServerEndpoint: apiServerEndpoint(config), token: '<token from kubeadm token create>', caCertHash: `sha256:<hash of ${CA_CERT}>` };
  }
  if (caPem === undefined) throw new UserError([`${cp.name}: ${CA_CERT} is missing: the control plane is not initialised; run hosts/init.mjs there`]);
  return {
    apiServerEndpoint: apiServerEndpoint(config),
    token: created.stdout.trim(),
    caCertHash: caCertHash(caPem),
  };
}
