/** Shared by the tests: configs, synthesized objects, and the optional ../shared data. */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Testing, type Chart } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { buildApp } from '../charts/app';
import { loadClusterConfig } from '../config/load';
import { clusterConfigSchema, type ClusterConfig } from '../config/schema';
import { INGRESS_NGINX_MAX_MINOR, testedRelease } from '../config/versions';
import { missingPrerequisite } from './prerequisites';

export const ROOT = path.resolve(__dirname, '..');
export const SHARED = path.resolve(process.env.SHARED_DIR ?? path.join(ROOT, '..', 'shared'));
export const REFERENCE_DIR = path.join(SHARED, 'reference');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** The committed cluster.yaml, validated. */
export function defaultConfig(): ClusterConfig {
  return loadClusterConfig(path.join(ROOT, 'cluster.yaml'));
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends (infer U)[] ? U[] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** The default config with some sections changed, validated like a user's file. */
export function configWith(changes: DeepPartial<ClusterConfig>): ClusterConfig {
  const base = defaultConfig();
  const merged: Record<string, unknown> = { ...base };
  for (const [section, value] of Object.entries(changes)) {
    const current = (base as Record<string, unknown>)[section];
    merged[section] = Array.isArray(value) || typeof value !== 'object' ? value : { ...(current as object), ...value };
  }
  return clusterConfigSchema.parse(merged);
}

/** The tutorial's ingress-nginx (retired upstream, refused past Kubernetes 1.35) on the tested 1.35 release. */
export function withIngressNginx(changes: DeepPartial<ClusterConfig> = {}): ClusterConfig {
  return configWith({ ...changes, kubernetes: { version: testedRelease(INGRESS_NGINX_MAX_MINOR)! }, ingress: { controller: 'ingress-nginx', ...changes.ingress } });
}

/** The config variants every chart is snapshotted with (and, where the built Kubernetes exists, applied to a real API server). */
export const CONFIG_VARIANTS: Record<string, () => ClusterConfig> = {
  default: () => defaultConfig(),
  'nodePort exposure': () => configWith({ ingress: { exposure: 'nodePort' } }),
  'another pod CIDR': () => configWith({ network: { podCidr: '172.20.0.0/16' } }),
  'registry mirror': () => configWith({ images: { mirror: 'registry.example.com:5000/k8s' } }),
  'registry mirror without digests': () => configWith({ images: { mirror: 'mirror.example.com', pinDigests: false } }),
  'fixed nodePort and 1 replica': () => configWith({ tomcat6: { nodePort: 30080, replicas: 1 } }),
  'named flannel interface': () => configWith({ network: { flannelInterface: 'enp0s8' } }),
  'Gateway API': () => configWith({ ingress: { api: 'gateway' } }),
  'Gateway API, nodePort exposure': () => configWith({ ingress: { api: 'gateway', exposure: 'nodePort' } }),
  dashboard: () => configWith({ dashboard: { enabled: true } }),
  'dashboard, Gateway API, admin access': () => configWith({ ingress: { api: 'gateway' }, dashboard: { enabled: true, access: 'admin', host: 'headlamp.example.com' } }),
  'ingress-nginx': () => withIngressNginx(),
  'ingress-nginx, nodePort exposure': () => withIngressNginx({ ingress: { exposure: 'nodePort' } }),
  'ingress-nginx, registry mirror without digests': () => withIngressNginx({ images: { mirror: 'mirror.example.com', pinDigests: false } }),
  'ingress-nginx, dashboard': () => withIngressNginx({ dashboard: { enabled: true } }),
};

/** Every object of every chart, keyed by chart id, in output order. */
export function synthCharts(config: ClusterConfig): Record<string, K8sObject[]> {
  const app = buildApp(config);
  const result: Record<string, K8sObject[]> = {};
  for (const chart of app.charts as Chart[]) {
    result[chart.node.id] = Testing.synth(chart) as K8sObject[];
  }
  return result;
}

export function allObjects(config: ClusterConfig): K8sObject[] {
  return Object.values(synthCharts(config)).flat();
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

export function readYamlObjects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/**
 * `describe` when a ../shared data set is present; otherwise a visible skip,
 * also in CI (the data lives outside the repository; see prerequisites.ts).
 */
export function describeWithShared(what: string, requiredPath: string, body: () => void): void {
  if (existsSync(requiredPath)) {
    describe(what, body);
    return;
  }
  describe(what, () => missingPrerequisite(what, `${path.relative(ROOT, requiredPath)} is not present`, { installable: false }));
}
