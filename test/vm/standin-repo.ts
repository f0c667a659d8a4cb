/**
 * A signed apt repository laid out like pkgs.k8s.io (<base>/v1.35/deb/, flat,
 * with Release.key, InRelease and Packages), holding stand-in kubelet,
 * kubeadm, kubectl, cri-tools and kubernetes-cni packages of the configured
 * version, served over HTTP on this machine's loopback (the VM reaches it as
 * 10.0.2.2). The stand-ins emulate what the fake hosts emulate: init writes
 * admin.conf and a real CA, join writes kubelet.conf, kubectl answers the
 * readiness check; kubelet is a service that stays up.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, createReadStream, existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const KUBEADM = `#!/bin/sh
# stand-in kubeadm for the VM test
set -e
state=/var/lib/standin-kubeadm
mkdir -p $state
case "$1" in
  version) echo "v@VERSION@" ;;
  config)
    repo=registry.k8s.io
    for a in "$@"; do case "$a" in --image-repository=*) repo="\${a#*=}" ;; esac; done
    for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do echo "$repo/$c:v@VERSION@"; done
    echo "$repo/coredns/coredns:v1.12.1"; echo "$repo/pause:3.10.1"; echo "$repo/etcd:3.6.5-0" ;;
  init)
    config="\${2#--config=}"
    systemctl is-active --quiet containerd || { echo "[ERROR CRI]: container runtime is not running" >&2; exit 1; }
    [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || { echo "[ERROR FileContent--proc-sys-net-ipv4-ip_forward]" >&2; exit 1; }
    [ -z "$(swapon --show --noheadings)" ] || { echo "[ERROR Swap]: swap is on" >&2; exit 1; }
    cp "$config" $state/init.yaml
    mkdir -p /etc/kubernetes/pki /etc/kubernetes/manifests
    openssl req -x509 -newkey rsa:2048 -nodes -keyout /etc/kubernetes/pki/ca.key -out /etc/kubernetes/pki/ca.crt -days 1 -subj /CN=kubernetes 2>/dev/null
    printf 'apiVersion: v1\\nkind: Config\\nusers:\\n- name: kubernetes-admin\\n  user:\\n    client-key-data: %s\\n' "$(base64 -w0 /etc/kubernetes/pki/ca.key)" > /etc/kubernetes/admin.conf
    chmod 600 /etc/kubernetes/admin.conf
    printf 'apiVersion: v1\\nkind: Config\\n' > /etc/kubernetes/kubelet.conf
    echo "kind: Pod" > /etc/kubernetes/manifests/kube-apiserver.yaml
    echo "Your Kubernetes control-plane has initialized successfully!" ;;
  token) t="$(openssl rand -hex 3).$(openssl rand -hex 8)"; echo "$t" >> $state/tokens; echo "$t" ;;
  join) cp "\${2#--config=}" $state/join.yaml; printf 'apiVersion: v1\\nkind: Config\\n' > /etc/kubernetes/kubelet.conf ;;
  reset) rm -rf /etc/kubernetes/*.conf /etc/kubernetes/pki /etc/kubernetes/manifests/* ;;
  *) echo "stand-in kubeadm: unsupported $*" >&2; exit 1 ;;
esac
`;

const KUBECTL = `#!/bin/sh
# stand-in kubectl for the VM test
for a in "$@"; do case "$a" in --raw=/readyz) [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ] && { echo ok; exit 0; }; echo "connection refused" >&2; exit 1 ;; esac; done
case " $* " in *" apply "*) cat > /dev/null; echo "configured" ;; *) echo "condition met" ;; esac
`;

const KUBELET_UNIT = `[Unit]
Description=stand-in kubelet for the VM test
[Service]
ExecStart=/bin/sleep infinity
Restart=always
[Install]
WantedBy=multi-user.target
`;

interface Package {
  name: string;
  files: Record<string, string>;
  depends?: string;
}

function buildDeb(dir: string, version: string, pkg: Package): void {
  const root = path.join(dir, 'build', pkg.name);
  for (const [file, content] of Object.entries(pkg.files)) {
    const target = path.join(root, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, content.replaceAll('@VERSION@', version));
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
  /** The base URL as the VM sees it, for packages.kubernetes. */
  baseForVm: string;
  stop(): Promise<void>;
}

export async function startStandinRepo(version: string): Promise<StandinRepo> {
  const dir = mkdtempSync(path.join(tmpdir(), 'standin-repo-'));
  const minor = version.split('.').slice(0, 2).join('.');
  const repo = path.join(dir, 'repo');
  mkdirSync(repo, { recursive: true });
  const packages: Package[] = [
    { name: 'kubelet', files: { 'usr/bin/kubelet': '#!/bin/sh\nexec sleep infinity\n', 'lib/systemd/system/kubelet.service': KUBELET_UNIT } },
    { name: 'kubectl', files: { 'usr/bin/kubectl': KUBECTL } },
    { name: 'cri-tools', files: { 'usr/bin/crictl': '#!/bin/sh\necho stand-in crictl\n' } },
    { name: 'kubernetes-cni', files: { 'opt/cni/bin/.keep': '' } },
    { name: 'kubeadm', files: { 'usr/bin/kubeadm': KUBEADM }, depends: 'kubelet, kubectl, cri-tools, kubernetes-cni' },
  ];
  for (const pkg of packages) buildDeb(dir, version, pkg);
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
  const port = (server.address() as { port: number }).port;
  return {
    baseForVm: `http://10.0.2.2:${port}/core:/stable:`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
