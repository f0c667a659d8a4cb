/**
 * helm, built from the Go module proxy, for one test: the Traefik chart's
 * fidelity test renders the official Helm chart (../shared/reference) with
 * it and compares the objects with charts/traefik.ts. The project itself
 * never uses helm.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { go } from './build';
import { cacheRoot } from './cache';

export const HELM_VERSION = '3.19.0';

/** Where the built helm is: <cache>/tools/helm-v3.19.0/helm. */
export const helmPath = (env: NodeJS.ProcessEnv = process.env) => path.join(cacheRoot(env), 'tools', `helm-v${HELM_VERSION}`, 'helm');

/** Builds helm unless it is there; returns its path. */
export function ensureHelm(log: (line: string) => void): string {
  const target = helmPath();
  if (existsSync(target)) {
    log(`helm v${HELM_VERSION} already built: ${target}`);
    return target;
  }
  const started = Date.now();
  const dir = path.dirname(target);
  const staging = `${dir}.tmp`;
  mkdirSync(staging, { recursive: true });
  // Its version stamped as its release build does (the test passes --kube-version itself).
  go(['install', '-trimpath', '-ldflags', `-X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION} -s -w`, `helm.sh/helm/v3/cmd/helm@v${HELM_VERSION}`], { env: { GOBIN: staging } });
  mkdirSync(dir, { recursive: true });
  renameSync(path.join(staging, 'helm'), target);
  rmSync(staging, { recursive: true, force: true });
  log(`helm v${HELM_VERSION}: built in ${Math.round((Date.now() - started) / 1000)} s: ${target}`);
  return target;
}
