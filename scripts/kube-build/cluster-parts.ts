/**
 * The parts a real cluster needs besides what build.ts builds, from source,
 * for the VM tests (which build container images and a containerd.io .deb
 * of them): runc, containerd's runc shim and ctr, crane, and the programs of
 * the images kubeadm and dist/ run (coredns, flanneld and install-conf, the
 * flannel CNI plugin, pause), and kube-vip (the HA cluster's control planes
 * run its image as a static pod). Each is a tool of cache.ts (<cache>/tools/<name>-v<version>/<name>),
 * built once, at the version its source names:
 *
 *   runc                     containerd's script/setup/runc-version (CONTAINERD_VERSION); cgo with
 *                            libseccomp (-tags seccomp), linked statically as runc's `make static`
 *   containerd-shim-runc-v2  CONTAINERD_VERSION, CGO off, as containerd's Makefile (-tags no_grpc)
 *   ctr                      CONTAINERD_VERSION, CGO off
 *   crane                    CRANE_VERSION (the newest the proxy serves)
 *   coredns                  the coredns image tag `kubeadm config images list` names
 *   flanneld                 the tag of dist/'s flannel image; cgo, static, as flannel's Makefile
 *   flannel-install-conf     the same; flannel's cmd/install_conf, CGO off, as its images/Dockerfile
 *   flannel-cni              FLANNEL_CNI_VERSION (see below)
 *   pause                    the pause image tag kubeadm names; build/pause/linux/pause.c of
 *                            k8s.io/kubernetes at the kubeadm's version, gcc -static, stripped
 *   etcdctl, etcdutl         the etcd version of the etcd image kubeadm names, CGO off, as etcd's
 *                            release builds them (its image carries both beside etcd)
 *   kube-vip                 the tag of KUBE_VIP_IMAGE (config/images.ts); CGO off, as its Dockerfile
 *                            (`make build`), main.Version the tag and main.Build its commit as its Makefile
 *
 * Two differ from the images dist/ runs, because the Go module proxy (the
 * only source there is) does not serve what they are built from:
 * - flanneld (and install-conf, built from the same source) lacks its
 *   Tencent Cloud VPC backend: the proxy refuses the tencentcloud SDK modules
 *   it imports. The build removes pkg/backend/tencentvpc, its blank import
 *   and the SDK requirements; every other backend (vxlan, host-gw, udp,
 *   wireguard, ipip, ...) is there.
 * - the flannel CNI plugin: dist/ names ghcr.io/flannel-io/flannel-cni-plugin
 *   (v1.9.1-flannel3), whose module github.com/flannel-io/cni-plugin the proxy
 *   does not serve. The binary here is its predecessor, the flannel meta
 *   plugin of github.com/containernetworking/plugins v0.9.1: same network
 *   config (type "flannel", delegate, subnet.env), installed as /opt/cni/bin/flannel.
 * Both say so in the log when they are built.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../config/errors';
import { ADDON_IMAGES, KUBE_VIP_IMAGE } from '../../config/images';
import { parseImage } from '../../config/schema';
import { CONTAINERD_VERSION, download, go, toolchainLines } from './build';
import { ensureTool, toolPath } from './cache';

export interface ClusterParts {
  runc: string;
  /** containerd-shim-runc-v2 */
  shim: string;
  ctr: string;
  crane: string;
  coredns: string;
  flanneld: string;
  /** flannel's install-conf (/opt/bin/install-conf of its image, which dist/'s install-cni init container runs). */
  installConf: string;
  /** The 'flannel' CNI plugin binary (install it as /opt/cni/bin/flannel). */
  flannelCni: string;
  pause: string;
  /** etcd's client and its offline tool, which the etcd image carries beside etcd (backup and restore run them). */
  etcdctl: string;
  etcdutl: string;
  /** kube-vip (/kube-vip of its image, which the HA cluster's control planes run as a static pod). */
  kubeVip: string;
  /** Tool name -> version built, e.g. runc -> 1.3.6. */
  versions: Record<string, string>;
}

