/**
 * The container images the VM test's cluster runs, built here from source
 * and pushed to the test's registry (registry.ts) under their upstream
 * names, so containerd pulls them through the project's mirror option as
 * it would pull from registry.k8s.io, ghcr.io and docker.io.
 *
 * Which images: every one kubeadm pulls (`kubeadm config images list`) and
 * every one dist/ names; a new image there without a recipe here fails the
 * test. The binaries come from `npm run kube:build` (Kubernetes, etcd,
 * Traefik and the cluster parts of scripts/kube-build/cluster-parts.ts);
 * the userland some of them need from Debian 12:
 *
 *   static  /etc/passwd, /etc/group, /tmp: what a static Go binary needs (upstream: distroless)
 *   debian  a debootstrap minbase root with iptables, nftables, conntrack, iproute2 and
 *           ca-certificates (kube-proxy, flannel, and the `cp` of flannel's CNI init container)
 *   jre     Debian's openjdk-17-jre-headless on top of debian (tomcat6)
 *
 * Layers are assembled with crane (go-containerregistry): no Docker engine.
 * The three base layers are cached in VM_CACHE between runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseImage } from '../../config/schema';
import type { ClusterParts } from '../../scripts/kube-build/cluster-parts';
import { assembleTomcat } from './tomcat';

const MIRROR = 'http://deb.debian.org/debian';
const BASE_PACKAGES = ['iptables', 'nftables', 'conntrack', 'iproute2', 'ca-certificates'];
const JRE_PACKAGE = 'openjdk-17-jre-headless';
/** Left out of every layer: documentation, apt's lists and caches, logs. */
const TRIMMED = ['./usr/share/doc/*', './usr/share/man/*', './usr/share/info/*', './usr/share/locale/*', './var/lib/apt/lists/*', './var/cache/*', './var/log/*', './dev/*', './proc/*', './sys/*', './run/*', './tmp/*'];
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface BaseLayers {
  static: string;
  debian: string;
  jre: string;
  /** Seconds spent building them (0 when they came from the cache). */
  buildSeconds: number;
}

const tarRoot = (root: string, out: string, extra: string[] = []) => execFileSync('tar', ['--numeric-owner', ...TRIMMED.map((p) => `--exclude=${p}`), ...extra, '-C', root, '-cf', out, '.'], { stdio: ['ignore', 'ignore', 'pipe'] });

/** The three base layers, built once into `cacheDir` (a folder per recipe version). */
export function baseLayers(cacheDir: string, log: (line: string) => void): BaseLayers {
  const dir = path.join(cacheDir, 'image-roots-v1');
  const layers = { static: path.join(dir, 'static.tar'), debian: path.join(dir, 'debian.tar'), jre: path.join(dir, 'jre.tar') };
  if (existsSync(path.join(dir, 'done'))) return { ...layers, buildSeconds: 0 };
  const started = Date.now();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const work = path.join(dir, 'work');
  try {
    const staticRoot = path.join(work, 'static');
    mkdirSync(path.join(staticRoot, 'etc'), { recursive: true });
    mkdirSync(path.join(staticRoot, 'tmp'), { mode: 0o1777 });
    execFileSync('chmod', ['1777', path.join(staticRoot, 'tmp')]);
    writeFileSync(path.join(staticRoot, 'etc', 'passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n');
    writeFileSync(path.join(staticRoot, 'etc', 'group'), 'root:x:0:\nnonroot:x:65532:\nnogroup:x:65534:\n');
    writeFileSync(path.join(staticRoot, 'etc', 'nsswitch.conf'), 'hosts: files dns\n');
    tarRoot(staticRoot, layers.static);

    log('image base layers: debootstrap of a Debian 12 minbase root (once; cached)');
    const root = path.join(work, 'debian');
    execFileSync('debootstrap', ['--variant=minbase', `--include=${BASE_PACKAGES.join(',')}`, 'bookworm', root, MIRROR], { stdio: 'ignore' });
    tarRoot(root, layers.debian);

    log(`image base layers: ${JRE_PACKAGE} on top of it`);
    // A layer holds what the install added or changed: everything whose inode changed after a mark made just before it
    // (ctime: dpkg keeps the packages' own modification times).
    const mark = path.join(work, 'mark');
    writeFileSync(mark, '');
    execFileSync('sleep', ['1']);
    writeFileSync(path.join(root, 'etc', 'resolv.conf'), readFileSync('/etc/resolv.conf'));
    execFileSync('mount', ['-t', 'proc', 'proc', path.join(root, 'proc')]);
    try {
      // openjdk's postinst registers man pages with update-alternatives: their folders must exist.
      execFileSync('chroot', [root, '/bin/sh', '-c', `mkdir -p /usr/share/man/man1 /var/lib/apt/lists/partial /var/cache/apt/archives/partial && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${JRE_PACKAGE}`], { stdio: 'ignore' });
    } finally {
      execFileSync('umount', [path.join(root, 'proc')]);
    }
    rmSync(path.join(root, 'etc', 'resolv.conf'), { force: true });
    const changed = execFileSync('find', ['.', '-xdev', '-cnewer', mark, '!', '-path', './proc*', '!', '-path', './etc/resolv.conf', '-print0'], { cwd: root, maxBuffer: 1 << 28 });
    execFileSync('tar', ['-c', '-f', layers.jre, '--numeric-owner', '--no-recursion', ...TRIMMED.map((p) => `--exclude=${p}`), '-C', root, '--null', '-T', '-'], { input: changed, maxBuffer: 1 << 28, stdio: ['pipe', 'ignore', 'pipe'] });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  writeFileSync(path.join(dir, 'done'), '');
  return { ...layers, buildSeconds: (Date.now() - started) / 1000 };
}

/** One image: its upstream name, its layers (bottom first) and its config. */
export interface ImageRecipe {
  /** As the cluster names it, e.g. registry.k8s.io/pause:3.10.2. */
  name: string;
  layers: string[];
  entrypoint: string[];
  user?: string;
  workdir?: string;
  env?: string[];
}

/** registry.k8s.io/pause:3.10.2 -> { path: registry.k8s.io/pause, tag }, docker.io's short names with library/. */
export function canonicalName(image: string): { path: string; tag: string } {
  const ref = parseImage(image);
  if (!ref?.repository || !ref.tag) throw new Error(`not an image with a tag: ${image}`);
  const domain = ref.domain ?? 'docker.io';
  const repository = domain === 'docker.io' && !ref.repository.includes('/') ? `library/${ref.repository}` : ref.repository;
  return { path: `${domain}/${repository}`, tag: ref.tag };
}

/** A layer of one or more files: path in the image -> file on this machine (kept executable). */
function fileLayer(dir: string, name: string, files: Record<string, string>): string {
  const root = path.join(dir, `${name}-root`);
  rmSync(root, { recursive: true, force: true });
  for (const [target, source] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, target)), { recursive: true });
    execFileSync('install', ['-m', '755', source, path.join(root, target)]);
  }
  const out = path.join(dir, `${name}.tar`);
  execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', out, '.']);
  rmSync(root, { recursive: true, force: true });
  return out;
}

