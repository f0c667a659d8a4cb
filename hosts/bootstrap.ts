/**
 * The whole cluster, hands-off: an ordered list of phases over all nodes,
 * each node's part run through its Host (this machine, or SSH), with bounded
 * concurrency, progress lines with durations, and a per-node log.
 *
 *   connect -> facts (validated together) -> prep -> init -> join -> apply -> verify -> summary
 *
 * Nothing changes anywhere until every node is reachable and fit.
 */
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { stageFile, STAGES, synthesize } from '../charts/app';
import { UserError } from '../config/errors';
import type { ClusterConfig, ClusterNode } from '../config/schema';
import { applyStages, type Check, verify } from './addons';
import { describeFacts, gatherFacts, isInCluster, type NodeFacts, preflightProblems } from './facts';
import type { Host } from './host';
import { firstControlPlane, initSteps, type JoinDetails, joinSteps, mintJoinDetails } from './kubeadm';
import { prepSteps } from './prep';
import { resetSteps, undoPrepSteps } from './reset';
import { type Mode, NodeRun, type Output, StepFailed } from './steps';

export interface Target {
  node: ClusterNode;
  host: Host;
  /** How the node is reached, for messages: "local" or "ssh root@10.0.0.2:22". */
  via: string;
}

export interface BootstrapOptions {
  mode: Mode;
  /** Nodes to prep and join (all when unset); the control plane is always reached. */
  only?: string[];
  concurrency: number;
  distDir: string;
  configFile: string;
  /** Per-node output: the node's log file, and the terminal with --verbose or --dry-run. */
  nodeOutput(node: ClusterNode): Output;
  /** Progress lines, one per phase and node as it starts and ends. */
  progress(line: string): void;
  retryDelayMs?: number;
  verifyAttempts?: number;
  now?: () => Date;
}

export interface NodeReport {
  node: ClusterNode;
  state: string;
  failed?: string;
  seconds: Record<string, number>;
}

export interface BootstrapReport {
  nodes: NodeReport[];
  checks: Check[];
  ok: boolean;
}

