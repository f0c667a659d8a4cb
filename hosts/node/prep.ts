/**
 * hosts/prep.mjs, node preparation: what the tutorial did by hand on every
 * VM, corrected and idempotent. Each step checks first and changes only
 * what differs. The steps, in order, are prepSteps() below.
 */
import { readFileSync } from 'node:fs';
import { containerdNeeds, containerdSupported } from '../../config/containerd-support';
import { UserError } from '../../config/errors';
import { controlPlaneImageRepository, registryMirrors } from '../../config/images';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import { type NodeRun, type Step, summarize } from '../engine/steps';
import { CRI_TOOLS, HELD_PACKAGES, MANAGED_BY, PINNED_KUBE_PACKAGES, type OsAdapter, type WantedPackage } from '../os/adapter';
import { OS_ADAPTERS } from '../os/adapters';
import { COMMON_HELP, type NodeScript, runNodeScript } from './cli';
import { factsLine, gatherFacts, isInCluster, type NodeFacts, preflightProblems, preflightWarnings } from './facts';
import {
  CONTAINERD_CERTS_DIR,
  CONTAINERD_CONFIG,
  containerdConfig,
  CRICTL_CONFIG,
  crictlConfig,
  fstabWithoutSwap,
  hostsFile,
  hostsToml,
  hostsTomlPath,
  KERNEL_MODULES,
  mirrorCaPath,
  parseContainerdVersion,
  MODULES_FILE,
  modulesConf,
  selinuxPermissive,
  SYSCTL_FILE,
  sysctlConf,
  sysctlPath,
  SYSCTLS,
} from './files';
import { configureFirewall } from './firewall';

/** The pause image kubeadm expects, from `kubeadm config images list` (so it follows the version and the mirror). */
export async function sandboxImage(run: NodeRun, config: ClusterConfig): Promise<string> {
  const listed = await run.query([
    'kubeadm', 'config', 'images', 'list',
    `--kubernetes-version=v${config.kubernetes.version}`,
    `--image-repository=${controlPlaneImageRepository(config.images)}`,
  ], { mustSucceed: true });
  const pause = listed.stdout.split('\n').map((l) => l.trim()).find((l) => /\/pause:/.test(l));
  if (!pause) throw new Error(`kubeadm config images list printed no pause image:\n${listed.stdout}`);
  return pause;
}

/**
 * Enables and starts a service unless it already is enabled (and running,
 * when `mustRun`); returns whether it did.
 */
async function enableService(run: NodeRun, service: string, mustRun = true): Promise<boolean> {
  const enabled = (await run.query(['systemctl', 'is-enabled', service])).stdout.trim() === 'enabled';
  const active = !mustRun || (await run.query(['systemctl', 'is-active', service])).stdout.trim() === 'active';
  if (enabled && active) return false;
  await run.run(['systemctl', 'enable', '--now', service]);
  return true;
}

/**
 * containerd's hosts.toml for each upstream registry with a mirror (and the
 * mirror's CA beside it); the ones this project wrote for registries that
 * no longer have a mirror go. containerd reads them at each pull: no restart.
 */
async function configureMirrors(run: NodeRun, config: ClusterConfig): Promise<string | undefined> {
  const done: string[] = [];
  const mirrors = registryMirrors(config);
  const ca = config.images.mirrorCa === undefined ? undefined : readFileSync(config.images.mirrorCa, 'utf8');
  for (const mirror of mirrors) {
    if (ca !== undefined && (await run.write(mirrorCaPath(mirror.upstream), ca))) done.push(`${mirrorCaPath(mirror.upstream)} written`);
    if (await run.write(hostsTomlPath(mirror.upstream), hostsToml(mirror, config.images.mirrorFallback, ca !== undefined))) {
      done.push(`${mirror.upstream} through ${mirror.url}${config.images.mirrorFallback ? '' : ' only'}`);
    }
  }
  for (const upstream of await run.host.list(CONTAINERD_CERTS_DIR)) {
    if (mirrors.some((m) => m.upstream === upstream)) continue;
    const ours = (await run.read(hostsTomlPath(upstream)))?.includes(MANAGED_BY);
    if (ours && (await run.remove(hostsTomlPath(upstream)))) done.push(`${upstream}: no mirror any more, ${hostsTomlPath(upstream)} removed`);
    if (ours) await run.remove(mirrorCaPath(upstream));
  }
  return summarize(done);
}

