/**
 * The tutorial's own check, after the apply: tomcat6 answers on its NodePort
 * on every node and through its host name on the ingress controller's port
 * (routed by the Ingress, or by the Gateway and HTTPRoute), as the
 * control-plane node sees them.
 */
import { ingressController } from '../../charts/ingress-controller';
import { TOMCAT6_NAME } from '../../charts/tomcat6';
import { ingressNodes } from '../../config/nodes';
import { type ClusterConfig, dashboardHost } from '../../config/schema';
import { retry } from '../engine/retry';
import type { NodeRun } from '../engine/steps';
import { kubectl } from './apply';

export interface Check {
  what: string;
  url: string;
  host?: string;
  status?: string;
  ok: boolean;
}

/** HTTP status of a URL as the control-plane node sees it ('000' when nothing answers). */
async function httpStatus(run: NodeRun, url: string, host?: string): Promise<string> {
  const result = await run.query(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', ...(host ? ['-H', `Host: ${host}`] : []), url]);
  return result.stdout.trim() || '000';
}

async function jsonpath(run: NodeRun, args: string[], path: string): Promise<string> {
  return (await run.query(kubectl('get', ...args, '-o', `jsonpath=${path}`), { mustSucceed: true })).stdout.trim();
}

/**
 * The tutorial's check: tomcat6's NodePort answers 200 on every node, and the
 * Ingress host answers on port 80 of every node the controller runs on
 * (hostNetwork: the workers, or the one node of a single-node cluster) or on
 * the controller's NodePort of every node (nodePort).
 */
/** Why the checks cannot run at all, or undefined: with no tomcat6 pod, nothing could answer. */
export function checksSkipped(config: ClusterConfig): string | undefined {
  return config.tomcat6.replicas === 0 ? 'tomcat6.replicas is 0: no pod answers, so the HTTP checks are skipped' : undefined;
}

/** What routes the host to tomcat6, as the checks name it: Ingress, or Gateway (its HTTPRoute on the controller's Gateway). */
export function routeLabel(config: ClusterConfig): 'Ingress' | 'Gateway' {
  return config.ingress.api === 'gateway' ? 'Gateway' : 'Ingress';
}

/** One check as the summary and status print it, e.g. `ok   k8s-node2 Ingress  http://… (Host: …) -> 200`. */
export function checkLine(check: Check): string {
  return `${check.ok ? 'ok  ' : 'FAIL'} ${check.what.padEnd(22)} ${check.url}${check.host ? ` (Host: ${check.host})` : ''} -> ${check.status ?? 'not run'}`;
}

/** Where the ingress controller serves HTTP: port 80 of each node it runs on (hostNetwork), or its NodePort on every node. */
export async function ingressUrls(run: NodeRun, config: ClusterConfig): Promise<{ node: string; url: string }[]> {
  if (config.ingress.exposure === 'hostNetwork') return ingressNodes(config).map((n) => ({ node: n.name, url: `http://${n.address}/` }));
  const { namespace, service, httpPort } = ingressController(config);
  const ingressPort = await jsonpath(run, ['-n', namespace, 'service', service], `{.spec.ports[?(@.name=="${httpPort}")].nodePort}`) || '<ingress nodePort>';
  return config.nodes.map((n) => ({ node: n.name, url: `http://${n.address}:${ingressPort}/` }));
}

export async function verify(run: NodeRun, config: ClusterConfig, attempts: number, retryDelayMs: number): Promise<Check[]> {
  run.stepTitle = 'verify';
  const checks: Check[] = [];
  const ingress = checksSkipped(config) && !config.dashboard.enabled ? [] : await ingressUrls(run, config);
  if (!checksSkipped(config)) {
    const nodePort = config.tomcat6.nodePort?.toString() ?? (await jsonpath(run, ['service', TOMCAT6_NAME], '{.spec.ports[0].nodePort}') || '<nodePort>');
    checks.push(...config.nodes.map((n) => ({ what: `${n.name} NodePort`, url: `http://${n.address}:${nodePort}/`, ok: false })));
    const route = routeLabel(config);
    checks.push(...ingress.map(({ node, url }) => ({ what: `${node} ${route}`, url, host: config.tomcat6.host, ok: false })));
  }
  // The dashboard answers through the same controller, on its own host.
  if (config.dashboard.enabled) checks.push(...ingress.map(({ node, url }) => ({ what: `${node} dashboard`, url, host: dashboardHost(config), ok: false })));
  for (const check of checks) {
    check.status = await retry(() => httpStatus(run, check.url, check.host), {
      attempts,
      delayMs: retryDelayMs,
      retryIf: (status) => status !== '200' && !run.planning,
    });
    check.ok = check.status === '200';
  }
  return checks;
}
