/**
 * The manifests onto the cluster, stage by stage, each stage waited for
 * before the next. They are rendered from the very cluster config the run
 * uses (never read from a dist/ that another config may have written).
 * Everything runs on the control-plane node with the admin kubeconfig.
 */
import { parse } from 'yaml';
import type { Manifest, Stage } from '../../charts/app';
import { gatewayApiCrdNames } from '../../charts/gateway-api';
import { ingressController } from '../../charts/ingress-controller';
import { HEADLAMP_NAME, HEADLAMP_NAMESPACE } from '../../charts/headlamp';
import { TOMCAT6_NAME, TOMCAT6_NAMESPACE } from '../../charts/tomcat6';
import type { ClusterConfig } from '../../config/schema';
import { retry } from '../engine/retry';
import { type NodeRun, StepFailed } from '../engine/steps';
import { ADMIN_CONF } from '../node/kubeadm';

/** kubectl with the cluster's admin kubeconfig, as root on the control plane. */
export const kubectl = (...args: string[]) => ['kubectl', `--kubeconfig=${ADMIN_CONF}`, ...args];
/** How long each wait between stages may take. */
export const WAIT_TIMEOUT = '300s';

/**
 * What must be true before the next stage is applied. `nodes`: the nodes that
 * are in the cluster now (a worker that just joined may not have its Node
 * object yet, hence the wait for it to be created first).
 */
export function stageWaits(config: ClusterConfig, stage: Stage, nodes: string[], timeout = WAIT_TIMEOUT): string[][] {
  const WAIT = `--timeout=${timeout}`;
  switch (stage) {
    case 'flannel': {
      const names = nodes.map((n) => `node/${n}`);
      return [kubectl('wait', '--for=create', ...names, WAIT), kubectl('wait', '--for=condition=Ready', ...names, WAIT)];
    }
    case 'gateway-api':
      // No Gateway or HTTPRoute can be created before the API server serves their kinds.
      return [kubectl('wait', '--for=condition=Established', ...gatewayApiCrdNames().map((name) => `crd/${name}`), WAIT)];
    case 'traefik':
    case 'ingress-nginx': {
      const controller = ingressController(config);
      return [
        kubectl('-n', controller.namespace, 'rollout', 'status', controller.workload, WAIT),
        // ingress-nginx: no Ingress can be created before its admission webhook has its CA.
        ...(controller.admission ? [kubectl('wait', '--for=jsonpath={.webhooks[0].clientConfig.caBundle}', `validatingwebhookconfiguration/${controller.admission.webhook}`, WAIT)] : []),
        // The Gateway API: the controller has taken the Gateway and listens for it.
        ...(controller.gateway ? [kubectl('-n', controller.gateway.namespace, 'wait', '--for=condition=Programmed', `gateway/${controller.gateway.name}`, WAIT)] : []),
      ];
    }
    case 'tomcat6':
      return appWaits(config, TOMCAT6_NAMESPACE, TOMCAT6_NAME, WAIT);
    case 'dashboard':
      return appWaits(config, HEADLAMP_NAMESPACE, HEADLAMP_NAME, WAIT);
  }
}

/** An app's Deployment rolled out, and with the Gateway API its HTTPRoute accepted by the Gateway (its host, its listener, its namespace). */
function appWaits(config: ClusterConfig, namespace: string, name: string, wait: string): string[][] {
  const { gateway } = ingressController(config);
  const ns = namespace === TOMCAT6_NAMESPACE ? [] : ['-n', namespace];
  return [
    kubectl(...ns, 'rollout', 'status', `deployment/${name}`, wait),
    ...(gateway ? [kubectl(...ns, 'wait', `--for=jsonpath={.status.parents[?(@.parentRef.name=="${gateway.name}")].conditions[?(@.type=="Accepted")].status}=True`, `httproute/${name}`, wait)] : []),
  ];
}