export function prepSteps(config: ClusterConfig, node: ClusterNode, facts: NodeFacts): Step[] {
  const os: OsAdapter = OS_ADAPTERS[facts.family];
  // Set when the repositories step refreshed the package index: the packages step need not again.
  let indexFresh = false;
  return [
    {
      title: 'hostname',
      async apply(run) {
        if (facts.hostname === node.name) return undefined;
        await run.run(['hostnamectl', 'set-hostname', node.name]);
        return `set to ${node.name} (was ${facts.hostname || 'unset'})`;
      },
    },
    {
      title: '/etc/hosts',
      async apply(run) {
        const changed = await run.write('/etc/hosts', hostsFile((await run.read('/etc/hosts')) ?? '', config.nodes));
        return changed ? `one line for each of the ${config.nodes.length} nodes, in a managed block` : undefined;
      },
    },
    {
      title: 'swap',
      async apply(run) {
        const done: string[] = [];
        const active = ((await run.read('/proc/swaps')) ?? '').split('\n').slice(1).filter((l) => l.trim());
        if (active.length) {
          await run.run(['swapoff', '-a']);
          done.push(`turned off ${active.length} swap area(s)`);
        }
        const fstab = await run.read('/etc/fstab');
        if (fstab !== undefined && (await run.write('/etc/fstab', fstabWithoutSwap(fstab)))) done.push('swap entries commented out in /etc/fstab');
        return summarize(done);
      },
    },
    {
      title: 'SELinux',
      async apply(run) {
        if (!os.selinux) return undefined;
        const done: string[] = [];
        if ((await run.read('/sys/fs/selinux/enforce'))?.trim() === '1') {
          await run.run(['setenforce', '0']);
          done.push('permissive now');
        }
        const current = await run.read('/etc/selinux/config');
        if (current !== undefined && (await run.write('/etc/selinux/config', selinuxPermissive(current)))) done.push('SELINUX=permissive in /etc/selinux/config');
        return summarize(done);
      },
    },
    {
      title: 'firewall',
      apply: (run) => configureFirewall(run, os, config, node),
    },
    {
      title: 'kernel modules',
      async apply(run) {
        if (facts.container) {
          // The host's kernel is the node's: what it has is there (facts refused the node otherwise), and a
          // container can neither load a module nor make the host load one at boot.
          run.out.line(`[${node.name}] note: a system container (${facts.container}) uses the host's kernel: ${KERNEL_MODULES.join(' and ')} are there; nothing to load, and no ${MODULES_FILE}`);
          return undefined;
        }
        const done: string[] = [];
        if (await run.write(MODULES_FILE, modulesConf())) done.push(`${MODULES_FILE} written`);
        for (const module of KERNEL_MODULES.filter((m) => !facts.modules[m])) {
          await run.run(['modprobe', module]);
          done.push(`${module} loaded`);
        }
        return summarize(done);
      },
    },
    {
      title: 'sysctl',
      async apply(run) {
        const written = await run.write(SYSCTL_FILE, sysctlConf());
        const live = await Promise.all(Object.entries(SYSCTLS).map(async ([key, value]) => (await run.read(sysctlPath(key)))?.trim() === value));
        if (!written && live.every(Boolean)) return undefined;
        await run.run(['sysctl', '-p', SYSCTL_FILE]);
        return `${Object.keys(SYSCTLS).join(', ')} = 1, live and in ${SYSCTL_FILE}`;
      },
    },
    {
      title: 'package repositories',
      async apply(run) {
        const changed = await os.addRepositories(run, config, facts.release);
        indexFresh = changed.length > 0;
        return summarize(changed);
      },
    },
    {
      title: 'packages',
      async apply(run) {
        // A node that already runs a containerd package keeps it: prep never swaps the runtime under a node.
        let runtime: string | undefined;
        for (const name of os.containerdPackages) if (runtime === undefined && (await os.installedVersion(run, name)) !== undefined) runtime = name;
        const configured = os.containerdPackage(config);
        if (runtime !== undefined && runtime !== configured) {
          run.out.line(`[${node.name}] note: containerd comes from the installed ${runtime}, not ${configured} (packages.containerd: ${config.packages.containerd}); remove ${runtime} first to switch`);
        }
        const wanted: WantedPackage[] = [
          ...(runtime === undefined ? [{ name: configured }] : []),
          ...PINNED_KUBE_PACKAGES.map((name) => ({ name, version: config.kubernetes.version })),
          { name: CRI_TOOLS },
        ];
        const missing = [];
        for (const pkg of wanted) {
          const installed = await os.installedVersion(run, pkg.name);
          if (installed === undefined || !os.matches(installed, pkg)) missing.push(pkg);
        }
        const done: string[] = [];
        if (missing.length) {
          await os.install(run, missing, indexFresh);
          done.push(`installed ${missing.map((p) => (p.version ? `${p.name} ${p.version}` : p.name)).join(', ')}`);
        }
        // The runtime is held too: a routine upgrade must not restart it under a running cluster.
        const held = [...HELD_PACKAGES, runtime ?? configured];
        if (await os.hold(run, held)) done.push(`held ${held.join(', ')}`);
        return summarize(done);
      },
    },
    {
      title: 'containerd',
      async apply(run) {
        const done: string[] = [];
        const image = await sandboxImage(run, config);
        // The format the installed containerd reads natively: version 2 for 1.x, version 3 for 2.x.
        const version = parseContainerdVersion((await run.query(['containerd', '--version'], { mustSucceed: true })).stdout);
        // What the packages gave (an OS package not known in advance, say) is checked before it is configured.
        if (!containerdSupported(version.text, config.kubernetes.version)) {
          throw new UserError([`${node.name}: containerd ${version.text} is installed, too old: Kubernetes ${config.kubernetes.version} needs containerd ${containerdNeeds(config.kubernetes.version)}; set packages.containerd: docker (Docker's containerd.io), or upgrade containerd on the node`]);
        }
        const inContainer = facts.container !== undefined;
        const configChanged = await run.write(CONTAINERD_CONFIG, containerdConfig(image, version.major, { inContainer }));
        if (configChanged) done.push(`${CONTAINERD_CONFIG} for containerd ${version.text}: SystemdCgroup = true, sandbox image ${image}${inContainer ? `, restrict_oom_score_adj = true (a system container may not lower OOM scores)` : ''}`);
        if (await run.write(CRICTL_CONFIG, crictlConfig())) done.push(`${CRICTL_CONFIG} written`);
        if (await enableService(run, 'containerd')) done.push('containerd enabled and started');
        else if (configChanged) {
          await run.run(['systemctl', 'restart', 'containerd']);
          done.push('containerd restarted');
        }
        return summarize(done);
      },
    },
    {
      title: 'registry mirrors',
      apply: (run) => configureMirrors(run, config),
    },
    {
      title: 'kubelet',
      async apply(run) {
        // Until kubeadm init or join writes its config, the kubelet restarts every few seconds: expected.
        // It restarts until init/join ("activating"), so only its being enabled is checked.
        return (await enableService(run, 'kubelet', false)) ? 'kubelet enabled (it waits for kubeadm init/join)' : undefined;
      },
    },
  ];
}

