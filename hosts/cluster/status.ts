/**
 * `scripts/bootstrap.mjs status`: what the cluster is like now, changing
 * nothing (every node run is read-only: a change would be a bug, see
 * NodeRun's observe mode). Per node: reachable, prepared (kubeadm and
 * kubelet installed), joined, Ready, versions; the rollouts of the add-ons
 * this config renders and of kubeadm's own (CoreDNS, kube-proxy); etcd's
 * members and their health; the HTTP
 * checks of the final verify, once each. Exit code 0 only when all is well.
 */
import { parseAllDocuments } from 'yaml';
import { renderManifests } from '../../charts/app';
import { UserError } from '../../config/errors';
import { controlPlane, controlPlanes } from '../../config/nodes';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import { SshHost } from '../engine/ssh';
import { NodeRun } from '../engine/steps';
import { gatherFacts, isInCluster, type NodeFacts } from '../node/facts';
import { ADMIN_CONF } from '../node/kubeadm';
import { kubectl } from './apply';
import { expiryLine, readExpirations } from './certs';
import { connect } from './connect';
import { etcdMembers } from './etcd';
import { mapLimit, reason } from './manager';
import { checkLine, checksSkipped, verify } from './verify';

export interface StatusOptions {
  env: NodeJS.ProcessEnv;
  sshConfig?: string;
  concurrency: number;
  print(line: string): void;
}

/** A workload whose rollout status reports. */
interface Workload {
  namespace: string;
  kind: 'DaemonSet' | 'Deployment';
  name: string;
}

/** kubeadm's own add-ons, besides what the config renders. */
const KUBEADM_ADDONS: Workload[] = [
  { namespace: 'kube-system', kind: 'Deployment', name: 'coredns' },
  { namespace: 'kube-system', kind: 'DaemonSet', name: 'kube-proxy' },
];

/** The DaemonSets and Deployments of this config's manifests, stage by stage, after kubeadm's. */
export function workloads(config: ClusterConfig): Workload[] {
  const rendered = renderManifests(config).flatMap((m) => parseAllDocuments(m.yaml).map((d) => d.toJS()))
    .filter((o) => o?.kind === 'DaemonSet' || o?.kind === 'Deployment')
    .map((o) => ({ namespace: o.metadata.namespace ?? 'default', kind: o.kind, name: o.metadata.name }));
  return [...KUBEADM_ADDONS, ...rendered];
}

interface K8sObject {
  kind?: string;
  metadata: { name: string; namespace?: string; generation?: number };
  spec?: { replicas?: number };
  status?: Record<string, unknown> & { conditions?: { type: string; status: string }[]; nodeInfo?: { kubeletVersion?: string } };
}

/** "3/3 ready", or what is not yet. */
export function rollout(object: K8sObject | undefined): { ok: boolean; text: string } {
  if (!object) return { ok: false, text: 'missing' };
  const s = object.status ?? {};
  const n = (key: string) => Number(s[key] ?? 0);
  const current = (object.metadata.generation ?? 0) <= n('observedGeneration');
  const [want, updated, ready] = object.kind === 'DaemonSet'
    ? [n('desiredNumberScheduled'), n('updatedNumberScheduled'), n('numberAvailable')]
    : [object.spec?.replicas ?? 1, n('updatedReplicas'), n('availableReplicas')];
  const ok = current && updated >= want && ready >= want;
  return { ok, text: `${ready}/${want} ready${ok ? '' : `, ${updated}/${want} updated${current ? '' : ', newer spec not yet seen'}`}` };
}

interface NodeStatus {
  node: ClusterNode;
  problem?: string;
  facts?: NodeFacts;
  joined?: boolean;
}

const yesNo = (value: boolean | undefined) => (value === undefined ? '?' : value ? 'yes' : 'no');

