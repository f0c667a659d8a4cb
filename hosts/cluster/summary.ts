/** The last lines of a run: each node's state and phase timings, the checks, where to open tomcat6, what to run next, the logs. */
import { workers } from '../../config/nodes';
import { type ClusterConfig, dashboardHost } from '../../config/schema';
import type { NodeFacts } from '../node/facts';
import type { NodeReport, Phase } from './manager';
import { type Check, checkLine, checksSkipped, routeLabel } from './verify';

/**
 * `sameInputs` are the flags the next commands need to reach this cluster
 * again (e.g. ` --config other.yaml`; empty with the defaults).
 */
export function summary(config: ClusterConfig, phases: readonly Phase[], reports: NodeReport[], checks: Check[], logDir: string | undefined, planning: boolean, sameInputs = '', facts: ReadonlyMap<string, NodeFacts> = new Map()): string[] {
  if (planning) return ['==> summary', '    dry run: nothing was run, nothing was written; the checks run at the end of a real run'];
  const columns = phases.map((p) => ({ title: p.title, width: Math.max(7, p.title.length + 2) }));
  const lines = ['==> summary', `    ${'node'.padEnd(14)} ${'role'.padEnd(14)} ${'state'.padEnd(14)} ${columns.map((c) => c.title.padStart(c.width)).join('')}`];
  for (const r of reports) {
    const times = columns.map((c) => (r.seconds[c.title] === undefined ? '-' : `${r.seconds[c.title].toFixed(1)}s`).padStart(c.width)).join('');
    lines.push(`    ${r.node.name.padEnd(14)} ${r.node.role.padEnd(14)} ${(r.failed ? 'FAILED' : r.state).padEnd(14)} ${times}`);
    if (r.failed) lines.push(`      ${r.failed}`);
  }
  // Nodes that are system containers: what differs from VMs is in the README ("Nodes in system containers").
  const containers = reports.filter((r) => facts.get(r.node.name)?.container).map((r) => `${r.node.name} (${facts.get(r.node.name)!.container})`);
  if (containers.length) lines.push(`    system containers: ${containers.join(', ')}; the host's kernel, modules and global settings are theirs`);
  const skipped = checksSkipped(config);
  if (skipped && phases.some((p) => p.title === 'verify')) lines.push(`    checks: ${skipped}`);
  if (checks.length) {
    lines.push('    checks (from the control-plane node):');
    for (const c of checks) lines.push(`      ${checkLine(c)}`);
  }
  // reset: nothing to open.
  if (!phases.some((p) => p.title === 'verify')) return logDir ? [...lines, `    logs: ${logDir}/`] : lines;
  const nodePort = checks.find((c) => !c.host && c.ok)?.url;
  // A node whose check through the host passed (else the first worker), and the controller's port.
  const ingress = checks.find((c) => c.host && c.ok) ?? checks.find((c) => c.host);
  const ingressUrl = ingress ? new URL(ingress.url) : undefined;
  const address = ingressUrl?.hostname ?? (workers(config)[0] ?? config.nodes[0]).address;
  lines.push('    open it:');
  if (nodePort) lines.push(`      ${nodePort}   (tomcat6 NodePort, on any node)`);
  const port = ingressUrl?.port ? `:${ingressUrl.port}` : '';
  const dashboard = config.dashboard.enabled ? dashboardHost(config) : undefined;
  lines.push(`      http://${config.tomcat6.host}${port}/   (${routeLabel(config)}; add this line to your laptop's hosts file:)`);
  if (dashboard) lines.push(`      http://${dashboard}${port}/   (the dashboard, Headlamp; sign in with a token from scripts/bootstrap.mjs dashboard)`);
  lines.push(`      ${address}  ${[config.tomcat6.host, dashboard].filter(Boolean).join(' ')}`);
  lines.push('    next, from this machine:');
  const next = [
    [`scripts/bootstrap.mjs kubeconfig${sameInputs}`, '(the admin kubeconfig as ./kubeconfig, mode 0600)'],
    ['KUBECONFIG=./kubeconfig kubectl get nodes', ''],
    [`scripts/bootstrap.mjs status${sameInputs}`, '(nodes, add-ons and checks; changes nothing)'],
    ...(dashboard ? [[`scripts/bootstrap.mjs dashboard${sameInputs}`, '(the dashboard\'s address and a short-lived login token)']] : []),
  ];
  const width = Math.max(...next.map(([cmd]) => cmd.length)) + 2;
  for (const [cmd, why] of next) lines.push(`      ${why ? cmd.padEnd(width) + why : cmd}`);
  if (logDir) lines.push(`    logs: ${logDir}/`);
  return lines;
}