export const CRANE_VERSION = '0.22.1';
/** The version of the flannel image dist/ runs, e.g. 0.28.9. */
export const FLANNEL_VERSION = parseImage(ADDON_IMAGES.flannel)!.tag!.replace(/^v/, '');
/** containernetworking/plugins' flannel meta plugin, in place of dist/'s flannel-cni-plugin image (see the file comment). */
export const FLANNEL_CNI_VERSION = '0.9.1';
/** The version of the kube-vip image (KUBE_VIP_IMAGE), e.g. 1.0.0. */
export const KUBE_VIP_VERSION = parseImage(KUBE_VIP_IMAGE)!.tag!.replace(/^v/, '');

const CONTAINERD = 'github.com/containerd/containerd/v2';
const FLANNEL = 'github.com/flannel-io/flannel';
const TENCENT_SDK = 'github.com/tencentcloud/tencentcloud-sdk-go/';
const KUBE_VIP = 'github.com/kube-vip/kube-vip';

/** runc's version in containerd's script/setup/runc-version ("v1.3.6\n" -> 1.3.6). */
export function parseRuncVersion(text: string): string {
  const version = /^\s*v?(\d+\.\d+\.\d+\S*)\s*$/.exec(text)?.[1];
  if (!version) throw new Error(`script/setup/runc-version names no version: ${JSON.stringify(text)}`);
  return version;
}

/** The tag (without a leading v) of an image in `kubeadm config images list`, by its last path element: coredns, pause. */
export function kubeadmImageTag(list: string, image: string): string {
  const tag = new RegExp(`/${image}:v?([\\w.-]+)\\s*$`, 'm').exec(list)?.[1];
  if (!tag) throw new Error(`kubeadm config images list named no ${image} image:\n${list}`);
  return tag;
}

/** A Go file without the lines importing a package (`_ "pkg"` or `"pkg"`). */
export function withoutImport(source: string, pkg: string): string {
  return source.split('\n').filter((line) => !new RegExp(`^\\s*(?:[\\w_.]+\\s+)?"${pkg.replace(/[.]/g, '\\.')}"\\s*$`).test(line)).join('\n');
}

/** The modules of a go.mod's require lines whose path starts with a prefix. */
export function requiredModules(goMod: string, prefix: string): string[] {
  return [...goMod.matchAll(/^(?:require[ \t]+|[ \t]+)(\S+)[ \t]+v\S+/gm)].map((m) => m[1]).filter((m) => m.startsWith(prefix));
}

/**
 * kube-vip's ldflags, as its Makefile's: main.Version is the tag, main.Build the commit (`git rev-parse HEAD`
 * there; here the commit the module proxy says the version is from, left out when it says none).
 */
export function kubeVipLdflags(version: string, commit?: string): string {
  return ['-s', '-w', `-X=main.Version=v${version}`, ...(commit ? [`-X=main.Build=${commit}`] : []), '-extldflags', '-static'].join(' ');
}

/** The commit a module version is from, as the module proxy's .info names it (Origin.Hash); undefined when it names none. */
function moduleCommit(module: string, version: string): string | undefined {
  const info = JSON.parse(readFileSync(download(module, `v${version}`).Info, 'utf8')) as { Origin?: { Hash?: string } };
  return info.Origin?.Hash;
}

/** Where the versions some parts are built at come from. */
export interface VersionSources {
  /** runc's version in containerd's script/setup/runc-version. */
  runc(): string;
  /** The kubeadm's own version, e.g. 1.37.2. */
  kubernetes(): string;
  /** `kubeadm config images list` for that version. */
  images(): string;
}

/** The sources, each read once and only when needed. */
class Sources implements VersionSources {
  private cache = new Map<string, string>();

  constructor(private readonly kubeadm: string) {}

  private once(key: string, read: () => string): string {
    if (!this.cache.has(key)) this.cache.set(key, read());
    return this.cache.get(key)!;
  }

