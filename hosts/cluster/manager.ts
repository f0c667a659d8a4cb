/**
 * Runs a list of phases (phases.ts) over the cluster's nodes: each phase
 * over its nodes in parallel (bounded), with a progress line per node as it
 * starts and ends, durations, and a report per node. A node that fails is
 * marked and sits out the later phases; a phase that must not go on after a
 * failure stops the run there.
 */
import type { Manifest } from '../../charts/app';
import { UserError } from '../../config/errors';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import type { Host } from '../engine/host';
import { type Mode, NodeRun, type Output } from '../engine/steps';
import type { NodeFacts } from '../node/facts';
import { JoinTokens } from './join-tokens';
import type { Check } from './verify';

/** How far a node got. */
export type NodeState = 'reached' | 'prepared' | 'control plane' | 'joined' | 'reset';

export interface Target {
  node: ClusterNode;
  host: Host;
  /** How the node is reached, for messages: "local" or "ssh root@10.0.0.2:22". */
  via: string;
}

export interface NodeReport {
  node: ClusterNode;
  state: NodeState;
  /** The phase that failed and why. */
  failed?: string;
  /** Seconds each phase took on this node. */
  seconds: Record<string, number>;
}

/** Where a backup goes on this machine, and its name. */
export interface BackupTarget {
  /** The folder the backups go to. */
  dir: string;
  /** The backup's name: <config name>-<time>. */
  name: string;
}

export interface ClusterOptions {
  mode: Mode;
  /** A plan against the real nodes (--dry-run --connect): phases a node is not ready for yet are said, not planned. */
  live?: boolean;
  /** Nodes to prep and join, or reset (all when unset); the control plane is always reached. */
  only?: string[];
  concurrency: number;
  /** What the apply phase applies, stage by stage. */
  manifests: Manifest[];
  /** reset: undo the node preparation too. */
  undoPrep?: boolean;
  /** upgrade: how many workers are drained and upgraded at once. @default 1 */
  workersAtOnce?: number;
  /** backup: where the backup goes on this machine, and its name. */
  backup?: BackupTarget;
  /** restore: the snapshot to restore. */
  snapshot?: Buffer;
  /** Per-node output: the node's log file, and the terminal with --verbose or --dry-run. */
  nodeOutput(node: ClusterNode): Output;
  /** Progress lines, one per phase and node as it starts and ends. */
  progress(line: string): void;
  retryDelayMs?: number;
  /** How long each wait between apply stages, and each drain, may take. @default 300 */
  waitSeconds?: number;
  verifyAttempts?: number;
  /** While a node's part of a phase runs, a line this often saying which step it is on (none when unset). */
  heartbeatMs?: number;
  now?: () => Date;
  /**
   * Asked once every node's facts are read and checked, before anything changes, with what the run will
   * change (which nodes are prepared, initialised, joined; which stages applied); it throws to stop the
   * run. Not asked when the nodes already form the configured cluster, nor in a dry run.
   */
  confirm?(changes: string[]): Promise<void>;
}

/** One step of the whole-cluster run: what it is called, where it runs, what a failure means, what it does on a node. */
export interface Phase {
  /** Shown as `==> title`, and the column of the summary's timings. */
  title: string;
  /** The nodes it works on, given the run so far; a phase with none is left out. */
  nodes(cluster: ClusterRun): ClusterNode[];
  /** How many of its nodes it works on at once. @default the run's concurrency */
  concurrency?(cluster: ClusterRun): number;
  /** stop: a failure on any node ends the run after this phase; continue: the node sits out the later phases. */
  onFailure: 'stop' | 'continue';
  /** The node's state once its part succeeded. */
  reaches?: NodeState;
  /** Why the phase cannot start at all (a problem line), or undefined. */
  blocked?(cluster: ClusterRun): string | undefined;
  /** One node's part; returns a short summary for its progress line. */
  run(cluster: ClusterRun, node: ClusterNode): Promise<string | undefined>;
  /** After every node's part: checks across nodes, which may refuse to go on. */
  after?(cluster: ClusterRun): Promise<void>;
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
/** What went wrong, in one line: a UserError's problems, else the error's message. */
export const reason = (error: unknown) => (error instanceof UserError ? error.problems.join('; ') : String((error as Error)?.message ?? error));

/** The state of one run over the cluster, shared by its phases. */
export class ClusterRun {
  private readonly runs = new Map<string, NodeRun>();
  readonly facts = new Map<string, NodeFacts>();
  readonly reports = new Map<string, NodeReport>();
  /** The HTTP checks of the verify phase. */
  checks: Check[] = [];
  /** What an upgrade moved, node by node, for the summary. */
  readonly upgraded: { node: string; from: string; to: string }[] = [];
  /** Lines a phase leaves for the end of the summary (a backup's file, the certificates' new expiry). */
  readonly notes: string[] = [];
  /** The phases that ran to their end (a failed node in a phase that continues does not stop it). */
  readonly finished: string[] = [];
  readonly joinTokens: JoinTokens;

