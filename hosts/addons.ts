/**
 * dist/ onto the cluster, stage by stage with waits, and the tutorial's own
 * check afterwards: tomcat6 answers on its NodePort on every node and through
 * the Ingress host on the ingress controller's port. Everything runs on the
 * control-plane node with the admin kubeconfig.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { INGRESS_CONTROLLER_NAME, INGRESS_NGINX_NAMESPACE } from '../charts/ingress-nginx';
import { stageFile, STAGES, type Stage } from '../charts/app';
import { TOMCAT6_NAME } from '../charts/tomcat6';
import type { ClusterConfig } from '../config/schema';
import { ADMIN_CONF } from './kubeadm';
import { type NodeRun, StepFailed } from './steps';

const kubectl = (...args: string[]) => ['kubectl', `--kubeconfig=${ADMIN_CONF}`, ...args];
const WAIT = '--timeout=300s';

/**
 * What must be true before the next stage is applied. `nodes`: the nodes that
 * are in the cluster now (a worker that just joined may not have its Node
 * object yet, hence the wait for it to be created first).
 */
export function stageWaits(config: ClusterConfig, stage: Stage, nodes: string[]): string[][] {
  switch (stage) {
    case 'flannel': {
      const names = nodes.map((n) => `node/${n}`);
      return [kubectl('wait', '--for=create', ...names, WAIT), kubectl('wait', '--for=condition=Ready', ...names, WAIT)];
    }
    case 'ingress-nginx': {
      const kind = config.ingress.exposure === 'hostNetwork' ? 'daemonset' : 'deployment';
      return [
        kubectl('-n', INGRESS_NGINX_NAMESPACE, 'rollout', 'status', `${kind}/${INGRESS_CONTROLLER_NAME}`, WAIT),
        kubectl('wait', '--for=jsonpath={.webhooks[0].clientConfig.caBundle}', 'validatingwebhookconfiguration/ingress-nginx-admission', WAIT),
      ];
    }
    case 'tomcat6':
      return [kubectl('rollout', 'status', `deployment/${TOMCAT6_NAME}`, WAIT)];
  }
}

export interface ApplyOptions {
  distDir: string;
  /** Pause between retries (an apply the admission webhook turned away, a check that did not answer yet). */
  retryDelayMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** kubectl apply of one manifest; retried while the admission webhook is not yet answering. */
async function apply(run: NodeRun, manifest: string, retryDelayMs: number): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await run.run(kubectl('apply', '-f', '-'), { input: manifest })).stdout;
    } catch (error) {
      if (!(error instanceof StepFailed) || !/failed calling webhook/.test(error.message) || attempt >= 6) throw error;
      await sleep(retryDelayMs);
    }
  }
}

/**
 * The manifest without its Jobs. ingress-nginx's admission Jobs delete
 * themselves when done (ttlSecondsAfterFinished: 0); once their certificate
 * Secret exists, applying them again would only run them again.
 */
export function withoutJobs(manifest: string): string {
  return manifest.split(/^---\n/m).filter((doc) => parse(doc)?.kind !== 'Job').join('---\n');
}

/** Applies each stage and waits for it; returns what changed, stage by stage. */
export async function applyStages(run: NodeRun, config: ClusterConfig, nodes: string[], options: ApplyOptions): Promise<string[]> {
  const changes: string[] = [];
  for (const stage of STAGES) {
    run.stepTitle = `apply ${stage}`;
    const file = path.join(options.distDir, stageFile(stage));
    let manifest = run.planning ? '' : readFileSync(file, 'utf8');
    if (stage === 'ingress-nginx') {
      const certificate = await run.query(kubectl('-n', INGRESS_NGINX_NAMESPACE, 'get', 'secret', 'ingress-nginx-admission', '-o', 'name'));
      if (certificate.code === 0 && !run.planning) manifest = withoutJobs(manifest);
    }
    if (run.planning) {
      const note = stage === 'ingress-nginx' ? ' (without its admission Jobs once their Secret exists)' : '';
      run.out.line(`  # input of the next command: ${path.relative(process.cwd(), file)}${note}`);
    }
    const output = await apply(run, manifest, options.retryDelayMs);
    const changed = output.split('\n').filter((l) => / (created|configured)$/.test(l.trim())).length;
    if (changed) changes.push(`${stage}: ${changed} object(s) created or changed`);
    for (const wait of stageWaits(config, stage, nodes)) await run.query(wait, { mustSucceed: true });
  }
  return changes;
}

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
 * Ingress host answers on port 80 of every worker (hostNetwork) or on the
 * controller's NodePort of every node (nodePort).
 */
export async function verify(run: NodeRun, config: ClusterConfig, attempts: number, retryDelayMs: number): Promise<Check[]> {
  run.stepTitle = 'verify';
  const nodePort = config.tomcat6.nodePort?.toString() ?? (await jsonpath(run, ['service', TOMCAT6_NAME], '{.spec.ports[0].nodePort}') || '<nodePort>');
  const checks: Check[] = config.nodes.map((n) => ({ what: `${n.name} NodePort`, url: `http://${n.address}:${nodePort}/`, ok: false }));
  if (config.ingress.exposure === 'hostNetwork') {
    for (const n of config.nodes.filter((x) => x.role === 'worker')) {
      checks.push({ what: `${n.name} Ingress`, url: `http://${n.address}/`, host: config.tomcat6.host, ok: false });
    }
  } else {
    const ingressPort = await jsonpath(run, ['-n', INGRESS_NGINX_NAMESPACE, 'service', INGRESS_CONTROLLER_NAME], '{.spec.ports[?(@.name=="http")].nodePort}') || '<ingress nodePort>';
    for (const n of config.nodes) checks.push({ what: `${n.name} Ingress`, url: `http://${n.address}:${ingressPort}/`, host: config.tomcat6.host, ok: false });
  }
  for (const check of checks) {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      check.status = await httpStatus(run, check.url, check.host);
      check.ok = check.status === '200';
      if (check.ok || run.planning) break;
      if (attempt < attempts) await sleep(retryDelayMs);
    }
  }
  return checks;
}
