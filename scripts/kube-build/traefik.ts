/**
 * Traefik, built from the Go module proxy at the version of the image dist/
 * runs (config/images.ts), for the tests: on a real API server it reads the
 * project's Ingress or Gateway API objects with the project's RBAC and
 * routes the tomcat6 host (test/kubernetes.test.ts). Built as upstream's
 * Makefile builds it (CGO off, -s -w, the version stamped), from the module
 * as published, with two things the module proxy cannot give:
 * - the nested module github.com/traefik/traefik/dynamic/ext, which the
 *   module's go.mod takes from ./pkg/config/dynamic/ext but which a module
 *   zip leaves out (it is a module of its own, and the proxy serves no
 *   version of it). Upstream's is two empty extension types; the build
 *   writes the same two.
 * - a replacement the proxy refuses: when the fork of go-http-auth that
 *   go.mod names is not served, the fork commit of the previous releases
 *   (up to v3.7.10) is used instead. The build says so when it happens.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ADDON_IMAGES } from '../../config/images';
import { parseImage } from '../../config/schema';
import { download, go } from './build';
import { ensureTool, toolPath } from './cache';

/** The version of the Traefik image dist/ runs, e.g. 3.7.11. */
export const TRAEFIK_VERSION = parseImage(ADDON_IMAGES.traefik)!.tag!.replace(/^v/, '');
const MODULE = 'github.com/traefik/traefik/v3';
const HTTP_AUTH = 'github.com/abbot/go-http-auth';
const HTTP_AUTH_FORK = 'github.com/containous/go-http-auth';
/** The fork commit Traefik's releases up to v3.7.10 replace go-http-auth with (served by the proxy). */
const HTTP_AUTH_FALLBACK = 'v0.4.1-0.20200324110947-a37a7636d23e';

/** Where the built traefik is: <cache>/tools/traefik-v3.7.11/traefik. */
export const traefikPath = (env: NodeJS.ProcessEnv = process.env) => toolPath('traefik', TRAEFIK_VERSION, env);

/** The version of the go-http-auth fork that a go.mod replaces the original with, if any. */
export function httpAuthFork(goMod: string): string | undefined {
  const line = goMod.split('\n').find((l) => l.includes(`${HTTP_AUTH} =>`));
  return line?.match(/=>\s*\S+\s+(\S+)/)?.[1];
}

/** Builds traefik unless it is there; returns its path. */
export function ensureTraefik(log: (line: string) => void): string {
  return ensureTool('traefik', TRAEFIK_VERSION, log, (staging) => {
    const src = path.join(staging, 'src');
    cpSync(download(MODULE, `v${TRAEFIK_VERSION}`).Dir, src, { recursive: true });
    // The module cache's files are read-only.
    spawnSync('chmod', ['-R', 'u+w', src]);
    const ext = path.join(src, 'pkg', 'config', 'dynamic', 'ext');
    if (!existsSync(path.join(ext, 'go.mod'))) {
      mkdirSync(ext, { recursive: true });
      writeFileSync(path.join(ext, 'go.mod'), 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.26.0\n');
      writeFileSync(path.join(ext, 'ext.go'), 'package ext\n\n// HTTP is a dynamic.HTTP extension.\ntype HTTP struct{}\n\n// Router is a dynamic.Router extension.\ntype Router struct{}\n');
    }
    const fork = httpAuthFork(readFileSync(path.join(src, 'go.mod'), 'utf8'));
    if (fork && fork !== HTTP_AUTH_FALLBACK) {
      try {
        download(HTTP_AUTH_FORK, fork);
      } catch {
        log(`traefik v${TRAEFIK_VERSION}: the module proxy does not serve ${HTTP_AUTH_FORK}@${fork}; using ${HTTP_AUTH_FALLBACK}, the fork commit of Traefik up to v3.7.10 (basic-auth middleware only)`);
        go(['mod', 'edit', '-replace', `${HTTP_AUTH}=${HTTP_AUTH_FORK}@${HTTP_AUTH_FALLBACK}`], { cwd: src });
      }
    }
    const stamp = `-X github.com/traefik/traefik/v3/pkg/version.Version=v${TRAEFIK_VERSION} -X github.com/traefik/traefik/v3/pkg/version.BuildDate=${new Date().toISOString()}`;
    const binary = path.join(staging, 'traefik');
    go(['build', '-trimpath', '-ldflags', `-s -w ${stamp}`, '-o', binary, './cmd/traefik'], { cwd: src, env: { GOFLAGS: '-buildvcs=false -mod=mod' } });
    return binary;
  });
}