  runc(): string {
    return this.once('runc', () => parseRuncVersion(readFileSync(path.join(download(CONTAINERD, `v${CONTAINERD_VERSION}`).Dir, 'script', 'setup', 'runc-version'), 'utf8')));
  }

  kubernetes(): string {
    return this.once('kubernetes', () => {
      const result = spawnSync(this.kubeadm, ['version', '-o', 'short'], { encoding: 'utf8' });
      const version = /^v(\d+\.\d+\.\d+)\s*$/.exec(result.stdout ?? '')?.[1];
      if (!version) throw new UserError([`${this.kubeadm} version -o short: no version (${result.error?.message ?? `${result.stdout}${result.stderr}`.trim()})`]);
      return version;
    });
  }

  images(): string {
    return this.once('images', () => {
      const result = spawnSync(this.kubeadm, ['config', 'images', 'list', `--kubernetes-version=v${this.kubernetes()}`], { encoding: 'utf8' });
      if (result.status !== 0) throw new UserError([`${this.kubeadm} config images list failed:\n${result.stdout}${result.stderr}`]);
      return result.stdout;
    });
  }
}

type Part = Exclude<keyof ClusterParts, 'versions'>;

/** How one part is built. */
export interface PartRecipe {
  part: Part;
  /** Its name in the tools cache. */
  tool: string;
  version(sources: VersionSources): string;
  /** Writes the binary into staging; returns its path. */
  build(staging: string, version: string, sources: VersionSources, log: (line: string) => void): string;
}

/** `go install pkg@v<version>` into staging; returns the binary's path. */
function goInstall(staging: string, pkg: string, version: string, flags: string[], env: NodeJS.ProcessEnv = {}): string {
  go(['install', '-trimpath', ...flags, `${pkg}@v${version}`], { env: { GOBIN: staging, ...env } });
  return path.join(staging, path.basename(pkg));
}

/** A module version copied into staging/src, writable (the module cache's files are read-only). */
function copyModule(staging: string, module: string, version: string): string {
  const src = path.join(staging, 'src');
  cpSync(download(module, `v${version}`).Dir, src, { recursive: true });
  spawnSync('chmod', ['-R', 'u+w', src]);
  return src;
}

/**
 * flannel's module in staging/src, buildable from the module proxy: without
 * pkg/backend/tencentvpc, its import and the tencentcloud SDK it requires.
 */
function flannelSource(staging: string, version: string, log: (line: string) => void): string {
  const src = copyModule(staging, FLANNEL, version);
  const backendDir = path.join(src, 'pkg', 'backend', 'tencentvpc');
  if (!existsSync(backendDir)) return src;
  log(`flannel v${version}: the Go module proxy does not serve the tencentcloud SDK; building without the Tencent Cloud VPC backend (pkg/backend/tencentvpc)`);
  rmSync(backendDir, { recursive: true });
  const backend = `${FLANNEL}/pkg/backend/tencentvpc`;
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.go')).map((f) => path.join(src, f))) {
    const source = readFileSync(file, 'utf8');
    if (source.includes(`"${backend}"`)) writeFileSync(file, withoutImport(source, backend));
  }
  const sdk = requiredModules(readFileSync(path.join(src, 'go.mod'), 'utf8'), TENCENT_SDK);
  if (sdk.length) go(['mod', 'edit', ...sdk.map((m) => `-droprequire=${m}`)], { cwd: src });
  return src;
}

/**
 * An etcd tool (etcdctl, etcdutl) at kubeadm's etcd version. Its go.mod points at its sibling modules
 * (../api, ...), which `go install pkg@version` refuses: a build module of ours requires it instead.
 */