/** Reads the facts, refuses the node with every problem at once, or prepares it. */
export async function prepareNode(run: NodeRun, config: ClusterConfig, node: ClusterNode): Promise<NodeFacts> {
  const facts = await gatherFacts(run, config, node);
  run.out.line(factsLine(run, node, facts));
  const problems = preflightProblems(config, node, facts, await isInCluster(run));
  if (problems.length) throw new UserError(problems);
  for (const warning of preflightWarnings(config, node, facts)) run.out.line(warning);
  await run.runSteps('prep', prepSteps(config, node, facts));
  return facts;
}

export const prepScript: NodeScript = {
  name: 'prep',
  help: `Usage: hosts/prep.mjs [options]

Prepares this node for kubeadm, as cluster.yaml describes it: hostname, /etc/hosts,
swap off (now and in /etc/fstab), SELinux permissive (EL), firewall ports,
kernel modules and sysctls (persisted), containerd with SystemdCgroup and the
mirror's pause image, kubelet/kubeadm/kubectl pinned to kubernetes.version and
held, kubelet enabled. Checks the node first and changes nothing if it is unfit.
Run it again at any time: it changes only what differs.

${COMMON_HELP}`,
  flags: {},
  planState: 'fresh',
  async body({ run, config, node }) {
    await prepareNode(run, config, node);
  },
};

/** hosts/prep.mjs */
export const main = () => runNodeScript(prepScript);
