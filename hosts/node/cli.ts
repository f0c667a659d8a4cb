/**
 * What the four node scripts share: flags, the cluster config, which node
 * this machine is, the real or planned run, the log, and exit codes. Each
 * script (prep.ts, init.ts, join.ts, reset.ts) is a NodeScript and a main().
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../config/errors';
import { loadClusterConfig, resolveConfigPath } from '../../config/load';
import { nodeByName } from '../../config/nodes';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import { type FlagSpec, parseFlags, runCommand } from '../engine/command-line';
import { type Host, LocalHost } from '../engine/host';
import { sandboxRoot } from '../engine/sandbox';
import { consoleOutput, type Mode, NodeRun } from '../engine/steps';
import { parseAddresses } from './facts';
import { PLAN_DEFAULT_FAMILY, PlanHost, type PlanState } from './plan-model';

const LOG_FILE = '/var/log/kube-hosts.log';

const COMMON_FLAGS: FlagSpec = {
  config: { type: 'string', valueName: 'FILE' },
  node: { type: 'string', valueName: 'NAME' },
  'dry-run': { type: 'boolean' },
  help: { type: 'boolean' },
};

export const COMMON_HELP = `  --config FILE  cluster config (default: $CLUSTER_CONFIG, else ./cluster.yaml, else the repository's)
  --node NAME    which node of the config this machine is (default: the node whose
                 address is on one of this machine's interfaces)
  --dry-run      print every command and file write, in order, for a fresh node of
                 the node's OS family (nodes[].os, default Rocky Linux 9); needs no
                 root and changes nothing
  --help         show this help`;

export type Flags = Record<string, string | boolean | undefined>;

export interface ScriptContext {
  config: ClusterConfig;
  node: ClusterNode;
  run: NodeRun;
  flags: Flags;
  now: () => Date;
}

export interface NodeScript {
  name: string;
  help: string;
  /** The script's own flags, besides --config, --node, --dry-run and --help. */
  flags: FlagSpec;
  /** The machine a dry-run plans against. */
  planState: PlanState;
  body(context: ScriptContext): Promise<void>;
}

/** --node, or the one node whose address is on a local interface. */
async function chooseNode(config: ClusterConfig, requested: string | undefined, local: Host): Promise<ClusterNode> {
  const names = config.nodes.map((n) => n.name).join(', ');
  if (requested !== undefined) {
    const node = nodeByName(config, requested);
    if (!node) throw new UserError([`--node ${requested}: no such node in the cluster config (nodes: ${names})`]);
    return node;
  }
  const addresses = parseAddresses((await local.exec(['ip', '-o', '-4', 'addr', 'show'])).stdout);
  const matches = config.nodes.filter((n) => addresses.includes(n.address));
  if (matches.length === 1) return matches[0];
  const listed = config.nodes.map((n) => `${n.name} ${n.address}`).join(', ');
  if (matches.length === 0) {
    throw new UserError([`none of the nodes in the cluster config (${listed}) has an address on this machine (${addresses.join(', ') || 'no IPv4 addresses'}); pass --node NAME`]);
  }
  throw new UserError([`several nodes of the cluster config have an address on this machine (${matches.map((n) => n.name).join(', ')}); pass --node NAME`]);
}

export async function runNodeScript(
  script: NodeScript,
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
  now: () => Date = () => new Date(),
): Promise<void> {
  await runCommand(async () => {
    const flags = parseFlags(argv, { ...COMMON_FLAGS, ...script.flags }) as Flags;
    if (flags.help) {
      console.log(script.help);
      return;
    }
    const root = sandboxRoot(env);
    const config = loadClusterConfig(resolveConfigPath(flags.config as string | undefined, env));
    const local = new LocalHost(root, env);
    const node = await chooseNode(config, flags.node as string | undefined, local);
    const mode: Mode = flags['dry-run'] ? 'plan' : 'apply';

    let host: Host = local;
    let log: ((line: string) => void) | undefined;
    if (mode === 'plan') {
      const family = node.os ?? PLAN_DEFAULT_FAMILY;
      host = new PlanHost(family, config, node, script.planState);
      console.log(`# ${script.name} --dry-run for ${node.name} (${node.address}, ${node.role}): plan for a fresh ${family} node`
        + `${node.os ? '' : ' (the default; set nodes[].os for another)'}${script.planState === 'fresh' ? '' : `, ${script.planState}`}. Nothing runs, nothing is written.`);
    } else {
      const logFile = path.join(root, LOG_FILE);
      log = (line) => {
        try {
          mkdirSync(path.dirname(logFile), { recursive: true });
          appendFileSync(logFile, `${now().toISOString()} ${script.name} ${line}\n`, { mode: 0o600 });
        } catch {
          // The log is a convenience; a read-only /var/log must not stop the run.
        }
      };
    }
    const run = new NodeRun(node.name, host, mode, consoleOutput(log), now);
    await script.body({ config, node, run, flags, now });
  });
}
