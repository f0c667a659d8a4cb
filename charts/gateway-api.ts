/**
 * The Gateway API, standard channel v1.6.1: its CustomResourceDefinitions and
 * the safe-upgrades ValidatingAdmissionPolicy, exactly as upstream publishes
 * them (config/crd/standard of sigs.k8s.io/gateway-api), one object per
 * upstream object, in file order. The files are kept in imports/, fetched by
 * `npm run import:gateway-api`; this chart includes them unchanged.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { Chart, Include, Yaml, type ChartProps } from 'cdk8s';
import type { Construct } from 'constructs';

export const GATEWAY_API_VERSION = 'v1.6.1';
export const GATEWAY_API_MODULE = 'sigs.k8s.io/gateway-api';
/** Where `npm run import:gateway-api` keeps upstream's files. */
export const GATEWAY_API_DIR = path.join(__dirname, '..', 'imports', `gateway-api-${GATEWAY_API_VERSION}`);

/** Upstream's files, in the order they are applied (by name, as the release's standard-install.yaml has them). */
export function gatewayApiFiles(dir: string = GATEWAY_API_DIR): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(dir, f));
}

/** The names of the CustomResourceDefinitions, e.g. httproutes.gateway.networking.k8s.io. */
export function gatewayApiCrdNames(): string[] {
  return gatewayApiFiles()
    .flatMap((file) => Yaml.load(file) as Array<{ kind?: string; metadata?: { name?: string } } | null>)
    .filter((o) => o?.kind === 'CustomResourceDefinition')
    .map((o) => o!.metadata!.name!);
}

export class GatewayApiChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);
    for (const file of gatewayApiFiles()) new Include(this, path.basename(file, '.yaml'), { url: file });
  }
}
