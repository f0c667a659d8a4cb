/**
 * helm, built from the Go module proxy, for one test: the Traefik chart's
 * fidelity test renders the official Helm chart (../shared/reference) with
 * it and compares the objects with charts/traefik.ts. The project itself
 * never uses helm.
 */
import * as path from 'node:path';
import { go } from './build';
import { ensureTool, toolPath } from './cache';

export const HELM_VERSION = '3.19.0';

/** Where the built helm is: <cache>/tools/helm-v3.19.0/helm. */
export const helmPath = (env: NodeJS.ProcessEnv = process.env) => toolPath('helm', HELM_VERSION, env);

/** Builds helm unless it is there; returns its path. */
export function ensureHelm(log: (line: string) => void): string {
  return ensureTool('helm', HELM_VERSION, log, (staging) => {
    // Its version stamped as its release build does (the test passes --kube-version itself).
    go(['install', '-trimpath', '-ldflags', `-X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION} -s -w`, `helm.sh/helm/v3/cmd/helm@v${HELM_VERSION}`], { env: { GOBIN: staging } });
    return path.join(staging, 'helm');
  });
}
