/**
 * The Kubernetes versions the project supports and is tested with.
 *
 * Upstream patches the three newest minors; 1.34 reached its end of life on
 * 2026-10-27, so the window is 1.35 to 1.37. Each minor's release below is
 * the newest patch the Go module proxy serves (npm run kube:build builds
 * them from k8s.io/kubernetes), and the one the tests run for that minor.
 */
export const SUPPORTED_MINORS = { min: 35, max: 37 } as const;

export const TESTED_RELEASES = ['1.35.8', '1.36.5', '1.37.2'] as const;

/** ingress-nginx v1.15.1, its last release (the project is retired), was tested up to this minor. */
export const INGRESS_NGINX_MAX_MINOR = 35;

/** A full version, MAJOR.MINOR.PATCH, a leading v allowed. */
export const FULL_VERSION = /^v?(\d+)\.(\d+)\.(\d+)$/;
/** A version of the supported window (a pattern, so the JSON Schema carries it too). */
export const SUPPORTED_VERSION = new RegExp(`^v?1\\.(${Array.from({ length: SUPPORTED_MINORS.max - SUPPORTED_MINORS.min + 1 }, (_, i) => SUPPORTED_MINORS.min + i).join('|')})\\.\\d+$`);
/** The newest tested release, the default and every hint's example. */
export const NEWEST_RELEASE = TESTED_RELEASES[TESTED_RELEASES.length - 1];

/** The minor of a MAJOR.MINOR.PATCH version (a leading v allowed), e.g. 35. */
export function minorOf(version: string): number {
  return Number(version.replace(/^v/, '').split('.')[1]);
}

/** The tested release of a minor, e.g. 1.37 -> 1.37.2. */
export function testedRelease(minor: number): string | undefined {
  return TESTED_RELEASES.find((release) => minorOf(release) === minor);
}

/** Why a version given outside cluster.yaml (a flag) cannot be used, or undefined when it can. */
export function versionProblem(version: string): string | undefined {
  if (!FULL_VERSION.test(version)) return `must be a full Kubernetes version MAJOR.MINOR.PATCH, e.g. ${NEWEST_RELEASE}`;
  if (!SUPPORTED_VERSION.test(version)) return `is outside the supported window 1.${SUPPORTED_MINORS.min}-1.${SUPPORTED_MINORS.max}`;
  return undefined;
}

/** Orders two MAJOR.MINOR.PATCH versions (a leading v allowed): negative when a is older, 0 when equal. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.replace(/^v/, '').split('.').map(Number);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** The release a cluster would be upgraded from: the tested release of the minor before, else its .0 (what an upgrade's plan assumes). */
export function releaseBefore(version: string): string {
  const minor = minorOf(version) - 1;
  return testedRelease(minor) ?? `1.${minor}.0`;
}