export interface ApplyOptions {
  /** The manifests of each stage, rendered from the cluster config this run uses. */
  manifests: Manifest[];
  /** Pause between retries (an apply the admission webhook turned away, a check that did not answer yet). */
  retryDelayMs: number;
  /** How long each wait may take. @default WAIT_TIMEOUT */
  waitTimeout?: string;
  /** A plan against the real cluster (--dry-run --connect): each stage says which objects it would change (kubectl diff). */
  live?: boolean;
}

/**
 * The objects of a manifest a real cluster would change, from `kubectl diff` (server-side dry run: read
 * only): its file names are <group>.<version>.<Kind>.<namespace>.<name>.
 */
async function wouldChange(run: NodeRun, manifest: string, serverSide: boolean): Promise<string[]> {
  const argv = kubectl('diff', ...(serverSide ? ['--server-side', '--force-conflicts'] : []), '-f', '-');
  const result = await run.query(argv, { input: manifest });
  if (result.code > 1) throw new StepFailed(run.nodeName, run.stepTitle, argv, result);
  return [...result.stdout.matchAll(/^diff -u -N \S+\/(\S+) \S+$/gm)].map((m) => m[1]);
}

/**
 * kubectl's words for an API server that does not answer right now: on a slow
 * or overloaded control plane the kubelet restarts it when its liveness probe
 * times out, and for a minute or two nothing listens on 6443.
 */
export const API_UNAVAILABLE = new RegExp([
  'connection to the server \\S+ was refused', 'connection refused', 'connection reset by peer', 'TLS handshake timeout', 'i/o timeout',
  'http2: client connection lost', 'the server is currently unable to handle the request', 'etcdserver: request timed out', 'unexpected EOF',
  // An overloaded API server (apimachinery's 429 and 504 messages), a connection cut mid-answer, an etcd election under way.
  'the server has received too many requests', 'the server was unable to return a response in the time allotted', ': EOF( \\||$)', 'etcdserver: leader changed',
].join('|'), 'm');
/** Tries of one kubectl call while the API server does not answer: with the bootstrap's 5 s between them, 3 minutes. */
export const API_ATTEMPTS = 36;

const unavailable = (error: unknown) => error instanceof StepFailed && API_UNAVAILABLE.test(error.output);

/** A kubectl call that changes something (a drain, an uncordon); tried again while the API server does not answer. */
export async function runRetried(run: NodeRun, argv: string[], retryDelayMs: number) {
  return retry(() => run.run(argv), {
    attempts: API_ATTEMPTS,
    delayMs: retryDelayMs,
    retryOn: unavailable,
    onRetry: (_attempt, error) => run.out.detail(`retrying: ${error instanceof Error ? error.message.split('\n')[0] : argv.join(' ')}`),
  });
}

/**
 * Stages applied server-side, as upstream installs them: the Gateway API's CRDs. Client-side, kubectl keeps
 * a copy of each object in its last-applied annotation, and the httproutes CRD's alone is about 242 KB of the
 * 256 KB an annotation may hold: the next release's would not fit.
 */
export const SERVER_SIDE_STAGES: readonly Stage[] = ['gateway-api'];

/** kubectl apply of one manifest; retried while the admission webhook is not yet answering, or the API server at all. */
async function apply(run: NodeRun, manifest: string, retryDelayMs: number, serverSide: boolean): Promise<string> {
  // --force-conflicts: the project owns these objects, also where an earlier run applied them client-side.
  const argv = serverSide ? kubectl('apply', '--server-side', '--force-conflicts', '-f', '-') : kubectl('apply', '-f', '-');
  const applied = await retry(() => run.run(argv, { input: manifest }), {
    attempts: API_ATTEMPTS,
    delayMs: retryDelayMs,
    retryOn: (error) => unavailable(error) || (error instanceof StepFailed && /failed calling webhook/.test(error.output)),
    onRetry: (_attempt, error) => run.out.detail(`retrying: ${error instanceof Error ? error.message.split('\n')[0] : 'kubectl apply'}`),
  });
  return applied.stdout;
}

