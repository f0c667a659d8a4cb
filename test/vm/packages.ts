/**
 * The package repositories the VM test's nodes install from, built from the
 * binaries `npm run kube:build` made and laid out like the real ones, so
 * prep's own repository set-up, version pin and holds are what run:
 *
 *   <base>/k8s/core:/stable:/v1.37/deb/   like pkgs.k8s.io: a flat, signed repository (one per minor given) with
 *                                         kubelet (its systemd unit), kubeadm (the kubelet
 *                                         drop-in kubeadm needs), kubectl, cri-tools and
 *                                         kubernetes-cni, at the configured version and at
 *                                         the next patch release (same binaries, never
 *                                         installed: it proves the pin and the hold)
 *   <base>/docker/debian/                 like download.docker.com/linux/debian: gpg, and
 *                                         dists/bookworm/stable with containerd.io (containerd,
 *                                         its runc shim, ctr and runc, containerd.service)
 *
 * Both are signed with one key this test makes, and served over HTTP on
 * this machine's loopback; the VMs reach it through a guestfwd address
 * (machine.ts).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as path from 'node:path';
import { download } from '../../scripts/kube-build/build';
import type { BuildRecord } from '../../scripts/kube-build/cache';
import type { ClusterParts } from '../../scripts/kube-build/cluster-parts';

const KUBELET_UNIT = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`;

const KUBEADM_DROP_IN = `# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`;

/** containerd.io's own config: the CRI plugin off, as Docker ships it (prep writes the cluster's). */
const CONTAINERD_IO_CONFIG = 'disabled_plugins = ["cri"]\n';

/** What containerd.io's maintainer scripts do on a systemd host (deb-systemd-helper, simplified). */
const CONTAINERD_IO_POSTINST = `#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable containerd.service >/dev/null 2>&1
  systemctl restart containerd.service
fi
`;

interface Package {
  name: string;
  version: string;
  /** Path in the package -> a file to copy (mode kept) or { text }. */
  files: Record<string, string | { text: string; mode?: number }>;
  depends?: string;
  extra?: string[];
  scripts?: Record<string, string>;
}

function buildDeb(staging: string, outDir: string, pkg: Package): void {
  const root = path.join(staging, `${pkg.name}-${pkg.version}`);
  for (const [file, source] of Object.entries(pkg.files)) {
    const target = path.join(root, file);
    mkdirSync(path.dirname(target), { recursive: true });
    if (typeof source === 'string') {
      copyFileSync(source, target);
      execFileSync('chmod', ['755', target]);
    } else {
      writeFileSync(target, source.text, { mode: source.mode ?? 0o644 });
    }
  }
  const control = path.join(root, 'DEBIAN');
  mkdirSync(control, { recursive: true });
  const conffiles = Object.keys(pkg.files).filter((f) => f.startsWith('etc/')).map((f) => `/${f}\n`).join('');
  if (conffiles) writeFileSync(path.join(control, 'conffiles'), conffiles);
  for (const [name, text] of Object.entries(pkg.scripts ?? {})) writeFileSync(path.join(control, name), text, { mode: 0o755 });
  writeFileSync(path.join(control, 'control'), [
    `Package: ${pkg.name}`, `Version: ${pkg.version}`, 'Architecture: amd64', 'Maintainer: VM test <test@localhost>',
    ...(pkg.depends ? [`Depends: ${pkg.depends}`] : []), ...(pkg.extra ?? []), `Description: ${pkg.name}, built from source for the VM test`, '',
  ].join('\n'));
  // Fast compression: the repository is rebuilt on every run.
  execFileSync('dpkg-deb', ['-Zgzip', '-z1', '--build', '--root-owner-group', root, path.join(outDir, `${pkg.name}_${pkg.version}_amd64.deb`)], { stdio: 'ignore' });
}

/** The kubelet, kubeadm and kubectl of one version (pkgs.k8s.io's names, layout and dependencies). */
function kubernetesPackages(bin: string, version: string): Package[] {
  return [
    {
      name: 'kubelet', version, depends: 'kubernetes-cni (>= 1.2.0), mount, util-linux',
      files: { 'usr/bin/kubelet': path.join(bin, 'kubelet'), 'usr/lib/systemd/system/kubelet.service': { text: KUBELET_UNIT } },
    },
    { name: 'kubeadm', version, files: { 'usr/bin/kubeadm': path.join(bin, 'kubeadm'), 'usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf': { text: KUBEADM_DROP_IN } } },
    { name: 'kubectl', version, files: { 'usr/bin/kubectl': path.join(bin, 'kubectl') } },
  ];
}

export interface PackageRepos {
  /** Where it listens on 127.0.0.1. */
  port: number;
  /** The kubelet/kubeadm/kubectl versions of the Kubernetes repository, oldest first (deb versions, e.g. 1.37.2-1.1). */
  kubernetesVersions: string[];
  /** The same, of each release's repository (the config's and the others'). */
  versionsByRelease: Record<string, string[]>;
  /** containerd.io's deb version. */
  containerdVersion: string;
  stop(): Promise<void>;
}

/**
 * Builds both repositories in <workDir>/package-repos (signing key too) from
 * the Kubernetes build in `kubeDir` (its build.json, bin/ and cni/bin/) and
 * the cluster parts, and serves them. The folder goes with the run's other
 * files (removeRunFiles).
 */
