/**
 * The ports each node's role needs: kubeadm's documented ports, kube-proxy's
 * health port, the NodePort range, flannel's VXLAN, and the ingress
 * controller when it runs on the host network (on the workers, or on the
 * one node of a single-node cluster). The firewall opens them; the
 * preflight check refuses a node where something already listens on the
 * ones Kubernetes will bind.
 */
import { ingressNodes } from '../../config/nodes';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import { KUBE_VIP_METRICS_PORT } from './kube-vip';

interface PortRule {
  /** e.g. '6443/tcp', '30000-32767/udp' */
  port: string;
  /** Which nodes need it (kube-vip: the control planes, with kubernetes.controlPlaneEndpoint). */
  on: 'every node' | 'control plane' | 'ingress nodes' | 'kube-vip';
  /** Kubernetes or the ingress controller binds it on the node: it must be free before setup. */
  bound: boolean;
  /** Other hosts reach it: the firewall opens it (a port only the node itself uses stays closed). */
  open: boolean;
}

/** In the order the firewall opens them. */
const PORT_RULES: PortRule[] = [
  { port: '6443/tcp', on: 'control plane', bound: true, open: true }, // API server
  { port: '2379-2380/tcp', on: 'control plane', bound: true, open: true }, // etcd
  { port: '10257/tcp', on: 'control plane', bound: true, open: true }, // controller manager
  { port: '10259/tcp', on: 'control plane', bound: true, open: true }, // scheduler
  { port: `${KUBE_VIP_METRICS_PORT}/tcp`, on: 'kube-vip', bound: true, open: false }, // kube-vip's metrics
  { port: '10250/tcp', on: 'every node', bound: true, open: true }, // kubelet
  { port: '10256/tcp', on: 'every node', bound: false, open: true }, // kube-proxy health
  { port: '30000-32767/tcp', on: 'every node', bound: false, open: true }, // NodePort Services
  { port: '30000-32767/udp', on: 'every node', bound: false, open: true },
  { port: '8472/udp', on: 'every node', bound: false, open: true }, // flannel VXLAN
];

/**
 * What each ingress controller binds on the host network (hostNetwork
 * exposure), on the nodes it runs on; test/semantics.test.ts checks these
 * against the controllers' rendered pods.
 */
const INGRESS_PORT_RULES: Record<ClusterConfig['ingress']['controller'], PortRule[]> = {
  traefik: [
    { port: '80/tcp', on: 'ingress nodes', bound: true, open: true }, // web
    { port: '443/tcp', on: 'ingress nodes', bound: true, open: true }, // websecure
    { port: '8080/tcp', on: 'ingress nodes', bound: true, open: false }, // ping and API entry point: the kubelet's probes, on the node itself
    { port: '8082/tcp', on: 'ingress nodes', bound: true, open: false }, // metrics (not 9100: node-exporter's)
  ],
  'ingress-nginx': [
    { port: '80/tcp', on: 'ingress nodes', bound: true, open: true },
    { port: '443/tcp', on: 'ingress nodes', bound: true, open: true },
    { port: '8443/tcp', on: 'ingress nodes', bound: true, open: true }, // its admission webhook, called by the API server
  ],
};

function rulesFor(config: ClusterConfig, node: ClusterNode): PortRule[] {
  return [...PORT_RULES, ...INGRESS_PORT_RULES[config.ingress.controller]].filter((rule) => rule.on === 'every node'
    || (rule.on === 'control plane' && node.role === 'control-plane')
    || (rule.on === 'kube-vip' && node.role === 'control-plane' && config.kubernetes.controlPlaneEndpoint !== undefined)
    || (rule.on === 'ingress nodes' && config.ingress.exposure === 'hostNetwork' && ingressNodes(config).some((n) => n.name === node.name)));
}

/** The host ports an ingress controller binds on the host network, e.g. [80, 443, 8080, 8082] for traefik. */
export function ingressHostPorts(controller: ClusterConfig['ingress']['controller']): number[] {
  return INGRESS_PORT_RULES[controller].map((rule) => Number(rule.port.split('/')[0]));
}

/** What the firewall opens on this node. */
export function openPorts(config: ClusterConfig, node: ClusterNode): string[] {
  return rulesFor(config, node).filter((rule) => rule.open).map((rule) => rule.port);
}

/** The TCP ports Kubernetes or the ingress controller will listen on, in numeric order. */
export function portsToBeUsed(config: ClusterConfig, node: ClusterNode): number[] {
  return rulesFor(config, node).filter((rule) => rule.bound).flatMap((rule) => {
    const [from, to = from] = rule.port.split('/')[0].split('-').map(Number);
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  }).sort((a, b) => a - b);
}
