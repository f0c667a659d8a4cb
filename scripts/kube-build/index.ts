/**
 * npm run kube:build [-- --config FILE]: the real Kubernetes of the cluster
 * config's kubernetes.version, built from the Go module proxy (or reused
 * when already built) into a cache folder outside the repository. The last
 * line printed is that folder; its bin/ holds kubeadm, kubelet, kubectl, the
 * control-plane components, kube-proxy, etcd and crictl, its cni/bin/ the
 * CNI plugins.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadClusterConfig, resolveConfigPath } from '../../config/load';
import { parseFlags, runCommand } from '../../hosts/engine/command-line';
import { buildKubernetes, RECIPE } from './build';
import { CACHE_ENV, readBuild, versionDir } from './cache';

const HELP = `Usage: npm run kube:build [-- --config FILE]

Builds (or reuses) kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager,
kube-scheduler, kube-proxy, etcd, crictl, the CNI plugins and containerd for kubernetes.version
of the cluster config, from the Go module proxy, with the machine's Go.
The last line printed is the folder they are in.
  --config FILE  cluster config (default: $CLUSTER_CONFIG, else ./cluster.yaml, else the repository's)
  --help         show this help
Environment: ${CACHE_ENV} (where builds are kept; default ~/.cache/kube-hosts/kubernetes)`;

const diskUsage = (dir: string) => spawnSync('du', ['-sh', dir], { encoding: 'utf8' }).stdout.split('\t')[0];

void runCommand(() => {
  const flags = parseFlags(process.argv.slice(2), { config: { type: 'string', valueName: 'FILE' }, help: { type: 'boolean' } });
  if (flags.help) return console.log(HELP);
  const { version } = loadClusterConfig(resolveConfigPath(flags.config)).kubernetes;
  const dir = versionDir(version);
  const built = readBuild(version);
  if (built && built.recipe === RECIPE) {
    console.log(`Kubernetes v${version} already built (${built.builtAt}, in ${built.seconds} s): etcd v${built.etcd}, crictl v${built.crictl}, CNI plugins v${built.cni}, containerd v${built.containerd}`);
  } else {
    mkdirSync(dir, { recursive: true });
    const record = buildKubernetes({ version, dir, log: (line) => console.log(line) });
    console.log(`Kubernetes v${version} built in ${record.seconds} s; ${diskUsage(dir)} in ${dir}`);
  }
  console.log(dir);
});
