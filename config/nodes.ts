/** The cluster's nodes by role and by name: the one way every module picks nodes. */
import type { ClusterConfig, ClusterNode } from './schema';

/**
 * The first control-plane node: where kubeadm init runs, and where the cluster-wide commands (apply, status,
 * backup, ...) run. The other control planes join it.
 */
export function controlPlane(config: ClusterConfig): ClusterNode {
  const node = config.nodes.find((n) => n.role === 'control-plane');
  if (!node) throw new Error('the cluster config has no control-plane node');
  return node;
}

/** Every control-plane node, the first one first (the schema allows an odd number: 1, 3, 5, ...). */
export function controlPlanes(config: ClusterConfig): ClusterNode[] {
  return config.nodes.filter((n) => n.role === 'control-plane');
}

/** The control planes that join the first one (`kubeadm join --control-plane`). */
export function joiningControlPlanes(config: ClusterConfig): ClusterNode[] {
  return controlPlanes(config).slice(1);
}

/** More than one control plane: etcd and the API server on each, behind kubernetes.controlPlaneEndpoint. */
export function isHighlyAvailable(config: ClusterConfig): boolean {
  return controlPlanes(config).length > 1;
}

export function workers(config: ClusterConfig): ClusterNode[] {
  return config.nodes.filter((n) => n.role === 'worker');
}

export function nodeByName(config: ClusterConfig, name: string): ClusterNode | undefined {
  return config.nodes.find((n) => n.name === name);
}

/**
 * The nodes the ingress controller runs on: the workers, or, in a cluster of
 * control planes only, those (they then carry no control-plane taint).
 */
export function ingressNodes(config: ClusterConfig): ClusterNode[] {
  const found = workers(config);
  return found.length ? found : controlPlanes(config);
}

/** No workers: everything runs on the control plane(s), which then carry no taint. */
export function hasNoWorkers(config: ClusterConfig): boolean {
  return workers(config).length === 0;
}

/** One node, a control plane, and nothing else: nothing to drain to. */
export function isSingleNode(config: ClusterConfig): boolean {
  return config.nodes.length === 1;
}

/** The address the API server is reached on: kubernetes.controlPlaneEndpoint (a virtual IP) if set, else the first control plane's. */
export function apiServerHost(config: ClusterConfig): string {
  return config.kubernetes.controlPlaneEndpoint ?? controlPlane(config).address;
}
