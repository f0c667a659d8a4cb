/**
 * How each node is reached: this machine's node locally, every other node
 * over SSH, or (dry run) a model of a fresh node; a live dry run (--connect)
 * reaches the real nodes and keeps what the plan writes in memory. Every
 * unreachable node is reported at once, before anything runs anywhere.
 */
import { UserError } from '../../config/errors';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import { type Host, LocalHost, spawnCommand } from '../engine/host';
import { OverlayHost } from '../engine/overlay';
import { nodeSandbox } from '../engine/sandbox';
import { SshHost } from '../engine/ssh';
import { parseAddresses } from '../node/facts';
import { PLAN_DEFAULT_FAMILY, PlanHost, type PlanState } from '../node/plan-model';
import { mapLimit, type Target } from './manager';

export interface ConnectOptions {
  planning: boolean;
  /** With planning: the real nodes, read (never changed) through an OverlayHost, instead of the model. */
  live?: boolean;
  env: NodeJS.ProcessEnv;
  sshConfig?: string;
  progress(line: string): void;
  /** How a plan models each node: a fresh machine, or one of a running cluster (at `planVersion`, else the configured one). @default fresh */
  planState?: PlanState;
  planVersion?: string;
  concurrency: number;
  /** Only these nodes (default: every node of the config). */
  nodes?: ClusterNode[];
  /** Given: a node that cannot be reached is reported here and left out (status); else the run is refused. */
  unreachable?(node: ClusterNode, problem: string): void;
}

export async function connect(config: ClusterConfig, options: ConnectOptions): Promise<Target[]> {
  options.progress('==> connect');
  // A dry run touches nothing, not even this machine's interfaces: every node is planned alike.
  const model = options.planning && !options.live;
  const localAddresses = model ? [] : parseAddresses((await spawnCommand(['ip', '-o', '-4', 'addr', 'show'])).stdout);
  const targets: Target[] = [];
  const problems: string[] = [];
  const nodes = options.nodes ?? config.nodes;
  await mapLimit(nodes, options.concurrency, async (node) => {
    const started = Date.now();
    const local = localAddresses.includes(node.address);
    const sandbox = nodeSandbox(options.env, node.name);
    let host: Host;
    let via: string;
    if (model) {
      host = new PlanHost(node.os ?? PLAN_DEFAULT_FAMILY, config, node, options.planState ?? 'fresh', options.planVersion);
      via = `local, or ssh ${node.ssh.user}@${node.ssh.host ?? node.address}:${node.ssh.port}`;
    } else if (local) {
      host = new LocalHost(sandbox?.root ?? '/', { ...options.env, ...sandbox?.env });
      via = 'local';
    } else {
      const ssh = new SshHost(node, { sshConfig: options.sshConfig, root: sandbox?.root, env: sandbox?.env });
      const problem = await ssh.problem();
      if (problem && options.unreachable) {
        options.unreachable(node, problem);
        options.progress(`    ${node.name.padEnd(14)} unreachable: ${problem}`);
        return;
      }
      if (problem) problems.push(problem);
      host = ssh;
      via = `ssh ${ssh.target}`;
    }
    if (options.planning && !model) host = new OverlayHost(host);
    targets.push({ node, host, via });
    const how = model ? ' (planned, not connected)' : options.planning ? ' (connected; read only)' : '';
    options.progress(`    ${node.name.padEnd(14)} ${via}${how} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  });
  if (problems.length) {
    await SshHost.closeAll();
    throw new UserError(problems);
  }
  return nodes.flatMap((n) => targets.filter((t) => t.node.name === n.name));
}
