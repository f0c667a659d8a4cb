/**
 * etcd as the cluster runs it: one member per control plane, in the etcd static pod, asked through etcdctl in
 * that pod (`kubectl exec`) with kubeadm's health-check client certificate. What backup and status read.
 */
import type { ClusterNode } from '../../config/schema';
import type { NodeRun } from '../engine/steps';
import { kubectl } from './apply';

const ETCD_PKI = '/etc/kubernetes/pki/etcd';
/** What etcdctl in the etcd pod connects with: the pod's own endpoint and kubeadm's health-check client certificate. */
export const ETCDCTL_FLAGS = ['--endpoints=https://127.0.0.1:2379', `--cacert=${ETCD_PKI}/ca.crt`, `--cert=${ETCD_PKI}/healthcheck-client.crt`, `--key=${ETCD_PKI}/healthcheck-client.key`];

/** etcdctl in the etcd pod of a control plane, run from any node with the admin kubeconfig. */
export function etcdctl(node: ClusterNode, ...args: string[]): string[] {
  return kubectl('-n', 'kube-system', 'exec', `etcd-${node.name}`, '--', 'etcdctl', ...ETCDCTL_FLAGS, ...args);
}

export interface EtcdMember {
  name: string;
  /** Its client URL (https://<address>:2379); none while it has not started. */
  clientUrl?: string;
  learner: boolean;
  healthy: boolean;
  /** Why it is not healthy, as etcdctl says it. */
  error?: string;
}

/**
 * `member list -w json` and `endpoint health --cluster -w json` together: every member and its health. etcdctl
 * exits 1 when a member is unhealthy but still prints every endpoint's result, so both outputs are read
 * whatever the exit code; an empty list means etcd did not answer.
 */
export function parseMembers(memberList: string, health: string): EtcdMember[] {
  let members: { name?: string; clientURLs?: string[]; isLearner?: boolean }[] = [];
  let endpoints: { endpoint: string; health: boolean; error?: string }[] = [];
  try {
    members = (JSON.parse(memberList) as { members?: typeof members }).members ?? [];
  } catch {
    return [];
  }
  try {
    endpoints = JSON.parse(health) as typeof endpoints;
  } catch {
    endpoints = [];
  }
  return members.map((m) => {
    const clientUrl = m.clientURLs?.[0];
    const result = endpoints.find((e) => e.endpoint === clientUrl);
    return {
      name: m.name || '(not started)',
      clientUrl,
      learner: m.isLearner === true,
      healthy: result?.health === true,
      ...(result?.health ? {} : { error: result?.error ?? 'no health answer' }),
    };
  }).sort((a, b) => a.name.localeCompare(b.name));
}

/** Every etcd member and its health, asked on `cp`'s etcd. */
export async function etcdMembers(run: NodeRun, cp: ClusterNode): Promise<EtcdMember[]> {
  const list = await run.query(etcdctl(cp, 'member', 'list', '-w', 'json'));
  const health = await run.query(etcdctl(cp, 'endpoint', 'health', '--cluster', '-w', 'json'));
  return parseMembers(list.stdout, health.stdout);
}
