/**
 * scripts/bootstrap.mjs upgrade: a running cluster moved to the kubernetes.version of cluster.yaml, the way
 * kubeadm documents it. First what cannot work is refused, before anything changes (a downgrade, a jump over a
 * minor, nodes no plan can bring together). Then the control plane: the package repository of the new minor,
 * kubeadm's package (unheld, installed, held again), `kubeadm upgrade plan` and `kubeadm upgrade apply`, then
 * its kubelet. Then the other control planes, one at a time, each with `kubeadm upgrade node` (its static pods)
 * and its kubelet. Then every worker, a few at a time (--workers-at-once, default 1): kubeadm's package,
 * `kubeadm upgrade node`, drained, kubelet and kubectl moved to the new pin and held, the kubelet restarted,
 * Ready at the new version, uncordoned. Then the add-ons again from the new config, and the checks.
 * Each step looks first, so a run stopped halfway continues where it stopped.
 */
import { controlPlane, isSingleNode } from '../../config/nodes';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import { compareVersions, minorOf, testedRelease } from '../../config/versions';
import { type NodeRun, type Step, StepFailed, summarize } from '../engine/steps';
import type { NodeFacts } from '../node/facts';
import { API_SERVER_MANIFEST, apiServerVersion, KUBELET_CONF } from '../node/kubeadm';
import { OS_ADAPTERS } from '../os/adapters';
import { kubectl, queryRetried, runRetried } from './apply';
import type { ClusterRun } from './manager';

/** The control plane's version now: the API server's image tag (undefined: no control plane there). */
export const controlPlaneVersion = (facts: NodeFacts | undefined) => facts?.kubernetes.controlPlane;

/** The release to go through when a jump skips a minor, e.g. 1.36.5 for 1.35 -> 1.37. */
function between(fromMinor: number): string {
  return testedRelease(fromMinor + 1) ?? `1.${fromMinor + 1}.<newest patch>`;
}

/**
 * Every reason the cluster cannot be upgraded to kubernetes.version, all at once, before anything changes.
 * `inCluster`: whether each node has joined (has a kubelet.conf).
 */
export function upgradeProblems(config: ClusterConfig, facts: ReadonlyMap<string, NodeFacts>, inCluster: ReadonlyMap<string, boolean>): string[] {
  const target = config.kubernetes.version;
  const cp = controlPlane(config);
  const running = controlPlaneVersion(facts.get(cp.name));
  const problems: string[] = [];
  for (const node of config.nodes) {
    if (!inCluster.get(node.name)) problems.push(`${node.name}: is not part of the cluster (no ${KUBELET_CONF}); upgrade moves a running cluster: bootstrap the node at the cluster's version first, or take it out of cluster.yaml`);
  }
  if (!running) {
    problems.push(`${cp.name}: runs no control plane (no ${API_SERVER_MANIFEST}): there is nothing to upgrade; bootstrap the cluster instead`);
    return problems;
  }
  if (compareVersions(target, running) < 0) {
    problems.push(`kubernetes.version ${target} is older than the control plane's ${running}: Kubernetes cannot be downgraded; set kubernetes.version back to ${running}`);
    return problems;
  }
  if (minorOf(target) - minorOf(running) > 1) {
    problems.push(`kubernetes.version ${target} skips a minor: the control plane runs ${running}, and kubeadm upgrades one minor at a time; set kubernetes.version to ${between(minorOf(running))}, run upgrade, then set ${target} and run it again`);
    return problems;
  }
  for (const node of config.nodes) {
    const versions = facts.get(node.name)?.kubernetes ?? {};
    for (const [what, version] of Object.entries({ kubelet: versions.kubelet, kubeadm: versions.kubeadm })) {
      if (version === undefined) {
        if (inCluster.get(node.name)) problems.push(`${node.name}: has no ${what} package installed, though it is in the cluster; install ${what} ${running} (or run the bootstrap at ${running}) first`);
      } else if (compareVersions(version, target) > 0) {
        problems.push(`${node.name}: has ${what} ${version}, newer than kubernetes.version ${target}; the plan cannot bring it back: set kubernetes.version to ${version} or newer`);
      } else if (minorOf(target) - minorOf(version) > 1) {
        problems.push(`${node.name}: has ${what} ${version}, more than one minor below ${target}; bring it to 1.${minorOf(target) - 1} first (kubernetes.version ${between(minorOf(version))}, upgrade), then to ${target}`);
      }
    }
  }
  return problems;
}

