/**
 * The whole-cluster runs as data: BOOTSTRAP and RESET are the ordered lists
 * of phases scripts/bootstrap.mjs runs (after connecting to every node, and
 * before the summary). Each phase says which nodes it works on, whether a
 * failure stops the run, and what it does on one node; manager.ts runs them.
 *
 *   bootstrap: facts (checked together) -> prep -> init (the first control plane) -> join control
 *              planes (one at a time) -> join (workers) -> apply -> verify
 *   reset:     facts -> drain -> reset workers -> reset control planes (one at a time) -> remove nodes
 *              -> reset control plane (the first; drain and remove nodes only for nodes leaving a
 *              cluster that stays: reset --only)
 *   upgrade:   facts (checked together, with what an upgrade cannot do) -> upgrade control plane
 *              -> upgrade control planes (the others, one at a time) -> upgrade workers -> apply -> verify
 *              (upgrade.ts has each node's steps)
 *
 * Nothing changes anywhere until every node is reachable and fit: facts only
 * reads, and refuses the whole run before prep.
 */
import * as path from 'node:path';
import { UserError } from '../../config/errors';
import { controlPlane, controlPlanes, isHighlyAvailable, joiningControlPlanes } from '../../config/nodes';
import type { ClusterNode } from '../../config/schema';
import { retry } from '../engine/retry';
import { type NodeRun, StepFailed } from '../engine/steps';
import { describeFacts, gatherFacts, identityLabel, isInCluster, nodeIdentity, preflightProblems, preflightWarnings } from '../node/facts';
import { initSteps } from '../node/init';
import { joinSteps } from '../node/join';
import type { JoinDetails } from '../node/kubeadm';
import { DEFAULT_TICKET_FILE } from '../node/kubeadm';
import { prepSteps } from '../node/prep';
import { resetSteps, undoPrepSteps } from '../node/reset';
import { API_ATTEMPTS, API_UNAVAILABLE, applyStages, kubectl, WAIT_TIMEOUT, waitForClusterDns } from './apply';
import { TOKEN_GONE } from './join-tokens';
import type { ClusterRun, Phase } from './manager';
import { backupSteps, restoreSteps, waitNodesReady } from './backup';
import { expiryText, renewSteps } from './certs';
import { etcdMembers } from './etcd';
import { upgradeChanges, upgradeNode, upgradeProblems } from './upgrade';
import { checksSkipped, verify } from './verify';

// ---- which nodes a phase works on ---------------------------------------------

const everyNode = (cluster: ClusterRun) => cluster.nodes;
/** Named by --only, and not failed earlier. */
const selected = (cluster: ClusterRun) => cluster.nodes.filter((n) => cluster.isSelected(n));
const selectedWorkers = (cluster: ClusterRun) => selected(cluster).filter((n) => n.role === 'worker');
/** The selected control planes besides the first (which kubeadm init made). */
const selectedOtherControlPlanes = (cluster: ClusterRun) => selected(cluster).filter((n) => n.role === 'control-plane' && n.name !== controlPlane(cluster.config).name);
const theControlPlane = (cluster: ClusterRun) => [controlPlane(cluster.config)];
const changedSteps = (changed: number) => (changed ? `${changed} step(s) changed` : 'nothing to change');

// ---- the phases -------------------------------------------------------------------

/**
 * Every node's facts; with a check, every reason any node is unfit, all at once, before any change:
 * `bootstrap`, fit to be set up as configured; `upgrade`, fit and able to move to kubernetes.version.
 */
function factsPhase(check?: 'bootstrap' | 'upgrade'): Phase {
  return {
    title: 'facts',
    nodes: everyNode,
    onFailure: 'stop',
    async run(cluster, node) {
      const facts = await gatherFacts(cluster.nodeRun(node), cluster.config, node);
      cluster.facts.set(node.name, facts);
      return describeFacts(facts);
    },
    async after(cluster) {
      if (check) await checkTogether(cluster, check);
    },
  };
}