export interface ImageInputs {
  /** `kubeadm config images list` of the cluster's version. */
  kubeadmImages: string[];
  /** Every image dist/ names. */
  distImages: string[];
  /** The Kubernetes build's bin/ (kube-*, etcd). */
  kubeBin: string;
  parts: ClusterParts;
  traefik: string;
  base: BaseLayers;
  /** Where this run's layers are written (one folder per Kubernetes release: the layers are named by what they hold). */
  workDir: string;
  /** Where Tomcat's jars are cached. */
  cacheDir: string;
  /** The server the Headlamp image runs: the cluster test's stand-in (test/cluster/headlamp-stand-in.ts), as none can be built here. */
  headlamp?: string;
}

/**
 * A recipe for every image the cluster pulls, or an error naming the ones
 * this test cannot build.
 */
export async function clusterImages(inputs: ImageInputs): Promise<ImageRecipe[]> {
  const { kubeBin, parts, base, workDir } = inputs;
  const layerDir = path.join(workDir, 'image-layers');
  mkdirSync(layerDir, { recursive: true });
  const usrLocal = (name: string, source: string) => fileLayer(layerDir, name, { [`usr/local/bin/${name}`]: source });
  const recipeFor = async (image: string): Promise<ImageRecipe | undefined> => {
    const { path: repository } = canonicalName(image);
    const short = repository.split('/').pop()!;
    switch (repository) {
      case 'registry.k8s.io/kube-apiserver':
      case 'registry.k8s.io/kube-controller-manager':
      case 'registry.k8s.io/kube-scheduler':
        return { name: image, layers: [base.static, usrLocal(short, path.join(kubeBin, short))], entrypoint: [`/usr/local/bin/${short}`] };
      case 'registry.k8s.io/kube-proxy':
        return { name: image, layers: [base.debian, usrLocal(short, path.join(kubeBin, short))], entrypoint: ['/usr/local/bin/kube-proxy'] };
      case 'registry.k8s.io/etcd':
        // As upstream's image: etcd, etcdctl and etcdutl in /usr/local/bin (backup and restore run the two tools).
        return {
          name: image,
          layers: [base.static, fileLayer(layerDir, 'etcd', { 'usr/local/bin/etcd': path.join(kubeBin, 'etcd'), 'usr/local/bin/etcdctl': parts.etcdctl, 'usr/local/bin/etcdutl': parts.etcdutl })],
          entrypoint: ['/usr/local/bin/etcd'],
        };
      case 'registry.k8s.io/coredns/coredns':
        return { name: image, layers: [base.static, fileLayer(layerDir, 'coredns', { coredns: parts.coredns })], entrypoint: ['/coredns'], user: '65532:65532' };
      case 'ghcr.io/kube-vip/kube-vip':
        // As upstream's image (FROM scratch): /kube-vip, run as root (it manages the VIP and ARP). Upstream also copies in
        // a CA bundle, for HTTPS APIs outside the cluster, which this one does not call; it reaches the API server with the kubeconfig's CA.
        return { name: image, layers: [base.static, fileLayer(layerDir, 'kube-vip', { 'kube-vip': parts.kubeVip })], entrypoint: ['/kube-vip'] };
      case 'registry.k8s.io/pause':
        return { name: image, layers: [base.static, fileLayer(layerDir, 'pause', { pause: parts.pause })], entrypoint: ['/pause'], user: '65535:65535' };
      case 'ghcr.io/flannel-io/flannel':
        return { name: image, layers: [base.debian, fileLayer(layerDir, 'flannel', { 'opt/bin/flanneld': parts.flanneld, 'opt/bin/install-conf': parts.installConf })], entrypoint: ['/opt/bin/flanneld'] };
      case 'ghcr.io/flannel-io/flannel-cni-plugin':
        return { name: image, layers: [base.debian, fileLayer(layerDir, 'flannel-cni', { flannel: parts.flannelCni })], entrypoint: ['/flannel'] };
      case 'docker.io/library/traefik':
        return { name: image, layers: [base.static, usrLocal('traefik', inputs.traefik)], entrypoint: ['/usr/local/bin/traefik'] };
      case 'ghcr.io/headlamp-k8s/headlamp':
        // A stand-in, labelled as such (its page says so): Headlamp's backend is not served by the Go module proxy here.
        if (!inputs.headlamp) return undefined;
        return { name: image, layers: [base.static, fileLayer(layerDir, 'headlamp', { 'headlamp/headlamp-server': inputs.headlamp })], entrypoint: ['/headlamp/headlamp-server'], user: '100:101' };
      case 'docker.io/library/tomcat': {
        const root = path.join(layerDir, 'tomcat-root');
        rmSync(root, { recursive: true, force: true });
        const home = path.join(root, 'usr', 'local', 'tomcat');
        await assembleTomcat({ home, cache: path.join(inputs.cacheDir, 'tomcat-6.0.53') });
        const layer = path.join(layerDir, 'tomcat.tar');
        execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', layer, '.']);
        rmSync(root, { recursive: true, force: true });
        return { name: image, layers: [base.debian, base.jre, layer], entrypoint: ['/usr/local/tomcat/bin/run.sh'], workdir: '/usr/local/tomcat' };
      }
      default:
        return undefined;
    }
  };
  const wanted = [...new Set([...inputs.kubeadmImages, ...inputs.distImages])];
  const recipes: ImageRecipe[] = [];
  const unknown: string[] = [];
  for (const image of wanted) {
    const recipe = await recipeFor(image);
    if (recipe) recipes.push(recipe);
    else unknown.push(image);
  }
  if (unknown.length) throw new Error(`the VM test has no recipe for ${unknown.join(', ')}: add one to test/vm/images.ts`);
  return recipes;
}

