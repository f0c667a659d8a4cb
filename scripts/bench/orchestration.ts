/**
 * Benchmark (part of `npm run bench`): the bootstrap's phases over N
 * simulated nodes whose every command takes a fixed time, next to the ideal
 * schedule: per phase, the longest node or the total work spread over the
 * concurrency, whichever is larger. efficiency = ideal / wall.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { renderManifests } from '../../charts/app';
import { clusterConfigSchema, type ClusterConfig, type ClusterNode } from '../../config/schema';
import { ClusterRun, type Target } from '../../hosts/cluster/manager';
import { BOOTSTRAP } from '../../hosts/cluster/phases';
import type { CommandResult } from '../../hosts/engine/host';
import { PlanHost } from '../../hosts/node/plan-model';

const COMMAND_MS = Number(process.env.BENCH_COMMAND_MS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);

/** A fresh node (the dry-run's model) whose commands take COMMAND_MS and succeed; it counts them per phase. */
class SimulatedNode extends PlanHost {
  phase = '';
  readonly commands = new Map<string, number>();

  async exec(argv: string[]): Promise<CommandResult> {
    this.commands.set(this.phase, (this.commands.get(this.phase) ?? 0) + 1);
    await new Promise((resolve) => setTimeout(resolve, COMMAND_MS));
    if (argv[0] === 'curl') return { code: 0, stdout: '200', stderr: '' };
    if (argv[0] === 'kubectl' && argv.includes('get')) return { code: 0, stdout: '31234', stderr: '' };
    return super.exec(argv);
  }
}

function clusterOf(n: number): ClusterConfig {
  const nodes = Array.from({ length: n }, (_, i) => ({
    name: `node${i + 1}`, address: `10.1.${Math.floor((i + 1) / 250)}.${((i + 1) % 250) + 1}`, role: i === 0 ? 'control-plane' : 'worker',
  }));
  return clusterConfigSchema.parse({ kubernetes: { version: '1.35.1' }, nodes });
}

function testCa(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-ca-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.crt'), '-days', '1', '-subj', '/CN=kubernetes'], { stdio: 'ignore' });
  const cert = readFileSync(path.join(dir, 'ca.crt'), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  return cert;
}

async function runOnce(n: number, ca: string): Promise<string> {
  const config = clusterOf(n);
  const hosts = new Map<string, SimulatedNode>();
  const targets: Target[] = config.nodes.map((node: ClusterNode) => {
    const host = new SimulatedNode('el9', config, node);
    if (node.role === 'control-plane') void host.write('/etc/kubernetes/pki/ca.crt', ca, 0o644);
    hosts.set(node.name, host);
    return { node, host, via: 'simulated' };
  });
  const cluster = new ClusterRun(config, targets, {
    mode: 'apply', concurrency: CONCURRENCY, manifests: renderManifests(config), retryDelayMs: 0, verifyAttempts: 1,
    nodeOutput: () => ({ line: () => undefined, detail: () => undefined }),
    // Each phase's commands are counted apart: the phase starts with its `==> title` line.
    progress: (line) => {
      const phase = /^==> (.+)$/.exec(line)?.[1];
      if (phase) for (const host of hosts.values()) host.phase = phase;
    },
  });
  const started = Date.now();
  await cluster.runPhases(BOOTSTRAP);
  const wall = (Date.now() - started) / 1000;
  let ideal = 0;
  for (const { title: phase } of BOOTSTRAP) {
    const work = [...hosts.values()].map((h) => (h.commands.get(phase) ?? 0) * COMMAND_MS / 1000);
    ideal += Math.max(Math.max(...work), work.reduce((a, b) => a + b, 0) / CONCURRENCY);
  }
  const failed = [...cluster.reports.values()].filter((r) => r.failed).length;
  return `orchestration nodes=${n} concurrency=${CONCURRENCY} command=${COMMAND_MS}ms wall=${wall.toFixed(1)}s ideal=${ideal.toFixed(1)}s efficiency=${(ideal / wall).toFixed(2)}${failed ? ` (${failed} node(s) failed!)` : ''}`;
}

export async function benchOrchestration(): Promise<string[]> {
  const ca = testCa();
  const lines: string[] = [];
  for (const n of [3, 30]) lines.push(await runOnce(n, ca));
  return lines;
}
