/**
 * A signed apt repository laid out like pkgs.k8s.io (<base>/v1.35/deb/, flat,
 * with Release.key, InRelease and Packages), holding stand-in kubelet,
 * kubeadm, kubectl, cri-tools and kubernetes-cni packages of the configured
 * version and of the next patch release (so an install that does not pin the
 * version gets the wrong one), served over HTTP on this machine's loopback
 * (the VMs reach it through a guestfwd address, see machine.ts). The stand-ins (test/vm/standin/) emulate what the fake hosts
 * emulate: init writes admin.conf and a real CA, join checks the pinned CA
 * hash against the control plane's CA and writes kubelet.conf, kubectl
 * answers apply/wait/rollout; the kubelet is a service that answers the
 * bootstrap's HTTP checks once its node is in the cluster.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as path from 'node:path';

const standin = (name: string) => readFileSync(path.join(__dirname, 'standin', name), 'utf8');

const KUBELET_UNIT = `[Unit]
Description=stand-in kubelet for the VM test
[Service]
ExecStart=/usr/bin/kubelet
Restart=always
[Install]
WantedBy=multi-user.target
`;

/** What the stand-ins answer: the NodePort Kubernetes "picked" for tomcat6, and the Ingress host. */
export interface StandinAnswers {
  nodePort: number;
  ingressHost: string;
}

interface Package {
  name: string;
  files: Record<string, string>;
  depends?: string;
}

function buildDeb(dir: string, version: string, answers: StandinAnswers, pkg: Package): void {
  const root = path.join(dir, 'build', `${pkg.name}-${version}`);
  for (const [file, content] of Object.entries(pkg.files)) {
    const target = path.join(root, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, content.replaceAll('@VERSION@', version).replaceAll('@NODEPORT@', String(answers.nodePort)).replaceAll('@HOST@', answers.ingressHost));
    if (file.includes('/bin/')) chmodSync(target, 0o755);
  }
  mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  writeFileSync(path.join(root, 'DEBIAN', 'control'), [
    `Package: ${pkg.name}`, `Version: ${version}-1.1`, 'Architecture: amd64', 'Maintainer: VM test <test@localhost>',
    ...(pkg.depends ? [`Depends: ${pkg.depends}`] : []), `Description: stand-in ${pkg.name} for the VM test`, '',
  ].join('\n'));
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', root, path.join(dir, 'repo', `${pkg.name}_${version}-1.1_amd64.deb`)], { stdio: 'ignore' });
}

export interface StandinRepo {
  /** Where it listens on 127.0.0.1. */
  port: number;
  /** The versions it holds, oldest first. */
  versions: string[];
  stop(): Promise<void>;
}

/**
 * Builds the repository in <workDir>/standin-repo (its signing key too) and
 * serves it. The folder goes with the run's other files (removeRunFiles).
 */
export async function startStandinRepo(workDir: string, version: string, answers: StandinAnswers): Promise<StandinRepo> {
  const dir = path.join(workDir, 'standin-repo');
  const minor = version.split('.').slice(0, 2).join('.');
  const repo = path.join(dir, 'repo');
  mkdirSync(repo, { recursive: true });
  const packages: Package[] = [
    { name: 'kubelet', files: { 'usr/bin/kubelet': standin('kubelet'), 'lib/systemd/system/kubelet.service': KUBELET_UNIT } },
    { name: 'kubectl', files: { 'usr/bin/kubectl': standin('kubectl') } },
    { name: 'cri-tools', files: { 'usr/bin/crictl': '#!/bin/sh\necho stand-in crictl\n' } },
    { name: 'kubernetes-cni', files: { 'opt/cni/bin/.keep': '' } },
    { name: 'kubeadm', files: { 'usr/bin/kubeadm': standin('kubeadm') }, depends: 'kubelet, kubectl, cri-tools, kubernetes-cni' },
  ];
  const [major, minorNumber, patch] = version.split('.').map(Number);
  const versions = [version, `${major}.${minorNumber}.${patch + 1}`];
  for (const v of versions) for (const pkg of packages) buildDeb(dir, v, answers, pkg);
  const gnupg = path.join(dir, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  const gpg = (...args: string[]) => execFileSync('gpg', ['--batch', '--homedir', gnupg, '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'] });
  gpg('--quick-gen-key', 'VM test repository <test@localhost>', 'ed25519', 'sign', 'never');
  writeFileSync(path.join(repo, 'Release.key'), gpg('--armor', '--export'));
  writeFileSync(path.join(repo, 'Packages'), execFileSync('apt-ftparchive', ['packages', '.'], { cwd: repo }));
  writeFileSync(path.join(repo, 'Release'), execFileSync('apt-ftparchive', ['release', '.'], { cwd: repo }));
  gpg('--clearsign', '-o', 'InRelease', 'Release');
  gpg('-abs', '-o', 'Release.gpg', 'Release');

  const prefix = `/core:/stable:/v${minor}/deb/`;
  const server: Server = createServer((request, response) => {
    const url = decodeURIComponent(request.url ?? '');
    const file = url.startsWith(prefix) ? path.join(repo, path.basename(url.slice(prefix.length))) : '';
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    versions,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
