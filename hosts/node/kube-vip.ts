/**
 * kube-vip: the virtual IP (kubernetes.controlPlaneEndpoint) every node and
 * kubeconfig reaches the API server on, as kubeadm's HA guide sets it up: a
 * static pod on each control plane, in ARP mode, whose instances elect a
 * leader through the API server (a Lease in kube-system); the leader holds
 * the address on the interface that has its node's address and announces it
 * with gratuitous ARP. When the leader's node goes away, the Lease runs out
 * and another control plane takes the address over.
 *
 * Each instance talks to its own node's API server (the host alias
 * "kubernetes" is 127.0.0.1), so the election never needs the address it
 * elects a holder for. On the first control plane the pod starts before
 * kubeadm init, with super-admin.conf (admin.conf has no rights until init
 * has bound its group), and is moved to admin.conf right after; the other
 * control planes get it once they have joined (admin.conf then exists).
 */
import { stringify } from 'yaml';
import { KUBE_VIP_IMAGE } from '../../config/images';
import type { ClusterConfig } from '../../config/schema';
import { ADMIN_CONF, API_SERVER_PORT } from './kubeadm';

export const KUBE_VIP_MANIFEST = '/etc/kubernetes/manifests/kube-vip.yaml';
/** The Lease the instances elect their leader with, in kube-system. */
export const KUBE_VIP_LEASE = 'plndr-cp-lock';
/** Its Prometheus endpoint, on the host network of each control plane (not opened in the firewall). */
export const KUBE_VIP_METRICS_PORT = 2112;

/**
 * The static pod for one control plane: `iface` holds the node's address (from its facts), `kubeconfig` is the
 * file it reads the API server's credentials from (admin.conf, or super-admin.conf during the first init).
 * The environment is what `kube-vip manifest pod --controlplane --arp --leaderElection` writes.
 */
export function kubeVipManifest(config: ClusterConfig, iface: string, kubeconfig: string = ADMIN_CONF): string {
  const address = config.kubernetes.controlPlaneEndpoint;
  if (!address) throw new Error('kube-vip needs kubernetes.controlPlaneEndpoint');
  const env = {
    vip_arp: 'true',
    port: String(API_SERVER_PORT),
    vip_interface: iface,
    vip_subnet: '32',
    dns_mode: 'first',
    cp_enable: 'true',
    cp_namespace: 'kube-system',
    vip_leaderelection: 'true',
    vip_leasename: KUBE_VIP_LEASE,
    // Seconds: how long a Lease lasts without renewal, the leader's deadline to renew it, and the retry period.
    vip_leaseduration: '5',
    vip_renewdeadline: '3',
    vip_retryperiod: '1',
    address,
    prometheus_server: `:${KUBE_VIP_METRICS_PORT}`,
  };
  return stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'kube-vip', namespace: 'kube-system', labels: { 'app.kubernetes.io/name': 'kube-vip' } },
    spec: {
      containers: [{
        name: 'kube-vip',
        image: KUBE_VIP_IMAGE,
        imagePullPolicy: 'IfNotPresent',
        args: ['manager'],
        env: [
          ...Object.entries(env).map(([name, value]) => ({ name, value })),
          { name: 'vip_nodename', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        ],
        securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] } },
        volumeMounts: [{ name: 'kubeconfig', mountPath: ADMIN_CONF, readOnly: true }],
      }],
      // kube-vip reaches the API server as "kubernetes:6443": this node's own.
      hostAliases: [{ ip: '127.0.0.1', hostnames: ['kubernetes'] }],
      hostNetwork: true,
      // A file, never a folder the kubelet would make in its place while the kubeconfig is not written yet.
      volumes: [{ name: 'kubeconfig', hostPath: { path: kubeconfig, type: 'File' } }],
    },
  });
}