/** Runs fn over items, at most `limit` at a time; resolves with each item's result or error. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await fn(items[index]) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const reason = (error: unknown) => (error instanceof UserError ? error.problems.join('; ') : String((error as Error)?.message ?? error));

export class Bootstrap {
  private readonly runs = new Map<string, NodeRun>();
  private readonly facts = new Map<string, NodeFacts>();
  readonly reports = new Map<string, NodeReport>();
  private joinDetails?: Promise<JoinDetails>;
  private joinDetailsMinted = 0;

  constructor(private readonly config: ClusterConfig, private readonly targets: Target[], private readonly options: BootstrapOptions) {
    for (const target of targets) {
      const out = options.nodeOutput(target.node);
      this.runs.set(target.node.name, new NodeRun(target.node.name, target.host, options.mode, out, options.now));
      this.reports.set(target.node.name, { node: target.node, state: 'reached', seconds: {} });
    }
  }

  private get controlPlane(): ClusterNode {
    return firstControlPlane(this.config);
  }

  private run(node: ClusterNode): NodeRun {
    return this.runs.get(node.name)!;
  }

  private selected(role?: ClusterNode['role']): ClusterNode[] {
    return this.targets.map((t) => t.node)
      .filter((n) => !this.options.only || this.options.only.includes(n.name))
      .filter((n) => role === undefined || n.role === role)
      .filter((n) => !this.reports.get(n.name)!.failed);
  }

  /** One phase over some nodes, in parallel; a node that fails is marked and left out of later phases. */
  private async phase(title: string, nodes: ClusterNode[], body: (node: ClusterNode) => Promise<string | undefined>, stopOnFailure: boolean): Promise<void> {
    this.options.progress(`==> ${title}`);
    const planning = this.options.mode === 'plan';
    const results = await mapLimit(nodes, this.options.concurrency, async (node) => {
      const started = Date.now();
      if (!planning) this.options.progress(`    ${node.name.padEnd(14)} ${title} started`);
      try {
        const summary = await body(node);
        this.reports.get(node.name)!.seconds[title] = (Date.now() - started) / 1000;
        if (!planning) this.options.progress(`    ${node.name.padEnd(14)} ${title} done${summary ? `: ${summary}` : ''} (${seconds(Date.now() - started)})`);
      } catch (error) {
        const report = this.reports.get(node.name)!;
        report.failed = `${title}: ${reason(error)}`;
        report.seconds[title] = (Date.now() - started) / 1000;
        this.options.progress(`    ${node.name.padEnd(14)} ${title} FAILED (${seconds(Date.now() - started)}): ${reason(error)}`);
        throw error;
      }
    });
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length && stopOnFailure) throw new UserError(failures.flatMap((f) => (f.reason instanceof UserError ? f.reason.problems : [reason(f.reason)])));
  }

  /** Facts of every node, checked together; refuses before any change (a reset only needs the facts). */
  async gatherFacts(forReset = false): Promise<void> {
    await this.phase('facts', this.targets.map((t) => t.node), async (node) => {
      const facts = await gatherFacts(this.run(node), this.config, node);
      this.facts.set(node.name, facts);
      return describeFacts(facts);
    }, true);
    if (forReset) return;
    const problems: string[] = [];
    for (const target of this.targets) {
      const facts = this.facts.get(target.node.name)!;
      problems.push(...preflightProblems(this.config, target.node, facts, await isInCluster(this.run(target.node))));
    }
    const duplicates = (label: string, values: (node: ClusterNode) => string[]) => {
      const seen = new Map<string, string>();
      for (const { node } of this.targets) {
        for (const value of values(node)) {
          const other = seen.get(value);
          if (other) problems.push(`${node.name} and ${other} have the same ${label} ${value}; cloned VMs need a new ${label} (regenerate it in the hypervisor) before kubeadm can tell them apart`);
          else seen.set(value, node.name);
        }
      }
    };
    duplicates('product_uuid', (n) => [this.facts.get(n.name)!.productUuid].filter((v): v is string => Boolean(v)));
    duplicates('MAC address', (n) => this.facts.get(n.name)!.macs);
    if (problems.length) throw new UserError(problems);
    // Cloned VMs share a hostname until prep gives each its node name: reported, not refused.
    const byHostname = new Map<string, string[]>();
    for (const { node } of this.targets) byHostname.set(this.facts.get(node.name)!.hostname, [...(byHostname.get(this.facts.get(node.name)!.hostname) ?? []), node.name]);
    for (const [hostname, names] of byHostname) {
      if (names.length > 1) this.options.progress(`    note: ${names.join(', ')} share the hostname ${hostname}; prep renames each to its node name`);
    }
  }

  async prep(): Promise<void> {
    await this.phase('prep', this.selected(), async (node) => {
      const changed = await this.run(node).runSteps('prep', prepSteps(this.config, node, this.facts.get(node.name)!));
      this.reports.get(node.name)!.state = 'prepared';
      return changed ? `${changed} step(s) changed` : 'nothing to change';
    }, false);
  }

  async init(): Promise<void> {
    const cp = this.controlPlane;
    if (this.reports.get(cp.name)!.failed) throw new UserError([`${cp.name}: the control-plane node failed: ${this.reports.get(cp.name)!.failed}`]);
    await this.phase('init', [cp], async (node) => {
      const changed = await this.run(node).runSteps('init', initSteps(this.config, node));
      this.reports.get(node.name)!.state = 'control plane';
      return changed ? 'initialised' : 'already initialised';
    }, true);
  }

  /**
   * A fresh token and the CA hash from the control plane, minted once for all
   * the joins of a run, and minted again (once) when the token in use stops working.
   */
  private details(replacing?: JoinDetails): Promise<JoinDetails> {
    // A token older than 10 of its 15 minutes is not handed out any more.
    const stale = Date.now() - this.joinDetailsMinted > 10 * 60_000;
    if (!this.joinDetails || stale || (replacing && this.joinDetails === this.usedDetails.get(replacing.token))) {
      const minted = mintJoinDetails(this.run(this.controlPlane), this.config);
      this.joinDetails = minted;
      this.joinDetailsMinted = Date.now();
      void minted.then((d) => this.usedDetails.set(d.token, minted), () => undefined);
    }
    return this.joinDetails;
  }

  private readonly usedDetails = new Map<string, Promise<JoinDetails>>();

  async join(): Promise<void> {
    const workers = this.selected('worker');
    await this.phase('join', workers, async (node) => {
      const run = this.run(node);
      let used: JoinDetails | undefined;
      let changed: number;
      try {
        changed = await run.runSteps('join', joinSteps(node, async () => (used = await this.details())));
      } catch (error) {
        // The token expired (or was deleted) between minting and joining: a fresh one, once.
        // kubeadm says "could not find a JWS signature ... for token ID" (or, older, "expired"/"invalid").
        if (!used || !(error instanceof StepFailed) || !/JWS signature|expired|invalid for this cluster/.test(error.message)) throw error;
        run.out.line(`[${node.name}] the join token was no longer valid; minting a fresh one`);
        const fresh = await this.details(used);
        changed = await run.runSteps('join', joinSteps(node, async () => fresh));
      }
      this.reports.get(node.name)!.state = 'joined';
      return changed ? 'joined' : 'already joined';
    }, false);
  }

  async apply(): Promise<void> {
    const cp = this.controlPlane;
    await this.phase('apply', [cp], async () => {
      // The control plane and the workers that joined (now or before): a node that never joined is not waited for.
      const inCluster = this.config.nodes.filter((n) => n.name === cp.name || this.reports.get(n.name)?.state === 'joined').map((n) => n.name);
      const changes = await applyStages(this.run(cp), this.config, inCluster, { distDir: this.options.distDir, retryDelayMs: this.options.retryDelayMs ?? 5000 });
      return changes.length ? changes.join('; ') : `${STAGES.length} stages unchanged`;
    }, true);
  }

  async verify(): Promise<Check[]> {
    let checks: Check[] = [];
    await this.phase('verify', [this.controlPlane], async () => {
      checks = await verify(this.run(this.controlPlane), this.config, this.options.verifyAttempts ?? 10, this.options.retryDelayMs ?? 5000);
      return `${checks.filter((c) => c.ok).length}/${checks.length} answered HTTP 200`;
    }, true);
    return checks;
  }

  async reset(undoPrep: boolean): Promise<void> {
    const cp = this.controlPlane;
    const nodes = this.selected();
    const ticket = '/root/kubeadm-join-ticket.yaml';
    const resetNode = async (node: ClusterNode) => {
      const run = this.run(node);
      let changed = await run.runSteps('reset', resetSteps(ticket));
      if (undoPrep) changed += await run.runSteps('reset --undo-prep', undoPrepSteps(this.config, node, this.facts.get(node.name)!.family));
      this.reports.get(node.name)!.state = 'reset';
      return changed ? `${changed} step(s) changed` : 'nothing to change';
    };
    // Workers first (the control plane still knows them), then the control plane.
    await this.phase('reset workers', nodes.filter((n) => n.name !== cp.name), resetNode, false);
    if (nodes.some((n) => n.name === cp.name)) await this.phase('reset control plane', [cp], resetNode, false);
  }
}

/** dist/ is used as it is unless it is missing or older than the cluster config; then it is synthesized first. */
export function distIsCurrent(distDir: string, configFile: string): boolean {
  if (!STAGES.every((stage) => existsSync(path.join(distDir, stageFile(stage))))) return false;
  const oldest = Math.min(...STAGES.map((stage) => statSync(path.join(distDir, stageFile(stage))).mtimeMs));
  return oldest >= statSync(configFile).mtimeMs;
}

export function ensureDist(config: ClusterConfig, distDir: string, configFile: string, progress: (line: string) => void, mode: Mode): void {
  if (distIsCurrent(distDir, configFile)) return;
  if (mode === 'plan') {
    progress(`    dist/ is missing or older than ${path.basename(configFile)}: the run synthesizes it first (npm run synth)`);
    return;
  }
  synthesize(config, distDir);
  progress(`    synthesized ${distDir} from ${path.basename(configFile)}`);
}