/** What an upgrade will change, node by node, for the question before it starts (empty: nothing to upgrade). */
export function upgradeChanges(config: ClusterConfig, facts: ReadonlyMap<string, NodeFacts>): string[] {
  const target = config.kubernetes.version;
  const cp = controlPlane(config);
  const lines: string[] = [];
  for (const node of config.nodes) {
    const k = facts.get(node.name)!.kubernetes;
    const work: string[] = [];
    if (node.name === cp.name && k.controlPlane !== target) work.push(`kubeadm upgrade apply v${target} (control plane ${k.controlPlane} -> ${target})`);
    if (node.name !== cp.name && node.role === 'control-plane' && k.controlPlane !== target) work.push(`kubeadm upgrade node (control plane ${k.controlPlane} -> ${target})`);
    else if (node.name !== cp.name && k.kubelet !== target) work.push('kubeadm upgrade node');
    if (k.kubelet !== target || k.kubeadm !== target) work.push(`${isSingleNode(config) ? '' : 'drained, '}kubelet ${k.kubelet} -> ${target}, kubeadm and kubectl too, uncordoned`);
    if (work.length) lines.push(`${node.name} (${node.address}): ${work.join('; ')}`);
  }
  return lines;
}

export interface UpgradeStepOptions {
  /** The control plane's run: where kubectl drains, waits and uncordons. */
  cp: NodeRun;
  facts: NodeFacts;
  retryDelayMs: number;
  /** kubectl's --timeout for the drain and the waits. */
  waitTimeout: string;
}

/** The node's Kubernetes packages pinned to a version: unheld, installed, held again; returns what it did. */
async function movePackages(run: NodeRun, facts: NodeFacts, names: string[], version: string): Promise<string | undefined> {
  const os = OS_ADAPTERS[facts.family];
  const behind: { name: string; from: string }[] = [];
  for (const name of names) {
    const installed = await os.installedVersion(run, name);
    if (installed === undefined || !os.matches(installed, { name, version })) behind.push({ name, from: installed?.replace(/-.*$/, '') ?? 'none' });
  }
  if (!behind.length) return undefined;
  await os.unhold(run, behind.map((p) => p.name));
  await os.install(run, behind.map((p) => ({ name: p.name, version })), false);
  await os.hold(run, behind.map((p) => p.name));
  return behind.map((p) => `${p.name} ${p.from} -> ${version}`).join(', ');
}

/**
 * kubectl run on the control plane for a node's step (its drain, its wait, its uncordon): a failure is that
 * node's, in that step (the control plane's own run may be doing something else meanwhile).
 */
async function forNode<T>(node: ClusterNode, step: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof StepFailed) throw new StepFailed(node.name, step, error.argv, error.result);
    throw error;
  }
}

/** The version the cluster's Node object reports for the node's kubelet ('' when not known yet). */
async function reportedKubelet(cp: NodeRun, name: string, retryDelayMs: number): Promise<string> {
  const result = await queryRetried(cp, kubectl('get', 'node', name, '-o', 'jsonpath={.status.nodeInfo.kubeletVersion}'), retryDelayMs);
  return result.stdout.trim().replace(/^v/, '');
}

/**
 * One node's upgrade. The control plane (`first`): kubeadm upgrade plan and apply; every other node: kubeadm
 * upgrade node. Then, on every node: drained (unless it is the only node), kubelet and kubectl at the new
 * version, the kubelet restarted, Ready at that version, uncordoned.
 */