function etcdTool(staging: string, tool: 'etcdctl' | 'etcdutl', version: string): string {
  const module = `go.etcd.io/etcd/${tool}/v3`;
  const upstream = download(module, `v${version}`);
  const src = path.join(staging, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(path.join(src, 'go.mod'), [`// Generated by the cluster test's build: ${tool} of etcd v${version}.`, `module kube-hosts.local/${tool}`, '', ...toolchainLines(readFileSync(upstream.GoMod, 'utf8')), '', `require ${module} v${version}`, ''].join('\n'));
  writeFileSync(path.join(src, 'tools.go'), `//go:build tools\n\npackage tools\n\nimport _ "${module}"\n`);
  const binary = path.join(staging, tool);
  go(['build', '-mod=mod', '-trimpath', '-ldflags', `-X go.etcd.io/etcd/api/v3/version.GitSHA=v${version} -s -w`, '-o', binary, module], { cwd: src });
  return binary;
}

/** The etcd version of the etcd image kubeadm names, e.g. 3.7.0 of registry.k8s.io/etcd:3.7.0-0. */
const etcdVersion = (sources: VersionSources) => kubeadmImageTag(sources.images(), 'etcd').replace(/-\d+$/, '');

const containerdLdflags = (version: string) => `-X ${CONTAINERD}/version.Version=${version} -s -w`;

/** The parts, in the order they are built. */
export const partRecipes: readonly PartRecipe[] = [
  {
    part: 'runc', tool: 'runc',
    version: (sources) => sources.runc(),
    // As runc's `make static`: seccomp through cgo, libseccomp.a and glibc linked in. Its version is embedded from the module's VERSION file.
    build: (staging, version) => goInstall(staging, 'github.com/opencontainers/runc', version,
      ['-tags', 'seccomp urfave_cli_no_docs netgo osusergo', '-ldflags', '-s -w -extldflags -static'], { CGO_ENABLED: '1' }),
  },
  {
    part: 'shim', tool: 'containerd-shim-runc-v2',
    version: () => CONTAINERD_VERSION,
    build: (staging, version) => goInstall(staging, `${CONTAINERD}/cmd/containerd-shim-runc-v2`, version,
      ['-tags', 'urfave_cli_no_docs no_grpc', '-ldflags', containerdLdflags(version)]),
  },
  {
    part: 'ctr', tool: 'ctr',
    version: () => CONTAINERD_VERSION,
    build: (staging, version) => goInstall(staging, `${CONTAINERD}/cmd/ctr`, version, ['-tags', 'urfave_cli_no_docs', '-ldflags', containerdLdflags(version)]),
  },
  {
    part: 'crane', tool: 'crane',
    version: () => CRANE_VERSION,
    build: (staging, version) => goInstall(staging, 'github.com/google/go-containerregistry/cmd/crane', version,
      ['-ldflags', `-X github.com/google/go-containerregistry/cmd/crane/cmd.Version=v${version} -s -w`]),
  },
  {
    part: 'coredns', tool: 'coredns',
    version: (sources) => kubeadmImageTag(sources.images(), 'coredns'),
    build: (staging, version) => goInstall(staging, 'github.com/coredns/coredns', version, ['-ldflags', '-s -w']),
  },
  {
    part: 'flanneld', tool: 'flanneld',
    version: () => FLANNEL_VERSION,
    build: (staging, version, _sources, log) => {
      const src = flannelSource(staging, version, log);
      const binary = path.join(staging, 'flanneld');
      // As flannel's Makefile builds it on amd64: cgo (the UDP backend), static.
      go(['build', '-trimpath', '-ldflags', `-s -w -X ${FLANNEL}/pkg/version.Version=v${version} -extldflags -static`, '-o', binary, '.'],
        { cwd: src, env: { CGO_ENABLED: '1', GOFLAGS: '-buildvcs=false -mod=mod' } });
      return binary;
    },
  },
  {
    part: 'installConf', tool: 'flannel-install-conf',
    version: () => FLANNEL_VERSION,
    build: (staging, version, _sources, log) => {
      const src = flannelSource(staging, version, log);
      const binary = path.join(staging, 'install-conf');
      // As flannel's images/Dockerfile builds it.
      go(['build', '-trimpath', '-ldflags', '-s -w', '-o', binary, './cmd/install_conf'], { cwd: src, env: { GOFLAGS: '-buildvcs=false -mod=mod' } });
      return binary;
    },
  },
  {
    part: 'flannelCni', tool: 'flannel-cni',
    version: () => FLANNEL_CNI_VERSION,
    build: (staging, version, _sources, log) => {
      log(`flannel-cni: the Go module proxy does not serve github.com/flannel-io/cni-plugin; building the flannel meta plugin of containernetworking/plugins v${version} (same network config)`);
      return goInstall(staging, 'github.com/containernetworking/plugins/plugins/meta/flannel', version,
        ['-ldflags', `-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v${version} -s -w`]);
    },
  },
  {
    part: 'pause', tool: 'pause',
    version: (sources) => kubeadmImageTag(sources.images(), 'pause'),
    build: (staging, version, sources) => {
      const kubernetes = sources.kubernetes();
      const source = path.join(download('k8s.io/kubernetes', `v${kubernetes}`).Dir, 'build', 'pause', 'linux', 'pause.c');
      const binary = path.join(staging, 'pause');
      // build/pause/Makefile's CFLAGS; its REV (git describe) is the Kubernetes release the source is from.
      for (const [command, args] of [['gcc', ['-Os', '-Wall', '-Werror', '-static', `-DVERSION=v${version}-v${kubernetes}`, '-o', binary, source]], ['strip', [binary]]] as const) {
        const result = spawnSync(command, args, { encoding: 'utf8' });
        if (result.status !== 0) throw new UserError([`pause: ${command} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stdout}${result.stderr}`.trim()]);
      }
      return binary;
    },
  },
  { part: 'etcdctl', tool: 'etcdctl', version: etcdVersion, build: (staging, version) => etcdTool(staging, 'etcdctl', version) },
  { part: 'etcdutl', tool: 'etcdutl', version: etcdVersion, build: (staging, version) => etcdTool(staging, 'etcdutl', version) },
  {
    part: 'kubeVip', tool: 'kube-vip',
    version: () => KUBE_VIP_VERSION,
    // As its Dockerfile runs its Makefile's `make build`: `go build` in the module, CGO off (go()'s default), the main
    // package at its root. Not `go install kube-vip@v…`: that asks the proxy for the module's version list (for a
    // deprecation notice), which it refuses (403); the module itself and its dependencies it serves.
    build: (staging, version) => {
      const src = copyModule(staging, KUBE_VIP, version);
      const binary = path.join(staging, 'kube-vip');
      go(['build', '-trimpath', '-ldflags', kubeVipLdflags(version, moduleCommit(KUBE_VIP, version)), '-o', binary, '.'], { cwd: src });
      return binary;
    },
  },
];

function collect(paths: Record<Part, string>, versions: Record<string, string>): ClusterParts {
  return { ...paths, versions };
}

/** Builds the parts that are not built yet (one log line each, with its time); returns them all. */
export function ensureClusterParts(kubeadm: string, log: (line: string) => void): ClusterParts {
  const sources = new Sources(kubeadm);
  // Every version first, so a kubeadm that cannot say its images stops this before any build.
  const versions = Object.fromEntries(partRecipes.map((recipe) => [recipe.tool, recipe.version(sources)]));
  const paths = {} as Record<Part, string>;
  for (const recipe of partRecipes) {
    const version = versions[recipe.tool];
    paths[recipe.part] = ensureTool(recipe.tool, version, log, (staging) => recipe.build(staging, version, sources, log));
  }
  return collect(paths, versions);
}

/** The parts, if every one is built already (nothing is built); undefined otherwise, or when their versions cannot be read. */
export function builtClusterParts(kubeadm: string): ClusterParts | undefined {
  const sources = new Sources(kubeadm);
  const paths = {} as Record<Part, string>;
  const versions: Record<string, string> = {};
  try {
    for (const recipe of partRecipes) {
      const version = recipe.version(sources);
      const binary = toolPath(recipe.tool, version);
      if (!existsSync(binary)) return undefined;
      versions[recipe.tool] = version;
      paths[recipe.part] = binary;
    }
  } catch {
    return undefined;
  }
  return collect(paths, versions);
}
