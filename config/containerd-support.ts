/**
 * Which containerd a Kubernetes minor supports (containerd's RELEASES.md, "Kubernetes support"): 1.35 takes
 * 1.7.28 or later on the 1.7 line, or 2.1.5 or later; 1.36 and later take 2.2 or later. containerd 1.6 is out
 * of support upstream and too old for every minor the project installs.
 */

/** The oldest containerd of each major line a minor supports; a major line not listed is not supported. */
const MINIMUMS: { fromMinor: number; oldest: string[] }[] = [
  { fromMinor: 36, oldest: ['2.2.0'] },
  { fromMinor: 35, oldest: ['1.7.28', '2.1.5'] },
];

/**
 * The containerd an OS's own package installs, where it is known to be too old for every supported minor:
 * `packages.containerd: distro` is refused there before anything is touched. Keyed by os-release ID and
 * VERSION_ID.
 */
export const DISTRO_CONTAINERD: Record<string, string> = {
  'debian 12': '1.6.20',
};

/** The leading x.y.z of a version as a package or `containerd --version` writes it (1.6.20~ds1-1+b1, 2.2.1-1~debian.12~bookworm). */
export function containerdRelease(version: string): string | undefined {
  return /^v?(\d+\.\d+\.\d+)/.exec(version.trim())?.[1];
}

/** The oldest supported release of each major line, for a Kubernetes version. */
function oldestFor(kubernetesVersion: string): string[] {
  const minor = Number(kubernetesVersion.split('.')[1]);
  return (MINIMUMS.find((m) => minor >= m.fromMinor) ?? MINIMUMS[MINIMUMS.length - 1]).oldest;
}

function compare(a: string, b: string): number {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

/** What the minor needs, in words: "1.7.28 or later on 1.7, or 2.1.5 or later". */
export function containerdNeeds(kubernetesVersion: string): string {
  return oldestFor(kubernetesVersion).map((v) => (v.startsWith('1.') ? `${v} or later on 1.7` : `${v} or later`)).join(', or ');
}

/**
 * Whether a containerd release runs the Kubernetes version: at least the oldest supported release of its
 * major line; a major line newer than any listed counts as supported.
 */
export function containerdSupported(release: string, kubernetesVersion: string): boolean {
  const oldest = oldestFor(kubernetesVersion);
  const major = Number(release.split('.')[0]);
  const line = oldest.find((v) => Number(v.split('.')[0]) === major);
  if (line) return compare(release, line) >= 0;
  return oldest.every((v) => Number(v.split('.')[0]) < major);
}