export async function startPackageRepos(workDir: string, kubeDir: string, build: BuildRecord, parts: ClusterParts, otherReleases: { kubeDir: string; build: BuildRecord }[] = []): Promise<PackageRepos> {
  const dir = path.join(workDir, 'package-repos');
  const served = path.join(dir, 'served');
  const staging = path.join(dir, 'staging');
  const docker = path.join(served, 'docker', 'debian');
  const pool = path.join(docker, 'pool', 'stable', 'c', 'containerd.io');
  for (const d of [pool, staging]) mkdirSync(d, { recursive: true });
  const bin = path.join(kubeDir, 'bin');

  // One minor's repository per release (the config's, and others a test upgrades from), each from its own build.
  const minorRepos: string[] = [];
  const versionsByRelease: Record<string, string[]> = {};
  for (const release of [{ kubeDir, build }, ...otherReleases]) {
    const version = release.build.kubernetes;
    const { crictl, cni } = release.build;
    if (!crictl || !cni || !release.build.containerd) throw new Error(`the Kubernetes ${version} build holds no node parts (crictl, CNI, containerd): build it with npm run kube:build -- --tested`);
    const [major, minor, patch] = version.split('.').map(Number);
    const k8s = path.join(served, 'k8s', 'core:', 'stable:', `v${major}.${minor}`, 'deb');
    mkdirSync(k8s, { recursive: true });
    const releaseBin = path.join(release.kubeDir, 'bin');
    const versions = [`${version}-1.1`, `${major}.${minor}.${patch + 1}-1.1`];
    versionsByRelease[version] = versions;
    const cniBin = path.join(release.kubeDir, 'cni', 'bin');
    const packages: Package[] = [
      ...versions.flatMap((v) => kubernetesPackages(releaseBin, v)),
      { name: 'cri-tools', version: `${crictl}-1.1`, files: { 'usr/bin/crictl': path.join(releaseBin, 'crictl') } },
      { name: 'kubernetes-cni', version: `${cni}-1.1`, files: Object.fromEntries(readdirSync(cniBin).map((p) => [`opt/cni/bin/${p}`, path.join(cniBin, p)])) },
    ];
    for (const pkg of packages) buildDeb(staging, k8s, pkg);
    minorRepos.push(k8s);
  }
  const kubernetesVersions = versionsByRelease[build.kubernetes];
  const containerd = build.containerd!;

  const containerdVersion = `${containerd}-1~debian.12~bookworm`;
  buildDeb(staging, pool, {
    name: 'containerd.io', version: containerdVersion, depends: 'libc6, libseccomp2',
    extra: ['Provides: containerd, runc', 'Conflicts: containerd, runc', 'Replaces: containerd, runc'],
    files: {
      'usr/bin/containerd': path.join(bin, 'containerd'),
      'usr/bin/containerd-shim-runc-v2': parts.shim,
      'usr/bin/ctr': parts.ctr,
      'usr/bin/runc': parts.runc,
      'lib/systemd/system/containerd.service': { text: containerdUnit(containerd) },
      'etc/containerd/config.toml': { text: CONTAINERD_IO_CONFIG },
    },
    scripts: { postinst: CONTAINERD_IO_POSTINST },
  });

  const gnupg = path.join(dir, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  const gpg = (cwd: string, ...args: string[]) => execFileSync('gpg', ['--batch', '--homedir', gnupg, '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { cwd, stdio: ['ignore', 'pipe', 'ignore'] });
  gpg(dir, '--quick-gen-key', 'VM test repositories <test@localhost>', 'ed25519', 'sign', 'never');
  const key = gpg(dir, '--armor', '--export');
  const sign = (releaseDir: string) => {
    gpg(releaseDir, '--clearsign', '-o', 'InRelease', 'Release');
    gpg(releaseDir, '-abs', '-o', 'Release.gpg', 'Release');
  };

  // pkgs.k8s.io: flat (deb [signed-by=...] <base>/v1.37/deb/ /), one per minor, signed by the same key.
  for (const k8s of minorRepos) {
    writeFileSync(path.join(k8s, 'Release.key'), key);
    writeFileSync(path.join(k8s, 'Packages'), execFileSync('apt-ftparchive', ['packages', '.'], { cwd: k8s, maxBuffer: 1 << 26 }));
    writeFileSync(path.join(k8s, 'Release'), execFileSync('apt-ftparchive', ['release', '.'], { cwd: k8s }));
    sign(k8s);
  }

  // Docker's: deb [arch=amd64 signed-by=...] <base>/debian bookworm stable.
  writeFileSync(path.join(docker, 'gpg'), key);
  const packagesDir = path.join(docker, 'dists', 'bookworm', 'stable', 'binary-amd64');
  mkdirSync(packagesDir, { recursive: true });
  writeFileSync(path.join(packagesDir, 'Packages'), execFileSync('apt-ftparchive', ['packages', 'pool/stable'], { cwd: docker }));
  const suite = path.join(docker, 'dists', 'bookworm');
  writeFileSync(path.join(suite, 'Release'), execFileSync('apt-ftparchive', [
    '-o', 'APT::FTPArchive::Release::Origin=Docker', '-o', 'APT::FTPArchive::Release::Suite=bookworm', '-o', 'APT::FTPArchive::Release::Codename=bookworm',
    '-o', 'APT::FTPArchive::Release::Components=stable', '-o', 'APT::FTPArchive::Release::Architectures=amd64', 'release', '.',
  ], { cwd: suite }));
  sign(suite);

  const server: Server = createServer((request, response) => {
    const file = path.join(served, path.normalize(decodeURIComponent((request.url ?? '/').split('?')[0])));
    if (!file.startsWith(`${served}/`) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    kubernetesVersions,
    versionsByRelease,
    containerdVersion,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** containerd's own unit (from its module), with the binary where the package puts it, as Docker's does. */
function containerdUnit(version: string): string {
  const module = download('github.com/containerd/containerd/v2', `v${version}`);
  return readFileSync(path.join(module.Dir, 'containerd.service'), 'utf8').replace('/usr/local/bin/containerd', '/usr/bin/containerd');
}
