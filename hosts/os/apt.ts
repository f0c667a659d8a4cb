/** Debian 12 and Ubuntu 22.04/24.04: apt, a signed source list, ufw, apt-mark holds. */
import type { ClusterConfig } from '../../config/schema';
import type { NodeRun } from '../engine/steps';
import { DOCKER_CONTAINERD, kubernetesRepoBase, type OsAdapter } from './adapter';

export const APT_KEYRING = '/etc/apt/keyrings/kubernetes-apt-keyring.asc';
export const APT_SOURCE = '/etc/apt/sources.list.d/kubernetes.list';
export const DOCKER_KEYRING = '/etc/apt/keyrings/docker.asc';
export const DOCKER_SOURCE = '/etc/apt/sources.list.d/docker.list';

/** The signed apt source; the key is ASCII-armoured (.asc), which apt reads directly. */
export function aptSource(config: ClusterConfig): string {
  return `deb [signed-by=${APT_KEYRING}] ${kubernetesRepoBase(config, 'deb')} /\n`;
}

/** Docker's repository, as Docker documents it: this machine's architecture, its release's suite, signed by Docker's key. */
export function dockerAptSource(config: ClusterConfig, family: 'debian' | 'ubuntu', architecture: string, codename: string): string {
  return `deb [arch=${architecture} signed-by=${DOCKER_KEYRING}] ${config.packages.docker}/${family} ${codename} stable\n`;
}

/** How long apt-get waits for the dpkg lock: on a freshly booted Ubuntu server unattended-upgrades holds it for minutes. */
export const DPKG_LOCK_TIMEOUT_SECONDS = 600;
const aptGet = (...args: string[]) => ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', '-o', `DPkg::Lock::Timeout=${DPKG_LOCK_TIMEOUT_SECONDS}`, ...args];

/** The packages `apt-mark showhold` lists. */
async function held(run: NodeRun): Promise<string[]> {
  return (await run.query(['apt-mark', 'showhold'])).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

export function aptAdapter(family: 'debian' | 'ubuntu'): OsAdapter {
  return {
    family,
    selinux: false,
    firewall: 'ufw',
    containerdPackage: (config) => (config.packages.containerd === 'docker' ? DOCKER_CONTAINERD : 'containerd'),
    containerdPackages: [DOCKER_CONTAINERD, 'containerd'],
    async addRepositories(run, config, release) {
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
      if (config.packages.containerd === 'docker') {
        if ((await run.read(DOCKER_KEYRING)) === undefined) {
          await run.run(['mkdir', '-p', '-m', '0755', '/etc/apt/keyrings']);
          await run.run(['curl', '-fsSL', '-o', DOCKER_KEYRING, `${config.packages.docker}/${family}/gpg`]);
          changed.push(DOCKER_KEYRING);
        }
        const architecture = (await run.query(['dpkg', '--print-architecture'], { mustSucceed: true })).stdout.trim();
        if (await run.write(DOCKER_SOURCE, dockerAptSource(config, family, architecture, release.codename))) changed.push(DOCKER_SOURCE);
      }
      if (changed.length) await run.run(aptGet('update'));
      return changed;
    },
    async removeRepositories(run) {
      const done: string[] = [];
      for (const file of [APT_SOURCE, APT_KEYRING, DOCKER_SOURCE, DOCKER_KEYRING]) if (await run.remove(file)) done.push(`removed ${file}`);
      return done;
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
      const current = await held(run);
      const toHold = names.filter((n) => !current.includes(n));
      if (toHold.length) await run.run(['apt-mark', 'hold', ...toHold]);
      return toHold.length > 0;
    },
    async unhold(run, names) {
      const current = await held(run);
      const ours = names.filter((n) => current.includes(n));
      if (ours.length) await run.run(['apt-mark', 'unhold', ...ours]);
      return ours;
    },
  };
}
