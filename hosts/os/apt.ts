/** Debian 12 and Ubuntu 22.04/24.04: apt, a signed source list, ufw, apt-mark holds. */
import type { ClusterConfig } from '../../config/schema';
import type { NodeRun } from '../engine/steps';
import { kubernetesRepoBase, type OsAdapter } from './adapter';

export const APT_KEYRING = '/etc/apt/keyrings/kubernetes-apt-keyring.asc';
export const APT_SOURCE = '/etc/apt/sources.list.d/kubernetes.list';

/** The signed apt source; the key is ASCII-armoured (.asc), which apt reads directly. */
export function aptSource(config: ClusterConfig): string {
  return `deb [signed-by=${APT_KEYRING}] ${kubernetesRepoBase(config, 'deb')} /\n`;
}

const aptGet = (...args: string[]) => ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];

/** The packages `apt-mark showhold` lists. */
async function held(run: NodeRun): Promise<string[]> {
  return (await run.query(['apt-mark', 'showhold'])).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

export function aptAdapter(family: 'debian' | 'ubuntu'): OsAdapter {
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
    async removeRepositories(run) {
      const done: string[] = [];
      for (const file of [APT_SOURCE, APT_KEYRING]) if (await run.remove(file)) done.push(`removed ${file}`);
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