/** How cloned machines get apart again, per thing they share. */
const CLONE_FIX: Record<string, string> = {
  product_uuid: 'cloned VMs need a new product_uuid (regenerate it in the hypervisor)',
  'MAC address': 'cloned VMs need a new MAC address (regenerate it in the hypervisor)',
  'machine-id': 'cloned machines or containers need a new machine-id (rm /etc/machine-id && systemd-machine-id-setup, then reboot)',
};

/** Preflight of every node, and what only shows across nodes (cloned VMs). */
async function checkTogether(cluster: ClusterRun, check: 'bootstrap' | 'upgrade'): Promise<void> {
  const problems: string[] = [];
  const factsOf = (node: ClusterNode) => cluster.facts.get(node.name)!;
  const inCluster = new Map<string, boolean>();
  const upgrading = check === 'upgrade';
  for (const node of cluster.nodes) {
    inCluster.set(node.name, await isInCluster(cluster.nodeRun(node)));
    problems.push(...preflightProblems(cluster.config, node, factsOf(node), inCluster.get(node.name)!, upgrading));
  }
  if (upgrading) problems.push(...upgradeProblems(cluster.config, cluster.facts, inCluster));
  const duplicates = (label: string, values: (node: ClusterNode) => string[]) => {
    const seen = new Map<string, string>();
    for (const node of cluster.nodes) {
      for (const value of values(node)) {
        const other = seen.get(value);
        if (other) problems.push(`${node.name} and ${other} have the same ${label} ${value}; ${CLONE_FIX[label]} before kubeadm can tell them apart`);
        else seen.set(value, node.name);
      }
    }
  };
  // kubeadm tells nodes apart by product_uuid; system containers share the host's (or have none): their machine-id.
  duplicates('product_uuid', (n) => (identityLabel(factsOf(n)) === 'product_uuid' ? [nodeIdentity(factsOf(n))!] : []));
  duplicates('machine-id', (n) => (identityLabel(factsOf(n)) === 'machine-id' && nodeIdentity(factsOf(n)) ? [nodeIdentity(factsOf(n))!] : []));
  duplicates('MAC address', (n) => factsOf(n).macs);
  if (problems.length) throw new UserError(problems);
  for (const node of cluster.nodes) for (const warning of preflightWarnings(cluster.config, node, factsOf(node))) cluster.options.progress(`    ${warning}`);
  // Cloned VMs share a hostname until prep gives each its node name: reported, not refused.
  const byHostname = new Map<string, string[]>();
  for (const node of cluster.nodes) byHostname.set(factsOf(node).hostname, [...(byHostname.get(factsOf(node).hostname) ?? []), node.name]);
  for (const [hostname, names] of byHostname) {
    if (names.length > 1) cluster.options.progress(`    note: ${names.join(', ')} share the hostname ${hostname}${cluster.planning ? ' (assumed, as for fresh clones)' : ''}; prep renames each to its node name`);
  }
  if (!cluster.planning && cluster.options.confirm) {
    const changes = upgrading ? upgradeChanges(cluster.config, cluster.facts) : plannedChanges(cluster, inCluster);
    if (changes.length) await cluster.options.confirm(changes);
  }
}

/**
 * What a bootstrap will change, from the facts just read: nodes without the configured Kubernetes
 * prepared, a control plane without a cluster initialised, workers outside it joined, and then the
 * manifests applied. Empty when the selected nodes already form the configured cluster (a re-run: prep
 * and the apply then change only what differs from cluster.yaml).
 */
export function plannedChanges(cluster: ClusterRun, inCluster: Map<string, boolean>): string[] {
  const { version, controlPlaneEndpoint: endpoint } = cluster.config.kubernetes;
  const selectedNodes = selected(cluster);
  const lines: string[] = [];
  for (const node of selectedNodes) {
    const facts = cluster.facts.get(node.name)!;
    const prepared = facts.kubernetes.kubeadm === version && facts.kubernetes.kubelet === version && facts.containerd !== undefined;
    const joined = inCluster.get(node.name) === true;
    const work = [
      ...(prepared ? [] : [`prepared (containerd, kubelet/kubeadm/kubectl ${version} held, swap off, kernel settings, firewall ports)`]),
      ...(joined ? [] : [node.name === controlPlane(cluster.config).name ? `kubeadm init: a new cluster, Kubernetes ${version}${endpoint ? `, API server at the virtual IP ${endpoint}` : ''}`
        : node.role === 'control-plane' ? 'kubeadm join --control-plane (an etcd member and API server more)' : 'kubeadm join']),
    ];
    if (work.length) lines.push(`${node.name} (${node.address}): ${work.join('; then ')}`);
  }
  if (lines.length) lines.push(`then the manifests of ${cluster.options.manifests.map((m) => m.stage).join(', ')}, applied on the control plane`);
  return lines;
}

