/**
 * OS families: which one a node runs (from /etc/os-release), and everything
 * that differs between them, in one adapter per family.
 */
import { UserError } from '../config/errors';
import type { ClusterConfig } from '../config/schema';
import {
  APT_KEYRING,
  APT_SOURCE,
  aptSource,
  kubernetesRepoBase,
  YUM_DOCKER_REPO,
  YUM_KUBERNETES_REPO,
  yumDockerRepo,
  yumKubernetesRepo,
} from './render';
import type { NodeRun } from './steps';

export type OsFamily = 'el9' | 'debian' | 'ubuntu';

export interface OsRelease {
  id: string;
  versionId: string;
  prettyName: string;
  idLike: string[];
}

export function parseOsRelease(text: string): OsRelease {
  const fields = Object.fromEntries(text.split('\n').flatMap((line) => {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    return match ? [[match[1], match[2].replace(/^["']|["']$/g, '')]] : [];
  }));
  return {
    id: fields.ID ?? '',
    versionId: fields.VERSION_ID ?? '',
    prettyName: fields.PRETTY_NAME ?? fields.ID ?? 'unknown',
    idLike: (fields.ID_LIKE ?? '').split(/\s+/).filter(Boolean),
  };
}

const EL_IDS = ['rocky', 'almalinux', 'centos', 'rhel', 'ol'];

/** The family of a supported OS, or a UserError saying why it is not supported and what to do. */
export function osFamily(release: OsRelease, config: ClusterConfig, node: string): OsFamily {
  const major = release.versionId.split('.')[0];
  const isEl = EL_IDS.includes(release.id) || release.idLike.includes('rhel');
  if (isEl && major === '7') {
    throw new UserError([`${node}: ${release.prettyName} is not supported: EL7 reached end of life on 2024-06-30 and runs cgroup v1, which the kubelet of Kubernetes ${config.kubernetes.version} refuses (1.35 and later fail on cgroup v1); reinstall the node with Rocky Linux 9, AlmaLinux 9, CentOS Stream 9, Ubuntu 22.04/24.04 or Debian 12`]);
  }
  if (isEl && major === '9') return 'el9';
  if (release.id === 'debian' && major === '12') return 'debian';
  if (release.id === 'ubuntu' && ['22.04', '24.04'].includes(release.versionId)) return 'ubuntu';
  throw new UserError([`${node}: ${release.prettyName} is not supported; use Rocky Linux 9, AlmaLinux 9, CentOS Stream 9, Ubuntu 22.04/24.04 or Debian 12`]);
}

/** A package and the version the config wants, or any version when unset. */
export interface WantedPackage {
  name: string;
  version?: string;
}

export interface OsAdapter {
  family: OsFamily;
  /** SELinux is on by default (EL). */
  selinux: boolean;
  /** The firewall tool the family ships with. */
  firewall: 'firewalld' | 'ufw';
  /** The containerd package to install, and the other names that also count as installed. */
  containerdPackage: string;
  containerdAlternatives: string[];
  /**
   * Sets up the package repositories for containerd and the Kubernetes
   * packages; returns what changed. With apt, a change also refreshes the
   * package index (dnf reads new repositories' metadata on its own).
   */
  addRepositories(run: NodeRun, config: ClusterConfig): Promise<string[]>;
  /** The installed version of a package, or undefined. */
  installedVersion(run: NodeRun, name: string): Promise<string | undefined>;
  /** Whether an installed version satisfies the wanted one. */
  matches(installed: string, wanted: WantedPackage): boolean;
  /** `indexFresh`: the package index was refreshed moments ago in this run, by addRepositories. */
  install(run: NodeRun, packages: WantedPackage[], indexFresh: boolean): Promise<void>;
  /** Keeps the pinned packages from being upgraded; returns whether it changed anything. */
  hold(run: NodeRun, names: string[]): Promise<boolean>;
}

const el9: OsAdapter = {
  family: 'el9',
  selinux: true,
  firewall: 'firewalld',
  containerdPackage: 'containerd.io',
  containerdAlternatives: [],
  async addRepositories(run, config) {
    const changed: string[] = [];
    if (await run.write(YUM_DOCKER_REPO, yumDockerRepo(config))) changed.push(YUM_DOCKER_REPO);
    if (await run.write(YUM_KUBERNETES_REPO, yumKubernetesRepo(config))) changed.push(YUM_KUBERNETES_REPO);
    return changed;
  },
  async installedVersion(run, name) {
    const result = await run.query(['rpm', '-q', '--qf', '%{VERSION}', name]);
    return result.code === 0 ? result.stdout.trim() : undefined;
  },
  matches: (installed, wanted) => wanted.version === undefined || installed === wanted.version,
  async install(run, packages) {
    const specs = packages.map((p) => (p.version ? `${p.name}-${p.version}` : p.name));
    await run.run(['dnf', 'install', '-y', '--disableexcludes=kubernetes', ...specs]);
  },
  async hold() {
    // The repository's `exclude=` line already keeps dnf from upgrading them.
    return false;
  },
};

function aptAdapter(family: 'debian' | 'ubuntu'): OsAdapter {
  const aptGet = (...args: string[]) => ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
  return {
    family,
    selinux: false,
    firewall: 'ufw',
    containerdPackage: 'containerd',
    // Docker's package, if the node already has it: installing `containerd` would remove it (and Docker).
    containerdAlternatives: ['containerd.io'],
    async addRepositories(run, config) {
      const changed: string[] = [];
      const missing = [];
      for (const tool of ['curl', 'ca-certificates']) {
        if ((await this.installedVersion(run, tool)) === undefined) missing.push(tool);
      }
      if (missing.length) {
        await run.run(aptGet('update'));
        await run.run(aptGet('install', '-y', ...missing));
        changed.push(`installed ${missing.join(', ')}`);
      }
      if ((await run.read(APT_KEYRING)) === undefined) {
        await run.run(['mkdir', '-p', '-m', '0755', '/etc/apt/keyrings']);
        await run.run(['curl', '-fsSL', '-o', APT_KEYRING, `${kubernetesRepoBase(config, 'deb')}Release.key`]);
        changed.push(APT_KEYRING);
      }
      if (await run.write(APT_SOURCE, aptSource(config))) changed.push(APT_SOURCE);
      if (changed.length) await run.run(aptGet('update'));
      return changed;
    },
    async installedVersion(run, name) {
      const result = await run.query(['dpkg-query', '-W', '-f=${Status} ${Version}', name]);
      // A held package reports `hold ok installed`.
      const match = /^\S+ ok installed (\S+)$/.exec(result.stdout.trim());
      return result.code === 0 && match ? match[1] : undefined;
    },
    // pkgs.k8s.io versions look like 1.35.1-1.1
    matches: (installed, wanted) => wanted.version === undefined || installed.startsWith(`${wanted.version}-`),
    async install(run, packages, indexFresh) {
      const specs = packages.map((p) => (p.version ? `${p.name}=${p.version}-*` : p.name));
      // A fresh index, so an earlier failed update cannot leave the pinned version unknown.
      if (!indexFresh) await run.run(aptGet('update'));
      await run.run(aptGet('install', '-y', '--allow-change-held-packages', '--allow-downgrades', ...specs));
    },
    async hold(run, names) {
      const held = (await run.query(['apt-mark', 'showhold'])).stdout.split('\n').map((l) => l.trim());
      const toHold = names.filter((n) => !held.includes(n));
      if (toHold.length) await run.run(['apt-mark', 'hold', ...toHold]);
      return toHold.length > 0;
    },
  };
}

export const OS_ADAPTERS: Record<OsFamily, OsAdapter> = {
  el9,
  debian: aptAdapter('debian'),
  ubuntu: aptAdapter('ubuntu'),
};