/**
 * Each object's resourceVersion, by kind, namespace and name (absent ones left out). What an apply changed is what
 * got a new resourceVersion: a server-side apply says `serverside-applied` of every object, changed or not, and a
 * client-side one says `configured` of a PodDisruptionBudget every time (its selector's patch strategy is
 * "replace", so kubectl's patch is never empty) though the API server stores nothing new.
 */
async function resourceVersions(run: NodeRun, manifest: string, retryDelayMs: number): Promise<Map<string, string>> {
  const argv = kubectl('get', '--ignore-not-found', '-f', '-', '-o', 'custom-columns=KIND:.kind,NAMESPACE:.metadata.namespace,NAME:.metadata.name,RV:.metadata.resourceVersion', '--no-headers');
  const result = await queryRetried(run, argv, retryDelayMs, manifest);
  const rows = result.stdout.split('\n').map((line) => line.trim().split(/\s+/)).filter((words) => words.length === 4);
  return new Map(rows.map((words) => [words.slice(0, 3).join('/'), words[3]] as [string, string]));
}

/** A read-only kubectl call (a wait between stages, a look-up); tried again while the API server does not answer (a wait's own timeout is its). */
export async function queryRetried(run: NodeRun, argv: string[], retryDelayMs: number, input?: string) {
  return retry(() => run.query(argv, { input, mustSucceed: true }), {
    attempts: API_ATTEMPTS,
    delayMs: retryDelayMs,
    retryOn: unavailable,
    onRetry: (_attempt, error) => run.out.detail(`retrying: ${error instanceof Error ? error.message.split('\n')[0] : argv.join(' ')}`),
  });
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
  for (const { stage, file, yaml } of options.manifests) {
    run.stepTitle = `apply ${stage}`;
    let manifest = yaml;
    const { admission, stage: controllerStage, namespace } = ingressController(config);
    const admissionJobs = stage === controllerStage && admission;
    if (admissionJobs) {
      const certificate = await run.query(kubectl('-n', namespace, 'get', 'secret', admission.secret, '-o', 'name'));
      if (certificate.code === 0 && !run.planning) manifest = withoutJobs(manifest);
    }
    if (run.planning) {
      const note = admissionJobs ? ' (without its admission Jobs once their Secret exists)' : '';
      run.out.line(`  # input of the next command: ${file}, rendered from the cluster config${note}`);
    }
    if (run.planning && options.live) {
      const objects = await wouldChange(run, manifest, SERVER_SIDE_STAGES.includes(stage));
      run.out.line(`  # ${stage}: ${objects.length ? `would change ${objects.length} object(s): ${objects.join(', ')}` : 'no object would change'}`);
      if (objects.length) changes.push(`${stage}: ${objects.length} object(s) would change`);
    }
    const before = await resourceVersions(run, manifest, options.retryDelayMs);
    await apply(run, manifest, options.retryDelayMs, SERVER_SIDE_STAGES.includes(stage));
    const after = await resourceVersions(run, manifest, options.retryDelayMs);
    const changed = [...after].filter(([object, version]) => before.get(object) !== version).length;
    if (changed) changes.push(`${stage}: ${changed} object(s) created or changed`);
    for (const argv of stageWaits(config, stage, nodes, options.waitTimeout)) await queryRetried(run, argv, options.retryDelayMs);
  }
  return changes;
}

/**
 * The apply phase's last wait, after every stage: kubeadm's CoreDNS rolled out. It starts once the pod network
 * runs and a node takes ordinary pods (a worker joined, or an untainted control plane); the apply ends with the
 * cluster's DNS answering, as status expects it.
 */
export async function waitForClusterDns(run: NodeRun, retryDelayMs: number, timeout = WAIT_TIMEOUT): Promise<void> {
  run.stepTitle = 'cluster DNS';
  await queryRetried(run, kubectl('-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', `--timeout=${timeout}`), retryDelayMs);
}