const prep: Phase = {
  title: 'prep',
  nodes: selected,
  onFailure: 'continue',
  reaches: 'prepared',
  async run(cluster, node) {
    return changedSteps(await cluster.nodeRun(node).runSteps('prep', prepSteps(cluster.config, node, cluster.facts.get(node.name)!)));
  },
};

/** The first control plane failed (prep or init): nothing can be initialised or joined. */
function initFailed(cluster: ClusterRun): string | undefined {
  const cp = controlPlane(cluster.config);
  const failed = cluster.report(cp).failed;
  return failed ? `${cp.name}: the control-plane node failed: ${failed}` : undefined;
}

const init: Phase = {
  title: 'init',
  nodes: theControlPlane,
  onFailure: 'stop',
  reaches: 'control plane',
  blocked: initFailed,
  async run(cluster, node) {
    const notYet = notReadyForKubeadm(cluster, node);
    if (notYet) return notYet;
    const run = cluster.nodeRun(node);
    const containerNodes = [...cluster.facts.values()].some((facts) => facts.container !== undefined);
    const changed = await retry(() => run.runSteps('init', initSteps(cluster.config, node, { containerNodes }, vipInterface(cluster, node))), runtimeRetries(cluster, run, node));
    return changed ? 'initialised' : 'already initialised';
  },
};

/** The interface that holds a node's address (its facts), where kube-vip announces the virtual IP. */
const vipInterface = (cluster: ClusterRun, node: ClusterNode) => cluster.facts.get(node.name)?.nodeInterface?.name;

/** One node's kubeadm join: a worker with a token, a control plane with the certificate key too. */
async function joinNode(cluster: ClusterRun, node: ClusterNode): Promise<string> {
  const notYet = notReadyForKubeadm(cluster, node);
  if (notYet) return notYet;
  const run = cluster.nodeRun(node);
  let used: JoinDetails | undefined;
  // The token expired (or was deleted) between minting and joining: a fresh one, once.
  let tokenGone = false;
  let tokenReplaced = false;
  const details = async () => {
    const replacing = tokenGone ? used : undefined;
    tokenGone = false;
    if (node.role === 'control-plane') return (used = await cluster.joinTokens.forControlPlane(replacing));
    return (used = await (replacing ? cluster.joinTokens.replace(replacing) : cluster.joinTokens.get()));
  };
  const changed = await retry(() => run.runSteps('join', joinSteps(cluster.config, node, details, vipInterface(cluster, node))), {
    ...runtimeRetries(cluster, run, node),
    retryOn: (error) => {
      tokenGone = !tokenReplaced && used !== undefined && error instanceof StepFailed && TOKEN_GONE.test(error.output);
      tokenReplaced ||= tokenGone;
      return tokenGone || runtimeUnanswered(error) || apiUnreachableEarly(error);
    },
    onRetry: (_attempt, error) => run.out.line(tokenGone ? `[${node.name}] the join token was no longer valid; minting a fresh one`
      : apiUnreachableEarly(error) ? `[${node.name}] the API server did not answer kubeadm join before it changed anything (the virtual IP moving, a control plane restarting); trying again` : runtimeRetryLine(node)),
  });
  return changed ? 'joined' : 'already joined';
}