export async function clusterStatus(config: ClusterConfig, options: StatusOptions): Promise<void> {
  const { print } = options;
  const unreachable = new Map<string, string>();
  const targets = await connect(config, {
    planning: false, env: options.env, sshConfig: options.sshConfig, progress: () => undefined,
    concurrency: options.concurrency, unreachable: (node, problem) => unreachable.set(node.name, problem),
  });
  const quiet = { line: () => undefined, detail: () => undefined };
  const runs = new Map(targets.map((t) => [t.node.name, new NodeRun(t.node.name, t.host, 'observe', quiet)]));
  const problems: string[] = [];
  try {
    const statuses: NodeStatus[] = config.nodes.map((node) => ({ node, problem: unreachable.get(node.name) }));
    await mapLimit(statuses.filter((s) => !s.problem), options.concurrency, async (status) => {
      const run = runs.get(status.node.name)!;
      try {
        status.facts = await gatherFacts(run, config, status.node);
        status.joined = await isInCluster(run);
      } catch (error) {
        status.problem = reason(error);
      }
    });

    // The cluster's view, from the control plane with its admin kubeconfig.
    const cp = controlPlane(config);
    const cpRun = runs.get(cp.name);
    const cpStatus = statuses.find((s) => s.node.name === cp.name)!;
    const admin = cpRun && !cpStatus.problem && (await cpRun.read(ADMIN_CONF)) !== undefined;
    const getJson = async (...args: string[]): Promise<K8sObject[] | undefined> => {
      const result = await cpRun!.query(kubectl('get', ...args, '-o', 'json'));
      return result.code === 0 ? (JSON.parse(result.stdout).items as K8sObject[]) : undefined;
    };
    const nodeObjects = admin ? await getJson('nodes') : undefined;

    print('==> nodes');
    print(`    ${'node'.padEnd(14)} ${'role'.padEnd(14)} ${'reachable'.padEnd(10)} ${'prepared'.padEnd(9)} ${'joined'.padEnd(7)} ${'Ready'.padEnd(6)} versions`);
    for (const status of statuses) {
      const { node, facts } = status;
      const object = nodeObjects?.find((o) => o.metadata.name === node.name);
      const ready = object ? object.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') : nodeObjects ? false : undefined;
      const prepared = facts ? Boolean(facts.kubernetes.kubeadm && facts.kubernetes.kubelet) : undefined;
      const versions = facts ? [
        facts.kubernetes.kubelet && `kubelet ${facts.kubernetes.kubelet}`,
        facts.kubernetes.kubeadm && `kubeadm ${facts.kubernetes.kubeadm}`,
        facts.kubernetes.controlPlane && `control plane ${facts.kubernetes.controlPlane}`,
        object?.status?.nodeInfo?.kubeletVersion && `Node reports ${object.status.nodeInfo.kubeletVersion}`,
      ].filter(Boolean).join(', ') : '';
      print(`    ${node.name.padEnd(14)} ${node.role.padEnd(14)} ${yesNo(!status.problem).padEnd(10)} ${yesNo(prepared).padEnd(9)} ${yesNo(status.joined).padEnd(7)} ${yesNo(ready).padEnd(6)} ${versions || '-'}`);
      if (status.problem) {
        print(`      ${status.problem}`);
        problems.push(status.problem);
      } else if (!ready) {
        problems.push(`${node.name} is not ${prepared ? (status.joined ? 'Ready' : 'joined') : 'prepared'}`);
      }
      const wanted = config.kubernetes.version;
      const other = facts && [facts.kubernetes.kubelet, facts.kubernetes.kubeadm, facts.kubernetes.controlPlane].find((v) => v && v !== wanted);
      if (other) problems.push(`${node.name} runs Kubernetes ${other}, the config says ${wanted}`);
    }
    if (admin) {
      // The control plane's certificates: kubeadm makes them for a year.
      try {
        const expiry = expiryLine(await readExpirations(cpRun!), new Date());
        print(`==> certificates (${cp.name})`);
        print(`    ${expiry.line}`);
        if (expiry.warning) print(`    ${expiry.warning}`);
        if (expiry.problem) problems.push(expiry.problem);
      } catch (error) {
        print(`==> certificates: not read (${reason(error)})`);
      }
      await etcdView(config, cpRun!, print, problems);
      await clusterView(config, cpRun!, getJson, print, problems);
    } else {
      const why = cpStatus.problem ? `${cp.name} cannot be reached` : `${cp.name} has no ${ADMIN_CONF} (not initialised)`;
      print(`==> add-ons and checks: not available, ${why}`);
      problems.push(why);
    }
  } finally {
    await SshHost.closeAll();
    print(problems.length ? `==> status: not healthy (${problems.length} problem(s)); nothing was changed` : '==> status: healthy; nothing was changed');
  }
  if (problems.length) throw new UserError(problems.map((p) => `status: ${p}`));
}

/** etcd's members (one per control plane) and each one's health, asked on the first control plane's etcd. */
async function etcdView(config: ClusterConfig, cpRun: NodeRun, print: (line: string) => void, problems: string[]): Promise<void> {
  const members = await etcdMembers(cpRun, controlPlane(config));
  if (!members.length) {
    print('==> etcd: no answer from etcdctl in the etcd pod');
    problems.push('etcd did not answer');
    return;
  }
  const healthy = members.filter((m) => m.healthy).length;
  print(`==> etcd members (${healthy}/${members.length} healthy)`);
  const names = controlPlanes(config).map((n) => n.name);
  for (const m of members) {
    print(`    ${m.healthy ? 'ok  ' : 'DOWN'} ${m.name.padEnd(14)} ${(m.clientUrl ?? '-').padEnd(28)} ${m.learner ? 'learner' : 'voting'}${m.error ? `: ${m.error}` : ''}`);
    if (!m.healthy) problems.push(`etcd member ${m.name} is not healthy (${m.error})`);
    if (!names.includes(m.name)) problems.push(`etcd member ${m.name} is no control plane of cluster.yaml (a machine that is gone?): remove it with etcdctl member remove, or list the node again`);
  }
}

/** The add-ons' rollouts and the HTTP checks, as the control plane sees them. */
async function clusterView(config: ClusterConfig, cpRun: NodeRun, getJson: (...args: string[]) => Promise<K8sObject[] | undefined>, print: (line: string) => void, problems: string[]): Promise<void> {
  print('==> add-ons');
  const objects = (await getJson('daemonsets,deployments', '--all-namespaces')) ?? [];
  for (const w of workloads(config)) {
    const state = rollout(objects.find((o) => o.kind === w.kind && o.metadata.name === w.name && (o.metadata.namespace ?? 'default') === w.namespace));
    print(`    ${state.ok ? 'ok  ' : 'WAIT'} ${`${w.namespace}/${w.kind.toLowerCase()}/${w.name}`.padEnd(50)} ${state.text}`);
    if (!state.ok) problems.push(`${w.kind.toLowerCase()} ${w.namespace}/${w.name}: ${state.text}`);
  }

  print('==> checks (from the control-plane node)');
  const skipped = checksSkipped(config);
  if (skipped) {
    print(`    ${skipped}`);
  } else {
    const checks = await verify(cpRun, config, 1, 0);
    for (const c of checks) print(`    ${checkLine(c)}`);
    const failed = checks.filter((c) => !c.ok);
    if (failed.length) problems.push(`${failed.length} of ${checks.length} HTTP check(s) failed`);
  }
}
