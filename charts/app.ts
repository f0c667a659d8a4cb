/**
 * Composes the charts into one cdk8s App and writes dist/.
 *
 * Each chart is one apply stage and one file; cdk8s numbers the files in
 * dependency order, so `ls dist` (and `kubectl apply -f dist`) reads:
 *   0000-flannel.yaml        pod network         -> wait for nodes Ready
 *   0001-ingress-nginx.yaml  ingress controller  -> wait for controller + admission webhook
 *   0002-tomcat6.yaml        the app             -> wait for the rollout
 * Inside each file a Namespace comes before the objects in it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'cdk8s';
import type { ClusterConfig } from '../config/schema';
import { FlannelChart } from './flannel';
import { IngressNginxChart } from './ingress-nginx';
import { Tomcat6Chart } from './tomcat6';

export const DEFAULT_OUTDIR = 'dist';
export const OUTPUT_EXTENSION = '.yaml';

/** The apply stages, in order, with the chart that makes each. */
export const STAGES = ['flannel', 'ingress-nginx', 'tomcat6'] as const;
export type Stage = (typeof STAGES)[number];

/** The file a stage is written to, e.g. stageFile('tomcat6') = '0002-tomcat6.yaml'. */
export function stageFile(stage: Stage): string {
  return `${String(STAGES.indexOf(stage)).padStart(4, '0')}-${stage}${OUTPUT_EXTENSION}`;
}

export function buildApp(config: ClusterConfig, outdir: string): App {
  const app = new App({ outdir, outputFileExtension: OUTPUT_EXTENSION });
  const flannel = new FlannelChart(app, 'flannel', config);
  const ingress = new IngressNginxChart(app, 'ingress-nginx', config);
  const tomcat6 = new Tomcat6Chart(app, 'tomcat6', config);
  ingress.addDependency(flannel);
  tomcat6.addDependency(ingress);
  return app;
}

/**
 * Synthesizes into a fresh sibling folder and swaps it in, so a failure
 * leaves the existing output exactly as it was.
 */
export function synthesize(config: ClusterConfig, outdir: string = DEFAULT_OUTDIR): void {
  const target = path.resolve(outdir);
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = `${target}.tmp-${suffix}`;
  const previous = `${target}.old-${suffix}`;
  try {
    buildApp(config, staging).synth();
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  const hadPrevious = existsSync(target);
  if (hadPrevious) renameSync(target, previous);
  renameSync(staging, target);
  if (hadPrevious) rmSync(previous, { recursive: true, force: true });
}