/** Every `image:` dist/ names. */
export function distImages(distDir: string): string[] {
  const images = readdirSync(distDir).filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => [...readFileSync(path.join(distDir, f), 'utf8').matchAll(/^\s*image:\s*"?([^\s"]+)"?\s*$/gm)].map((m) => m[1]));
  return [...new Set(images)].sort();
}

/**
 * Assembles each image with crane and pushes it to the registry at
 * `registry` (host:port) as <registry>/<upstream registry>/<repository>:<tag>,
 * the path a mirror with containerd's override_path serves.
 */
export function pushImages(crane: string, registry: string, caFile: string, recipes: ImageRecipe[]): string[] {
  const env = { ...process.env, SSL_CERT_FILE: caFile };
  const pushed: string[] = [];
  for (const recipe of recipes) {
    const { path: repository, tag } = canonicalName(recipe.name);
    const ref = `${registry}/${repository}:${tag}`;
    execFileSync(crane, ['append', '--oci-empty-base', ...recipe.layers.flatMap((l) => ['-f', l]), '-t', ref], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync(crane, ['mutate', ref, '--set-platform', 'linux/amd64', ...recipe.entrypoint.length ? ['--entrypoint', recipe.entrypoint.join(',')] : [],
      '-e', PATH_ENV, ...(recipe.env ?? []).flatMap((e) => ['-e', e]), ...(recipe.user ? ['-u', recipe.user] : []), ...(recipe.workdir ? ['-w', recipe.workdir] : []), '-t', ref], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    pushed.push(ref);
  }
  return pushed;
}