/** The other control planes, one at a time: each adds an etcd member, which must not overlap another's. */
const joinControlPlanes: Phase = {
  title: 'join control planes',
  nodes: selectedOtherControlPlanes,
  concurrency: () => 1,
  onFailure: 'stop',
  reaches: 'joined',
  blocked: initFailed,
  async run(cluster, node) {
    // A join that failed may have left etcd halfway (a member added, not running): no further member joins after it.
    const others = joiningControlPlanes(cluster.config);
    const failed = others.slice(0, others.findIndex((n) => n.name === node.name)).find((n) => cluster.report(n).failed);
    if (failed) throw new UserError([`${node.name}: not joined, because ${failed.name} failed to join before it (etcd takes its members one at a time); see ${failed.name}'s log, fix it, and run again`]);
    return joinNode(cluster, node);
  },
};

const join: Phase = {
  title: 'join',
  nodes: selectedWorkers,
  onFailure: 'continue',
  reaches: 'joined',
  run: joinNode,
};

/**
 * A live plan (--dry-run --connect) cannot ask a node's kubeadm before prep has installed it: the phase is
 * said to come after prep instead of planned.
 */
function notReadyForKubeadm(cluster: ClusterRun, node: ClusterNode): string | undefined {
  if (!cluster.options.live || cluster.facts.get(node.name)?.kubernetes.kubeadm === cluster.config.kubernetes.version) return undefined;
  return `planned once prep has installed kubeadm ${cluster.config.kubernetes.version} (the node has ${cluster.facts.get(node.name)?.kubernetes.kubeadm ?? 'none'} now)`;
}

/**
 * kubeadm's preflight gives the container runtime a fixed 2 seconds to answer
 * (no option changes it); on a starved node (an overloaded host, VMs under
 * emulation) containerd misses that. The preflight has changed nothing yet,
 * so the init or join is tried again, up to RUNTIME_ATTEMPTS times.
 */
export const RUNTIME_UNANSWERED = /\[ERROR CRI\]: could not connect to the container runtime/;
export const RUNTIME_ATTEMPTS = 6;
/**
 * kubeadm join found no API server in its first phases, which change nothing on the node (preflight and its
 * discovery, a control plane's download of the certificates): tried again like the runtime's silence. A moment
 * without the API server happens while the virtual IP moves or a control plane's pods restart.
 */
export const API_UNREACHABLE_EARLY = /error execution phase (preflight|control-plane-prepare\/download-certs):.*(Client\.Timeout exceeded|connection refused|i\/o timeout|no route to host|TLS handshake timeout|EOF)/;
const apiUnreachableEarly = (error: unknown) => error instanceof StepFailed && API_UNREACHABLE_EARLY.test(error.output);
const runtimeUnanswered = (error: unknown) => error instanceof StepFailed && RUNTIME_UNANSWERED.test(error.output);
const runtimeRetryLine = (node: ClusterNode) => `[${node.name}] the container runtime did not answer kubeadm's preflight within its fixed 2 s (a busy node); trying again`;
function runtimeRetries(cluster: ClusterRun, run: NodeRun, node: ClusterNode) {
  return {
    attempts: RUNTIME_ATTEMPTS,
    delayMs: cluster.options.retryDelayMs ?? 5000,
    retryOn: runtimeUnanswered,
    onRetry: () => run.out.line(runtimeRetryLine(node)),
  };
}

/** kubectl's --timeout for the apply's waits and a reset's drains: BOOTSTRAP_WAIT_SECONDS, or WAIT_TIMEOUT. */
const waitTimeout = (cluster: ClusterRun) => (cluster.options.waitSeconds === undefined ? WAIT_TIMEOUT : `${cluster.options.waitSeconds}s`);

const apply: Phase = {
  title: 'apply',
  nodes: theControlPlane,
  onFailure: 'stop',
  async run(cluster, cp) {
    if (cluster.options.live && !cluster.facts.get(cp.name)?.kubernetes.controlPlane) return 'planned once init has run: the control plane has no cluster yet';
    // The control plane and the workers that joined (now or before): a node that never joined is not waited for.
    const inCluster = cluster.nodes.filter((n) => n.name === cp.name || cluster.report(n).state === 'joined').map((n) => n.name);
    const { manifests, retryDelayMs = 5000 } = cluster.options;
    const run = cluster.nodeRun(cp);
    const changes = await applyStages(run, cluster.config, inCluster, { manifests, retryDelayMs, waitTimeout: waitTimeout(cluster), live: cluster.options.live });
    await waitForClusterDns(run, retryDelayMs, waitTimeout(cluster));
    return changes.length ? changes.join('; ') : `${manifests.length} stages unchanged`;
  },
};