  constructor(readonly config: ClusterConfig, readonly targets: Target[], readonly options: ClusterOptions) {
    for (const target of targets) {
      const out = options.nodeOutput(target.node);
      this.runs.set(target.node.name, new NodeRun(target.node.name, target.host, options.mode, out, options.now));
      this.reports.set(target.node.name, { node: target.node, state: 'reached', seconds: {} });
    }
    this.joinTokens = new JoinTokens(config, this.nodeRun.bind(this));
  }

  get planning(): boolean {
    return this.options.mode === 'plan';
  }

  get nodes(): ClusterNode[] {
    return this.targets.map((t) => t.node);
  }

  nodeRun(node: ClusterNode): NodeRun {
    return this.runs.get(node.name)!;
  }

  report(node: ClusterNode): NodeReport {
    return this.reports.get(node.name)!;
  }

  /** Named by --only (or every node without it), and not failed. */
  isSelected(node: ClusterNode): boolean {
    return (!this.options.only || this.options.only.includes(node.name)) && !this.report(node).failed;
  }

  /** Runs the phases in order; throws a UserError when a phase stops the run. */
  async runPhases(phases: readonly Phase[]): Promise<void> {
    for (const phase of phases) await this.runPhase(phase);
  }

  /** A long step shows it is alive: node, phase, step, time so far. */
  private heartbeat(node: ClusterNode, phase: Phase, started: number): NodeJS.Timeout | undefined {
    const every = this.options.heartbeatMs;
    if (this.planning || !every) return undefined;
    const timer = setInterval(() => {
      const step = this.nodeRun(node).stepTitle;
      this.options.progress(`    ${node.name.padEnd(14)} ${phase.title}${step && step !== phase.title ? ` / ${step}` : ''}: still running (${Math.round((Date.now() - started) / 1000)}s)`);
    }, every);
    timer.unref();
    return timer;
  }

  private async runPhase(phase: Phase): Promise<void> {
    const blocked = phase.blocked?.(this);
    if (blocked) throw new UserError([blocked]);
    const nodes = phase.nodes(this);
    if (!nodes.length) {
      this.finished.push(phase.title);
      return;
    }
    const { progress } = this.options;
    progress(`==> ${phase.title}`);
    const results = await mapLimit(nodes, phase.concurrency?.(this) ?? this.options.concurrency, async (node) => {
      const started = Date.now();
      const report = this.report(node);
      if (!this.planning) progress(`    ${node.name.padEnd(14)} ${phase.title} started`);
      this.nodeRun(node).stepTitle = '';
      const heartbeat = this.heartbeat(node, phase, started);
      try {
        const summary = await phase.run(this, node);
        report.seconds[phase.title] = (Date.now() - started) / 1000;
        if (phase.reaches) report.state = phase.reaches;
        if (!this.planning) progress(`    ${node.name.padEnd(14)} ${phase.title} done${summary ? `: ${summary}` : ''} (${seconds(Date.now() - started)})`);
      } catch (error) {
        report.failed = `${phase.title}: ${reason(error)}`;
        report.seconds[phase.title] = (Date.now() - started) / 1000;
        progress(`    ${node.name.padEnd(14)} ${phase.title} FAILED (${seconds(Date.now() - started)}): ${reason(error)}`);
        throw error;
      } finally {
        clearInterval(heartbeat);
      }
    });
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length && phase.onFailure === 'stop') {
      throw new UserError(failures.flatMap((f) => (f.reason instanceof UserError ? f.reason.problems : [reason(f.reason)])));
    }
    await phase.after?.(this);
    this.finished.push(phase.title);
  }
}