export function upgradeSteps(config: ClusterConfig, node: ClusterNode, first: boolean, options: UpgradeStepOptions): Step[] {
  const target = config.kubernetes.version;
  const os = OS_ADAPTERS[options.facts.family];
  const { cp, retryDelayMs, waitTimeout } = options;
  const drains = !isSingleNode(config);
  // As at init and join: on cgroup v1 (kubernetes.allowCgroupV1) kubeadm's SystemVerification check fails.
  const ignoredChecks = config.kubernetes.allowCgroupV1 ? ['--ignore-preflight-errors=SystemVerification'] : [];
  const nodeLine = (run: NodeRun, text: string) => run.out.line(`[${node.name}] ${text}`);
  const kubeletAt = async (run: NodeRun) => {
    const kubelet = await os.installedVersion(run, 'kubelet');
    return kubelet !== undefined && os.matches(kubelet, { name: 'kubelet', version: target });
  };
  return [
    {
      title: 'package repositories',
      async apply(run) {
        return summarize(await os.addRepositories(run, config, options.facts.release));
      },
    },
    {
      title: 'kubeadm package',
      apply: (run) => movePackages(run, options.facts, ['kubeadm'], target),
    },
    ...(first ? [{
      title: 'kubeadm upgrade apply',
      async apply(run: NodeRun) {
        const running = apiServerVersion(await run.read(API_SERVER_MANIFEST));
        if (running === target) {
          nodeLine(run, `the control plane already runs ${target}: kubeadm upgrade apply skipped`);
          return undefined;
        }
        // What kubeadm itself says can be upgraded to what (its output goes to the node's log).
        await run.run(['kubeadm', 'upgrade', 'plan', `v${target}`, ...ignoredChecks]);
        await run.run(['kubeadm', 'upgrade', 'apply', `v${target}`, '--yes', ...ignoredChecks]);
        return `control plane ${running ?? '?'} -> ${target} (API server, controller manager, scheduler, etcd, CoreDNS, kube-proxy)`;
      },
    }] : [{
      title: 'kubeadm upgrade node',
      async apply(run: NodeRun) {
        // A further control plane: its static pods move to the cluster's version (done once its API server runs it).
        const controlPlaneAt = node.role === 'control-plane' ? apiServerVersion(await run.read(API_SERVER_MANIFEST)) : undefined;
        if (node.role === 'control-plane' ? controlPlaneAt === target : await kubeletAt(run)) return undefined;
        await run.run(['kubeadm', 'upgrade', 'node', ...ignoredChecks]);
        return node.role === 'control-plane'
          ? `control plane ${controlPlaneAt ?? '?'} -> ${target} (API server, controller manager, scheduler, etcd), and the kubelet's configuration`
          : "the kubelet's configuration from the upgraded cluster";
      },
    }]),
    {
      title: 'drain',
      async apply(run) {
        if (!drains) return undefined;
        const kubelet = await os.installedVersion(run, 'kubelet');
        if (kubelet !== undefined && os.matches(kubelet, { name: 'kubelet', version: target }) && (await forNode(node, 'drain', () => reportedKubelet(cp, node.name, retryDelayMs))) === target) return undefined;
        // Evictions honour PodDisruptionBudgets (tomcat6 loses at most one replica at a time).
        await forNode(node, 'drain', () => runRetried(cp, kubectl('drain', node.name, '--ignore-daemonsets', '--delete-emptydir-data', `--timeout=${waitTimeout}`), retryDelayMs));
        return `${node.name} drained (its pods moved to the other nodes; DaemonSets stay)`;
      },
    },
    {
      title: 'kubelet and kubectl',
      async apply(run) {
        const moved = await movePackages(run, options.facts, ['kubelet', 'kubectl'], target);
        if (!moved && (await forNode(node, 'kubelet and kubectl', () => reportedKubelet(cp, node.name, retryDelayMs))) === target) return undefined;
        await run.run(['systemctl', 'daemon-reload']);
        await run.run(['systemctl', 'restart', 'kubelet']);
        return `${moved ? `${moved}; ` : ''}kubelet restarted`;
      },
    },
    {
      title: 'ready',
      async apply() {
        await forNode(node, 'ready', () => queryRetried(cp, kubectl('wait', `--for=jsonpath={.status.nodeInfo.kubeletVersion}=v${target}`, `node/${node.name}`, `--timeout=${waitTimeout}`), retryDelayMs));
        await forNode(node, 'ready', () => queryRetried(cp, kubectl('wait', '--for=condition=Ready', `node/${node.name}`, `--timeout=${waitTimeout}`), retryDelayMs));
        return undefined;
      },
    },
    {
      title: 'uncordon',
      async apply() {
        const unschedulable = (await forNode(node, 'uncordon', () => queryRetried(cp, kubectl('get', 'node', node.name, '-o', 'jsonpath={.spec.unschedulable}'), retryDelayMs))).stdout.trim();
        if (unschedulable !== 'true' && !cp.planning) return undefined;
        await forNode(node, 'uncordon', () => runRetried(cp, kubectl('uncordon', node.name), retryDelayMs));
        return `${node.name} takes pods again`;
      },
    },
  ];
}

/** One node's upgrade, as a phase runs it; returns its progress summary. */
export async function upgradeNode(cluster: ClusterRun, node: ClusterNode, first: boolean, waitTimeout: string): Promise<string> {
  const cp = cluster.nodeRun(controlPlane(cluster.config));
  const facts = cluster.facts.get(node.name)!;
  const before = facts.kubernetes.kubelet;
  const changed = await cluster.nodeRun(node).runSteps('upgrade', upgradeSteps(cluster.config, node, first, { cp, facts, retryDelayMs: cluster.options.retryDelayMs ?? 5000, waitTimeout }));
  const target = cluster.config.kubernetes.version;
  if (!changed) return `already at ${target}`;
  const from = first ? controlPlaneVersion(facts) ?? before : before;
  // An earlier run moved it and stopped before the end (Ready, uncordoned): this one finished the work.
  if (from === target) return `finished the upgrade to ${target} that an earlier run began`;
  cluster.upgraded.push({ node: node.name, from: from ?? '?', to: target });
  return `upgraded ${from} -> ${target}`;
}