const verifyPhase: Phase = {
  title: 'verify',
  nodes: theControlPlane,
  onFailure: 'stop',
  async run(cluster, cp) {
    const { verifyAttempts = 10, retryDelayMs = 5000 } = cluster.options;
    cluster.checks = await verify(cluster.nodeRun(cp), cluster.config, verifyAttempts, retryDelayMs);
    return checksSkipped(cluster.config) ?? `${cluster.checks.filter((c) => c.ok).length}/${cluster.checks.length} answered HTTP 200`;
  },
};

/** One node taken out of the cluster (and, with --undo-prep, unprepared). */
async function resetNode(cluster: ClusterRun, node: ClusterNode): Promise<string> {
  const run = cluster.nodeRun(node);
  const virtualIp = node.role === 'control-plane' ? cluster.config.kubernetes.controlPlaneEndpoint : undefined;
  let changed = await run.runSteps('reset', resetSteps(DEFAULT_TICKET_FILE, virtualIp));
  if (cluster.options.undoPrep) changed += await run.runSteps('reset --undo-prep', undoPrepSteps(cluster.config, node, cluster.facts.get(node.name)!.family));
  return changedSteps(changed);
}

/**
 * Nodes taken out of a cluster that stays (reset --only): workers, or control planes after the first (whose
 * kubeadm reset removes their etcd member); drained before, their Node objects deleted after.
 */
const leavingNodes = (cluster: ClusterRun) => (cluster.options.only ? selected(cluster).filter((n) => n.name !== controlPlane(cluster.config).name) : []);
const ifNodesLeave = (cluster: ClusterRun) => (leavingNodes(cluster).length ? theControlPlane(cluster) : []);

/**
 * Whether the cluster has a Node of this name: only NotFound says no (a worker that never joined). An API
 * server that does not answer right now is asked again; any other failure fails the phase.
 */
async function hasNode(run: NodeRun, name: string, retryDelayMs: number): Promise<boolean> {
  const argv = kubectl('get', 'node', name, '-o', 'name');
  return retry(async () => {
    const result = await run.query(argv);
    if (result.code === 0) return true;
    if (/\(NotFound\)/.test(result.stderr)) return false;
    throw new StepFailed(run.nodeName, run.stepTitle, argv, result);
  }, {
    attempts: API_ATTEMPTS,
    delayMs: retryDelayMs,
    retryOn: (error) => error instanceof StepFailed && API_UNAVAILABLE.test(error.output),
    onRetry: (_attempt, error) => run.out.detail(`retrying: ${error instanceof Error ? error.message.split('\n')[0] : argv.join(' ')}`),
  });
}

/**
 * One kubectl command per leaving node that has a Node object (a node that
 * never joined has none), on the control plane; returns the nodes it ran for.
 */
async function forEachLeavingNode(cluster: ClusterRun, cp: ClusterNode, step: string, command: (worker: string) => string[]): Promise<string[]> {
  const run = cluster.nodeRun(cp);
  const done: string[] = [];
  for (const worker of leavingNodes(cluster)) {
    run.stepTitle = `${step} ${worker.name}`;
    if (!(await hasNode(run, worker.name, cluster.options.retryDelayMs ?? 5000))) continue;
    await run.run(command(worker.name));
    done.push(worker.name);
  }
  return done;
}

/** Their pods move to the other nodes first (as `kubectl drain` does for maintenance). */
const drainNodes: Phase = {
  title: 'drain',
  nodes: ifNodesLeave,
  onFailure: 'stop',
  async run(cluster, cp) {
    const drained = await forEachLeavingNode(cluster, cp, 'drain', (worker) => kubectl('drain', worker, '--ignore-daemonsets', '--delete-emptydir-data', '--force', `--timeout=${waitTimeout(cluster)}`));
    return drained.length ? `drained ${drained.join(', ')}` : 'nothing to drain';
  },
};

