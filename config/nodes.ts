/** The cluster's nodes by role and by name: the one way every module picks nodes. */
import type { ClusterConfig, ClusterNode } from './schema';

/** The control-plane node (the schema requires exactly one). */
export function controlPlane(config: ClusterConfig): ClusterNode {
  const node = config.nodes.find((n) => n.role === 'control-plane');
  if (!node) throw new Error('the cluster config has no control-plane node');
  return node;
}

export function workers(config: ClusterConfig): ClusterNode[] {
  return config.nodes.filter((n) => n.role === 'worker');
}

export function nodeByName(config: ClusterConfig, name: string): ClusterNode | undefined {
  return config.nodes.find((n) => n.name === name);
}

/**
 * The nodes the ingress controller runs on: the workers, or, in a cluster of
 * one control-plane node, that node (it then carries no control-plane taint).
 */
export function ingressNodes(config: ClusterConfig): ClusterNode[] {
  const found = workers(config);
  return found.length ? found : [controlPlane(config)];
}

/** One control-plane node and no workers: everything runs on that node. */
export function isSingleNode(config: ClusterConfig): boolean {
  return workers(config).length === 0;
}
