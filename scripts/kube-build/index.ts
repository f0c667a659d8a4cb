/**
 * npm run kube:build [-- --config FILE | --version X.Y.Z | --tested]: the
 * real Kubernetes of the cluster config's kubernetes.version (or of another
 * version, or of every release the tests run), built from the Go module
 * proxy (or reused when already built) into a cache folder outside the
 * repository, one folder per version. The last line printed is the folder
 * of the config's version (of --version's with that flag); its bin/ holds
 * kubeadm, kubelet, kubectl, the control-plane components, kube-proxy,
 * etcd, crictl and containerd, its cni/bin/ the CNI plugins.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { UserError } from '../../config/errors';
import { loadClusterConfig, resolveConfigPath } from '../../config/load';
import { minorOf, TESTED_RELEASES, testedRelease, versionProblem } from '../../config/versions';
import { parseFlags, runCommand } from '../../hosts/engine/command-line';
import { buildKubernetes, RECIPE } from './build';
import { type BuildScope, CACHE_ENV, readBuild, versionDir } from './cache';
import { ensureHelm } from './helm';
import { ensureDefinitions } from './openapi';
import { ensureTraefik } from './traefik';

const HELP = `Usage: npm run kube:build [-- --config FILE | --version X.Y.Z | --tested] [--definitions]

Builds (or reuses) kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager,
kube-scheduler, kube-proxy, etcd, crictl, the CNI plugins and containerd for kubernetes.version
of the cluster config, from the Go module proxy, with the machine's Go.
Each version's folder also gets openapi/_definitions.json, the API definitions
\`cdk8s import\` reads (K8S_SCHEMA_DIR=<folder>/openapi npm run import:offline).
The last line printed is the folder they are in.
  --config FILE      cluster config (default: $CLUSTER_CONFIG, else ./cluster.yaml, else the repository's)
  --version X.Y.Z    another Kubernetes version of the supported window instead
  --tested           the config's version and the release of the minor before it (the real-cluster test upgrades
                     from it) whole, and of every other release the tests run (${TESTED_RELEASES.join(', ')}),
                     kubeadm, kubectl, the control plane and etcd; helm, which one test renders the reference Traefik chart with, and Traefik,
                     which one test runs against a real API server
  --definitions      only the API definitions (seconds), no binaries
  --help             show this help
Environment: ${CACHE_ENV} (where builds are kept; default ~/.cache/kube-hosts/kubernetes)`;

const diskUsage = (dir: string) => spawnSync('du', ['-sh', dir], { encoding: 'utf8' }).stdout.split('\t')[0];

/** Builds one version unless a finished build of it is there (with --definitions: its API definitions only); returns its folder. */
function ensureBuilt(version: string, definitionsOnly: boolean, scope: BuildScope = 'node'): string {
  const dir = versionDir(version);
  console.log(`Kubernetes v${version} API definitions: ${ensureDefinitions(version)}/_definitions.json`);
  if (definitionsOnly) return dir;
  const built = readBuild(version, process.env, scope);
  if (built && built.recipe === RECIPE) {
    const parts = built.crictl ? `etcd v${built.etcd}, crictl v${built.crictl}, CNI plugins v${built.cni}, containerd v${built.containerd}` : `the control plane and etcd v${built.etcd}`;
    console.log(`Kubernetes v${version} already built (${built.builtAt}, in ${built.seconds} s): ${parts}`);
  } else {
    mkdirSync(dir, { recursive: true });
    const record = buildKubernetes({ version, dir, scope, log: (line) => console.log(line) });
    console.log(`Kubernetes v${version} built in ${record.seconds} s; ${diskUsage(dir)} in ${dir}`);
  }
  return dir;
}

void runCommand(() => {
  const flags = parseFlags(process.argv.slice(2), {
    config: { type: 'string', valueName: 'FILE' }, version: { type: 'string', valueName: 'X.Y.Z' }, tested: { type: 'boolean' }, definitions: { type: 'boolean' }, help: { type: 'boolean' },
  });
  if (flags.help) return console.log(HELP);
  if (flags.version !== undefined) {
    if (flags.config !== undefined || flags.tested) throw new UserError(['--version builds one version: give it without --config and --tested']);
    const problem = versionProblem(flags.version);
    if (problem) throw new UserError([`--version ${flags.version}: ${problem}`]);
    return console.log(ensureBuilt(flags.version.replace(/^v/, ''), Boolean(flags.definitions)));
  }
  const { version } = loadClusterConfig(resolveConfigPath(flags.config)).kubernetes;
  // The config's version last, so its folder is the last line.
  const others = flags.tested ? TESTED_RELEASES.filter((release) => release !== version) : [];
  if (flags.tested && !flags.definitions) {
    ensureHelm((line) => console.log(line));
    ensureTraefik((line) => console.log(line));
  }
  // The other releases: what their tests run (kubeadm, a control plane), not a whole node; the previous
  // minor's whole, since the real-cluster test forms its cluster there and upgrades it to the config's.
  const previous = testedRelease(minorOf(version) - 1);
  for (const release of others) ensureBuilt(release, Boolean(flags.definitions), release === previous ? 'node' : 'control-plane');
  console.log(ensureBuilt(version, Boolean(flags.definitions)));
});