/** No NotReady Node left behind for a machine that is gone. */
const deleteNodes: Phase = {
  title: 'remove nodes',
  nodes: ifNodesLeave,
  onFailure: 'continue',
  async run(cluster, cp) {
    const removed = await forEachLeavingNode(cluster, cp, 'remove node', (worker) => kubectl('delete', 'node', worker));
    return removed.length ? `Node object(s) deleted: ${removed.join(', ')}` : 'nothing to remove';
  },
};

// Workers first, while the control plane still knows them; then the other control planes, one at a time (each
// leaves etcd, which keeps its quorum that way); then the first control plane.
const resetWorkers: Phase = {
  title: 'reset workers',
  nodes: selectedWorkers,
  onFailure: 'continue',
  reaches: 'reset',
  run: resetNode,
};

const resetJoinedControlPlanes: Phase = {
  title: 'reset control planes',
  nodes: selectedOtherControlPlanes,
  concurrency: () => 1,
  onFailure: 'continue',
  reaches: 'reset',
  run: resetNode,
};

const resetControlPlane: Phase = {
  title: 'reset control plane',
  nodes: (cluster) => selected(cluster).filter((n) => n.name === controlPlane(cluster.config).name),
  onFailure: 'continue',
  reaches: 'reset',
  run: resetNode,
};

/** The control plane first (kubeadm upgrade apply), then its kubelet. */
const upgradeControlPlane: Phase = {
  title: 'upgrade control plane',
  nodes: theControlPlane,
  onFailure: 'stop',
  reaches: 'control plane',
  run: (cluster, node) => upgradeNode(cluster, node, true, waitTimeout(cluster)),
};

/** Then the other control planes, one at a time (kubeadm upgrade node moves their static pods), each drained and back like a worker. */
const upgradeJoinedControlPlanes: Phase = {
  title: 'upgrade control planes',
  nodes: selectedOtherControlPlanes,
  concurrency: () => 1,
  onFailure: 'stop',
  reaches: 'joined',
  run: (cluster, node) => upgradeNode(cluster, node, false, waitTimeout(cluster)),
};

/** Then the workers, --workers-at-once at a time (default 1): each drained, upgraded, Ready again, uncordoned. */
const upgradeWorkers: Phase = {
  title: 'upgrade workers',
  nodes: selectedWorkers,
  concurrency: (cluster) => (cluster.planning ? 1 : cluster.options.workersAtOnce ?? 1),
  onFailure: 'stop',
  // In the cluster: the apply's waits include it.
  reaches: 'joined',
  run: (cluster, node) => upgradeNode(cluster, node, false, waitTimeout(cluster)),
};

/** How the control plane's restarts are waited for: the run's wait, in 2 s steps. */
const controlPlaneWaits = (cluster: ClusterRun) => ({ attempts: Math.max(1, Math.ceil((cluster.options.waitSeconds ?? 300) / 2)), delayMs: cluster.planning ? 0 : 2000 });

const backupPhase: Phase = {
  title: 'backup',
  nodes: theControlPlane,
  onFailure: 'stop',
  async run(cluster, cp) {
    const target = cluster.options.backup!;
    let saved = '';
    await cluster.nodeRun(cp).runSteps('backup', backupSteps(cp, target, cluster.options.retryDelayMs ?? 5000, (record, pkiDir) => {
      saved = `${record.size} bytes, SHA-256 ${record.sha256}`;
      cluster.notes.push(`backup: ${path.join(target.dir, record.file)} (${saved}; etcd revision ${record.etcd.revision}, ${record.etcd.totalKey} keys${record.kubernetes ? `, Kubernetes ${record.kubernetes}` : ''})`);
      cluster.notes.push(`        ${pkiDir}/: the PKI a control plane is rebuilt from, the CA keys included: keep it as safe as the cluster itself`);
      cluster.notes.push(`        restore it with: scripts/bootstrap.mjs restore ${path.join(target.dir, record.file)}`);
    }));
    return saved ? `saved (${saved})` : 'planned';
  },
};

