/** Rocky/Alma Linux 9 and CentOS Stream 9: dnf, signed .repo files, firewalld, SELinux. */
import type { ClusterConfig } from '../../config/schema';
import { DOCKER_CONTAINERD, KUBERNETES_REPO_PACKAGES, kubernetesMinor, kubernetesRepoBase, MANAGED_BY, type OsAdapter } from './adapter';

export const YUM_KUBERNETES_REPO = '/etc/yum.repos.d/kubernetes.repo';

/** The signed rpm repository; `exclude` keeps dnf from upgrading the pinned packages (the rpm side of a hold). */
export function yumKubernetesRepo(config: ClusterConfig): string {
  const base = kubernetesRepoBase(config, 'rpm');
  return `# Kubernetes ${kubernetesMinor(config)} packages (${MANAGED_BY})
[kubernetes]
name=Kubernetes
baseurl=${base}
enabled=1
gpgcheck=1
gpgkey=${base}repodata/repomd.xml.key
exclude=${KUBERNETES_REPO_PACKAGES.join(' ')}
`;
}

export const YUM_DOCKER_REPO = '/etc/yum.repos.d/docker-ce.repo';
const DOCKER_REPO_ID = 'docker-ce-stable';

/**
 * Docker's CentOS repository, for containerd.io on EL9 (not in the base
 * repositories); `exclude` holds it, as the Kubernetes repository's holds the kube packages.
 */
export function yumDockerRepo(config: ClusterConfig): string {
  const base = `${config.packages.docker}/centos`;
  return `# containerd.io from Docker's repository (${MANAGED_BY})
[${DOCKER_REPO_ID}]
name=Docker CE Stable - $basearch
baseurl=${base}/$releasever/$basearch/stable
enabled=1
gpgcheck=1
gpgkey=${base}/gpg
exclude=${DOCKER_CONTAINERD}
`;
}

export const el9: OsAdapter = {
  family: 'el9',
  selinux: true,
  firewall: 'firewalld',
  // packages.containerd: distro is refused for EL9 before anything runs: it has no containerd of its own.
  containerdPackage: () => DOCKER_CONTAINERD,
  containerdPackages: [DOCKER_CONTAINERD],
  async addRepositories(run, config) {
    const changed: string[] = [];
    if (await run.write(YUM_DOCKER_REPO, yumDockerRepo(config))) changed.push(YUM_DOCKER_REPO);
    if (await run.write(YUM_KUBERNETES_REPO, yumKubernetesRepo(config))) changed.push(YUM_KUBERNETES_REPO);
    return changed;
  },
  async removeRepositories(run) {
    const done: string[] = [];
    for (const file of [YUM_KUBERNETES_REPO, YUM_DOCKER_REPO]) if (await run.remove(file)) done.push(`removed ${file}`);
    return done;
  },
  async installedVersion(run, name) {
    const result = await run.query(['rpm', '-q', '--qf', '%{VERSION}', name]);
    return result.code === 0 ? result.stdout.trim() : undefined;
  },
  matches: (installed, wanted) => wanted.version === undefined || installed === wanted.version,
  async install(run, packages) {
    const specs = packages.map((p) => (p.version ? `${p.name}-${p.version}` : p.name));
    // The repositories' `exclude=` lines are their holds; an explicit install lifts them for this command only.
    await run.run(['dnf', 'install', '-y', `--disableexcludes=kubernetes,${DOCKER_REPO_ID}`, ...specs]);
  },
  async hold() {
    // The repositories' `exclude=` lines already keep dnf from upgrading them.
    return false;
  },
  async unhold() {
    // Removing the repository file removes its `exclude=` line.
    return [];
  },
  async afterWrite(run, file) {
    // A file replaced through a temporary file and a rename carries the temporary file's SELinux label
    // (/etc/hosts would become etc_t, and programs confined by the policy could no longer read it).
    if ((await run.read('/sys/fs/selinux/enforce')) === undefined) return; // SELinux is off
    await run.run(['restorecon', file]);
  },
};
