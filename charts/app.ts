/**
 * Composes the charts into one cdk8s App and writes dist/.
 *
 * Each chart is one apply stage and one file, numbered in apply order, so
 * `ls dist` (and `kubectl apply -f dist`) reads:
 *   0000-flannel.yaml        pod network         -> wait for nodes Ready
 *   0001-traefik.yaml        ingress controller  -> wait for its rollout
 *     (or 0001-ingress-nginx.yaml, with ingress.controller: ingress-nginx  -> its rollout + admission webhook)
 *   0002-tomcat6.yaml        the app             -> wait for the rollout
 * With ingress.api: gateway, the Gateway API's CRDs come second:
 *   0000-flannel.yaml, 0001-gateway-api.yaml (-> CRDs Established),
 *   0002-traefik.yaml (-> rollout, Gateway Programmed), 0003-tomcat6.yaml
 * With dashboard.enabled, Headlamp comes last (...-dashboard.yaml -> its rollout).
 * Inside each file a Namespace comes before the objects in it. This file is
 * the one place that maps the cluster config onto each chart's props, and
 * the one place that names the files.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Yaml } from 'cdk8s';
import { type ClusterConfig, dashboardHost } from '../config/schema';
import { FlannelChart } from './flannel';
import { GatewayApiChart } from './gateway-api';
import { HeadlampChart, HEADLAMP_NAMESPACE } from './headlamp';
import { hostRoute, ingressController } from './ingress-controller';
import { IngressNginxChart } from './ingress-nginx';
import { Tomcat6Chart, TOMCAT6_NAMESPACE } from './tomcat6';
import { TraefikChart } from './traefik';

export const DEFAULT_OUTDIR = 'dist';
export const OUTPUT_EXTENSION = '.yaml';

/** Every apply stage there is. */
export type Stage = 'flannel' | 'gateway-api' | 'traefik' | 'ingress-nginx' | 'tomcat6' | 'dashboard';

/**
 * The stages of a config, in apply order: the pod network, the Gateway API's
 * CRDs if used, its ingress controller, the app, the dashboard if enabled.
 */
export function stagesOf(config: ClusterConfig): Stage[] {
  return [
    'flannel',
    ...(config.ingress.api === 'gateway' ? ['gateway-api' as const] : []),
    ingressController(config).stage,
    'tomcat6',
    ...(config.dashboard.enabled ? ['dashboard' as const] : []),
  ];
}

/** The file a stage is written to, numbered by its place in the config's order, e.g. '0002-tomcat6.yaml'. */
export function stageFile(config: ClusterConfig, stage: Stage): string {
  const index = stagesOf(config).indexOf(stage);
  if (index < 0) throw new Error(`no stage ${stage} with this config`);
  return `${String(index).padStart(4, '0')}-${stage}${OUTPUT_EXTENSION}`;
}

/** The App with one chart per stage, each given the part of the config it needs. */
export function buildApp(config: ClusterConfig): App {
  const app = new App();
  const flannel = new FlannelChart(app, 'flannel', {
    podCidr: config.network.podCidr,
    flannelInterface: config.network.flannelInterface,
    pinDigests: config.images.pinDigests,
  });
  const controller = ingressController(config);
  const gatewayApi = controller.gateway ? new GatewayApiChart(app, 'gateway-api') : undefined;
  const ingress = controller.stage === 'traefik'
    ? new TraefikChart(app, 'traefik', { exposure: config.ingress.exposure, api: config.ingress.api, routeNamespaces: [TOMCAT6_NAMESPACE, ...(config.dashboard.enabled ? [HEADLAMP_NAMESPACE] : [])] })
    : new IngressNginxChart(app, 'ingress-nginx', { exposure: config.ingress.exposure, pinDigests: config.images.pinDigests });
  const route = hostRoute(controller);
  const tomcat6 = new Tomcat6Chart(app, 'tomcat6', { ...config.tomcat6, route });
  if (gatewayApi) gatewayApi.addDependency(flannel);
  ingress.addDependency(gatewayApi ?? flannel);
  tomcat6.addDependency(ingress);
  if (config.dashboard.enabled) {
    new HeadlampChart(app, 'dashboard', { host: dashboardHost(config), access: config.dashboard.access, route }).addDependency(tomcat6);
  }
  return app;
}

/**
 * An object without the values the API server does not keep: a zero minReadySeconds, a false hostNetwork,
 * an empty externalIPs, a probe's zero initialDelaySeconds (fields left out when they hold their zero value). Written, they would be
 * in every later client-side `kubectl apply`'s patch again, which then says `configured` for an object
 * nothing changed (seen on a real cluster: a re-run claimed changes to traefik and tomcat6).
 * cdk8s-plus, Traefik's and Headlamp's charts and ingress-nginx's manifest all write some of them.
 */
export function withoutDroppedZeroValues(object: unknown): unknown {
  const copy = structuredClone(object) as { kind?: string; spec?: Record<string, any> };
  const spec = copy.spec;
  if (!spec) return copy;
  if (spec.minReadySeconds === 0) delete spec.minReadySeconds;
  if (Array.isArray(spec.externalIPs) && spec.externalIPs.length === 0) delete spec.externalIPs;
  const pod = spec.template?.spec;
  if (!pod) return copy;
  if (pod.hostNetwork === false) delete pod.hostNetwork;
  for (const container of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      if (container[probe]?.initialDelaySeconds === 0) delete container[probe].initialDelaySeconds;
    }
  }
  return copy;
}

/** One stage's manifest: its file name in dist/ and its YAML. */
export interface Manifest {
  stage: Stage;
  file: string;
  yaml: string;
}

/** The manifests of every stage, in apply order, as cdk8s writes a chart (one YAML document per object). */
export function renderManifests(config: ClusterConfig): Manifest[] {
  const app = buildApp(config);
  return stagesOf(config).map((stage) => {
    const chart = app.charts.find((c) => c.node.id === stage);
    if (!chart) throw new Error(`no chart for stage ${stage}`);
    return { stage, file: stageFile(config, stage), yaml: Yaml.stringify(...chart.toJson().map(withoutDroppedZeroValues)) };
  });
}

/**
 * Writes the manifests into a fresh sibling folder and swaps it in, so a
 * failure leaves the existing output exactly as it was.
 */
export function synthesize(config: ClusterConfig, outdir: string = DEFAULT_OUTDIR): void {
  const target = path.resolve(outdir);
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = `${target}.tmp-${suffix}`;
  const previous = `${target}.old-${suffix}`;
  try {
    const manifests = renderManifests(config);
    mkdirSync(staging, { recursive: true });
    for (const manifest of manifests) writeFileSync(path.join(staging, manifest.file), manifest.yaml);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  const hadPrevious = existsSync(target);
  if (hadPrevious) renameSync(target, previous);
  renameSync(staging, target);
  if (hadPrevious) rmSync(previous, { recursive: true, force: true });
}