/**
 * A snapshot restores one etcd member: with several, each would have to be restored from it at once with the
 * whole membership. Refused before anything changes, with the way that works: the other control planes out
 * first, the restore, then they join again.
 */
async function refuseSeveralMembers(cluster: ClusterRun, cp: ClusterNode): Promise<void> {
  if (cluster.planning) return;
  const members = await etcdMembers(cluster.nodeRun(cp), cp);
  const others = members.filter((m) => m.name !== cp.name).map((m) => m.name);
  if (!others.length) return;
  throw new UserError([`restore: etcd has ${members.length} members (${members.map((m) => m.name).join(', ')}); a snapshot is restored into one: take the other control planes out first (scripts/bootstrap.mjs reset --only ${others.join(',')}), restore, then join them again (scripts/bootstrap.mjs --only ${others.join(',')})`]);
}

const restorePhase: Phase = {
  title: 'restore',
  nodes: theControlPlane,
  onFailure: 'stop',
  async run(cluster, cp) {
    await refuseSeveralMembers(cluster, cp);
    await cluster.nodeRun(cp).runSteps('restore', restoreSteps(cp, cluster.options.snapshot!, controlPlaneWaits(cluster), cluster.options.now ?? (() => new Date())));
    return 'etcd runs on the snapshot';
  },
};

const nodesReady: Phase = {
  title: 'nodes ready',
  nodes: theControlPlane,
  onFailure: 'stop',
  run: (cluster) => waitNodesReady(cluster, waitTimeout(cluster)),
};

/** Every control plane has certificates of its own: renewed one at a time, so the others keep serving meanwhile. */
const renewPhase: Phase = {
  title: 'renew',
  nodes: (cluster) => controlPlanes(cluster.config),
  concurrency: () => 1,
  onFailure: 'stop',
  async run(cluster, cp) {
    const now = cluster.options.now ?? (() => new Date());
    let moved = '';
    await cluster.nodeRun(cp).runSteps('certs renew', renewSteps(cp, controlPlaneWaits(cluster), now, (before, after) => {
      const [first, next] = [before.certificates[0], after.certificates[0]];
      if (!first || !next) return;
      moved = `earliest expiry ${first.expires.toISOString()} -> ${next.expires.toISOString()}`;
      cluster.notes.push(`certificates: renewed${isHighlyAvailable(cluster.config) ? ` on ${cp.name}` : ''}; earliest expiry now ${next.name}, ${expiryText(next.expires, now())} (was ${expiryText(first.expires, now())})`);
      if (cp.name === controlPlane(cluster.config).name) cluster.notes.push('        the admin kubeconfig changed: fetch it again with scripts/bootstrap.mjs kubeconfig');
    }));
    return moved || 'planned';
  },
};

/** bare nodes to a working Ingress. */
export const BOOTSTRAP: readonly Phase[] = [factsPhase('bootstrap'), prep, init, joinControlPlanes, join, apply, verifyPhase];

/** the cluster taken down. */
export const RESET: readonly Phase[] = [factsPhase(), drainNodes, resetWorkers, resetJoinedControlPlanes, deleteNodes, resetControlPlane];

/** a running cluster moved to kubernetes.version, then its add-ons applied again from the new config. */
export const UPGRADE: readonly Phase[] = [factsPhase('upgrade'), upgradeControlPlane, upgradeJoinedControlPlanes, upgradeWorkers, apply, verifyPhase];

/** an etcd snapshot of the running cluster, copied to this machine. */
export const BACKUP: readonly Phase[] = [factsPhase(), backupPhase];

/** the cluster's state replaced by a snapshot's, then every node Ready again. */
export const RESTORE: readonly Phase[] = [factsPhase(), restorePhase, nodesReady];

/** the control plane's certificates renewed and loaded. */
export const RENEW: readonly Phase[] = [factsPhase(), renewPhase];
